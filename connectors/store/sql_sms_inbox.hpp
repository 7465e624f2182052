#pragma once
// The SQL implementation of SmsInbox (SQLite or PostgreSQL, through the store's shared Database).
#include "connectors/store/database.hpp"
#include "connectors/store/sms_inbox.hpp"

namespace taxdesk::connectors {

/// SmsInbox over the tables of the store's Database. Thread-safe (each call leases a pooled session).
class SqlSmsInbox final : public SmsInbox {
  public:
    explicit SqlSmsInbox(Database& db);

    std::vector<InboxRecord> enqueueInbox(const std::vector<InboxRecord>& messages) override;
    void markInboxDone(const std::string& gatewayMsgId) override;
    std::optional<InboxRecord> findInbox(const std::string& gatewayMsgId) override;
    std::vector<InboxRecord> claimStaleInbox(const std::string& olderThanIso, const std::string& claimedAtIso,
                                             int maxAttempts, int limit) override;
    void returnInboxAttempts(const std::vector<std::string>& gatewayMsgIds) override;
    int pruneInbox(const std::string& olderThanIso, int limit) override;

  private:
    /// Database::withSession (store_internal.hpp).
    template <typename Work>
    auto withSession(const char* purpose, Work&& work);
    [[nodiscard]] std::string sql(std::string_view text) const { return db_.sql(text); }

    Database& db_;
};

}  // namespace taxdesk::connectors
