#include "connectors/store/sql_notification_store.hpp"

#include <Poco/Data/DataException.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>

#include <stdexcept>

#include "connectors/store/migrations.hpp"
#include "connectors/store/sms_rows.hpp"
#include "connectors/store/store_internal.hpp"

namespace taxdesk::connectors {
namespace {

using namespace Poco::Data::Keywords;
using detail::first;
using detail::kInsertNotification;
using detail::kNotificationColumns;
using detail::requireField;
using detail::requireOneOf;
using detail::selectRows;

}  // namespace

SqlNotificationStore::SqlNotificationStore(Database& db) : db_(db) {}

template <typename Work>
auto SqlNotificationStore::withSession(const char* purpose, Work&& work) {
    return db_.withSession(purpose, std::forward<Work>(work));
}

void SqlNotificationStore::insertNotification(const NotificationRecord& notification) {
    const NotificationRecord row = detail::completeNotification(notification, detail::utcNow(), "insertNotification");
    const std::string statement = sql(kInsertNotification);
    withSession("inserting a notification",
                [&](Poco::Data::Session& session) { detail::insertNotificationRow(db_, session, statement, row); });
}

void SqlNotificationStore::markNotificationSent(const std::string& notificationId, const std::string& gatewayMsgId,
                                                int segments) {
    const std::string statement =
        sql("UPDATE notifications SET status = 'sent', gateway_msg_id = ?, segments = ?, attempt = attempt + 1,"
            " error = '', updated_at = ? WHERE notification_id = ?");
    withSession("marking a notification sent", [&](Poco::Data::Session& session) {
        detail::executeCached(db_, session, "marking a notification sent", statement, gatewayMsgId, segments,
                              detail::utcNow(), notificationId);
    });
}

void SqlNotificationStore::markNotificationStatus(const std::string& notificationId, const std::string& status,
                                                  const std::string& error) {
    requireOneOf(kNotificationStatuses, status, "status", "markNotificationStatus");
    const std::string statement =
        sql("UPDATE notifications SET status = ?, error = ?, updated_at = ? WHERE notification_id = ?");
    withSession("setting a notification's status", [&](Poco::Data::Session& session) {
        detail::executeCached(db_, session, "setting a notification's status", statement, status, error,
                              detail::utcNow(), notificationId);
    });
}

void SqlNotificationStore::failAndRetryNotification(const std::string& failedId, const std::string& error,
                                                    const NotificationRecord& retry) {
    requireField(failedId, "failedId", "failAndRetryNotification");
    const std::string stamp = detail::utcNow();
    const NotificationRecord row = detail::completeNotification(retry, stamp, "failAndRetryNotification");
    const std::string update =
        sql("UPDATE notifications SET status = 'failed', error = ?, updated_at = ? WHERE notification_id = ?");
    const std::string insert = sql(kInsertNotification);
    withSession("failing a notification and queueing its retry", [&](Poco::Data::Session& session) {
        detail::WriteTransaction transaction(session);  // both or neither
        Poco::Data::Statement failed(session);
        failed << update, bind(error), bind(stamp), bind(failedId);
        failed.execute();
        detail::insertNotificationRow(db_, session, insert, row);
        transaction.commit();
    });
}

std::vector<NotificationRecord> SqlNotificationStore::claimStaleQueued(const std::string& olderThanIso,
                                                                       const std::string& claimedAtIso, int limit) {
    if (limit <= 0) return {};
    const std::string selectStale =
        sql("SELECT " + std::string(kNotificationColumns) +
            " FROM notifications WHERE status = 'queued' AND updated_at < ? ORDER BY updated_at, notification_id"
            " LIMIT ?");
    const std::string claim = sql(
        "UPDATE notifications SET updated_at = ? WHERE notification_id = ? AND status = 'queued' AND updated_at = ?");
    return withSession("claiming notifications stuck in queued", [&](Poco::Data::Session& session) {
        std::vector<NotificationRecord> claimed;
        for (auto& notification : selectRows<NotificationRecord>(session, selectStale, olderThanIso, limit)) {
            const std::string stamp = claimedAtIso.empty() ? detail::utcNow() : claimedAtIso;
            Poco::Data::Statement update(session);
            update << claim, bind(stamp), bind(notification.notificationId), bind(notification.updatedAt);
            if (update.execute() == 0) continue;  // another engine claimed it, or it was sent meanwhile
            notification.updatedAt = stamp;
            claimed.push_back(std::move(notification));
        }
        return claimed;
    });
}

bool SqlNotificationStore::touchQueued(const std::string& notificationId) {
    const std::string statement =
        sql("UPDATE notifications SET updated_at = ? WHERE notification_id = ? AND status = 'queued'");
    const std::string stamp = detail::utcNow();
    return withSession("taking a queued notification up", [&](Poco::Data::Session& session) {
        Poco::Data::Statement update(session);
        update << statement, bind(stamp), bind(notificationId);
        return update.execute() > 0;
    });
}

std::optional<NotificationRecord> SqlNotificationStore::findNotification(const std::string& notificationId) {
    const std::string statement =
        sql("SELECT " + std::string(kNotificationColumns) + " FROM notifications WHERE notification_id = ?");
    return withSession(
        "finding a notification", [&](Poco::Data::Session& session) -> std::optional<NotificationRecord> {
            if (!db_.isSqlite()) return first(selectRows<NotificationRecord>(session, statement, notificationId));
            // The sender reads each notification it sends: on SQLite compiled once per connection (issue 11).
            return detail::withPrepared(db_, session, "finding a notification", statement,
                                        [&](detail::CachedStatement& find) -> std::optional<NotificationRecord> {
                                            find.bind(1, notificationId);
                                            if (!find.step()) return std::nullopt;
                                            return NotificationRecord{
                                                find.text(0), find.text(1),  find.text(2),
                                                find.text(3), find.text(4),  static_cast<int>(find.int64(5)),
                                                find.text(6), find.text(7),  static_cast<int>(find.int64(8)),
                                                find.text(9), find.text(10), find.text(11)};
                                        });
        });
}

std::vector<NotificationRecord> SqlNotificationStore::findNotifications(
    const std::vector<std::string>& notificationIds) {
    if (notificationIds.empty()) return {};
    const std::string select =
        "SELECT " + std::string(kNotificationColumns) + " FROM notifications WHERE notification_id IN (%)";
    return withSession("finding notifications", [&](Poco::Data::Session& session) {
        return detail::selectIn<NotificationRecord>(db_, session, select, notificationIds);
    });
}

std::optional<NotificationRecord> SqlNotificationStore::findNotificationByGatewayMsgId(
    const std::string& gatewayMsgId) {
    if (gatewayMsgId.empty()) return std::nullopt;  // every notification not sent yet has ""
    const std::string statement =
        sql("SELECT " + std::string(kNotificationColumns) +
            " FROM notifications WHERE gateway_msg_id = ? ORDER BY updated_at DESC, notification_id DESC LIMIT 1");
    return withSession("finding a notification by gateway message id", [&](Poco::Data::Session& session) {
        return first(selectRows<NotificationRecord>(session, statement, gatewayMsgId));
    });
}

std::vector<NotificationRecord> SqlNotificationStore::notificationsWithStatus(const std::string& status, int limit) {
    if (limit <= 0) return {};
    const std::string statement =
        sql("SELECT " + std::string(kNotificationColumns) +
            " FROM notifications WHERE status = ? ORDER BY created_at, notification_id LIMIT ?");
    return withSession("listing notifications by status", [&](Poco::Data::Session& session) {
        return selectRows<NotificationRecord>(session, statement, status, limit);
    });
}

std::vector<NotificationRecord> SqlNotificationStore::deadNotifications(int limit) {
    return notificationsWithStatus(toString(NotificationStatus::dead), limit);
}

}  // namespace taxdesk::connectors
