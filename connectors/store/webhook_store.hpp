#pragma once
// Issue 13 "Done means told": each creditor token's batch notification registration (a webhook URL with its secret
// and/or an SMS number), table webhooks of migration 11. SqlWebhookStore implements it.
#include <optional>
#include <string>
#include <vector>

namespace taxdesk::connectors {

struct WebhookRecord {
    std::string tokenId;     ///< the creditor token's public id (jobs::auth::tokenIdOf): one registration a token
    std::string creditorId;  ///< whose batches it is told about
    std::string url;         ///< "" = no webhook
    std::string secret;      ///< the HMAC key of the signature (stored as given: the engine must sign with it)
    std::string sms;         ///< 09xxxxxxxx, "" = no SMS
    std::string updatedAt;

    bool operator==(const WebhookRecord&) const = default;
};

/// Thread-safe. Every call throws StoreError when the store fails.
class WebhookStore {
  public:
    virtual ~WebhookStore() = default;
    /// Stores the token's registration, replacing one it had (updatedAt stamped now when empty).
    virtual void putWebhook(const WebhookRecord& webhook) = 0;
    virtual std::optional<WebhookRecord> findWebhook(const std::string& tokenId) = 0;
    /// False when the token had none.
    virtual bool removeWebhook(const std::string& tokenId) = 0;
};

}  // namespace taxdesk::connectors
