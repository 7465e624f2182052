#pragma once
// The webhook registrations over SQL (table webhooks), and the completion path's outbox write: the batch-done
// notification intents recorded in the transaction that moves a batch to completed or failed.
#include <Poco/Data/Session.h>

#include <string>
#include <vector>

#include "connectors/store/database.hpp"
#include "connectors/store/webhook_store.hpp"

namespace taxdesk::connectors {

class SqlWebhookStore final : public WebhookStore {
  public:
    /// Over an open database; must not outlive it.
    explicit SqlWebhookStore(Database& db) : db_(db) {}

    void putWebhook(const WebhookRecord& webhook) override;
    std::optional<WebhookRecord> findWebhook(const std::string& tokenId) override;
    bool removeWebhook(const std::string& tokenId) override;

  private:
    Database& db_;
};

namespace detail {
/// In the caller's open transaction on `session`: for each of `batchIds` that is completed or failed now, the
/// notification intents jobs::notify::decideBatchDone() names for its creditor's registrations, inserted as queued
/// notifications (kind batch_done) unless their id is stored already, so that a replay records nothing twice. The
/// Returns those recorded now (not those stored before): once the transaction committed, the caller hands them to
/// Database::outboxCommitted(), which has them produced to notifications.outbound at once; the scheduler's sweep of
/// queued notifications is the safety net (a crash between the commit and the produce). The sender delivers them.
std::vector<NotificationRecord> recordBatchDoneIntents(Database& db, Poco::Data::Session& session,
                                                       const std::vector<std::string>& batchIds);
}  // namespace detail

}  // namespace taxdesk::connectors
