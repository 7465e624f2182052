#pragma once
// Issue 13 "Done means told": PUT/GET/DELETE /api/v1/webhook, a creditor token's batch notification registration
// (a webhook URL and its signing secret, and/or an SMS number). jobs::notify checks the values.
#include <vector>

#include "connectors/store/token_store.hpp"
#include "connectors/store/webhook_store.hpp"
#include "engine/http/http_server.hpp"

namespace taxdesk::engine::api {

struct WebhookApiSettings {
    /// webhook.allow_private_http: http:// URLs to loopback and private addresses accepted (tests); else https only.
    bool allowPrivateHttp = false;
};

class WebhookApi {
  public:
    WebhookApi(WebhookApiSettings settings, connectors::TokenStore& tokens, connectors::WebhookStore& webhooks)
        : settings_(settings), tokens_(tokens), webhooks_(webhooks) {}
    [[nodiscard]] std::vector<Route> routes();

  private:
    /// {url?, secret?, sms?}: at least url or sms. A url without a secret keeps the one stored, or gets a new one
    /// (answered once, whole, in this reply). 200 with the registration; 400 naming the field that is wrong.
    HttpReply put(HttpRequest& request);
    /// 200 {url, secret (masked), sms, updated_at}; 404 when the token has none.
    HttpReply get(HttpRequest& request);
    /// 204; 404 when the token has none.
    HttpReply remove(HttpRequest& request);

    WebhookApiSettings settings_;
    connectors::TokenStore& tokens_;
    connectors::WebhookStore& webhooks_;
};

}  // namespace taxdesk::engine::api
