// The pickup store (SqlPickupStore, SPEC 4.1, 4.2): what an inbound SMS came to, pickups, their collection,
// reminders and expiry, on both backends (store_sms_fixture.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <latch>
#include <set>
#include <thread>

#include "connectors/store/sql_pickup_store.hpp"
#include "fixtures/at_once.hpp"
#include "fixtures/sqlite_schema.hpp"
#include "store_sms_fixture.hpp"

namespace taxdesk::connectors {
namespace {

using namespace Poco::Data::Keywords;

class StorePickupsTest : public StoreSmsTest {};

// --- inbound SMS ---

TEST_P(StorePickupsTest, ARecordedAlertStoresTheInboundItsPickupAndItsReplyTogether) {
    Store store(settings_);
    const InboundRecord inbound = newInbound();
    const PickupRecord pickup = newPickup();
    const NotificationRecord reply = newNotification();
    EXPECT_EQ(store.pickups().findInbound(inbound.gatewayMsgId), std::nullopt);

    const SmsOutcomeResult result = store.pickups().recordSmsOutcome(inbound, pickup, reply);

    EXPECT_TRUE(result.created);
    EXPECT_EQ(result.inbound.gatewayMsgId, inbound.gatewayMsgId);
    EXPECT_EQ(result.inbound.msisdn, "0912345678");
    EXPECT_EQ(result.inbound.receivedAt, inbound.receivedAt);
    EXPECT_EQ(result.inbound.outcome, "alert");
    EXPECT_EQ(result.inbound.replyNotificationId, reply.notificationId) << "filled in from the reply";
    EXPECT_EQ(result.inbound.createdAt.size(), 24U) << result.inbound.createdAt;
    EXPECT_EQ(store.pickups().findInbound(inbound.gatewayMsgId), result.inbound);

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
    EXPECT_EQ(store.notifications().findNotification(reply.notificationId), result.reply);
}

TEST_P(StorePickupsTest, AnOutcomeWithoutAPickupStoresTheInboundAndItsReply) {
    Store store(settings_);
    const InboundRecord inbound = newInbound("help");
    const NotificationRecord reply = newNotification("reply");

    const SmsOutcomeResult result = store.pickups().recordSmsOutcome(inbound, std::nullopt, reply);

    EXPECT_TRUE(result.created);
    EXPECT_EQ(result.inbound.outcome, "help");
    EXPECT_EQ(result.pickup, std::nullopt);
    EXPECT_EQ(result.reply.pickupId, "");
    EXPECT_EQ(result.reply.kind, "reply");
    EXPECT_EQ(store.notifications().findNotification(reply.notificationId), result.reply);
}

TEST_P(StorePickupsTest, AResentPickupIsTheOneTheReplyNames) {
    Store store(settings_);
    const SmsOutcomeResult first = apply(store, newPickup());
    ASSERT_EQ(store.pickups().openPickupFor(applicant_, 1), first.pickup);

    // Applying again for the same service: no new pickup, the reply re-sends the open one.
    NotificationRecord resend = newNotification();
    resend.pickupId = first.pickup->pickupId;
    const SmsOutcomeResult again = store.pickups().recordSmsOutcome(newInbound("resent"), std::nullopt, resend);

    EXPECT_TRUE(again.created);
    EXPECT_EQ(again.inbound.outcome, "resent");
    EXPECT_EQ(again.pickup, first.pickup);
    EXPECT_EQ(countOf("pickups", "applicant_id", applicant_), 1);
}

TEST_P(StorePickupsTest, ARedeliveredMessageGetsTheFirstReplyAndStoresNothingNew) {
    Store store(settings_);
    const InboundRecord inbound = newInbound();
    const SmsOutcomeResult first = store.pickups().recordSmsOutcome(inbound, newPickup(), newNotification());

    // The engine processes the redelivery as if new: another pickup, another reply, even another outcome.
    InboundRecord redelivered = inbound;
    redelivered.outcome = "limit";
    const NotificationRecord otherReply = newNotification("reply");
    const SmsOutcomeResult second = store.pickups().recordSmsOutcome(redelivered, newPickup(), otherReply);

    EXPECT_FALSE(second.created);
    EXPECT_EQ(second.inbound, first.inbound);
    EXPECT_EQ(second.reply, first.reply);
    EXPECT_EQ(second.pickup, first.pickup);
    EXPECT_EQ(store.notifications().findNotification(otherReply.notificationId), std::nullopt);
    EXPECT_EQ(countOf("pickups", "applicant_id", applicant_), 1);
    EXPECT_EQ(countOf("sms_inbound", "gateway_msg_id", inbound.gatewayMsgId), 1);
}

TEST_P(StorePickupsTest, ConcurrentDeliveriesOfOneMessageGiveOneReply) {
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
        results[t] = store.pickups().recordSmsOutcome(inbound, pickup, reply);
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

TEST_P(StorePickupsTest, AnOpenPickupsCodeCollidesButACollectedOrExpiredOnesMayRecur) {
    Store store(settings_);
    const SmsOutcomeResult held = apply(store, newPickup());
    const std::string code = held.pickup->code;

    PickupRecord same = newPickup(testing::uniqueName("B"));
    same.code = code;
    const InboundRecord inbound = newInbound();
    const NotificationRecord reply = newNotification();
    try {
        store.pickups().recordSmsOutcome(inbound, same, reply);
        FAIL() << "a code of an open pickup was given twice";
    } catch (const CodeCollision& error) {
        EXPECT_FALSE(error.isRetryable());
        const PermanentError& permanent = error;
        EXPECT_NE(std::string(permanent.what()).find(code), std::string::npos) << permanent.what();
    }
    EXPECT_EQ(store.pickups().findInbound(inbound.gatewayMsgId), std::nullopt) << "nothing of the call is stored";
    EXPECT_EQ(store.notifications().findNotification(reply.notificationId), std::nullopt);
    EXPECT_EQ(countOf("pickups", "pickup_id", same.pickupId), 0);

    // Collected: its code is free again, and the same SMS may now be recorded with it.
    ASSERT_EQ(store.pickups().collectPickup(code, applicant_, kAppliedDeadline).outcome, CollectOutcome::collected);
    const SmsOutcomeResult reused = store.pickups().recordSmsOutcome(inbound, same, reply);
    EXPECT_TRUE(reused.created);
    EXPECT_EQ(reused.pickup->code, code);
    EXPECT_EQ(reused.pickup->state, "open");

    // Expired: likewise.
    ASSERT_EQ(store.pickups().collectPickup(code, same.applicantId, kAppliedDeadline + 1).outcome,
              CollectOutcome::expired);
    PickupRecord third = newPickup(testing::uniqueName("C"));
    third.code = code;
    EXPECT_TRUE(store.pickups().recordSmsOutcome(newInbound(), third, newNotification()).created);

    // A taken pickup id is not a collision: drawing another code would not help.
    PickupRecord duplicateId = newPickup();
    duplicateId.pickupId = held.pickup->pickupId;
    try {
        store.pickups().recordSmsOutcome(newInbound(), duplicateId, newNotification());
        FAIL() << "a taken pickup id was accepted";
    } catch (const CodeCollision& error) {
        FAIL() << error.what();
    } catch (const PermanentError& error) {
        EXPECT_NE(std::string(error.what()).find("is taken"), std::string::npos) << error.what();
    }
}

TEST_P(StorePickupsTest, OutcomesInOneStoreTransactionAreStoredTogetherAndACollisionUndoesOnlyItsOwnCall) {
    // The SMS stage records a batch's outcomes in one StoreTransaction. Inside it, a call that fails (a code
    // collision) undoes only its own writes (a savepoint), the others stay; reads see the transaction's own writes;
    // nothing is visible to other sessions before the commit; and a transaction not committed leaves nothing.
    Store store(settings_);
    const SmsOutcomeResult held = apply(store, newPickup());
    const InboundRecord first = newInbound();
    const PickupRecord firstPickup = newPickup(testing::uniqueName("D"));
    const NotificationRecord firstReply = newNotification();
    PickupRecord colliding = newPickup(testing::uniqueName("E"));
    colliding.code = held.pickup->code;
    const InboundRecord collided = newInbound();
    const NotificationRecord collidedReply = newNotification();
    const InboundRecord last = newInbound("help");
    const NotificationRecord lastReply = newNotification("reply");
    {
        StoreTransaction transaction(store.database());
        EXPECT_TRUE(store.pickups().recordSmsOutcome(first, firstPickup, firstReply).created);
        EXPECT_THROW(store.pickups().recordSmsOutcome(collided, colliding, collidedReply), CodeCollision);
        EXPECT_TRUE(store.pickups().recordSmsOutcome(last, std::nullopt, lastReply).created);
        EXPECT_TRUE(store.pickups().findInbound(first.gatewayMsgId).has_value()) << "its own writes, read back";
        EXPECT_EQ(store.pickups().openPickupFor(firstPickup.applicantId, 1, kAppliedDeadline - 1)->pickupId,
                  firstPickup.pickupId);
        transaction.commit();
    }
    EXPECT_EQ(countOf("sms_inbound", "gateway_msg_id", first.gatewayMsgId), 1);
    EXPECT_EQ(countOf("pickups", "pickup_id", firstPickup.pickupId), 1);
    EXPECT_EQ(countOf("notifications", "notification_id", firstReply.notificationId), 1);
    EXPECT_EQ(countOf("sms_inbound", "gateway_msg_id", collided.gatewayMsgId), 0) << "the collision's call undone";
    EXPECT_EQ(countOf("pickups", "pickup_id", colliding.pickupId), 0);
    EXPECT_EQ(countOf("notifications", "notification_id", collidedReply.notificationId), 0);
    EXPECT_EQ(countOf("sms_inbound", "gateway_msg_id", last.gatewayMsgId), 1) << "a call after the collision stays";
    EXPECT_EQ(countOf("notifications", "notification_id", lastReply.notificationId), 1);

    const InboundRecord dropped = newInbound();
    {
        StoreTransaction transaction(store.database());
        EXPECT_TRUE(store.pickups().recordSmsOutcome(dropped, std::nullopt, newNotification("reply")).created);
        EXPECT_EQ(countOf("sms_inbound", "gateway_msg_id", dropped.gatewayMsgId), 0)
            << "not visible to another session before the commit";
    }  // not committed: rolled back
    EXPECT_EQ(store.pickups().findInbound(dropped.gatewayMsgId), std::nullopt);
    EXPECT_EQ(store.pickups().recordSmsOutcome(dropped, std::nullopt, newNotification("reply")).created, true)
        << "outside a transaction, calls commit on their own again";
}

TEST_P(StorePickupsTest, RecordingChecksItsArguments) {
    Store store(settings_);
    const auto refused = [&](const InboundRecord& inbound, const std::optional<PickupRecord>& pickup,
                             const NotificationRecord& reply) {
        EXPECT_THROW(store.pickups().recordSmsOutcome(inbound, pickup, reply), std::invalid_argument);
        EXPECT_EQ(store.pickups().findInbound(inbound.gatewayMsgId), std::nullopt);
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
    EXPECT_THROW(store.pickups().recordSmsOutcome({}, std::nullopt, newNotification("reply")), std::invalid_argument);
}

// --- pickups ---

TEST_P(StorePickupsTest, APersonHasOneOpenPickupPerService) {
    Store store(settings_);
    const SmsOutcomeResult first = apply(store, newPickup(applicant_, 1));
    EXPECT_THROW(store.pickups().recordSmsOutcome(newInbound(), newPickup(applicant_, 1), newNotification()),
                 OpenPickupExists);
    EXPECT_NO_THROW(apply(store, newPickup(applicant_, 2))) << "another service";
    ASSERT_EQ(store.pickups().collectPickup(first.pickup->code, applicant_, kAppliedDeadline).outcome,
              CollectOutcome::collected);
    EXPECT_NO_THROW(apply(store, newPickup(applicant_, 1))) << "once collected, a new one";
}

TEST_P(StorePickupsTest, OpenPickupForFindsTheOpenPickupOfThatPersonAndServiceOnly) {
    Store store(settings_);
    EXPECT_EQ(store.pickups().openPickupFor(applicant_, 1), std::nullopt);
    const SmsOutcomeResult property = apply(store, newPickup(applicant_, 1));
    const SmsOutcomeResult certificate = apply(store, newPickup(applicant_, 2));
    apply(store, newPickup(testing::uniqueName("B"), 3));

    EXPECT_EQ(store.pickups().openPickupFor(applicant_, 1), property.pickup);
    EXPECT_EQ(store.pickups().openPickupFor(applicant_, 2), certificate.pickup);
    EXPECT_EQ(store.pickups().openPickupFor(applicant_, 3), std::nullopt) << "another person's";
    EXPECT_EQ(store.pickups().openPickupFor(testing::uniqueName("nobody"), 1), std::nullopt);

    // Past its deadline it no longer counts when the caller says what time it is, even before expireDue ran.
    EXPECT_EQ(store.pickups().openPickupFor(applicant_, 1, kAppliedDeadline), property.pickup);
    EXPECT_EQ(store.pickups().openPickupFor(applicant_, 1, kAppliedDeadline + 1), std::nullopt);

    ASSERT_EQ(store.pickups().collectPickup(property.pickup->code, applicant_, kAppliedDeadline).outcome,
              CollectOutcome::collected);
    EXPECT_EQ(store.pickups().openPickupFor(applicant_, 1), std::nullopt) << "collected";
    const SmsOutcomeResult renewed = apply(store, newPickup(applicant_, 1));
    EXPECT_EQ(store.pickups().openPickupFor(applicant_, 1), renewed.pickup);
}

// Issue 11: the SMS stage reads a poll batch's inbound records and its applicants' open pickups in one query each.
TEST_P(StorePickupsTest, BatchReadsFindWhatTheOneAtATimeReadsFind) {
    Store store(settings_);
    auto& sql = dynamic_cast<SqlPickupStore&>(store.pickups());
    EXPECT_TRUE(sql.findInbounds({}).empty());
    EXPECT_TRUE(sql.openPickupsOf({}, 0).empty());

    // 450 stored messages, asked for with 50 unknown ones among them: three slices of at most 200 ids.
    std::vector<std::string> ids;
    std::set<std::string> stored;
    for (int i = 0; i < 450; ++i) {
        InboundRecord inbound = newInbound();
        NotificationRecord reply = newNotification();
        inbound.outcome = "help";
        store.pickups().recordSmsOutcome(inbound, std::nullopt, reply);
        ids.push_back(inbound.gatewayMsgId);
        stored.insert(inbound.gatewayMsgId);
        if (i % 9 == 0) ids.push_back(testing::uniqueName("unknown"));
    }
    const auto found = sql.findInbounds(ids);
    EXPECT_EQ(found.size(), 450U);
    std::set<std::string> foundIds;
    for (const auto& inbound : found) {
        foundIds.insert(inbound.gatewayMsgId);
        EXPECT_EQ(store.pickups().findInbound(inbound.gatewayMsgId), inbound);
    }
    EXPECT_EQ(foundIds, stored);

    // Open pickups of two applicants (one with two services), one collected, another person's not asked for.
    const std::string other = testing::uniqueName("B");
    const SmsOutcomeResult property = apply(store, newPickup(applicant_, 1));
    const SmsOutcomeResult certificate = apply(store, newPickup(applicant_, 2));
    const SmsOutcomeResult collected = apply(store, newPickup(other, 1));
    ASSERT_EQ(store.pickups().collectPickup(collected.pickup->code, other, kAppliedDeadline).outcome,
              CollectOutcome::collected);
    const SmsOutcomeResult others = apply(store, newPickup(other, 3));
    apply(store, newPickup(testing::uniqueName("C"), 1));

    auto open = sql.openPickupsOf({applicant_, other, testing::uniqueName("nobody")}, kAppliedDeadline);
    std::sort(open.begin(), open.end(), [](const auto& a, const auto& b) { return a.pickupId < b.pickupId; });
    std::vector<PickupRecord> expected{*property.pickup, *certificate.pickup, *others.pickup};
    std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) { return a.pickupId < b.pickupId; });
    EXPECT_EQ(open, expected);
    EXPECT_TRUE(sql.openPickupsOf({applicant_, other}, kAppliedDeadline + 1).empty()) << "past their deadline";
}

TEST_P(StorePickupsTest, CollectingCollectsOnceAndTellsEveryOtherOutcome) {
    Store store(settings_);
    const PickupRecord pickup = *apply(store, newPickup()).pickup;
    const std::string stranger = testing::uniqueName("B");

    const CollectResult wrong = store.pickups().collectPickup(pickup.code, stranger, kAppliedDeadline);
    EXPECT_EQ(wrong.outcome, CollectOutcome::wrong_id);
    EXPECT_EQ(wrong.pickup, pickup) << "unchanged";

    const CollectResult collected = store.pickups().collectPickup(pickup.code, applicant_, kAppliedDeadline);
    EXPECT_EQ(collected.outcome, CollectOutcome::collected);
    ASSERT_TRUE(collected.pickup.has_value());
    EXPECT_EQ(collected.pickup->state, "collected");
    EXPECT_EQ(collected.pickup->collectedAt.size(), 24U) << collected.pickup->collectedAt;

    const CollectResult again = store.pickups().collectPickup(pickup.code, applicant_, kAppliedDeadline);
    EXPECT_EQ(again.outcome, CollectOutcome::already_collected);
    EXPECT_EQ(again.pickup, collected.pickup);
    EXPECT_EQ(store.pickups().collectPickup(pickup.code, stranger, kAppliedDeadline).outcome, CollectOutcome::wrong_id);

    // A deadline that passed: the pickup is marked expired there and then, and stays so.
    const PickupRecord late = *apply(store, newPickup()).pickup;
    const CollectResult expired = store.pickups().collectPickup(late.code, applicant_, kAppliedDeadline + 1);
    EXPECT_EQ(expired.outcome, CollectOutcome::expired);
    EXPECT_EQ(expired.pickup->state, "expired");
    EXPECT_EQ(expired.pickup->collectedAt, "");
    EXPECT_EQ(store.pickups().collectPickup(late.code, applicant_, kAppliedDeadline).outcome, CollectOutcome::expired);

    EXPECT_EQ(store.pickups().collectPickup(randomCode() + "9", applicant_, kAppliedDeadline).outcome,
              CollectOutcome::not_found);
    const CollectResult none = store.pickups().collectPickup("", applicant_, kAppliedDeadline);
    EXPECT_EQ(none.outcome, CollectOutcome::not_found);
    EXPECT_EQ(none.pickup, std::nullopt);

    EXPECT_STREQ(toString(CollectOutcome::collected), "collected");
    EXPECT_STREQ(toString(CollectOutcome::wrong_id), "wrong_id");
    EXPECT_STREQ(toString(CollectOutcome::expired), "expired");
    EXPECT_STREQ(toString(CollectOutcome::already_collected), "already_collected");
    EXPECT_STREQ(toString(CollectOutcome::not_found), "not_found");
}

TEST_P(StorePickupsTest, ARecurringCodeIsCollectedByTheApplicantWhoseItIs) {
    Store store(settings_);
    const std::string other = testing::uniqueName("B");
    const PickupRecord mine = *apply(store, newPickup()).pickup;
    ASSERT_EQ(store.pickups().collectPickup(mine.code, applicant_, kAppliedDeadline).outcome,
              CollectOutcome::collected);
    PickupRecord theirs = newPickup(other);
    theirs.code = mine.code;
    ASSERT_TRUE(store.pickups().recordSmsOutcome(newInbound(), theirs, newNotification()).created);

    // The code now names their open pickup and my collected one: each applicant gets their own.
    const CollectResult mineAgain = store.pickups().collectPickup(mine.code, applicant_, kAppliedDeadline);
    EXPECT_EQ(mineAgain.outcome, CollectOutcome::already_collected);
    EXPECT_EQ(mineAgain.pickup->pickupId, mine.pickupId);
    EXPECT_EQ(store.pickups().collectPickup(mine.code, testing::uniqueName("C"), kAppliedDeadline).outcome,
              CollectOutcome::wrong_id);
    const CollectResult theirsCollected = store.pickups().collectPickup(mine.code, other, kAppliedDeadline);
    EXPECT_EQ(theirsCollected.outcome, CollectOutcome::collected);
    EXPECT_EQ(theirsCollected.pickup->pickupId, theirs.pickupId);
}

TEST_P(StorePickupsTest, ConcurrentCollectionsCollectOnce) {
    constexpr int kThreads = 8;
    settings_.poolSize = kThreads;
    Store store(settings_);
    const PickupRecord pickup = *apply(store, newPickup()).pickup;

    std::vector<CollectResult> results(kThreads);
    const auto errors = testing::atOnce(kThreads, [&](int t, std::latch& start) {
        start.arrive_and_wait();
        results[t] = store.pickups().collectPickup(pickup.code, applicant_, kAppliedDeadline);
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

TEST_P(StorePickupsTest, TwoEnginesClaimingRemindersAtOnceNeverGetTheSamePickup) {
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
                const auto batch = store.pickups().claimDueReminders(kTwoEnginesNow, owner, kLease, 3);
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
    EXPECT_TRUE(first.pickups().claimDueReminders(kTwoEnginesNow, "engine-2", kLease, 100).empty());
}

TEST_P(StorePickupsTest, AClaimHoldsForItsLeaseAndARemindedPickupIsNotClaimedAgain) {
    constexpr int kLease = 60;
    const long long t0 = kLeaseNow;
    Store store(settings_);
    const PickupRecord due = *apply(store, newPickup(applicant_, 1, t0 + 10'000, t0 - 60)).pickup;
    const PickupRecord later = *apply(store, newPickup(applicant_, 2, t0 + 10'000, t0 + 1'000)).pickup;
    const PickupRecord pastDeadline = *apply(store, newPickup(applicant_, 3, t0 - 1, t0 - 3'600)).pickup;
    const PickupRecord collected = *apply(store, newPickup(applicant_, 4, t0 + 10'000, t0 - 60)).pickup;
    ASSERT_EQ(store.pickups().collectPickup(collected.code, applicant_, t0).outcome, CollectOutcome::collected);
    const auto claim = [&](long long at, const std::string& owner) {
        std::vector<std::string> mine;
        for (const PickupRecord& pickup : store.pickups().claimDueReminders(at, owner, kLease, 1000)) {
            if (pickup.applicantId == applicant_) mine.push_back(pickup.pickupId);
        }
        return mine;
    };

    EXPECT_EQ(claim(t0, "a"), std::vector<std::string>{due.pickupId}) << "not due yet, past deadline, collected: no";
    EXPECT_TRUE(claim(t0 + 30, "b").empty()) << "a's lease holds";
    EXPECT_TRUE(claim(t0 + kLease, "a").empty()) << "up to its last second, for its owner too";

    // a never marked it reminded (crashed, say): once the lease ended, b takes it over.
    std::vector<PickupRecord> takenOver = store.pickups().claimDueReminders(t0 + kLease + 1, "b", kLease, 1000);
    std::erase_if(takenOver, [&](const PickupRecord& pickup) { return pickup.applicantId != applicant_; });
    ASSERT_EQ(pickupIds(takenOver), std::vector<std::string>{due.pickupId});
    EXPECT_EQ(takenOver.front().claimedBy, "b");
    EXPECT_EQ(takenOver.front().claimedUntil, t0 + 2LL * kLease + 1);

    store.pickups().markReminded(due.pickupId, "2026-11-30T01:00:00.000Z");
    store.pickups().markReminded(due.pickupId);  // a late second engine: the first stamp stays
    store.pickups().markReminded(testing::uniqueName("pickup"));
    EXPECT_TRUE(claim(t0 + 10LL * kLease, "c").empty()) << "reminded";
    EXPECT_EQ(store.pickups().collectPickup(due.code, applicant_, t0).pickup->remindedAt, "2026-11-30T01:00:00.000Z");

    EXPECT_EQ(claim(t0 + 1'000, "c"), std::vector<std::string>{later.pickupId}) << "due now";
    EXPECT_EQ(store.pickups().collectPickup(pastDeadline.code, applicant_, t0).outcome, CollectOutcome::expired);

    EXPECT_TRUE(store.pickups().claimDueReminders(t0, "a", kLease, 0).empty());
    EXPECT_THROW(store.pickups().claimDueReminders(t0, "", kLease, 10), std::invalid_argument);
    EXPECT_THROW(store.pickups().claimDueReminders(t0, "a", 0, 10), std::invalid_argument);
}

TEST_P(StorePickupsTest, ExpireDueExpiresOpenPickupsPastTheirDeadlineOnceAcrossEngines) {
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
    ASSERT_EQ(first.pickups().collectPickup(collected.code, applicant_, kExpireNow - 100).outcome,
              CollectOutcome::collected);

    int counted[2] = {0, 0};
    std::latch start(2);
    std::thread a([&] {
        start.arrive_and_wait();
        counted[0] = first.pickups().expireDue(kExpireNow);
    });
    std::thread b([&] {
        start.arrive_and_wait();
        counted[1] = second.pickups().expireDue(kExpireNow);
    });
    a.join();
    b.join();

    EXPECT_EQ(counted[0] + counted[1], kPast) << "each pickup expired once";
    for (const PickupRecord& pickup : past) {
        EXPECT_EQ(first.pickups().collectPickup(pickup.code, pickup.applicantId, 0).outcome, CollectOutcome::expired)
            << pickup.code;
    }
    EXPECT_EQ(first.pickups().openPickupFor(applicant_, 2), onTheDeadline) << "collectable up to its deadline";
    EXPECT_EQ(first.pickups().openPickupFor(applicant_, 3), ahead);
    EXPECT_EQ(first.pickups().collectPickup(collected.code, applicant_, kExpireNow).outcome,
              CollectOutcome::already_collected);
    EXPECT_EQ(first.pickups().expireDue(kExpireNow), 0);
    EXPECT_EQ(first.pickups().expireDue(kExpireNow + 2), 2);
}

INSTANTIATE_TEST_SUITE_P(Backends, StorePickupsTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

TEST(StoreSqliteWriter, AWriteThatFindsTheDatabaseHeldTooLongGetsARetryableErrorAndTheNextOneGoesThrough) {
    // One write at a time in a process on SQLite (Database::sqliteWriter): a write that waits longer than SQLite's
    // busy timeout gets a retryable StoreError (the SMS API answers 503) instead of queueing without end while it
    // holds a pooled session.
    StoreSettings settings;
    settings.sqlitePath = testing::tempDir("sqlite-writer") + "/taxdesk.db";
    settings.poolSize = 4;
    Store store(settings);
    auto holder = std::make_unique<StoreTransaction>(store.database());
    std::optional<StoreError> refused;
    std::thread other([&] {
        try {
            StoreTransaction waiting(store.database());
        } catch (const StoreError& error) {
            refused = error;
        }
    });
    other.join();
    ASSERT_TRUE(refused.has_value()) << "the second write did not wait for the first";
    EXPECT_TRUE(refused->isRetryable()) << refused->what();
    EXPECT_NE(std::string(refused->what()).find("busy"), std::string::npos) << refused->what();
    holder->commit();
    holder.reset();
    StoreTransaction next(store.database());  // free again
    next.commit();
}

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
