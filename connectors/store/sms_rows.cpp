#include "connectors/store/sms_rows.hpp"

#include "connectors/store/store_internal.hpp"

namespace taxdesk::connectors::detail {

NotificationRecord completeNotification(const NotificationRecord& notification, const std::string& stamp,
                                        const char* call) {
    requireField(notification.notificationId, "notificationId", call);
    requireField(notification.msisdn, "msisdn", call);
    NotificationRecord out = notification;
    if (out.status.empty()) out.status = toString(NotificationStatus::queued);
    requireOneOf(kNotificationKinds, out.kind, "kind", call);
    requireOneOf(kNotificationStatuses, out.status, "status", call);
    if (out.createdAt.empty()) out.createdAt = stamp;
    if (out.updatedAt.empty()) out.updatedAt = out.createdAt;
    return out;
}

// Binds a notification to kInsertNotification's placeholders and runs it; returns whether it inserted.
bool insertNotificationRow(Database& db, Poco::Data::Session& session, const std::string& statement,
                           const NotificationRecord& n) {
    return executeCached(db, session, "inserting a notification", statement, n.notificationId, n.msisdn, n.text, n.kind,
                         n.pickupId, n.attempt, n.status, n.gatewayMsgId, n.segments, n.error, n.createdAt,
                         n.updatedAt) > 0;
}

}  // namespace taxdesk::connectors::detail
