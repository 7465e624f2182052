#pragma once
// The SQL implementation of PickupStore (SQLite or PostgreSQL, through the store's shared Database).
#include <string>
#include <vector>

#include "connectors/store/database.hpp"
#include "connectors/store/pickup_store.hpp"

namespace taxdesk::connectors {

/// PickupStore over the tables of the store's Database. Thread-safe (each call leases a pooled session).
class SqlPickupStore final : public PickupStore {
  public:
    explicit SqlPickupStore(Database& db);

    std::optional<InboundRecord> findInbound(const std::string& gatewayMsgId) override;
    SmsOutcomeResult recordSmsOutcome(const InboundRecord& inbound, const std::optional<PickupRecord>& newPickup,
                                      const NotificationRecord& reply) override;
    std::optional<PickupRecord> openPickupFor(const std::string& applicantId, int service, long long nowUnix) override;
    CollectResult collectPickup(const std::string& code, const std::string& applicantId, long long nowUnix) override;
    std::vector<PickupRecord> claimDueReminders(long long nowUnix, const std::string& owner, int leaseSeconds,
                                                int limit) override;
    void markReminded(const std::string& pickupId, const std::string& nowIso) override;
    int expireDue(long long nowUnix) override;

    /// Issue 11, the SMS stage's reads of a poll batch in one query per 200 ids instead of one a message: the inbound
    /// records of those `gatewayMsgIds` that are stored (as findInbound finds each).
    std::vector<InboundRecord> findInbounds(const std::vector<std::string>& gatewayMsgIds);
    /// Every pickup of these applicants that openPickupFor could return at `nowUnix` (open, deadline not passed), any
    /// service; openPickupFor's answer for one (applicant, service) is the newest of them by (createdAt, pickupId).
    std::vector<PickupRecord> openPickupsOf(const std::vector<std::string>& applicantIds, long long nowUnix);

    /// The database it works on: a caller may group its calls in one StoreTransaction on it.
    [[nodiscard]] Database& database() { return db_; }

  private:
    /// Database::withSession (store_internal.hpp).
    template <typename Work>
    auto withSession(const char* purpose, Work&& work);
    [[nodiscard]] std::string sql(std::string_view text) const { return db_.sql(text); }

    Database& db_;
};

}  // namespace taxdesk::connectors
