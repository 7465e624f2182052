#pragma once
// The fixture of the SMS store areas' tests (store_pickups_test, store_notifications_test, store_inbox_test), on both
// backends: SQLite in a temporary folder, and the PostgreSQL server that scripts/test started
// (TAXDESK_TEST_POSTGRESQL). Ids are unique per run and pickup codes are drawn at random (another is drawn on a
// collision, as the engine does), so a shared database is fine. Work that sees the whole database (claiming reminders,
// expiring) is given a time window of its own per test: a pickup is due only while remind_at <= now <= deadline_at, so
// tests running at once never take each other's.
#include <Poco/Data/Session.h>
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "connectors/store/migrations.hpp"
#include "connectors/store/store.hpp"
#include "fixtures/store_backend.hpp"
#include "fixtures/test_env.hpp"

namespace taxdesk::connectors {

// Found by argument-dependent lookup, so outside the unnamed namespace.

// Readable failures (found by argument-dependent lookup, so outside the anonymous namespace).
inline void PrintTo(const InboundRecord& inbound, std::ostream* out) {
    *out << "{" << inbound.gatewayMsgId << " from " << inbound.msisdn << " at " << inbound.receivedAt << " "
         << inbound.outcome << " reply " << inbound.replyNotificationId << " " << inbound.createdAt << "}";
}

inline void PrintTo(const PickupRecord& pickup, std::ostream* out) {
    *out << "{" << pickup.pickupId << " code " << pickup.code << " of " << pickup.applicantId << " " << pickup.msisdn
         << " service " << pickup.service << " " << pickup.office << " deadline " << pickup.deadlineAt << " remind "
         << pickup.remindAt << " " << pickup.state << " " << pickup.createdAt << " collected '" << pickup.collectedAt
         << "' reminded '" << pickup.remindedAt << "' claimed by '" << pickup.claimedBy << "' until "
         << pickup.claimedUntil << "}";
}

inline void PrintTo(const NotificationRecord& n, std::ostream* out) {
    *out << "{" << n.notificationId << " to " << n.msisdn << " '" << n.text << "' " << n.kind << " pickup '"
         << n.pickupId << "' attempt " << n.attempt << " " << n.status << " gw '" << n.gatewayMsgId << "' segments "
         << n.segments << " '" << n.error << "' " << n.createdAt << " " << n.updatedAt << "}";
}

using namespace Poco::Data::Keywords;

/// Time windows (unix seconds) of their own for the tests that see every pickup (see the top of the file), far from
/// the real clock so that work scheduled by the real clock on the shared database (none yet) takes none of them,
/// except the expiry test's: it expires whatever is older than its window, so its window is older than everything.
constexpr long long kAppliedDeadline = 3'000'000'000;  // pickups made by most tests: never due in the windows below
constexpr long long kTwoEnginesNow = 3'100'000'000;
constexpr long long kLeaseNow = 3'200'000'000;
constexpr long long kExpireNow = 1'500;
/// 09:00 on the deadline day is nine hours before 18:00.
constexpr long long kNineHours = 9LL * 3600;

/// A random 6-digit code; thread-safe.
inline std::string randomCode() {
    static std::mutex mutex;
    static std::mt19937 generator{std::random_device{}()};
    const std::lock_guard lock(mutex);
    const std::string digits = std::to_string(std::uniform_int_distribution<int>(0, 999'999)(generator));
    return std::string(6 - digits.size(), '0') + digits;
}

inline std::vector<std::string> pickupIds(const std::vector<PickupRecord>& pickups) {
    std::vector<std::string> ids;
    ids.reserve(pickups.size());
    for (const PickupRecord& pickup : pickups) ids.push_back(pickup.pickupId);
    return ids;
}

class StoreSmsTest : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        backend_ = std::make_unique<testing::StoreBackend>(GetParam(), "store-sms", "taxdesk.db");
        settings_ = backend_->settings();
        applicant_ = testing::uniqueName("A");
    }

    [[nodiscard]] static InboundRecord newInbound(const std::string& outcome = "alert") {
        InboundRecord inbound;
        inbound.gatewayMsgId = testing::uniqueName("g");
        inbound.msisdn = "0912345678";
        inbound.receivedAt = "2026-11-26T09:15:00+08:00";
        inbound.outcome = outcome;
        return inbound;
    }

    [[nodiscard]] PickupRecord newPickup(const std::string& applicant = "", int service = 1,
                                         long long deadlineAt = kAppliedDeadline,
                                         long long remindAt = kAppliedDeadline - kNineHours) const {
        PickupRecord pickup;
        pickup.pickupId = testing::uniqueName("pickup");
        pickup.code = randomCode();
        pickup.applicantId = applicant.empty() ? applicant_ : applicant;
        pickup.msisdn = "0912345678";
        pickup.service = service;
        pickup.office = "信義分局";
        pickup.deadlineAt = deadlineAt;
        pickup.remindAt = remindAt;
        return pickup;
    }

    [[nodiscard]] static NotificationRecord newNotification(const std::string& kind = "pickup_alert") {
        NotificationRecord notification;
        notification.notificationId = testing::uniqueName("n");
        notification.msisdn = "0912345678";
        notification.text = "【臺北國稅局】您申請的財產所得資料已備妥，取件碼482913";
        notification.kind = kind;
        return notification;
    }

    /// Records an alert with `pickup` as the engine does: on a code collision it draws another code and tries again.
    static SmsOutcomeResult apply(Store& store, PickupRecord pickup) {
        for (int attempt = 1;; ++attempt) {
            try {
                return store.pickups().recordSmsOutcome(newInbound(), pickup, newNotification());
            } catch (const CodeCollision&) {
                if (attempt == 10) throw;
                pickup.code = randomCode();
            }
        }
    }

    /// Rows of `table` whose `column` is `value`, counted behind the store's back.
    [[nodiscard]] long long countOf(const std::string& table, const std::string& column,
                                    const std::string& value) const {
        Poco::Data::Session session = settings_.backend == "sqlite"
                                          ? Poco::Data::Session("sqlite", settings_.sqlitePath)
                                          : Poco::Data::Session("postgresql", settings_.postgresql);
        const auto backend =
            settings_.backend == "sqlite" ? detail::SqlBackend::sqlite : detail::SqlBackend::postgresql;
        Poco::Int64 count = 0;
        session << detail::placeholders(backend, "SELECT COUNT(*) FROM " + table + " WHERE " + column + " = ?"),
            into(count), bind(value), now;
        return count;
    }

    /// Ages (or rejuvenates) an inbox row behind the store's back.
    void setInboxUpdatedAt(const std::string& gatewayMsgId, const std::string& stamp) const {
        Poco::Data::Session session = settings_.backend == "sqlite"
                                          ? Poco::Data::Session("sqlite", settings_.sqlitePath)
                                          : Poco::Data::Session("postgresql", settings_.postgresql);
        const auto backend =
            settings_.backend == "sqlite" ? detail::SqlBackend::sqlite : detail::SqlBackend::postgresql;
        session << detail::placeholders(backend, "UPDATE sms_inbox SET updated_at = ? WHERE gateway_msg_id = ?"),
            bind(stamp), bind(gatewayMsgId), now;
    }

    StoreSettings settings_;
    std::unique_ptr<testing::StoreBackend> backend_;
    std::string applicant_;
};

}  // namespace taxdesk::connectors
