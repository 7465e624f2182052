#pragma once
// Issue 13: the webhook POST over HTTP(S): signed body (jobs::notify::signatureHeader), idempotency id header,
// bounded timeout, attempts with back-off (jobs::notify::backoff).
#include <chrono>
#include <functional>

#include "connectors/api/webhook.hpp"

namespace taxdesk::connectors {

struct WebhookClientSettings {
    std::chrono::milliseconds timeout{5000};  ///< webhook.timeout_ms: connect, send and receive, each POST
    int attempts = 3;                         ///< webhook.attempts
    std::chrono::milliseconds backoff{500};   ///< webhook.backoff_ms
    std::chrono::milliseconds backoffMax{8000};
    /// How the client waits between attempts (tests pass a recorder); default: sleeps.
    std::function<void(std::chrono::milliseconds)> sleep;
};

class HttpWebhookSender final : public WebhookSender {
  public:
    explicit HttpWebhookSender(WebhookClientSettings settings);
    int deliver(const WebhookPost& post) override;

  private:
    /// One POST: the HTTP status, or -1 with `error` set when there was no answer.
    int postOnce(const WebhookPost& post, std::string& error) const;

    WebhookClientSettings settings_;
};

}  // namespace taxdesk::connectors
