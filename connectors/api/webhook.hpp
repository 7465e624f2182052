#pragma once
// Issue 13: a creditor's webhook, told when a batch completes or fails. The network client is
// connectors/http/webhook_client.hpp.
#include <string>

namespace taxdesk::connectors {

struct WebhookPost {
    std::string url;
    std::string secret;          ///< the HMAC-SHA256 key of X-Taxdesk-Signature
    std::string notificationId;  ///< X-Taxdesk-Idempotency-Id: the receiver dedups by it (at-least-once)
    std::string body;            ///< JSON
};

/// Thread-safe.
class WebhookSender {
  public:
    virtual ~WebhookSender() = default;
    /// POSTs the body (signed), trying again with back-off after a 5xx, 408, 429 or no answer; returns the status of
    /// the 2xx answer. Throws PermanentError after a refusal (another status) or the last attempt: the notification
    /// is then a dead letter (replayable by operations).
    virtual int deliver(const WebhookPost& post) = 0;
};

}  // namespace taxdesk::connectors
