#pragma once
// The SQL implementation of NotificationStore (SQLite or PostgreSQL, through the store's shared Database).
#include "connectors/store/database.hpp"
#include "connectors/store/notification_store.hpp"

namespace taxdesk::connectors {

/// NotificationStore over the tables of the store's Database. Thread-safe (each call leases a pooled session).
class SqlNotificationStore final : public NotificationStore {
  public:
    explicit SqlNotificationStore(Database& db);

    void insertNotification(const NotificationRecord& notification) override;
    void markNotificationSent(const std::string& notificationId, const std::string& gatewayMsgId,
                              int segments) override;
    void markNotificationStatus(const std::string& notificationId, const std::string& status,
                                const std::string& error) override;
    void failAndRetryNotification(const std::string& failedId, const std::string& error,
                                  const NotificationRecord& retry) override;
    std::vector<NotificationRecord> claimStaleQueued(const std::string& olderThanIso, const std::string& claimedAtIso,
                                                     int limit) override;
    std::optional<NotificationRecord> findNotification(const std::string& notificationId) override;
    bool touchQueued(const std::string& notificationId) override;
    /// Issue 11 (the sender's batch): the stored notifications of these ids, one query a slice, in no order; ids not
    /// stored have none.
    std::vector<NotificationRecord> findNotifications(const std::vector<std::string>& notificationIds);
    std::optional<NotificationRecord> findNotificationByGatewayMsgId(const std::string& gatewayMsgId) override;
    std::vector<NotificationRecord> notificationsWithStatus(const std::string& status, int limit) override;
    std::vector<NotificationRecord> deadNotifications(int limit) override;

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
