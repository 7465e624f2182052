#pragma once
// Issue 13: a creditor's webhook, told when a batch completes or fails. The network client is
// connectors/http/webhook_client.hpp.
#include <functional>
#include <string>
#include <vector>

namespace taxdesk::connectors {

struct WebhookPost {
    std::string url;
    std::string secret;          ///< the HMAC-SHA256 key of X-Taxdesk-Signature
    std::string notificationId;  ///< X-Taxdesk-Idempotency-Id: the receiver dedups by it (at-least-once)
    std::string body;            ///< JSON
};

/// Issue 13 (SSRF): a host name's addresses, as numeric text ("127.0.0.1", "::1"); a numeric host is its own. Throws
/// PermanentError when the name has none (it does not exist), TransientError when the resolver failed otherwise.
using HostResolver = std::function<std::vector<std::string>(const std::string& host)>;

/// The system's resolver (getaddrinfo through Poco::Net::DNS): defined in connectors/http/webhook_client.cpp.
HostResolver systemResolver();

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
