#pragma once
// SPEC 4.2: the outbound SMS (notifications), kept so that each is sent once per notification id and retried until
// delivered or dead. Tables of migration 3; SqlNotificationStore (sql_notification_store.hpp) implements it.
#include <optional>
#include <string>
#include <vector>

#include "connectors/store/sms_states.hpp"

namespace taxdesk::connectors {

/// One outbound SMS (SPEC 4.2), kept so that it is sent once per notification id and retried until delivered or dead.
struct NotificationRecord {
    std::string notificationId;  ///< the caller's; a second insert with it is a no-op
    std::string msisdn;
    std::string text;
    std::string kind;          ///< pickup_alert | reminder | reply: toString(NotificationKind)
    std::string pickupId;      ///< the pickup it is about ("" when none)
    int attempt = 0;           ///< sends so far: markNotificationSent() adds one
    std::string status;        ///< queued | sent | delivered | failed | dead: toString(NotificationStatus)
    std::string gatewayMsgId;  ///< the gateway's id of the last send, for delivery reports
    int segments = 0;          ///< segments of the last send
    std::string error;         ///< the last failure's reason
    std::string createdAt;
    std::string updatedAt;

    bool operator==(const NotificationRecord&) const = default;
};

/// Thread-safe. Every call throws StoreError when the store fails.
class NotificationStore {
  public:
    virtual ~NotificationStore() = default;

    /// Stores a notification (an empty status becomes queued; empty timestamps now); a second insert with the same
    /// notification id is a no-op that keeps the first. notificationId, msisdn and a known kind and status are
    /// required (std::invalid_argument otherwise).
    virtual void insertNotification(const NotificationRecord& notification) = 0;
    /// Records a send the gateway accepted: status sent, its message id and segments, attempt + 1, error cleared.
    /// Unknown ids are ignored.
    virtual void markNotificationSent(const std::string& notificationId, const std::string& gatewayMsgId,
                                      int segments) = 0;
    /// Sets a notification's status (queued | sent | delivered | failed | dead, else std::invalid_argument) and error:
    /// a delivery report's, or dead after the last attempt. Unknown ids are ignored.
    virtual void markNotificationStatus(const std::string& notificationId, const std::string& status,
                                        const std::string& error = "") = 0;
    /// A failed delivery and the retry it causes, in ONE transaction (the outbox): `failedId` gets status failed and
    /// `error`, and `retry` is stored as insertNotification() would (queued; a second call with the same retry id keeps
    /// the first). A sweeper (claimStaleQueued) sends the retry should producing it fail. std::invalid_argument for an
    /// empty failedId or an incomplete retry; StoreError.
    virtual void failAndRetryNotification(const std::string& failedId, const std::string& error,
                                          const NotificationRecord& retry) = 0;
    /// Notifications still queued and last touched before `olderThanIso` (ISO 8601 UTC, as the store writes them),
    /// oldest first, at most `limit`: each is claimed by a conditional update of its updated_at (to claimedAtIso, the
    /// sweeper's now; empty: now), so that of several engines sweeping at once exactly one gets it, and it is not stale
    /// again until as long has passed. Returned as claimed.
    virtual std::vector<NotificationRecord> claimStaleQueued(const std::string& olderThanIso,
                                                             const std::string& claimedAtIso, int limit) = 0;
    virtual std::optional<NotificationRecord> findNotification(const std::string& notificationId) = 0;
    /// Issue 13: a queued notification taken up for delivery now (a webhook worker's): its updated_at set to now, so
    /// that the sweep (claimStaleQueued) leaves it alone for as long as a fresh one. False when it is not queued (sent,
    /// dead) or unknown. This default only reads; SqlNotificationStore updates conditionally, in one statement.
    virtual bool touchQueued(const std::string& notificationId) {
        const auto found = findNotification(notificationId);
        return found && found->status == toString(NotificationStatus::queued);
    }
    /// The notification whose last send had this gateway message id (a delivery report's); the newest if several.
    virtual std::optional<NotificationRecord> findNotificationByGatewayMsgId(const std::string& gatewayMsgId) = 0;
    /// Notifications with this status, oldest first, at most `limit` (e.g. queued to send, failed to retry).
    virtual std::vector<NotificationRecord> notificationsWithStatus(const std::string& status, int limit) = 0;
    /// The dead letters: notifications with status dead, oldest first, at most `limit`.
    virtual std::vector<NotificationRecord> deadNotifications(int limit) = 0;
};

}  // namespace taxdesk::connectors
