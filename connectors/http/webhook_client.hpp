#pragma once
// Issue 13: the webhook POST over HTTP(S): signed body (jobs::notify::signatureHeader), idempotency id header,
// bounded timeout, attempts with back-off (jobs::notify::backoff). SSRF: the URL's host is resolved once per POST,
// every address it has is checked (jobs::notify::addressProblem) and the connection goes to the address checked
// (TLS still verifies the certificate against the host name, which is also the SNI and the Host header).
#include <chrono>
#include <functional>

#include "connectors/api/webhook.hpp"

namespace taxdesk::connectors {

struct WebhookClientSettings {
    std::chrono::milliseconds timeout{5000};  ///< webhook.timeout_ms: connect, send and receive, each POST
    int attempts = 3;                         ///< webhook.attempts
    std::chrono::milliseconds backoff{500};   ///< webhook.backoff_ms
    std::chrono::milliseconds backoffMax{8000};
    /// webhook.allow_private_hosts: loopback, private, link-local, unique-local and unspecified addresses allowed
    /// (tests); else a host resolving to one is refused without connecting.
    bool allowPrivateHosts = false;
    /// How host names are resolved (tests pass a fake); default: systemResolver().
    HostResolver resolve;
    /// How the client waits between attempts (tests pass a recorder); default: sleeps.
    std::function<void(std::chrono::milliseconds)> sleep;
};

class HttpWebhookSender final : public WebhookSender {
  public:
    explicit HttpWebhookSender(WebhookClientSettings settings);
    /// As WebhookSender::deliver; a host resolving to an address the SSRF rule refuses is a PermanentError at once
    /// (nothing is sent), one that does not resolve is tried again like no answer.
    int deliver(const WebhookPost& post) override;

  private:
    /// One POST: the HTTP status, or -1 with `error` set when there was no answer. Throws PermanentError when the
    /// host resolves to a refused address.
    int postOnce(const WebhookPost& post, std::string& error) const;

    WebhookClientSettings settings_;
};

}  // namespace taxdesk::connectors
