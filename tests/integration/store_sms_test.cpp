// The SMS application and quick pickup part of the SQL store (SPEC 4; migration 3), on both backends: SQLite in a
// temporary folder, and the PostgreSQL server that scripts/test started (TAXDESK_TEST_POSTGRESQL). Ids are unique per
// run and pickup codes are drawn at random (another is drawn on a collision, as the engine does), so a shared database
// is fine. Work that sees the whole database (claiming reminders, expiring) is given a time window of its own per test:
// a pickup is due only while remind_at <= now <= deadline_at, so tests running at once never take each other's.
#include <Poco/Data/Session.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <latch>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "connectors/store/migrations.hpp"
#include "connectors/store/store.hpp"
#include "fixtures/at_once.hpp"
#include "fixtures/sqlite_schema.hpp"
#include "fixtures/store_backend.hpp"
#include "fixtures/test_env.hpp"

namespace taxdesk::connectors {

// Readable failures (found by argument-dependent lookup, so outside the anonymous namespace).
void PrintTo(const InboundRecord& inbound, std::ostream* out) {
    *out << "{" << inbound.gatewayMsgId << " from " << inbound.msisdn << " at " << inbound.receivedAt << " "
         << inbound.outcome << " reply " << inbound.replyNotificationId << " " << inbound.createdAt << "}";
}

void PrintTo(const PickupRecord& pickup, std::ostream* out) {
    *out << "{" << pickup.pickupId << " code " << pickup.code << " of " << pickup.applicantId << " " << pickup.msisdn
         << " service " << pickup.service << " " << pickup.office << " deadline " << pickup.deadlineAt << " remind "
         << pickup.remindAt << " " << pickup.state << " " << pickup.createdAt << " collected '" << pickup.collectedAt
         << "' reminded '" << pickup.remindedAt << "' claimed by '" << pickup.claimedBy << "' until "
         << pickup.claimedUntil << "}";
}

void PrintTo(const NotificationRecord& n, std::ostream* out) {
    *out << "{" << n.notificationId << " to " << n.msisdn << " '" << n.text << "' " << n.kind << " pickup '"
         << n.pickupId << "' attempt " << n.attempt << " " << n.status << " gw '" << n.gatewayMsgId << "' segments "
         << n.segments << " '" << n.error << "' " << n.createdAt << " " << n.updatedAt << "}";
}

namespace {

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
std::string randomCode() {
    static std::mutex mutex;
    static std::mt19937 generator{std::random_device{}()};
    const std::lock_guard lock(mutex);
    const std::string digits = std::to_string(std::uniform_int_distribution<int>(0, 999'999)(generator));
    return std::string(6 - digits.size(), '0') + digits;
}

std::vector<std::string> pickupIds(const std::vector<PickupRecord>& pickups) {
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
                return store.recordSmsOutcome(newInbound(), pickup, newNotification());
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

// --- inbound SMS ---

TEST_P(StoreSmsTest, ARecordedAlertStoresTheInboundItsPickupAndItsReplyTogether) {
    Store store(settings_);
    const InboundRecord inbound = newInbound();
    const PickupRecord pickup = newPickup();
    const NotificationRecord reply = newNotification();
    EXPECT_EQ(store.findInbound(inbound.gatewayMsgId), std::nullopt);

    const SmsOutcomeResult result = store.recordSmsOutcome(inbound, pickup, reply);

    EXPECT_TRUE(result.created);
    EXPECT_EQ(result.inbound.gatewayMsgId, inbound.gatewayMsgId);
    EXPECT_EQ(result.inbound.msisdn, "0912345678");
    EXPECT_EQ(result.inbound.receivedAt, inbound.receivedAt);
    EXPECT_EQ(result.inbound.outcome, "alert");
    EXPECT_EQ(result.inbound.replyNotificationId, reply.notificationId) << "filled in from the reply";
    EXPECT_EQ(result.inbound.createdAt.size(), 24U) << result.inbound.createdAt;
    EXPECT_EQ(store.findInbound(inbound.gatewayMsgId), result.inbound);

    ASSERT_TRUE(result.pickup.has_value());
    EXPECT_EQ(result.pickup->pickupId, pickup.pickupId);
    EXPECT_EQ(result.pickup->code, pickup.code);
    EXPECT_EQ(result.pickup->applicantId, applicant_);
    EXPECT_EQ(result.pickup->service, 1);
    EXPECT_EQ(result.pickup->office, "信義分局");
    EXPECT_EQ(result.pickup->deadlineAt, kAppliedDeadline);
    EXPECT_EQ(result.pickup->remindAt, kAppliedDeadline - kNineHours);
    EXPECT_EQ(result.pickup->state, "open");
    EXPECT_EQ(result.pickup->collectedAt, "");
    EXPECT_EQ(result.pickup->remindedAt, "");
    EXPECT_EQ(result.pickup->claimedBy, "");
    EXPECT_EQ(result.pickup->claimedUntil, 0);

    EXPECT_EQ(result.reply.notificationId, reply.notificationId);
    EXPECT_EQ(result.reply.pickupId, pickup.pickupId) << "filled in from the new pickup";
    EXPECT_EQ(result.reply.text, reply.text);
    EXPECT_EQ(result.reply.kind, "pickup_alert");
    EXPECT_EQ(result.reply.status, "queued");
    EXPECT_EQ(result.reply.attempt, 0);
    EXPECT_EQ(store.findNotification(reply.notificationId), result.reply);
}

TEST_P(StoreSmsTest, AnOutcomeWithoutAPickupStoresTheInboundAndItsReply) {
    Store store(settings_);
    const InboundRecord inbound = newInbound("help");
    const NotificationRecord reply = newNotification("reply");

    const SmsOutcomeResult result = store.recordSmsOutcome(inbound, std::nullopt, reply);

    EXPECT_TRUE(result.created);
    EXPECT_EQ(result.inbound.outcome, "help");
    EXPECT_EQ(result.pickup, std::nullopt);
    EXPECT_EQ(result.reply.pickupId, "");
    EXPECT_EQ(result.reply.kind, "reply");
    EXPECT_EQ(store.findNotification(reply.notificationId), result.reply);
}

TEST_P(StoreSmsTest, AResentPickupIsTheOneTheReplyNames) {
    Store store(settings_);
    const SmsOutcomeResult first = apply(store, newPickup());
    ASSERT_EQ(store.openPickupFor(applicant_, 1), first.pickup);

    // Applying again for the same service: no new pickup, the reply re-sends the open one.
    NotificationRecord resend = newNotification();
    resend.pickupId = first.pickup->pickupId;
    const SmsOutcomeResult again = store.recordSmsOutcome(newInbound("resent"), std::nullopt, resend);

    EXPECT_TRUE(again.created);
    EXPECT_EQ(again.inbound.outcome, "resent");
    EXPECT_EQ(again.pickup, first.pickup);
    EXPECT_EQ(countOf("pickups", "applicant_id", applicant_), 1);
}

TEST_P(StoreSmsTest, ARedeliveredMessageGetsTheFirstReplyAndStoresNothingNew) {
    Store store(settings_);
    const InboundRecord inbound = newInbound();
    const SmsOutcomeResult first = store.recordSmsOutcome(inbound, newPickup(), newNotification());

    // The engine processes the redelivery as if new: another pickup, another reply, even another outcome.
    InboundRecord redelivered = inbound;
    redelivered.outcome = "limit";
    const NotificationRecord otherReply = newNotification("reply");
    const SmsOutcomeResult second = store.recordSmsOutcome(redelivered, newPickup(), otherReply);

    EXPECT_FALSE(second.created);
    EXPECT_EQ(second.inbound, first.inbound);
    EXPECT_EQ(second.reply, first.reply);
    EXPECT_EQ(second.pickup, first.pickup);
    EXPECT_EQ(store.findNotification(otherReply.notificationId), std::nullopt);
    EXPECT_EQ(countOf("pickups", "applicant_id", applicant_), 1);
    EXPECT_EQ(countOf("sms_inbound", "gateway_msg_id", inbound.gatewayMsgId), 1);
}

TEST_P(StoreSmsTest, ConcurrentDeliveriesOfOneMessageGiveOneReply) {
    constexpr int kThreads = 8;
    settings_.poolSize = kThreads;
    Store store(settings_);
    const InboundRecord inbound = newInbound();

    std::vector<SmsOutcomeResult> results(kThreads);
    std::vector<std::string> replyIds(kThreads);
    const auto errors = testing::atOnce(kThreads, [&](int t, std::latch& start) {
        const PickupRecord pickup = newPickup();  // each thread drew its own pickup and reply
        const NotificationRecord reply = newNotification();
        replyIds[t] = reply.notificationId;
        start.arrive_and_wait();
        results[t] = store.recordSmsOutcome(inbound, pickup, reply);
    });

    int created = 0;
    for (int t = 0; t < kThreads; ++t) {
        EXPECT_EQ(errors[t], "") << "thread " << t;
        created += results[t].created ? 1 : 0;
        EXPECT_EQ(results[t].inbound, results[0].inbound) << "thread " << t;
        EXPECT_EQ(results[t].reply, results[0].reply) << "thread " << t;
        EXPECT_EQ(results[t].pickup, results[0].pickup) << "thread " << t;
    }
    EXPECT_EQ(created, 1);
    EXPECT_EQ(countOf("sms_inbound", "gateway_msg_id", inbound.gatewayMsgId), 1);
    EXPECT_EQ(countOf("pickups", "applicant_id", applicant_), 1);
    long long replies = 0;
    for (const std::string& id : replyIds) replies += countOf("notifications", "notification_id", id);
    EXPECT_EQ(replies, 1);
    ASSERT_TRUE(results[0].pickup.has_value());
    EXPECT_EQ(results[0].reply.pickupId, results[0].pickup->pickupId);
}

TEST_P(StoreSmsTest, AnOpenPickupsCodeCollidesButACollectedOrExpiredOnesMayRecur) {
    Store store(settings_);
    const SmsOutcomeResult held = apply(store, newPickup());
    const std::string code = held.pickup->code;

    PickupRecord same = newPickup(testing::uniqueName("B"));
    same.code = code;
    const InboundRecord inbound = newInbound();
    const NotificationRecord reply = newNotification();
    try {
        store.recordSmsOutcome(inbound, same, reply);
        FAIL() << "a code of an open pickup was given twice";
    } catch (const CodeCollision& error) {
        EXPECT_FALSE(error.isRetryable());
        const PermanentError& permanent = error;
        EXPECT_NE(std::string(permanent.what()).find(code), std::string::npos) << permanent.what();
    }
    EXPECT_EQ(store.findInbound(inbound.gatewayMsgId), std::nullopt) << "nothing of the call is stored";
    EXPECT_EQ(store.findNotification(reply.notificationId), std::nullopt);
    EXPECT_EQ(countOf("pickups", "pickup_id", same.pickupId), 0);

    // Collected: its code is free again, and the same SMS may now be recorded with it.
    ASSERT_EQ(store.collectPickup(code, applicant_, kAppliedDeadline).outcome, CollectOutcome::collected);
    const SmsOutcomeResult reused = store.recordSmsOutcome(inbound, same, reply);
    EXPECT_TRUE(reused.created);
    EXPECT_EQ(reused.pickup->code, code);
    EXPECT_EQ(reused.pickup->state, "open");

    // Expired: likewise.
    ASSERT_EQ(store.collectPickup(code, same.applicantId, kAppliedDeadline + 1).outcome, CollectOutcome::expired);
    PickupRecord third = newPickup(testing::uniqueName("C"));
    third.code = code;
    EXPECT_TRUE(store.recordSmsOutcome(newInbound(), third, newNotification()).created);

    // A taken pickup id is not a collision: drawing another code would not help.
    PickupRecord duplicateId = newPickup();
    duplicateId.pickupId = held.pickup->pickupId;
    try {
        store.recordSmsOutcome(newInbound(), duplicateId, newNotification());
        FAIL() << "a taken pickup id was accepted";
    } catch (const CodeCollision& error) {
        FAIL() << error.what();
    } catch (const PermanentError& error) {
        EXPECT_NE(std::string(error.what()).find("is taken"), std::string::npos) << error.what();
    }
}

TEST_P(StoreSmsTest, RecordingChecksItsArguments) {
    Store store(settings_);
    const auto refused = [&](const InboundRecord& inbound, const std::optional<PickupRecord>& pickup,
                             const NotificationRecord& reply) {
        EXPECT_THROW(store.recordSmsOutcome(inbound, pickup, reply), std::invalid_argument);
        EXPECT_EQ(store.findInbound(inbound.gatewayMsgId), std::nullopt);
    };
    InboundRecord inbound = newInbound();
    inbound.outcome = "great";
    refused(inbound, std::nullopt, newNotification("reply"));
    inbound = newInbound();
    inbound.msisdn = "";
    refused(inbound, std::nullopt, newNotification("reply"));
    inbound = newInbound();
    inbound.replyNotificationId = "another";
    refused(inbound, std::nullopt, newNotification("reply"));
    NotificationRecord reply = newNotification("sms");
    refused(newInbound(), std::nullopt, reply);
    reply = newNotification("reply");
    reply.status = "lost";
    refused(newInbound(), std::nullopt, reply);
    PickupRecord pickup = newPickup();
    pickup.code = "12345";
    refused(newInbound(), pickup, newNotification());
    pickup.code = "12345x";
    refused(newInbound(), pickup, newNotification());
    pickup = newPickup();
    pickup.applicantId = "";
    refused(newInbound(), pickup, newNotification());
    reply = newNotification();
    reply.pickupId = "another";
    refused(newInbound(), newPickup(), reply);
    EXPECT_THROW(store.recordSmsOutcome({}, std::nullopt, newNotification("reply")), std::invalid_argument);
}

// --- pickups ---

TEST_P(StoreSmsTest, APersonHasOneOpenPickupPerService) {
    Store store(settings_);
    const SmsOutcomeResult first = apply(store, newPickup(applicant_, 1));
    EXPECT_THROW(store.recordSmsOutcome(newInbound(), newPickup(applicant_, 1), newNotification()), OpenPickupExists);
    EXPECT_NO_THROW(apply(store, newPickup(applicant_, 2))) << "another service";
    ASSERT_EQ(store.collectPickup(first.pickup->code, applicant_, kAppliedDeadline).outcome, CollectOutcome::collected);
    EXPECT_NO_THROW(apply(store, newPickup(applicant_, 1))) << "once collected, a new one";
}

TEST_P(StoreSmsTest, OpenPickupForFindsTheOpenPickupOfThatPersonAndServiceOnly) {
    Store store(settings_);
    EXPECT_EQ(store.openPickupFor(applicant_, 1), std::nullopt);
    const SmsOutcomeResult property = apply(store, newPickup(applicant_, 1));
    const SmsOutcomeResult certificate = apply(store, newPickup(applicant_, 2));
    apply(store, newPickup(testing::uniqueName("B"), 3));

    EXPECT_EQ(store.openPickupFor(applicant_, 1), property.pickup);
    EXPECT_EQ(store.openPickupFor(applicant_, 2), certificate.pickup);
    EXPECT_EQ(store.openPickupFor(applicant_, 3), std::nullopt) << "another person's";
    EXPECT_EQ(store.openPickupFor(testing::uniqueName("nobody"), 1), std::nullopt);

    // Past its deadline it no longer counts when the caller says what time it is, even before expireDue ran.
    EXPECT_EQ(store.openPickupFor(applicant_, 1, kAppliedDeadline), property.pickup);
    EXPECT_EQ(store.openPickupFor(applicant_, 1, kAppliedDeadline + 1), std::nullopt);

    ASSERT_EQ(store.collectPickup(property.pickup->code, applicant_, kAppliedDeadline).outcome,
              CollectOutcome::collected);
    EXPECT_EQ(store.openPickupFor(applicant_, 1), std::nullopt) << "collected";
    const SmsOutcomeResult renewed = apply(store, newPickup(applicant_, 1));
    EXPECT_EQ(store.openPickupFor(applicant_, 1), renewed.pickup);
}

TEST_P(StoreSmsTest, CollectingCollectsOnceAndTellsEveryOtherOutcome) {
    Store store(settings_);
    const PickupRecord pickup = *apply(store, newPickup()).pickup;
    const std::string stranger = testing::uniqueName("B");

    const CollectResult wrong = store.collectPickup(pickup.code, stranger, kAppliedDeadline);
    EXPECT_EQ(wrong.outcome, CollectOutcome::wrong_id);
    EXPECT_EQ(wrong.pickup, pickup) << "unchanged";

    const CollectResult collected = store.collectPickup(pickup.code, applicant_, kAppliedDeadline);
    EXPECT_EQ(collected.outcome, CollectOutcome::collected);
    ASSERT_TRUE(collected.pickup.has_value());
    EXPECT_EQ(collected.pickup->state, "collected");
    EXPECT_EQ(collected.pickup->collectedAt.size(), 24U) << collected.pickup->collectedAt;

    const CollectResult again = store.collectPickup(pickup.code, applicant_, kAppliedDeadline);
    EXPECT_EQ(again.outcome, CollectOutcome::already_collected);
    EXPECT_EQ(again.pickup, collected.pickup);
    EXPECT_EQ(store.collectPickup(pickup.code, stranger, kAppliedDeadline).outcome, CollectOutcome::wrong_id);

    // A deadline that passed: the pickup is marked expired there and then, and stays so.
    const PickupRecord late = *apply(store, newPickup()).pickup;
    const CollectResult expired = store.collectPickup(late.code, applicant_, kAppliedDeadline + 1);
    EXPECT_EQ(expired.outcome, CollectOutcome::expired);
    EXPECT_EQ(expired.pickup->state, "expired");
    EXPECT_EQ(expired.pickup->collectedAt, "");
    EXPECT_EQ(store.collectPickup(late.code, applicant_, kAppliedDeadline).outcome, CollectOutcome::expired);

    EXPECT_EQ(store.collectPickup(randomCode() + "9", applicant_, kAppliedDeadline).outcome, CollectOutcome::not_found);
    const CollectResult none = store.collectPickup("", applicant_, kAppliedDeadline);
    EXPECT_EQ(none.outcome, CollectOutcome::not_found);
    EXPECT_EQ(none.pickup, std::nullopt);

    EXPECT_STREQ(toString(CollectOutcome::collected), "collected");
    EXPECT_STREQ(toString(CollectOutcome::wrong_id), "wrong_id");
    EXPECT_STREQ(toString(CollectOutcome::expired), "expired");
    EXPECT_STREQ(toString(CollectOutcome::already_collected), "already_collected");
    EXPECT_STREQ(toString(CollectOutcome::not_found), "not_found");
}

TEST_P(StoreSmsTest, ARecurringCodeIsCollectedByTheApplicantWhoseItIs) {
    Store store(settings_);
    const std::string other = testing::uniqueName("B");
    const PickupRecord mine = *apply(store, newPickup()).pickup;
    ASSERT_EQ(store.collectPickup(mine.code, applicant_, kAppliedDeadline).outcome, CollectOutcome::collected);
    PickupRecord theirs = newPickup(other);
    theirs.code = mine.code;
    ASSERT_TRUE(store.recordSmsOutcome(newInbound(), theirs, newNotification()).created);

    // The code now names their open pickup and my collected one: each applicant gets their own.
    const CollectResult mineAgain = store.collectPickup(mine.code, applicant_, kAppliedDeadline);
    EXPECT_EQ(mineAgain.outcome, CollectOutcome::already_collected);
    EXPECT_EQ(mineAgain.pickup->pickupId, mine.pickupId);
    EXPECT_EQ(store.collectPickup(mine.code, testing::uniqueName("C"), kAppliedDeadline).outcome,
              CollectOutcome::wrong_id);
    const CollectResult theirsCollected = store.collectPickup(mine.code, other, kAppliedDeadline);
    EXPECT_EQ(theirsCollected.outcome, CollectOutcome::collected);
    EXPECT_EQ(theirsCollected.pickup->pickupId, theirs.pickupId);
}

TEST_P(StoreSmsTest, ConcurrentCollectionsCollectOnce) {
    constexpr int kThreads = 8;
    settings_.poolSize = kThreads;
    Store store(settings_);
    const PickupRecord pickup = *apply(store, newPickup()).pickup;

    std::vector<CollectResult> results(kThreads);
    const auto errors = testing::atOnce(kThreads, [&](int t, std::latch& start) {
        start.arrive_and_wait();
        results[t] = store.collectPickup(pickup.code, applicant_, kAppliedDeadline);
    });

    int collected = 0;
    for (int t = 0; t < kThreads; ++t) {
        EXPECT_EQ(errors[t], "") << "thread " << t;
        if (results[t].outcome == CollectOutcome::collected) {
            ++collected;
        } else {
            EXPECT_EQ(results[t].outcome, CollectOutcome::already_collected) << toString(results[t].outcome);
        }
    }
    EXPECT_EQ(collected, 1);
}

// --- scheduled work ---

TEST_P(StoreSmsTest, TwoEnginesClaimingRemindersAtOnceNeverGetTheSamePickup) {
    constexpr int kPickups = 30;
    constexpr int kLease = 300;
    Store first(settings_);
    Store second(settings_);  // another engine: its own pool
    std::set<std::string> ours;
    for (int i = 0; i < kPickups; ++i) {
        // One open pickup per person and service: each its own applicant.
        ours.insert(apply(first, newPickup(applicant_ + "-" + std::to_string(i), 1 + i % 5,
                                           kTwoEnginesNow + kNineHours + i, kTwoEnginesNow - i))
                        .pickup->pickupId);
    }

    std::vector<std::vector<PickupRecord>> claimed(2);
    std::vector<std::string> errors(2);
    std::latch start(2);
    const auto engine = [&](Store& store, int index) {
        const std::string owner = "engine-" + std::to_string(index);
        start.arrive_and_wait();
        try {
            for (;;) {  // small batches, so that the two interleave
                const auto batch = store.claimDueReminders(kTwoEnginesNow, owner, kLease, 3);
                if (batch.empty()) break;
                claimed[index].insert(claimed[index].end(), batch.begin(), batch.end());
            }
        } catch (const std::exception& error) {
            errors[index] = error.what();
        }
    };
    std::thread a(engine, std::ref(first), 0);
    std::thread b(engine, std::ref(second), 1);
    a.join();
    b.join();

    EXPECT_EQ(errors, (std::vector<std::string>{"", ""}));
    std::multiset<std::string> seen;
    for (int index = 0; index < 2; ++index) {
        for (const PickupRecord& pickup : claimed[index]) {
            EXPECT_EQ(pickup.claimedBy, "engine-" + std::to_string(index));
            EXPECT_EQ(pickup.claimedUntil, kTwoEnginesNow + kLease);
            if (ours.count(pickup.pickupId) != 0) seen.insert(pickup.pickupId);
        }
    }
    EXPECT_EQ(seen.size(), ours.size()) << "a pickup was handed out twice, or not at all";
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), ours);
    EXPECT_TRUE(first.claimDueReminders(kTwoEnginesNow, "engine-2", kLease, 100).empty());
}

TEST_P(StoreSmsTest, AClaimHoldsForItsLeaseAndARemindedPickupIsNotClaimedAgain) {
    constexpr int kLease = 60;
    const long long t0 = kLeaseNow;
    Store store(settings_);
    const PickupRecord due = *apply(store, newPickup(applicant_, 1, t0 + 10'000, t0 - 60)).pickup;
    const PickupRecord later = *apply(store, newPickup(applicant_, 2, t0 + 10'000, t0 + 1'000)).pickup;
    const PickupRecord pastDeadline = *apply(store, newPickup(applicant_, 3, t0 - 1, t0 - 3'600)).pickup;
    const PickupRecord collected = *apply(store, newPickup(applicant_, 4, t0 + 10'000, t0 - 60)).pickup;
    ASSERT_EQ(store.collectPickup(collected.code, applicant_, t0).outcome, CollectOutcome::collected);
    const auto claim = [&](long long at, const std::string& owner) {
        std::vector<std::string> mine;
        for (const PickupRecord& pickup : store.claimDueReminders(at, owner, kLease, 1000)) {
            if (pickup.applicantId == applicant_) mine.push_back(pickup.pickupId);
        }
        return mine;
    };

    EXPECT_EQ(claim(t0, "a"), std::vector<std::string>{due.pickupId}) << "not due yet, past deadline, collected: no";
    EXPECT_TRUE(claim(t0 + 30, "b").empty()) << "a's lease holds";
    EXPECT_TRUE(claim(t0 + kLease, "a").empty()) << "up to its last second, for its owner too";

    // a never marked it reminded (crashed, say): once the lease ended, b takes it over.
    std::vector<PickupRecord> takenOver = store.claimDueReminders(t0 + kLease + 1, "b", kLease, 1000);
    std::erase_if(takenOver, [&](const PickupRecord& pickup) { return pickup.applicantId != applicant_; });
    ASSERT_EQ(pickupIds(takenOver), std::vector<std::string>{due.pickupId});
    EXPECT_EQ(takenOver.front().claimedBy, "b");
    EXPECT_EQ(takenOver.front().claimedUntil, t0 + 2LL * kLease + 1);

    store.markReminded(due.pickupId, "2026-11-30T01:00:00.000Z");
    store.markReminded(due.pickupId);  // a late second engine: the first stamp stays
    store.markReminded(testing::uniqueName("pickup"));
    EXPECT_TRUE(claim(t0 + 10LL * kLease, "c").empty()) << "reminded";
    EXPECT_EQ(store.collectPickup(due.code, applicant_, t0).pickup->remindedAt, "2026-11-30T01:00:00.000Z");

    EXPECT_EQ(claim(t0 + 1'000, "c"), std::vector<std::string>{later.pickupId}) << "due now";
    EXPECT_EQ(store.collectPickup(pastDeadline.code, applicant_, t0).outcome, CollectOutcome::expired);

    EXPECT_TRUE(store.claimDueReminders(t0, "a", kLease, 0).empty());
    EXPECT_THROW(store.claimDueReminders(t0, "", kLease, 10), std::invalid_argument);
    EXPECT_THROW(store.claimDueReminders(t0, "a", 0, 10), std::invalid_argument);
}

TEST_P(StoreSmsTest, ExpireDueExpiresOpenPickupsPastTheirDeadlineOnceAcrossEngines) {
    constexpr int kPast = 10;
    Store first(settings_);
    Store second(settings_);
    std::vector<PickupRecord> past;
    past.reserve(kPast);
    for (int i = 0; i < kPast; ++i)
        past.push_back(*apply(first, newPickup(applicant_ + "-" + std::to_string(i), 1, kExpireNow - 1 - i, 0)).pickup);
    const PickupRecord onTheDeadline = *apply(first, newPickup(applicant_, 2, kExpireNow, 0)).pickup;
    const PickupRecord ahead = *apply(first, newPickup(applicant_, 3, kExpireNow + 1, 0)).pickup;
    const PickupRecord collected = *apply(first, newPickup(applicant_, 4, kExpireNow - 100, 0)).pickup;
    ASSERT_EQ(first.collectPickup(collected.code, applicant_, kExpireNow - 100).outcome, CollectOutcome::collected);

    int counted[2] = {0, 0};
    std::latch start(2);
    std::thread a([&] {
        start.arrive_and_wait();
        counted[0] = first.expireDue(kExpireNow);
    });
    std::thread b([&] {
        start.arrive_and_wait();
        counted[1] = second.expireDue(kExpireNow);
    });
    a.join();
    b.join();

    EXPECT_EQ(counted[0] + counted[1], kPast) << "each pickup expired once";
    for (const PickupRecord& pickup : past) {
        EXPECT_EQ(first.collectPickup(pickup.code, pickup.applicantId, 0).outcome, CollectOutcome::expired)
            << pickup.code;
    }
    EXPECT_EQ(first.openPickupFor(applicant_, 2), onTheDeadline) << "collectable up to its deadline";
    EXPECT_EQ(first.openPickupFor(applicant_, 3), ahead);
    EXPECT_EQ(first.collectPickup(collected.code, applicant_, kExpireNow).outcome, CollectOutcome::already_collected);
    EXPECT_EQ(first.expireDue(kExpireNow), 0);
    EXPECT_EQ(first.expireDue(kExpireNow + 2), 2);
}

// --- notifications ---

// Issue 9, finding 8: a failed delivery's status and its retry are one durable step (the outbox), and a sweeper
// claims what is stuck in queued, once across engines.
TEST_P(StoreSmsTest, AFailedDeliveryAndItsRetryAreStoredTogether) {
    Store store(settings_);
    NotificationRecord first = newNotification();
    store.insertNotification(first);
    store.markNotificationSent(first.notificationId, testing::uniqueName("gw"), 1);
    NotificationRecord retry = first;
    retry.notificationId = first.notificationId + "~2";
    retry.attempt = 1;
    retry.status = "queued";
    store.failAndRetryNotification(first.notificationId, "handset off", retry);
    const auto failed = store.findNotification(first.notificationId).value();
    EXPECT_EQ(failed.status, "failed");
    EXPECT_EQ(failed.error, "handset off");
    const auto queued = store.findNotification(retry.notificationId).value();
    EXPECT_EQ(queued.status, "queued");
    EXPECT_EQ(queued.attempt, 1);
    EXPECT_EQ(queued.text, first.text);

    // An incomplete retry is refused before anything changes.
    NotificationRecord second = newNotification();
    store.insertNotification(second);
    store.markNotificationSent(second.notificationId, testing::uniqueName("gw"), 1);
    NotificationRecord bad = second;
    bad.notificationId = second.notificationId + "~2";
    bad.kind = "no such kind";
    EXPECT_THROW(store.failAndRetryNotification(second.notificationId, "x", bad), std::invalid_argument);
    EXPECT_EQ(store.findNotification(second.notificationId)->status, "sent");
    EXPECT_FALSE(store.findNotification(bad.notificationId));
}

TEST_P(StoreSmsTest, NotificationsStuckInQueuedAreClaimedOnceUntilTheyAreStaleAgain) {
    Store store(settings_);
    NotificationRecord stuck = newNotification("reply");
    stuck.createdAt = "2020-01-01T00:00:00.000Z";
    stuck.updatedAt = "2020-01-01T00:00:00.000Z";
    store.insertNotification(stuck);
    NotificationRecord recent = newNotification("reply");  // stamped now: not stale
    store.insertNotification(recent);
    NotificationRecord sent = newNotification("reply");
    sent.status = "sent";
    sent.createdAt = sent.updatedAt = "2020-01-01T00:00:00.000Z";
    store.insertNotification(sent);

    auto mine = [&](const std::vector<NotificationRecord>& claimed) {
        std::vector<std::string> ids;
        for (const auto& n : claimed)
            if (n.notificationId == stuck.notificationId || n.notificationId == recent.notificationId ||
                n.notificationId == sent.notificationId)
                ids.push_back(n.notificationId);
        return ids;
    };
    // Four sweepers at once: exactly one gets it.
    std::atomic<int> claims{0};
    std::vector<std::thread> sweepers;
    for (int i = 0; i < 4; ++i)
        sweepers.emplace_back([&] {
            Store own(settings_);
            claims += static_cast<int>(mine(own.claimStaleQueued("2021-01-01T00:00:00.000Z", "", 100)).size());
        });
    for (auto& sweeper : sweepers) sweeper.join();
    EXPECT_EQ(claims.load(), 1);
    EXPECT_TRUE(mine(store.claimStaleQueued("2021-01-01T00:00:00.000Z", "", 100)).empty())
        << "claimed: its updated_at is now, no longer stale";
    EXPECT_EQ(store.findNotification(stuck.notificationId)->status, "queued") << "claiming sends nothing";
    EXPECT_EQ(store.claimStaleQueued("2021-01-01T00:00:00.000Z", "", 0).size(), 0u);
}

TEST_P(StoreSmsTest, ANotificationIsInsertedOnceAndMovesThroughItsStatuses) {
    Store store(settings_);
    const NotificationRecord notification = newNotification("reminder");
    store.insertNotification(notification);
    const NotificationRecord stored = store.findNotification(notification.notificationId).value();
    EXPECT_EQ(stored.status, "queued");
    EXPECT_EQ(stored.attempt, 0);
    EXPECT_EQ(stored.kind, "reminder");
    EXPECT_EQ(stored.text, notification.text);
    EXPECT_EQ(stored.createdAt.size(), 24U) << stored.createdAt;
    EXPECT_EQ(stored.updatedAt, stored.createdAt);

    NotificationRecord replay = notification;
    replay.text = "something else";
    replay.status = "sent";
    store.insertNotification(replay);
    EXPECT_EQ(store.findNotification(notification.notificationId), stored) << "the first insert stays";

    const std::string firstSend = testing::uniqueName("gw");
    store.markNotificationSent(notification.notificationId, firstSend, 2);
    NotificationRecord sent = store.findNotification(notification.notificationId).value();
    EXPECT_EQ(sent.status, "sent");
    EXPECT_EQ(sent.gatewayMsgId, firstSend);
    EXPECT_EQ(sent.segments, 2);
    EXPECT_EQ(sent.attempt, 1);
    EXPECT_GE(sent.updatedAt, sent.createdAt);

    store.markNotificationStatus(notification.notificationId, "failed", "absent subscriber");
    const NotificationRecord failed = store.findNotification(notification.notificationId).value();
    EXPECT_EQ(failed.status, "failed");
    EXPECT_EQ(failed.error, "absent subscriber");
    bool listed = false;
    for (const auto& n : store.notificationsWithStatus("failed", 100'000)) {
        listed = listed || n.notificationId == notification.notificationId;
    }
    EXPECT_TRUE(listed) << "failed notifications are listed for a retry";

    const std::string secondSend = testing::uniqueName("gw");
    store.markNotificationSent(notification.notificationId, secondSend, 1);
    sent = store.findNotification(notification.notificationId).value();
    EXPECT_EQ(sent.attempt, 2);
    EXPECT_EQ(sent.error, "") << "cleared by a send";
    EXPECT_EQ(sent.gatewayMsgId, secondSend);

    store.markNotificationStatus(notification.notificationId, "dead", "3 attempts");
    bool dead = false;
    for (const auto& n : store.deadNotifications(100'000))
        dead = dead || n.notificationId == notification.notificationId;
    EXPECT_TRUE(dead);
    EXPECT_EQ(store.findNotification(notification.notificationId)->status, "dead");

    EXPECT_THROW(store.markNotificationStatus(notification.notificationId, "lost"), std::invalid_argument);
    store.markNotificationStatus(testing::uniqueName("n"), "delivered");  // unknown: ignored
    store.markNotificationSent(testing::uniqueName("n"), testing::uniqueName("gw"), 1);
    EXPECT_EQ(store.findNotification(testing::uniqueName("n")), std::nullopt);
    EXPECT_TRUE(store.notificationsWithStatus("queued", 0).empty());

    NotificationRecord bad = newNotification("fax");
    EXPECT_THROW(store.insertNotification(bad), std::invalid_argument);
    bad = newNotification();
    bad.notificationId = "";
    EXPECT_THROW(store.insertNotification(bad), std::invalid_argument);
}

TEST_P(StoreSmsTest, ADeliveryReportFindsItsNotificationByTheLastSendsGatewayMessageId) {
    Store store(settings_);
    const NotificationRecord notification = newNotification();
    store.insertNotification(notification);
    EXPECT_EQ(store.findNotificationByGatewayMsgId(""), std::nullopt) << "not every unsent notification";

    const std::string firstSend = testing::uniqueName("gw");
    store.markNotificationSent(notification.notificationId, firstSend, 1);
    EXPECT_EQ(store.findNotificationByGatewayMsgId(firstSend)->notificationId, notification.notificationId);

    store.markNotificationStatus(notification.notificationId, "failed", "timeout");
    const std::string secondSend = testing::uniqueName("gw");
    store.markNotificationSent(notification.notificationId, secondSend, 1);
    EXPECT_EQ(store.findNotificationByGatewayMsgId(firstSend), std::nullopt) << "a late report of the first send";
    store.markNotificationStatus(store.findNotificationByGatewayMsgId(secondSend)->notificationId, "delivered");
    EXPECT_EQ(store.findNotification(notification.notificationId)->status, "delivered");
    EXPECT_EQ(store.findNotificationByGatewayMsgId(testing::uniqueName("gw")), std::nullopt);
}

TEST_P(StoreSmsTest, NotificationsWithAStatusComeOldestFirst) {
    Store store(settings_);
    std::vector<std::string> ids;
    ids.reserve(3);
    for (int i = 2; i >= 0; --i) {  // inserted newest first
        NotificationRecord notification = newNotification();
        notification.createdAt = "2001-01-01T00:00:0" + std::to_string(i) + ".000Z";
        store.insertNotification(notification);
        ids.insert(ids.begin(), notification.notificationId);
    }
    std::vector<std::string> mine;
    for (const auto& n : store.notificationsWithStatus("queued", 100'000)) {
        if (std::find(ids.begin(), ids.end(), n.notificationId) != ids.end()) mine.push_back(n.notificationId);
    }
    EXPECT_EQ(mine, ids);
}

TEST_P(StoreSmsTest, ConcurrentInsertsOfOneNotificationStoreOne) {
    constexpr int kThreads = 8;
    settings_.poolSize = kThreads;
    Store store(settings_);
    const NotificationRecord notification = newNotification();
    const auto errors = testing::atOnce(kThreads, [&](int t, std::latch& start) {
        NotificationRecord mine = notification;
        mine.text = "attempt " + std::to_string(t);
        start.arrive_and_wait();
        store.insertNotification(mine);
    });
    EXPECT_EQ(errors, std::vector<std::string>(kThreads));
    EXPECT_EQ(countOf("notifications", "notification_id", notification.notificationId), 1);
}

// --- the inbox (issue 9 finding 13; migration 8) ---

InboxRecord newInboxRow(const std::string& stamp = "") {
    InboxRecord row;
    row.gatewayMsgId = testing::uniqueName("inbox");
    row.message = R"({"msisdn":"0912345678","text":"?","gateway_msg_id":")" + row.gatewayMsgId + R"("})";
    row.attempts = 1;
    row.receivedAt = stamp;
    row.updatedAt = stamp;
    return row;
}

TEST_P(StoreSmsTest, AnInboundMessageIsOneInboxRowHoweverOftenItIsStored) {
    Store store(settings_);
    const InboxRecord first = newInboxRow();
    const InboxRecord second = newInboxRow();
    const auto stored = store.enqueueInbox({first, second});
    ASSERT_EQ(stored.size(), 2u);
    EXPECT_EQ(stored[0].gatewayMsgId, first.gatewayMsgId);
    EXPECT_EQ(stored[0].message, first.message);
    EXPECT_EQ(stored[0].state, "queued");
    EXPECT_EQ(stored[0].attempts, 1);
    EXPECT_FALSE(stored[0].receivedAt.empty()) << "stamped now";
    EXPECT_EQ(stored[0].updatedAt, stored[0].receivedAt);
    EXPECT_EQ(stored[1].gatewayMsgId, second.gatewayMsgId);

    // The gateway sends it again (with another text, even): still one row, the first.
    InboxRecord again = first;
    again.message = R"({"other":true})";
    const auto repeated = store.enqueueInbox({again});
    ASSERT_EQ(repeated.size(), 1u);
    EXPECT_EQ(repeated[0], stored[0]);
    EXPECT_EQ(countOf("sms_inbox", "gateway_msg_id", first.gatewayMsgId), 1);

    // A done row stays done when the message comes again.
    store.markInboxDone(first.gatewayMsgId);
    EXPECT_EQ(store.findInbox(first.gatewayMsgId)->state, "done");
    EXPECT_EQ(store.enqueueInbox({first})[0].state, "done");
    EXPECT_EQ(store.findInbox(second.gatewayMsgId)->state, "queued") << "only the one marked";
    EXPECT_FALSE(store.findInbox("no such message"));
}

TEST_P(StoreSmsTest, AnIncompleteInboxRowStoresNoneOfTheRequest) {
    Store store(settings_);
    const InboxRecord good = newInboxRow();
    InboxRecord bad = newInboxRow();
    bad.message.clear();
    EXPECT_THROW(store.enqueueInbox({good, bad}), std::invalid_argument);
    InboxRecord unknownState = newInboxRow();
    unknownState.state = "lost";
    EXPECT_THROW(store.enqueueInbox({good, unknownState}), std::invalid_argument);
    EXPECT_FALSE(store.findInbox(good.gatewayMsgId));
    EXPECT_TRUE(store.enqueueInbox({}).empty());
}

TEST_P(StoreSmsTest, RecordingAnOutcomeMarksTheInboxRowDoneInTheSameStep) {
    Store store(settings_);
    InboundRecord inbound = newInbound("help");
    InboxRecord row = newInboxRow();
    row.gatewayMsgId = inbound.gatewayMsgId;
    store.enqueueInbox({row});
    NotificationRecord reply = newNotification("reply");
    store.recordSmsOutcome(inbound, std::nullopt, reply);
    const auto done = store.findInbox(inbound.gatewayMsgId).value();
    EXPECT_EQ(done.state, "done");
    EXPECT_EQ(done.attempts, 1) << "finishing is not a produce";
    // Processed again (a redelivery): still done, still one reply.
    store.recordSmsOutcome(inbound, std::nullopt, reply);
    EXPECT_EQ(store.findInbox(inbound.gatewayMsgId)->state, "done");
    EXPECT_EQ(countOf("notifications", "notification_id", reply.notificationId), 1);
}

TEST_P(StoreSmsTest, QueuedInboxRowsAreClaimedOnceUntilStaleAgainAndDoneOnesNever) {
    Store store(settings_);
    const std::string old = "2020-01-01T00:00:00.000Z";
    const InboxRecord stuck = newInboxRow(old);
    const InboxRecord recent = newInboxRow();  // stamped now: not stale
    const InboxRecord done = newInboxRow(old);
    InboxRecord givenUp = newInboxRow(old);
    givenUp.attempts = 5;
    store.enqueueInbox({stuck, recent, done, givenUp});
    store.markInboxDone(done.gatewayMsgId);
    // markInboxDone stamps now; put it back in the past so that only its state keeps it from being claimed.
    setInboxUpdatedAt(done.gatewayMsgId, old);
    const std::set<std::string> ours{stuck.gatewayMsgId, recent.gatewayMsgId, done.gatewayMsgId, givenUp.gatewayMsgId};
    auto mine = [&](const std::vector<InboxRecord>& claimed) {
        std::vector<InboxRecord> rows;
        for (const auto& row : claimed)
            if (ours.count(row.gatewayMsgId) != 0) rows.push_back(row);
        return rows;
    };
    const std::string cutoff = "2021-01-01T00:00:00.000Z";
    const std::string claimedAt = "2022-06-01T00:00:00.000Z";
    // Four sweepers at once: exactly one gets the stuck row; none gets the others.
    std::mutex mutex;
    std::vector<InboxRecord> claims;
    std::vector<std::thread> sweepers;
    for (int i = 0; i < 4; ++i)
        sweepers.emplace_back([&] {
            Store own(settings_);
            const auto got = mine(own.claimStaleInbox(cutoff, claimedAt, 5, 1000));
            const std::lock_guard lock(mutex);
            claims.insert(claims.end(), got.begin(), got.end());
        });
    for (auto& sweeper : sweepers) sweeper.join();
    ASSERT_EQ(claims.size(), 1u);
    EXPECT_EQ(claims[0].gatewayMsgId, stuck.gatewayMsgId);
    EXPECT_EQ(claims[0].attempts, 2) << "the API's produce, then this one";
    EXPECT_EQ(claims[0].updatedAt, claimedAt);
    EXPECT_EQ(claims[0].message, stuck.message);
    EXPECT_EQ(store.findInbox(stuck.gatewayMsgId)->attempts, 2);
    EXPECT_EQ(store.findInbox(stuck.gatewayMsgId)->updatedAt, claimedAt);
    EXPECT_TRUE(mine(store.claimStaleInbox(cutoff, claimedAt, 5, 1000)).empty())
        << "claimed: pushed back past the cut-off";
    // Once the cut-off passes its claim, it is stale again (the recent row, stamped now, is still younger).
    const auto later = mine(store.claimStaleInbox("2023-01-01T00:00:00.000Z", "2023-01-01T00:00:01.000Z", 5, 1000));
    ASSERT_EQ(later.size(), 1u);
    EXPECT_EQ(later[0].gatewayMsgId, stuck.gatewayMsgId);
    EXPECT_EQ(later[0].attempts, 3);
    EXPECT_EQ(store.findInbox(done.gatewayMsgId)->state, "done");
    EXPECT_EQ(store.findInbox(givenUp.gatewayMsgId)->attempts, 5) << "at the bound: left for operations";
    EXPECT_TRUE(store.claimStaleInbox(cutoff, claimedAt, 5, 0).empty());
    // Its produce failed (the broker away): that attempt does not count; a done row is left as it is.
    store.returnInboxAttempts({stuck.gatewayMsgId, done.gatewayMsgId});
    EXPECT_EQ(store.findInbox(stuck.gatewayMsgId)->attempts, 2);
    EXPECT_EQ(store.findInbox(done.gatewayMsgId)->attempts, 1);
    store.returnInboxAttempts({});
}

TEST_P(StoreSmsTest, PruningDeletesDoneInboxRowsOlderThanTheCutOffOnly) {
    Store store(settings_);
    const std::string old = "2020-01-01T00:00:00.000Z";
    const InboxRecord oldDone = newInboxRow(old);
    const InboxRecord oldQueued = newInboxRow(old);
    const InboxRecord newDone = newInboxRow();
    store.enqueueInbox({oldDone, oldQueued, newDone});
    store.markInboxDone(newDone.gatewayMsgId);  // done now: younger than the cut-off
    // oldDone: done, then aged behind the store's back.
    store.markInboxDone(oldDone.gatewayMsgId);
    setInboxUpdatedAt(oldDone.gatewayMsgId, old);
    EXPECT_EQ(store.pruneInbox("2021-01-01T00:00:00.000Z", 0), 0);
    EXPECT_GE(store.pruneInbox("2021-01-01T00:00:00.000Z", 100000), 1);
    EXPECT_FALSE(store.findInbox(oldDone.gatewayMsgId)) << "done and old: pruned";
    EXPECT_TRUE(store.findInbox(oldQueued.gatewayMsgId)) << "queued: never pruned, however old";
    EXPECT_TRUE(store.findInbox(newDone.gatewayMsgId)) << "done, but younger than the cut-off";
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreSmsTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

TEST(StoreMigrations, VersionThreeAddsInboundSmsPickupsAndNotifications) {
    using testing::columnsOf;
    using testing::indexesOf;
    using testing::missingFrom;
    using Names = std::vector<std::string>;
    const std::string dir = testing::tempDir("migration3");
    StoreSettings settings;
    settings.sqlitePath = dir + "/taxdesk.db";
    { Store registersTheConnector(StoreSettings{"sqlite", dir + "/other.db", "", 1}); }
    const std::string then = "'2026-01-01T00:00:00.000Z'";
    {
        // A database as version 2 left it, with a batch paid after a failed attempt.
        Poco::Data::Session session("sqlite", settings.sqlitePath);
        testing::migrateByHandTo(session, 2);
        ASSERT_EQ(columnsOf(session, "pickups"), Names{}) << "version 2 has no pickups: the test would prove nothing";
        session << "INSERT INTO batches (batch_id, creditor_id, state, receipt_token, paid, created_at)"
                   " VALUES ('B-1', 'C1', 'queued', 'R-1', 1, " +
                       then + ")",
            now;
        session << "INSERT INTO payments (payment_id, idempotency_key, batch_id, creditor_id, amount, status,"
                   " created_at, updated_at) VALUES ('P-failed', 'k1', 'B-1', 'C1', 500, 'failed', " +
                       then + ", " + then + "), ('P-paid', 'k2', 'B-1', 'C1', 500, 'succeeded', " + then + ", " + then +
                       ")",
            now;
    }
    { Store store(settings); }  // applies version 3 and every later one

    Poco::Data::Session session("sqlite", settings.sqlitePath);
    int recorded = 0;
    session << "SELECT COUNT(*) FROM schema_migrations WHERE version = 3", into(recorded), now;
    EXPECT_EQ(recorded, 1);
    EXPECT_EQ(missingFrom(columnsOf(session, "sms_inbound"), {"gateway_msg_id", "msisdn", "received_at", "outcome",
                                                              "reply_notification_id", "created_at"}),
              Names{});
    EXPECT_EQ(
        missingFrom(columnsOf(session, "pickups"),
                    {"pickup_id", "code", "applicant_id", "msisdn", "service", "office", "deadline_at", "remind_at",
                     "state", "created_at", "collected_at", "reminded_at", "claimed_by", "claimed_until"}),
        Names{});
    EXPECT_EQ(missingFrom(columnsOf(session, "notifications"),
                          {"notification_id", "msisdn", "text", "kind", "pickup_id", "attempt", "status",
                           "gateway_msg_id", "segments", "error", "created_at", "updated_at"}),
              Names{});
    EXPECT_EQ(missingFrom(indexesOf(session, "sms_inbound"), {"sms_inbound_by_msisdn"}), Names{});
    EXPECT_EQ(missingFrom(indexesOf(session, "pickups"), {"pickups_open_code", "pickups_by_applicant",
                                                          "pickups_by_code", "pickups_due", "pickups_deadline"}),
              Names{});
    EXPECT_EQ(missingFrom(indexesOf(session, "notifications"),
                          {"notifications_by_gateway_msg_id", "notifications_by_status"}),
              Names{});
    EXPECT_EQ(missingFrom(indexesOf(session, "payments"), {"payments_live_per_batch"}), Names{});

    // Version 2's rows are still there: the batch, and both of its payments.
    int paid = 0;
    session << "SELECT paid FROM batches WHERE batch_id = 'B-1'", into(paid), now;
    EXPECT_EQ(paid, 1);
    std::vector<std::string> payments;
    session << "SELECT payment_id FROM payments WHERE batch_id = 'B-1' ORDER BY payment_id", into(payments), now;
    EXPECT_EQ(payments, (Names{"P-failed", "P-paid"}));
    // One live payment per batch: another failed one may be added, a second live one may not.
    const std::string payment =
        "INSERT INTO payments (payment_id, idempotency_key, batch_id, creditor_id, amount,"
        " status, created_at, updated_at, provider_key) VALUES ";
    session << payment + "('P-failed-2', 'k3', 'B-1', 'C1', 500, 'failed', " + then + ", " + then + ", 'k3')", now;
    EXPECT_NE(testing::refusal(session, payment + "('P-live-2', 'k4', 'B-1', 'C1', 500, 'pending', " + then + ", " +
                                            then + ", 'k4')")
                  .find("UNIQUE constraint failed: payments.batch_id"),
              std::string::npos);
    // A code is unique among open pickups only.
    const std::string pickup =
        "INSERT INTO pickups (pickup_id, code, applicant_id, msisdn, service, deadline_at,"
        " remind_at, state, created_at) VALUES ";
    session << pickup + "('K-1', '123456', 'A123456789', '0912345678', 1, 0, 0, 'collected', " + then + ")", now;
    session << pickup + "('K-2', '123456', 'A223456781', '0912345679', 1, 0, 0, 'open', " + then + ")", now;
    EXPECT_NE(testing::refusal(session,
                               pickup + "('K-3', '123456', 'B123456780', '0912345670', 2, 0, 0, 'open', " + then + ")")
                  .find("UNIQUE constraint failed: pickups.code"),
              std::string::npos);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace taxdesk::connectors
