// The payments ledger in the SQL store (PaymentLedger), on both backends (store_area_fixture.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <thread>

#include "store_area_fixture.hpp"

namespace taxdesk::connectors {
namespace {

using namespace store_areas;

class StorePaymentsTest : public StoreAreaTest {};

TEST_P(StorePaymentsTest, APaymentKeyAlwaysGivesTheSameRecordAndIsCreatedOnce) {
    Store store(settings_);
    const PaymentRecord pending = newPayment(testing::uniqueName("batch"), 1250);

    const PaymentIntent first = store.payments().beginPayment(pending);
    EXPECT_TRUE(first.created);
    EXPECT_EQ(first.payment.paymentId, pending.paymentId);
    EXPECT_EQ(first.payment.idempotencyKey, pending.idempotencyKey);
    EXPECT_EQ(first.payment.amount, 1250);
    EXPECT_EQ(first.payment.status, jobs::payment::PaymentStatus::pending);
    EXPECT_EQ(first.payment.card, "****-****-****-1234");
    EXPECT_FALSE(first.payment.published);
    EXPECT_EQ(first.payment.createdAt.size(), 24U);
    EXPECT_EQ(first.payment.updatedAt, first.payment.createdAt);
    EXPECT_EQ(first.payment.providerKey, pending.paymentId) << "the provider sees the ledger's key, not the client's";

    PaymentRecord retry = pending;
    retry.paymentId = testing::uniqueName("pay");  // the engine proposes a fresh id for every request
    const PaymentIntent second = store.payments().beginPayment(retry);
    EXPECT_FALSE(second.created);
    EXPECT_EQ(second.payment, first.payment);
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, pending.idempotencyKey), first.payment);
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, testing::uniqueName("key")), std::nullopt);
}

TEST_P(StorePaymentsTest, AKeyReusedForAnotherBatchOrAmountIsAConflict) {
    Store store(settings_);
    const PaymentRecord pending = newPayment(testing::uniqueName("batch"), 1250);
    store.payments().beginPayment(pending);

    PaymentRecord otherAmount = pending;
    otherAmount.paymentId = testing::uniqueName("pay");
    otherAmount.amount = 1500;
    PaymentRecord otherBatch = pending;
    otherBatch.paymentId = testing::uniqueName("pay");
    otherBatch.batchId = testing::uniqueName("batch");
    EXPECT_THROW(store.payments().beginPayment(otherAmount), IdempotencyConflict);
    try {
        store.payments().beginPayment(otherBatch);
        FAIL() << "a key reused for another batch was accepted";
    } catch (const PermanentError& error) {
        EXPECT_NE(dynamic_cast<const IdempotencyConflict*>(&error), nullptr);
        EXPECT_FALSE(error.isRetryable());
        EXPECT_NE(std::string(error.what()).find(pending.idempotencyKey), std::string::npos) << error.what();
    }
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, pending.idempotencyKey)->amount, 1250);
    EXPECT_EQ(store.payments().paidTotal(otherBatch.batchId), 0);
}

TEST_P(StorePaymentsTest, ASucceededPaymentMarksItsBatchPaidAndQueued) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const BatchRecord written = writeBatch(store, batch, makeRows(batch.batchId, 3, 0));
    const PaymentIntent intent = store.payments().beginPayment(newPayment(batch.batchId, written.feeTotal));
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), 0) << "a pending payment is not paid";

    store.payments().completePayment(intent.payment.paymentId, jobs::payment::PaymentStatus::succeeded, "EZ-000123");

    const auto payment = store.payments().findPaymentByKey(creditor_, intent.payment.idempotencyKey).value();
    EXPECT_EQ(payment.status, jobs::payment::PaymentStatus::succeeded);
    EXPECT_EQ(payment.providerTxnId, "EZ-000123");
    EXPECT_GE(payment.updatedAt, payment.createdAt);
    const auto paid = store.batches().findBatch(batch.batchId).value();
    EXPECT_TRUE(paid.paid);
    EXPECT_EQ(paid.state, jobs::inquiry::BatchState::queued);
    EXPECT_EQ(paid.queuedAt.size(), 24U) << paid.queuedAt;
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), written.feeTotal);

    // Resolving it again (another engine, a start-up) changes nothing.
    store.payments().completePayment(intent.payment.paymentId, jobs::payment::PaymentStatus::failed, "", "timeout");
    store.payments().completePayment(intent.payment.paymentId, jobs::payment::PaymentStatus::succeeded, "EZ-000123");
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, intent.payment.idempotencyKey), payment);
    EXPECT_EQ(store.batches().findBatch(batch.batchId), paid);
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), written.feeTotal);

    EXPECT_THROW(
        store.payments().completePayment(testing::uniqueName("pay"), jobs::payment::PaymentStatus::succeeded, "x"),
        PermanentError);
    EXPECT_THROW(store.payments().completePayment(intent.payment.paymentId, jobs::payment::PaymentStatus::pending, "x"),
                 std::invalid_argument);
}

TEST_P(StorePaymentsTest, AFailedPaymentLeavesItsBatchAwaitingPayment) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const BatchRecord written = writeBatch(store, batch, makeRows(batch.batchId, 3, 0));
    const PaymentIntent intent = store.payments().beginPayment(newPayment(batch.batchId, written.feeTotal));

    store.payments().completePayment(intent.payment.paymentId, jobs::payment::PaymentStatus::failed, "",
                                     "insufficient_balance");

    const auto payment = store.payments().findPaymentByKey(creditor_, intent.payment.idempotencyKey).value();
    EXPECT_EQ(payment.status, jobs::payment::PaymentStatus::failed);
    EXPECT_EQ(payment.error, "insufficient_balance");
    EXPECT_EQ(store.batches().findBatch(batch.batchId), written);
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), 0);

    // A second attempt with a new key pays it; the ledger's total is that one charge.
    const PaymentIntent retry = store.payments().beginPayment(newPayment(batch.batchId, written.feeTotal));
    ASSERT_TRUE(retry.created);
    store.payments().completePayment(retry.payment.paymentId, jobs::payment::PaymentStatus::succeeded, "EZ-7");
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), written.feeTotal);
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->state, jobs::inquiry::BatchState::queued);
}

TEST_P(StorePaymentsTest, PendingAndUnpublishedPaymentsFeedStartUpAndTheOutbox) {
    Store store(settings_);
    std::vector<PaymentRecord> payments;
    for (int i = 0; i < 4; ++i) {
        PaymentRecord payment = newPayment(testing::uniqueName("batch"), 250);
        payment.createdAt = "2024-05-01T08:00:0" + std::to_string(i) + ".000Z";
        payments.push_back(store.payments().beginPayment(payment).payment);
    }
    store.payments().completePayment(payments[1].paymentId, jobs::payment::PaymentStatus::failed, "", "card_blocked");
    store.payments().completePayment(payments[2].paymentId, jobs::payment::PaymentStatus::succeeded, "EZ-2");
    store.payments().completePayment(payments[3].paymentId, jobs::payment::PaymentStatus::succeeded, "EZ-3");
    const auto ours = [&](const std::vector<PaymentRecord>& found) {
        std::vector<std::string> ids;
        for (const auto& payment : found) {
            if (payment.creditorId == creditor_) ids.push_back(payment.paymentId);
        }
        return ids;
    };

    EXPECT_EQ(ours(store.payments().pendingPayments()), (std::vector<std::string>{payments[0].paymentId}));
    EXPECT_EQ(ours(store.payments().unpublishedPayments(1000)),
              (std::vector<std::string>{payments[1].paymentId, payments[2].paymentId, payments[3].paymentId}));

    store.payments().markPublished({payments[1].paymentId, payments[3].paymentId, testing::uniqueName("pay")});
    store.payments().markPublished({});
    EXPECT_EQ(ours(store.payments().unpublishedPayments(1000)), (std::vector<std::string>{payments[2].paymentId}));
    EXPECT_TRUE(store.payments().findPaymentByKey(creditor_, payments[3].idempotencyKey)->published);
    EXPECT_TRUE(store.payments().unpublishedPayments(0).empty());

    store.payments().completePayment(payments[0].paymentId, jobs::payment::PaymentStatus::succeeded, "EZ-0");
    EXPECT_TRUE(ours(store.payments().pendingPayments()).empty());
    store.payments().markPublished({payments[0].paymentId, payments[2].paymentId});
    EXPECT_TRUE(ours(store.payments().unpublishedPayments(1000)).empty());
}

TEST_P(StorePaymentsTest, ConcurrentPaymentsWithOneKeyCreateExactlyOneRecord) {
    settings_.poolSize = 8;
    Store store(settings_);
    const PaymentRecord pending = newPayment(testing::uniqueName("batch"), 750);
    constexpr int kThreads = 8;

    std::vector<PaymentIntent> intents(kThreads);
    const auto errors = testing::atOnce(kThreads, [&](int t, std::latch& start) {
        PaymentRecord mine = pending;
        mine.paymentId = testing::uniqueName("pay");
        start.arrive_and_wait();
        intents[t] = store.payments().beginPayment(mine);
    });

    int created = 0;
    for (int t = 0; t < kThreads; ++t) {
        EXPECT_EQ(errors[t], "") << "thread " << t;
        created += intents[t].created ? 1 : 0;
        EXPECT_EQ(intents[t].payment, intents[0].payment) << "thread " << t;
    }
    EXPECT_EQ(created, 1);
    EXPECT_EQ(countOf("payments", pending.batchId), 1);
}

TEST_P(StorePaymentsTest, ABatchWithALivePaymentRefusesAnotherKey) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const BatchRecord written = writeBatch(store, batch, makeRows(batch.batchId, 2, 0));
    const PaymentIntent first = store.payments().beginPayment(newPayment(batch.batchId, written.feeTotal));
    ASSERT_TRUE(first.created);

    // Pending: another key is refused, naming the batch; the first key still gives its record.
    const PaymentRecord other = newPayment(batch.batchId, written.feeTotal);
    try {
        store.payments().beginPayment(other);
        FAIL() << "a second live payment for one batch was accepted";
    } catch (const IdempotencyConflict& error) {
        EXPECT_FALSE(error.isRetryable());
        EXPECT_NE(std::string(error.what()).find("batch " + batch.batchId + " already has a payment"),
                  std::string::npos)
            << error.what();
    }
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, other.idempotencyKey), std::nullopt);
    EXPECT_FALSE(store.payments().beginPayment(first.payment).created);

    // Failed: the batch is free for a new key, which is then the live one.
    store.payments().completePayment(first.payment.paymentId, jobs::payment::PaymentStatus::failed, "", "card_blocked");
    const PaymentIntent second = store.payments().beginPayment(other);
    EXPECT_TRUE(second.created);
    EXPECT_THROW(store.payments().beginPayment(newPayment(batch.batchId, written.feeTotal)), IdempotencyConflict);

    // Succeeded: still refused (the engine checks the batch's state before; this is the store's guarantee).
    store.payments().completePayment(second.payment.paymentId, jobs::payment::PaymentStatus::succeeded, "EZ-9");
    EXPECT_THROW(store.payments().beginPayment(newPayment(batch.batchId, written.feeTotal)), IdempotencyConflict);
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), written.feeTotal);
    EXPECT_EQ(countOf("payments", batch.batchId), 2);
}

TEST_P(StorePaymentsTest, ConcurrentPaymentsWithDifferentKeysForOneBatchLetExactlyOneThrough) {
    constexpr int kThreads = 8;
    settings_.poolSize = kThreads;
    Store store(settings_);
    const std::string batchId = testing::uniqueName("batch");

    std::vector<PaymentIntent> intents(kThreads);
    std::vector<std::string> conflicts(kThreads);
    const auto errors = testing::atOnce(kThreads, [&](int t, std::latch& start) {
        const PaymentRecord mine = newPayment(batchId, 750);  // a key of its own
        start.arrive_and_wait();
        try {
            intents[t] = store.payments().beginPayment(mine);
        } catch (const IdempotencyConflict& error) {
            conflicts[t] = error.what();
        }
    });

    int created = 0;
    int refused = 0;
    for (int t = 0; t < kThreads; ++t) {
        EXPECT_EQ(errors[t], "") << "thread " << t;
        created += intents[t].created ? 1 : 0;
        if (!conflicts[t].empty()) {
            ++refused;
            EXPECT_NE(conflicts[t].find("already has a payment"), std::string::npos) << conflicts[t];
        }
    }
    EXPECT_EQ(created, 1);
    EXPECT_EQ(refused, kThreads - 1);
    EXPECT_EQ(countOf("payments", batchId), 1);
}

TEST_P(StorePaymentsTest, IdempotencyKeysArePerCreditorAndConflictsNameOnlyTheCreditorsOwnData) {
    Store store(settings_);
    const std::string key = testing::uniqueName("key");
    PaymentRecord first = newPayment(testing::uniqueName("batch"), 1250);
    first.idempotencyKey = key;
    first.creditorId = testing::uniqueName("C1-");
    PaymentRecord second = newPayment(testing::uniqueName("batch"), 500);
    second.idempotencyKey = key;
    second.creditorId = testing::uniqueName("C2-");

    const PaymentIntent one = store.payments().beginPayment(first);
    const PaymentIntent two = store.payments().beginPayment(second);
    EXPECT_TRUE(one.created);
    EXPECT_TRUE(two.created) << "another creditor's equal key is another payment";
    EXPECT_NE(one.payment.providerKey, two.payment.providerKey) << "and another charge at the provider";
    EXPECT_EQ(store.payments().findPaymentByKey(first.creditorId, key)->batchId, first.batchId);
    EXPECT_EQ(store.payments().findPaymentByKey(second.creditorId, key)->batchId, second.batchId);
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, key), std::nullopt);

    PaymentRecord reused = second;
    reused.paymentId = testing::uniqueName("pay");
    reused.batchId = testing::uniqueName("batch");
    try {
        store.payments().beginPayment(reused);
        FAIL() << "C2's key reused with another of its batches was accepted";
    } catch (const IdempotencyConflict& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find(second.batchId), std::string::npos) << message;
        for (const std::string& secret : {first.batchId, first.creditorId, one.payment.paymentId, std::string("1250")})
            EXPECT_EQ(message.find(secret), std::string::npos) << secret << " in " << message;
    }
}

TEST_P(StorePaymentsTest, TheSameKeyWithAnotherCardIsAConflict) {
    Store store(settings_);
    PaymentRecord pending = newPayment(testing::uniqueName("batch"), 750);
    pending.cardHash = "hash-of-card-1";
    const PaymentIntent first = store.payments().beginPayment(pending);
    EXPECT_EQ(first.payment.cardHash, "hash-of-card-1");

    PaymentRecord sameCard = pending;
    sameCard.paymentId = testing::uniqueName("pay");
    EXPECT_EQ(store.payments().beginPayment(sameCard).payment, first.payment);
    PaymentRecord otherCard = sameCard;
    otherCard.cardHash = "hash-of-card-2";
    EXPECT_THROW(store.payments().beginPayment(otherCard), IdempotencyConflict);
}

TEST_P(StorePaymentsTest, OnePartyAtATimeHoldsAPendingPaymentsLease) {
    Store store(settings_);
    constexpr long long kNow = 1'000'000'000'000;
    PaymentRecord pending = newPayment(testing::uniqueName("batch"), 250);
    pending.leaseOwner = "request-a";
    pending.leaseUntilMs = kNow + 10'000;
    const PaymentRecord stored = store.payments().beginPayment(pending).payment;
    EXPECT_EQ(stored.leaseOwner, "request-a");
    EXPECT_EQ(stored.leaseUntilMs, kNow + 10'000);
    const auto abandoned = [&](long long now) {
        int found = 0;
        for (const auto& payment : store.payments().abandonedPayments(now))
            found += payment.paymentId == stored.paymentId;
        return found;
    };

    // Held: nobody else may take it, and recovery does not see it.
    EXPECT_FALSE(store.payments().claimPayment(stored.paymentId, "engine-b", kNow, 60'000));
    EXPECT_EQ(abandoned(kNow), 0);
    EXPECT_EQ(abandoned(kNow + 10'000), 0) << "the lease lasts until its end";
    // The lease ended: exactly one of two claimants takes it, until its own lease ends.
    EXPECT_EQ(abandoned(kNow + 10'001), 1);
    EXPECT_TRUE(store.payments().claimPayment(stored.paymentId, "engine-b", kNow + 10'001, 60'000));
    EXPECT_FALSE(store.payments().claimPayment(stored.paymentId, "engine-c", kNow + 10'001, 60'000));
    auto now = store.payments().findPaymentByKey(creditor_, pending.idempotencyKey).value();
    EXPECT_EQ(now.leaseOwner, "engine-b");
    EXPECT_EQ(now.leaseUntilMs, kNow + 70'001);
    // Released by a party that does not hold it: nothing changes.
    store.payments().releasePayment(stored.paymentId, "request-a");
    EXPECT_FALSE(store.payments().claimPayment(stored.paymentId, "request-d", kNow + 10'001, 5'000));
    // By its holder (the provider did not answer): a retrying request may take it over at once, but recovery does
    // not see it until the lease's end: a charge that timed out may still land until then.
    store.payments().releasePayment(stored.paymentId, "engine-b");
    EXPECT_EQ(abandoned(kNow + 10'001), 0);
    EXPECT_EQ(abandoned(kNow + 70'001), 0);
    EXPECT_EQ(abandoned(kNow + 70'002), 1);
    EXPECT_TRUE(store.payments().claimPayment(stored.paymentId, "request-d", kNow + 10'001, 5'000));
    EXPECT_FALSE(store.payments().claimPayment(stored.paymentId, "request-e", kNow + 10'001, 5'000)) << "held again";
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, pending.idempotencyKey)->leaseUntilMs, kNow + 70'001)
        << "a new holder never shortens the lease a timed-out charge may still land in";
    // Completed: no longer anybody's to claim.
    EXPECT_TRUE(
        store.payments().completePayment(stored.paymentId, jobs::payment::PaymentStatus::failed, "", "card_blocked"));
    EXPECT_FALSE(store.payments().claimPayment(stored.paymentId, "engine-b", kNow + 100'000, 60'000));
    EXPECT_EQ(abandoned(kNow + 100'000), 0);
    EXPECT_THROW(store.payments().claimPayment(stored.paymentId, "", kNow, 1), std::invalid_argument);
    EXPECT_THROW(store.payments().claimPayment(stored.paymentId, "x", kNow, 0), std::invalid_argument);
}

TEST_P(StorePaymentsTest, APaymentChangesOnceAndARefusalNeverOverwritesASuccess) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const BatchRecord written = writeBatch(store, batch, makeRows(batch.batchId, 2, 0));
    const PaymentIntent intent = store.payments().beginPayment(newPayment(batch.batchId, written.feeTotal));

    EXPECT_TRUE(
        store.payments().completePayment(intent.payment.paymentId, jobs::payment::PaymentStatus::succeeded, "EZ-1"))
        << "a ledger transition";
    EXPECT_FALSE(
        store.payments().completePayment(intent.payment.paymentId, jobs::payment::PaymentStatus::succeeded, "EZ-1"))
        << "counted once";
    EXPECT_FALSE(store.payments().completePayment(intent.payment.paymentId, jobs::payment::PaymentStatus::failed, "",
                                                  "key reused with another card"));
    const auto payment = store.payments().findPaymentByKey(creditor_, intent.payment.idempotencyKey).value();
    EXPECT_EQ(payment.status, jobs::payment::PaymentStatus::succeeded);
    EXPECT_EQ(payment.providerTxnId, "EZ-1");
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), written.feeTotal);

    // Marked failed (e.g. recovery that found no charge yet) and then the provider's charge arrives: the charge wins.
    const BatchRecord late = newBatch();
    const BatchRecord lateWritten = writeBatch(store, late, makeRows(late.batchId, 3, 0));
    const PaymentIntent lateIntent = store.payments().beginPayment(newPayment(late.batchId, lateWritten.feeTotal));
    EXPECT_TRUE(store.payments().completePayment(lateIntent.payment.paymentId, jobs::payment::PaymentStatus::failed, "",
                                                 "not charged"));
    EXPECT_TRUE(store.payments().completePayment(lateIntent.payment.paymentId, jobs::payment::PaymentStatus::succeeded,
                                                 "EZ-2"));
    const auto charged = store.payments().findPaymentByKey(creditor_, lateIntent.payment.idempotencyKey).value();
    EXPECT_EQ(charged.status, jobs::payment::PaymentStatus::succeeded);
    EXPECT_EQ(charged.error, "");
    EXPECT_FALSE(charged.published) << "published again with its new status";
    EXPECT_EQ(store.payments().paidTotal(late.batchId), lateWritten.feeTotal);
    EXPECT_TRUE(store.batches().findBatch(late.batchId)->paid);
}

TEST_P(StorePaymentsTest, ALateChargeForABatchPaidUnderAnotherKeyIsInTheLedgerAsRefundDue) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const BatchRecord written = writeBatch(store, batch, makeRows(batch.batchId, 2, 0));
    const long long fee = written.feeTotal;
    // Recovery found no charge for the first payment and marked it failed, to be asked about again.
    const PaymentIntent first = store.payments().beginPayment(newPayment(batch.batchId, fee));
    constexpr long long kNow = 4'000'000'000'000;  // later than any other test's payments, so that ours come first
    EXPECT_TRUE(store.payments().completePayment(first.payment.paymentId, jobs::payment::PaymentStatus::failed, "",
                                                 "not charged", kNow + 1'000));
    auto toRecheck = store.payments().paymentsToRecheck(kNow, 1'000'000, kNow + 100);
    const auto ours = [&](const std::vector<PaymentRecord>& payments) {
        return std::count_if(payments.begin(), payments.end(),
                             [&](const PaymentRecord& p) { return p.paymentId == first.payment.paymentId; });
    };
    EXPECT_EQ(ours(toRecheck), 1);
    EXPECT_EQ(ours(store.payments().paymentsToRecheck(kNow + 50, 1'000'000, kNow + 200)), 0)
        << "its next turn is at kNow + 100";
    EXPECT_EQ(ours(store.payments().paymentsToRecheck(kNow + 100, 1'000'000, kNow + 300)), 1) << "its turn again";
    EXPECT_EQ(ours(store.payments().paymentsToRecheck(kNow + 1'000, 1'000'000, kNow + 2'000)), 0)
        << "not after its window";
    // The creditor paid again, with a new key.
    const PaymentIntent second = store.payments().beginPayment(newPayment(batch.batchId, fee));
    ASSERT_TRUE(second.created);
    EXPECT_TRUE(
        store.payments().completePayment(second.payment.paymentId, jobs::payment::PaymentStatus::succeeded, "EZ-2"));
    // Then the provider's late charge for the first turns up: both charges are in the ledger, one of them owed back.
    const PaymentChange late =
        store.payments().completePayment(first.payment.paymentId, jobs::payment::PaymentStatus::succeeded, "EZ-1");
    EXPECT_TRUE(late.changed);
    EXPECT_TRUE(late.refundDue);
    const auto owed = store.payments().findPaymentByKey(creditor_, first.payment.idempotencyKey).value();
    EXPECT_EQ(owed.status, jobs::payment::PaymentStatus::refund_due);
    EXPECT_EQ(owed.providerTxnId, "EZ-1");
    EXPECT_FALSE(owed.published) << "published again with its new status";
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, second.payment.idempotencyKey)->status,
              jobs::payment::PaymentStatus::succeeded);
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), 2 * fee) << "the ledger equals what the card was charged";
    EXPECT_EQ(ours(store.payments().paymentsToRecheck(kNow + 300, 1'000'000, kNow + 400)), 0) << "settled";
    EXPECT_FALSE(
        store.payments().completePayment(first.payment.paymentId, jobs::payment::PaymentStatus::succeeded, "EZ-1"))
        << "counted once";
    // A refund_due payment is not live: the batch's one live payment is still the second.
    EXPECT_THROW(store.payments().beginPayment(newPayment(batch.batchId, fee)), IdempotencyConflict);

    // Without another payment, a late charge makes the payment succeeded and the batch paid, as before.
    const BatchRecord other = newBatch();
    const BatchRecord otherWritten = writeBatch(store, other, makeRows(other.batchId, 1, 0));
    const PaymentIntent alone = store.payments().beginPayment(newPayment(other.batchId, otherWritten.feeTotal));
    store.payments().completePayment(alone.payment.paymentId, jobs::payment::PaymentStatus::failed, "", "not charged");
    const PaymentChange charged =
        store.payments().completePayment(alone.payment.paymentId, jobs::payment::PaymentStatus::succeeded, "EZ-3");
    EXPECT_TRUE(charged.changed);
    EXPECT_FALSE(charged.refundDue);
    EXPECT_TRUE(store.batches().findBatch(other.batchId)->paid);
}

INSTANTIATE_TEST_SUITE_P(Backends, StorePaymentsTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

TEST(StoreMigrations, VersionFiveKeepsThePaymentsMadeBeforeWithTheirKeyAsTheProvidersKey) {
    const std::string dir = testing::tempDir("migration5");
    StoreSettings settings;
    settings.sqlitePath = dir + "/taxdesk.db";
    { Store registersTheConnector(StoreSettings{"sqlite", dir + "/other.db", "", 1}); }
    {
        // A database as version 4 left it, with a payment pending when the engine stopped and one that succeeded.
        Poco::Data::Session session("sqlite", settings.sqlitePath);
        session << "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)", now;
        for (const auto& migration : detail::migrations()) {
            if (migration.version > 4) break;
            for (const auto statement : migration.statements) session << std::string(statement), now;
            session << "INSERT INTO schema_migrations VALUES (" + std::to_string(migration.version) + ", 'then')", now;
        }
        session << "INSERT INTO payments (payment_id, idempotency_key, batch_id, creditor_id, amount, status,"
                   " created_at, updated_at) VALUES ('P-old', 'client-key-1', 'B-old', 'C1', 500, 'pending',"
                   " '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'),"
                   " ('P-paid', 'client-key-2', 'B-paid', 'C1', 750, 'succeeded',"
                   " '2026-01-01T00:00:01.000Z', '2026-01-01T00:00:01.000Z')",
            now;
    }
    Store store(settings);
    EXPECT_EQ(store.schemaVersion(), detail::latestSchemaVersion());
    const auto old = store.payments().findPaymentByKey("C1", "client-key-1").value();
    EXPECT_EQ(old.providerKey, "client-key-1") << "recovery asks the provider by the key it was charged under";
    EXPECT_EQ(old.leaseUntilMs, 0);
    ASSERT_EQ(store.payments().abandonedPayments(1).size(), 1U);
    EXPECT_EQ(store.payments().abandonedPayments(1).front().paymentId, "P-old");
    EXPECT_EQ(store.payments().paidTotal("B-paid"), 750);
    // Keys are per creditor now: C2 may use C1's key.
    PaymentRecord theirs;
    theirs.paymentId = "P-c2";
    theirs.idempotencyKey = "client-key-1";
    theirs.batchId = "B-c2";
    theirs.creditorId = "C2";
    theirs.amount = 250;
    EXPECT_TRUE(store.payments().beginPayment(theirs).created);
}

}  // namespace
}  // namespace taxdesk::connectors
