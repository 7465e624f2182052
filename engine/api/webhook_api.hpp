#pragma once
// Issue 13 "Done means told": PUT/GET/DELETE /api/v1/webhook, a creditor token's batch notification registration
// (a webhook URL and its signing secret, and/or an SMS number). jobs::notify checks the values.
#include <vector>

#include "connectors/api/webhook.hpp"
#include "connectors/store/token_store.hpp"
#include "connectors/store/webhook_store.hpp"
#include "engine/http/http_server.hpp"

namespace taxdesk::engine::api {

struct WebhookApiSettings {
    /// webhook.allow_private_hosts: URLs whose host is (or resolves to) a loopback, private, link-local, unique-local
    /// or unspecified address accepted, and http:// to such a literal host (tests); else public hosts, https only.
    bool allowPrivateHosts = false;
    /// How the URL's host is resolved for that check (tests pass a fake); empty: connectors::systemResolver().
    connectors::HostResolver resolve;
};

class WebhookApi {
  public:
    WebhookApi(WebhookApiSettings settings, connectors::TokenStore& tokens, connectors::WebhookStore& webhooks)
        : settings_(std::move(settings)), tokens_(tokens), webhooks_(webhooks) {
        if (!settings_.resolve) settings_.resolve = connectors::systemResolver();
    }
    [[nodiscard]] std::vector<Route> routes();

  private:
    /// {url?, secret?, sms?}: at least url or sms. A url without a secret keeps the one stored, or gets a new one
    /// (answered once, whole, in this reply). 200 with the registration; 400 naming the field that is wrong (a url
    /// whose host does not resolve, or resolves to an address the SSRF rule refuses, is bad_url); 503 when the
    /// resolver failed otherwise.
    HttpReply put(HttpRequest& request);
    /// 200 {url, secret (masked), sms, updated_at}; 404 when the token has none.
    HttpReply get(HttpRequest& request);
    /// 204; 404 when the token has none.
    HttpReply remove(HttpRequest& request);

    /// The SSRF rule at registration: every address the url's host resolves to now must be allowed (HttpError
    /// otherwise). Delivery checks again (DNS can change) and connects to the address it checked.
    void checkHost(const std::string& url) const;

    WebhookApiSettings settings_;
    connectors::TokenStore& tokens_;
    connectors::WebhookStore& webhooks_;
};

}  // namespace taxdesk::engine::api
