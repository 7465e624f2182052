#pragma once
// The states of the SMS records as enums, each with its one stored name (toString) and its one reading (parse*):
// a pickup's state, a notification's status and kind. The records keep the stored names (PickupRecord::state,
// NotificationRecord::status and ::kind); build and compare them through these. Pure, thread-safe.
#include <array>
#include <optional>
#include <string_view>

namespace taxdesk::connectors {

/// SPEC 4.2: a pickup is collectable while open; then collected at the counter, or expired after its deadline.
enum class PickupState { open, collected, expired };
/// A notification: queued to send, sent (the gateway accepted it), delivered or failed (its delivery report), dead
/// (given up on: a dead letter).
enum class NotificationStatus { queued, sent, delivered, failed, dead };
/// What a notification is: the pickup alert, the reminder on the deadline day, a short reply, or (issue 13) a
/// creditor's batch completed or failed (to an SMS number, or to a webhook: msisdn `webhook:<token id>`).
enum class NotificationKind { pickupAlert, reminder, reply, batchDone };

inline constexpr std::array<PickupState, 3> kPickupStates = {PickupState::open, PickupState::collected,
                                                             PickupState::expired};
inline constexpr std::array<NotificationStatus, 5> kNotificationStatuses = {
    NotificationStatus::queued, NotificationStatus::sent, NotificationStatus::delivered, NotificationStatus::failed,
    NotificationStatus::dead};
inline constexpr std::array<NotificationKind, 4> kNotificationKinds = {
    NotificationKind::pickupAlert, NotificationKind::reminder, NotificationKind::reply, NotificationKind::batchDone};

/// open, collected, expired.
constexpr const char* toString(PickupState state) noexcept {
    switch (state) {
        case PickupState::open:
            return "open";
        case PickupState::collected:
            return "collected";
        case PickupState::expired:
            return "expired";
    }
    return "open";
}

/// queued, sent, delivered, failed, dead.
constexpr const char* toString(NotificationStatus status) noexcept {
    switch (status) {
        case NotificationStatus::queued:
            return "queued";
        case NotificationStatus::sent:
            return "sent";
        case NotificationStatus::delivered:
            return "delivered";
        case NotificationStatus::failed:
            return "failed";
        case NotificationStatus::dead:
            return "dead";
    }
    return "queued";
}

/// pickup_alert, reminder, reply, batch_done.
constexpr const char* toString(NotificationKind kind) noexcept {
    switch (kind) {
        case NotificationKind::pickupAlert:
            return "pickup_alert";
        case NotificationKind::reminder:
            return "reminder";
        case NotificationKind::reply:
            return "reply";
        case NotificationKind::batchDone:
            return "batch_done";
    }
    return "reply";
}

namespace detail {
template <typename Enum, std::size_t N>
constexpr std::optional<Enum> parseName(const std::array<Enum, N>& all, std::string_view name) noexcept {
    for (const Enum value : all)
        if (name == toString(value)) return value;
    return std::nullopt;
}
}  // namespace detail

/// The inverse of toString(PickupState); nullopt for anything else.
constexpr std::optional<PickupState> parsePickupState(std::string_view name) noexcept {
    return detail::parseName(kPickupStates, name);
}
/// The inverse of toString(NotificationStatus); nullopt for anything else.
constexpr std::optional<NotificationStatus> parseNotificationStatus(std::string_view name) noexcept {
    return detail::parseName(kNotificationStatuses, name);
}
/// The inverse of toString(NotificationKind); nullopt for anything else.
constexpr std::optional<NotificationKind> parseNotificationKind(std::string_view name) noexcept {
    return detail::parseName(kNotificationKinds, name);
}

}  // namespace taxdesk::connectors
