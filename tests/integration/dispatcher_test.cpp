// The dispatcher: payments left pending by a crash are resolved by their key, paid batches go from the store to
// inquiry.requests within the window, the payments outbox is published once, and a lease keeps a second engine away.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <map>
#include <set>
#include <thread>

#include "connectors/api/connector_set.hpp"
#include "connectors/redis/redis_client.hpp"
#include "connectors/store/store.hpp"
#include "engine/flow/batch_dispatcher.hpp"
#include "engine/flow/inquiry_stage.hpp"
#include "engine/flow/sms_scheduler.hpp"
#include "engine/runtime/metrics.hpp"
#include "engine/runtime/pipeline.hpp"
#include "fixtures/awaiting_batch.hpp"
#include "fixtures/flaky_ledger.hpp"
#include "fixtures/kafka_helpers.hpp"
#include "fixtures/test_env.hpp"
#include "jobs/inquiry/codec.hpp"

using namespace taxdesk;
namespace td_testing = taxdesk::testing;

namespace {

class DispatcherTest : public ::testing::Test {
  protected:
    void SetUp() override {
        prefix_ = td_testing::uniqueName("dispatch") + ".";
        connectors::StoreSettings storeSettings;
        storeSettings.sqlitePath = td_testing::tempDir("dispatcher") + "/taxdesk.db";
        store_ = std::make_unique<connectors::Store>(storeSettings);
        payment_ = connectors::makeStubConnectors({}).payment;
        settings_.requestsTopic = prefix_ + "inquiry.requests";
        settings_.paymentsTopic = prefix_ + "payments.records";
        settings_.kafka = td_testing::kafkaSettings();
        settings_.window = 10;
        settings_.chunk = 5;
    }

    std::unique_ptr<connectors::RedisClient> redis() {
        connectors::RedisSettings settings;
        settings.port = td_testing::redisPort();
        settings.keyPrefix = prefix_;
        return std::make_unique<connectors::RedisClient>(settings);
    }

    std::string makeBatch(int rows) { return td_testing::writeAwaitingBatch(store_->batches(), rows); }

    connectors::PaymentRecord pendingPayment(const std::string& batchId, const std::string& key,
                                             const std::string& leaseOwner = "", long long leaseUntilMs = 0) {
        connectors::PaymentRecord record;
        record.paymentId = td_testing::uniqueName("P");
        record.idempotencyKey = key;
        record.batchId = batchId;
        record.creditorId = "C1";
        record.amount = store_->batches().findBatch(batchId)->feeTotal;
        record.method = "easycard";
        record.card = "***0001";
        record.status = jobs::payment::PaymentStatus::pending;
        record.leaseOwner = leaseOwner;
        record.leaseUntilMs = leaseUntilMs;
        return store_->payments().beginPayment(record).payment;
    }

    std::string prefix_;
    std::unique_ptr<connectors::Store> store_;
    std::shared_ptr<connectors::Payment> payment_;
    engine::DispatcherSettings settings_;
};

}  // namespace

TEST_F(DispatcherTest, PaymentsLeftPendingByACrashAreResolvedByTheirKey) {
    const auto charged = makeBatch(4);
    const auto notCharged = makeBatch(4);
    const auto a = pendingPayment(charged, "key-a-" + prefix_);
    const auto b = pendingPayment(notCharged, "key-b-" + prefix_);
    // The card was charged for `a`, then the engine died before the ledger heard of it.
    const auto charge = payment_->charge("EC-0001", a.amount, a.providerKey);

    engine::BatchDispatcher dispatcher(settings_, store_->batches(), store_->payments(), payment_);
    dispatcher.start();
    dispatcher.stop();

    const auto resolved = store_->payments().findPaymentByKey("C1", a.idempotencyKey);
    EXPECT_EQ(resolved->status, jobs::payment::PaymentStatus::succeeded);
    EXPECT_EQ(resolved->providerTxnId, charge.providerTxnId) << "the charge that was made, not a new one";
    EXPECT_TRUE(store_->batches().findBatch(charged)->paid);
    EXPECT_EQ(store_->payments().findPaymentByKey("C1", b.idempotencyKey)->status,
              jobs::payment::PaymentStatus::failed);
    EXPECT_FALSE(store_->batches().findBatch(notCharged)->paid);
    EXPECT_EQ(store_->batches().findBatch(notCharged)->state, jobs::inquiry::BatchState::awaiting_payment);
    EXPECT_EQ(store_->payments().paidTotal(charged), a.amount);
}

namespace {

/// A provider that landed a charge after its answer was lost: findCharge knows nothing of it until `land()`.
class LatePayment final : public connectors::Payment {
  public:
    explicit LatePayment(std::shared_ptr<connectors::Payment> real) : real_(std::move(real)) {}
    connectors::ChargeResult charge(const std::string& card, long long amount, const std::string& key) override {
        return real_->charge(card, amount, key);
    }
    std::optional<connectors::ChargeResult> findCharge(const std::string& key) override {
        if (!landed_.load()) return std::nullopt;
        return real_->findCharge(key);
    }
    void land() { landed_ = true; }

  private:
    std::shared_ptr<connectors::Payment> real_;
    std::atomic<bool> landed_{false};
};

}  // namespace

TEST_F(DispatcherTest, AChargeThatLandsLateIsFoundAndOwedBackWhenTheBatchWasPaidAgain) {
    const auto batchId = makeBatch(2);
    const auto late = std::make_shared<LatePayment>(payment_);
    // The request for the first payment vanished; the provider charged it but does not show it yet.
    const auto first = pendingPayment(batchId, "key-1-" + prefix_, "gone", 1);
    late->charge("EC-0003", first.amount, first.providerKey);
    settings_.recheckEveryMs = 1;
    engine::BatchDispatcher dispatcher(settings_, store_->batches(), store_->payments(), late);
    long long owed = 0;
    long long recovered = 0;
    dispatcher.onRefundDue([&](long long amount) { owed += amount; });
    dispatcher.onRecoveredPaid([&](long long amount) { recovered += amount; });
    dispatcher.start();
    dispatcher.stop();
    EXPECT_EQ(store_->payments().findPaymentByKey("C1", first.idempotencyKey)->status,
              jobs::payment::PaymentStatus::failed)
        << "not charged, as far as known";

    // The creditor pays again with a new key (charged and recorded), then the first charge shows at the provider.
    const auto second = pendingPayment(batchId, "key-2-" + prefix_, "request", 1);
    const auto charged = late->charge("EC-0003", second.amount, second.providerKey);
    ASSERT_TRUE(store_->payments().completePayment(second.paymentId, jobs::payment::PaymentStatus::succeeded,
                                                   charged.providerTxnId));
    late->land();
    dispatcher.runOnce();

    const auto firstNow = store_->payments().findPaymentByKey("C1", first.idempotencyKey).value();
    EXPECT_EQ(firstNow.status, jobs::payment::PaymentStatus::refund_due);
    EXPECT_EQ(owed, first.amount) << "reported once, for a refund";
    EXPECT_EQ(recovered, 0);
    EXPECT_EQ(store_->payments().paidTotal(batchId), first.amount + second.amount)
        << "the ledger equals what was charged";
    dispatcher.runOnce();
    EXPECT_EQ(owed, first.amount) << "not reported twice";
}

TEST_F(DispatcherTest, AnEnginesStartNeverResolvesAnotherEnginesPaymentInFlight) {
    const long long now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const auto inFlight = makeBatch(2);
    const auto abandoned = makeBatch(3);
    // Engine A is charging `a` (its request holds the lease for a minute); engine B's request for `b` died with B.
    const auto a = pendingPayment(inFlight, "key-a-" + prefix_, "engine-a-request", now + 60'000);
    const auto b = pendingPayment(abandoned, "key-b-" + prefix_, "engine-b-request", now - 1);
    const auto charge = payment_->charge("EC-0002", b.amount, b.providerKey);

    // Engine C starts on the same store (and so would a second dispatcher of engine A).
    engine::BatchDispatcher other(settings_, store_->batches(), store_->payments(), payment_);
    std::vector<long long> counted;
    other.onRecoveredPaid([&](long long amount) { counted.push_back(amount); });
    other.start();
    other.stop();

    const auto stillInFlight = store_->payments().findPaymentByKey("C1", a.idempotencyKey).value();
    EXPECT_EQ(stillInFlight.status, jobs::payment::PaymentStatus::pending)
        << "not marked \"not charged\" while engine A may be charging it";
    EXPECT_EQ(stillInFlight.leaseOwner, "engine-a-request");
    EXPECT_EQ(stillInFlight.leaseUntilMs, now + 60'000);
    const auto resolved = store_->payments().findPaymentByKey("C1", b.idempotencyKey).value();
    EXPECT_EQ(resolved.status, jobs::payment::PaymentStatus::succeeded) << "its owner is gone: recovered by its key";
    EXPECT_EQ(resolved.providerTxnId, charge.providerTxnId);
    EXPECT_TRUE(store_->batches().findBatch(abandoned)->paid);
    EXPECT_EQ(counted, std::vector<long long>{750}) << "the one transition, counted (3 rows of NT$250)";

    // Engine A's request finishes: its answer is recorded as usual.
    const auto charged = payment_->charge("EC-0001", a.amount, a.providerKey);
    EXPECT_TRUE(store_->payments().completePayment(a.paymentId, jobs::payment::PaymentStatus::succeeded,
                                                   charged.providerTxnId));
    EXPECT_EQ(store_->payments().paidTotal(inFlight), a.amount);
}

TEST_F(DispatcherTest, APaymentWhoseOwnerVanishedIsRecoveredWhileRunningNotOnlyAtStart) {
    const long long now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const auto batch = makeBatch(2);
    settings_.recoverEveryMs = 0;  // every round
    engine::BatchDispatcher dispatcher(settings_, store_->batches(), store_->payments(), payment_);
    // Left pending by a request that died after the dispatcher started; its lease has ended meanwhile.
    const auto lost = pendingPayment(batch, "key-" + prefix_, "vanished-request", now - 1);
    dispatcher.runOnce();
    const auto resolved = store_->payments().findPaymentByKey("C1", lost.idempotencyKey).value();
    EXPECT_EQ(resolved.status, jobs::payment::PaymentStatus::failed) << "never charged";
    EXPECT_NE(resolved.error.find("not charged"), std::string::npos) << resolved.error;
    EXPECT_EQ(store_->batches().findBatch(batch)->state, jobs::inquiry::BatchState::awaiting_payment);
}

// Review of the issue-10 refactor: a store failure while recovery records a payment's answer is that payment's
// problem only. It is released (still pending) and recorded by a later round; the round goes on with the rest.
TEST_F(DispatcherTest, AStoreFailureWhileRecoveringAPaymentLeavesItPendingAndTheRoundGoesOn) {
    const auto abandoned = makeBatch(2);
    const auto lost = pendingPayment(abandoned, "key-lost-" + prefix_, "vanished-request", 1);
    const auto charge = payment_->charge("EC-0004", lost.amount, lost.providerKey);  // charged, then the engine died
    const auto ready = makeBatch(3);
    const auto paid = pendingPayment(ready, "key-paid-" + prefix_);
    store_->payments().completePayment(paid.paymentId, jobs::payment::PaymentStatus::succeeded, "EC-TXN", "");

    td_testing::FlakyLedger flaky(store_->payments(), 1);  // the first completePayment: "database is locked"
    settings_.recoverEveryMs = 0;                          // every round
    settings_.paymentLeaseMs = 1;                          // recovery's own lease ends at once
    engine::BatchDispatcher dispatcher(settings_, store_->batches(), flaky, payment_);
    EXPECT_NO_THROW(dispatcher.runOnce());
    ASSERT_EQ(flaky.completeCalls(), 1);
    const auto stillPending = store_->payments().findPaymentByKey("C1", lost.idempotencyKey).value();
    EXPECT_EQ(stillPending.status, jobs::payment::PaymentStatus::pending);
    EXPECT_EQ(stillPending.leaseOwner, "") << "released: not held until the lease ends";
    EXPECT_EQ(store_->batches().findBatch(ready)->state, jobs::inquiry::BatchState::processing)
        << "the round went on: the paid batch was dispatched";
    EXPECT_TRUE(store_->payments().unpublishedPayments(10).empty()) << "and its payment published";
    EXPECT_EQ(td_testing::readRecords(settings_.requestsTopic, 3, std::chrono::seconds(8)).size(), 3u);

    // A later round records it (bounded: recovery's lease, 1 ms, must have ended first).
    for (int round = 0; round < 200; ++round) {
        dispatcher.runOnce();
        if (store_->payments().findPaymentByKey("C1", lost.idempotencyKey)->status !=
            jobs::payment::PaymentStatus::pending)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const auto recorded = store_->payments().findPaymentByKey("C1", lost.idempotencyKey).value();
    EXPECT_EQ(recorded.status, jobs::payment::PaymentStatus::succeeded);
    EXPECT_EQ(recorded.providerTxnId, charge.providerTxnId);
    EXPECT_TRUE(store_->batches().findBatch(abandoned)->paid);
}

// The same for the recheck of failed payments: a store failure while recording a late charge waits for the payment's
// next turn; the round goes on.
TEST_F(DispatcherTest, AStoreFailureWhileRecordingALateChargeWaitsForTheNextRecheck) {
    const long long now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const auto late = makeBatch(2);
    const auto failed = pendingPayment(late, "key-late-" + prefix_, "request", 1);
    store_->payments().completePayment(failed.paymentId, jobs::payment::PaymentStatus::failed, "", "not charged",
                                       now + 600'000);
    const auto charge = payment_->charge("EC-0005", failed.amount, failed.providerKey);  // landed late
    const auto ready = makeBatch(3);
    const auto paid = pendingPayment(ready, "key-paid-" + prefix_);
    store_->payments().completePayment(paid.paymentId, jobs::payment::PaymentStatus::succeeded, "EC-TXN", "");

    td_testing::FlakyLedger flaky(store_->payments(), 1);
    settings_.recheckEveryMs = 1;  // every round; each payment's next turn 1 ms later
    engine::BatchDispatcher dispatcher(settings_, store_->batches(), flaky, payment_);
    EXPECT_NO_THROW(dispatcher.runOnce());
    ASSERT_EQ(flaky.completeCalls(), 1);
    EXPECT_EQ(store_->payments().findPaymentByKey("C1", failed.idempotencyKey)->status,
              jobs::payment::PaymentStatus::failed);
    EXPECT_EQ(store_->batches().findBatch(ready)->state, jobs::inquiry::BatchState::processing)
        << "the round went on: the paid batch was dispatched";

    for (int round = 0; round < 200; ++round) {
        dispatcher.runOnce();
        if (store_->payments().findPaymentByKey("C1", failed.idempotencyKey)->status !=
            jobs::payment::PaymentStatus::failed)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const auto recorded = store_->payments().findPaymentByKey("C1", failed.idempotencyKey).value();
    EXPECT_EQ(recorded.status, jobs::payment::PaymentStatus::succeeded);
    EXPECT_EQ(recorded.providerTxnId, charge.providerTxnId);
    EXPECT_TRUE(store_->batches().findBatch(late)->paid);
}

TEST_F(DispatcherTest, PaidRowsGoToKafkaWithinTheWindowAndPaymentsOnce) {
    const auto batch = makeBatch(30);
    const auto payment = pendingPayment(batch, "key-" + prefix_);
    store_->payments().completePayment(payment.paymentId, jobs::payment::PaymentStatus::succeeded, "EC-TXN", "");

    engine::BatchDispatcher dispatcher(settings_, store_->batches(), store_->payments(), payment_, redis());
    dispatcher.runOnce();
    dispatcher.runOnce();
    auto sent = td_testing::readRecords(settings_.requestsTopic, 30, std::chrono::seconds(8));
    EXPECT_EQ(sent.size(), 10u) << "no more than the window ahead of the results";

    // Results for the first 10 rows: the window moves on.
    std::vector<connectors::StoredResult> results;
    for (int row = 1; row <= 10; ++row) results.push_back({batch, row, "A123456789", "found", "", "{}"});
    store_->results().upsertResults(results);
    dispatcher.runOnce();
    dispatcher.runOnce();
    sent = td_testing::readRecords(settings_.requestsTopic, 30, std::chrono::seconds(8));
    ASSERT_EQ(sent.size(), 20u);
    // Keyed by block (issue 11): the default block of 500 rows holds the whole batch.
    for (std::size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(sent[i].key, batch + ":0000");
    EXPECT_EQ(store_->batches().findBatch(batch)->state, jobs::inquiry::BatchState::processing);

    const auto payments = td_testing::readRecords(settings_.paymentsTopic, 2, std::chrono::seconds(8));
    ASSERT_EQ(payments.size(), 1u) << "published once";
    EXPECT_NE(payments[0].value.find(payment.paymentId), std::string::npos);
    EXPECT_TRUE(store_->payments().unpublishedPayments(10).empty());
}

// Issue 11: a batch goes out in blocks of blockRows rows, each under its own key, so that it spreads over the
// partitions and every consumer of the group works it; each row is sent once and gets its one result.
TEST_F(DispatcherTest, ABatchSentInBlocksLandsOnSeveralPartitionsAndEveryRowCompletesOnce) {
    constexpr int kRows = 60;
    settings_.blockRows = 4;  // 15 blocks: on a topic of 4 partitions (the mock's default), not all on one
    settings_.window = 100;
    const auto batch = makeBatch(kRows);
    const auto payment = pendingPayment(batch, "key-" + prefix_);
    store_->payments().completePayment(payment.paymentId, jobs::payment::PaymentStatus::succeeded, "EC-TXN", "");

    engine::BatchDispatcher dispatcher(settings_, store_->batches(), store_->payments(), payment_, redis());
    dispatcher.runOnce();  // one round fills the window, chunk after chunk (5 rows each here)
    const auto sent = td_testing::readRecords(settings_.requestsTopic, kRows + 1, std::chrono::seconds(8));
    ASSERT_EQ(sent.size(), static_cast<std::size_t>(kRows)) << "every row once, in one round";
    std::set<int> partitions;
    std::set<int> rows;
    for (const auto& record : sent) {
        const auto request = jobs::inquiry::decodeRequest(record.value);
        EXPECT_EQ(request.batchId, batch) << "the value still names the batch";
        EXPECT_EQ(request.titleRef, "title " + std::to_string(request.row)) << "the stored title, for the audit trail";
        char expected[16];
        std::snprintf(expected, sizeof expected, ":%04d", (request.row - 1) / 4);
        EXPECT_EQ(record.key, batch + expected) << "row " << request.row;
        EXPECT_TRUE(rows.insert(request.row).second) << "row " << request.row << " sent twice";
        partitions.insert(record.partition);
    }
    EXPECT_EQ(rows.size(), static_cast<std::size_t>(kRows));
    EXPECT_GT(partitions.size(), 1u) << "one batch, more than one partition";

    // Two engines in one group work the batch: it completes with one result a row.
    connectors::StubSettings stubs;
    engine::Metrics metrics;
    std::atomic<bool> stop{false};
    std::vector<std::thread> engines;
    std::vector<std::unique_ptr<engine::InquiryStage>> stages;
    std::vector<std::unique_ptr<engine::Pipeline>> pipelines;
    for (int i = 0; i < 2; ++i) {
        engine::InquiryStageSettings stageSettings;
        stageSettings.resultsTopic = prefix_ + "inquiry.results";
        stageSettings.deadLetterTopic = prefix_ + "inquiry.requests.dlq";
        stages.push_back(std::make_unique<engine::InquiryStage>(stageSettings, connectors::makeStubConnectors(stubs),
                                                                store_->results(), store_->batches(), redis(),
                                                                metrics.pipeline("inquiry")));
        engine::PipelineSettings pipelineSettings;
        pipelineSettings.name = "inquiry";
        pipelineSettings.inputTopic = settings_.requestsTopic;
        pipelineSettings.groupId = prefix_ + "engines";
        pipelineSettings.kafka = td_testing::kafkaSettings();
        pipelineSettings.batchSize = 10;
        pipelineSettings.warmTopics = {stageSettings.resultsTopic, stageSettings.deadLetterTopic};
        pipelines.push_back(
            std::make_unique<engine::Pipeline>(pipelineSettings, *stages.back(), metrics.pipeline("inquiry")));
    }
    for (auto& pipeline : pipelines) engines.emplace_back([&stop, &pipeline] { pipeline->run(stop); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (store_->batches().findBatch(batch)->state != jobs::inquiry::BatchState::completed &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop = true;
    for (auto& thread : engines) thread.join();

    const auto done = store_->batches().findBatch(batch).value();
    EXPECT_EQ(done.state, jobs::inquiry::BatchState::completed);
    EXPECT_EQ(done.rowsDone, kRows);
    const auto results = store_->results().resultsOfBatch(batch);
    ASSERT_EQ(results.size(), static_cast<std::size_t>(kRows));
    std::set<int> resultRows;
    for (const auto& result : results) resultRows.insert(result.row);
    EXPECT_EQ(resultRows.size(), static_cast<std::size_t>(kRows)) << "one result a row";
    // inquiry.results stays keyed by the batch id.
    const auto produced = td_testing::readRecords(prefix_ + "inquiry.results", 1, std::chrono::seconds(8));
    ASSERT_FALSE(produced.empty());
    EXPECT_EQ(produced.front().key, batch);
}

TEST_F(DispatcherTest, RetriedErrorRowsAreSentAgainAtOnceNotAfterTheResendDelay) {
    settings_.resendAfterMs = 600'000;  // a resend after the delay would not come within the test
    engine::BatchDispatcher dispatcher(settings_, store_->batches(), store_->payments(), payment_);
    auto runBatch = [&](bool seenCompleted) {
        const auto batch = makeBatch(6);
        const auto payment = pendingPayment(batch, "key-" + batch);
        store_->payments().completePayment(payment.paymentId, jobs::payment::PaymentStatus::succeeded, "EC-TXN", "");
        dispatcher.runOnce();
        dispatcher.runOnce();  // rows 1-5, then 6
        std::vector<connectors::StoredResult> results;
        for (int row = 1; row <= 6; ++row)
            results.push_back({batch, row, "A123456789", row == 2 || row == 5 ? "error" : "found",
                               row == 2 || row == 5 ? "registry_unavailable" : "", "{}"});
        store_->results().upsertResults(results);
        EXPECT_EQ(store_->batches().findBatch(batch)->state, jobs::inquiry::BatchState::completed);
        if (seenCompleted) dispatcher.runOnce();  // it forgets the batch
        EXPECT_EQ(store_->results().retryErrorRows(batch), 2);
        // Heard of (this engine's API took the request), or found again after it was seen completed.
        if (!seenCompleted) dispatcher.retried(batch, "req-retry");
        dispatcher.runOnce();
        return batch;
    };
    const auto heard = runBatch(false);
    const auto seen = runBatch(true);
    const auto sent = td_testing::readRecords(settings_.requestsTopic, 16, std::chrono::seconds(8));
    std::map<std::string, std::vector<int>> rows;
    // By the batch the value names (the key is `<batch>:<block>`; one block of 500 rows holds each batch here, so
    // its rows keep their order on one partition).
    for (const auto& record : sent) {
        const auto request = jobs::inquiry::decodeRequest(record.value);
        rows[request.batchId].push_back(request.row);
    }
    EXPECT_EQ(rows[heard], (std::vector<int>{1, 2, 3, 4, 5, 6, 2, 5}));
    EXPECT_EQ(rows[seen], (std::vector<int>{1, 2, 3, 4, 5, 6, 2, 5}));
    EXPECT_EQ(store_->batches().findBatch(heard)->state, jobs::inquiry::BatchState::processing);
}

TEST_F(DispatcherTest, ALeaseKeepsASecondEngineFromSendingTheSameBatch) {
    const auto batch = makeBatch(5);
    const auto payment = pendingPayment(batch, "key-" + prefix_);
    store_->payments().completePayment(payment.paymentId, jobs::payment::PaymentStatus::succeeded, "EC-TXN", "");
    engine::BatchDispatcher first(settings_, store_->batches(), store_->payments(), payment_, redis());
    engine::BatchDispatcher second(settings_, store_->batches(), store_->payments(), payment_, redis());
    first.runOnce();
    second.runOnce();
    const auto sent = td_testing::readRecords(settings_.requestsTopic, 10, std::chrono::seconds(8));
    EXPECT_EQ(sent.size(), 5u) << "each row sent by one engine";
}

// Issue 9, finding 9: rd_kafka_flush() succeeds when every message was reported, delivered or not. Nothing may be
// marked published on a failed delivery: here the broker is a port nobody listens on, so every delivery times out.
TEST_F(DispatcherTest, NothingIsMarkedPublishedWhenTheDeliveryFailed) {
    const auto batch = makeBatch(3);
    const auto payment = pendingPayment(batch, "key-" + prefix_);
    store_->payments().completePayment(payment.paymentId, jobs::payment::PaymentStatus::succeeded, "EC-TXN", "");
    auto unreachable = settings_;
    unreachable.kafka.bootstrap = "127.0.0.1:1";
    unreachable.kafka.rdkafka["message.timeout.ms"] = "300";
    {
        engine::BatchDispatcher dispatcher(unreachable, store_->batches(), store_->payments(), payment_);
        dispatcher.runOnce();
    }
    ASSERT_EQ(store_->payments().unpublishedPayments(10).size(), 1u) << "the payment is still in the outbox";
    EXPECT_EQ(store_->batches().findBatch(batch)->state, jobs::inquiry::BatchState::queued) << "no row was delivered";

    // With the broker there, the next round delivers both.
    engine::BatchDispatcher dispatcher(settings_, store_->batches(), store_->payments(), payment_);
    dispatcher.runOnce();
    EXPECT_TRUE(store_->payments().unpublishedPayments(10).empty());
    EXPECT_EQ(store_->batches().findBatch(batch)->state, jobs::inquiry::BatchState::processing);
    EXPECT_EQ(td_testing::readRecords(settings_.requestsTopic, 3, std::chrono::seconds(8)).size(), 3u);
}

TEST_F(DispatcherTest, AReminderIsNotMarkedSentWhenItsDeliveryFailed) {
    const long long now = std::time(nullptr);
    connectors::PickupRecord pickup;
    pickup.pickupId = "p-" + prefix_;
    pickup.code = "123456";
    pickup.applicantId = "A123456789";
    pickup.msisdn = "0912345678";
    pickup.service = 1;
    pickup.office = "信義分局";
    pickup.deadlineAt = now + 3600;
    pickup.remindAt = now - 60;
    connectors::InboundRecord inbound{"g-" + prefix_, "0912345678", "", "alert", "", ""};
    connectors::NotificationRecord reply;
    reply.notificationId = "n-" + prefix_;
    reply.msisdn = "0912345678";
    reply.kind = "pickup_alert";
    reply.text = "alert";
    store_->pickups().recordSmsOutcome(inbound, pickup, reply);

    engine::SchedulerSettings unreachable;
    unreachable.outboundTopic = prefix_ + "notifications.outbound";
    unreachable.kafka.bootstrap = "127.0.0.1:1";
    unreachable.kafka.rdkafka["message.timeout.ms"] = "300";
    unreachable.leaseSeconds = 1;
    {
        engine::SmsScheduler scheduler(unreachable, store_->sms());
        EXPECT_EQ(scheduler.runOnce(now), 0) << "not delivered, not counted";
    }
    // Not marked reminded: once the lease has ended the reminder is due again, and goes out with the broker there.
    auto working = unreachable;
    working.kafka = settings_.kafka;
    engine::SmsScheduler scheduler(working, store_->sms());
    EXPECT_EQ(scheduler.runOnce(now + 5), 1);
    const auto sent = td_testing::readRecords(working.outboundTopic, 1, std::chrono::seconds(8));
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_NE(sent[0].value.find("\"notification_id\":\"r-p-" + prefix_ + "\""), std::string::npos) << sent[0].value;
}

// Issue 9, finding 8: a delivery report's retry is stored with the status change (the outbox); when producing it
// failed (the broker away), the scheduler's sweep produces it, once across engines.
TEST_F(DispatcherTest, ARetryWhoseProduceFailedIsSentByTheSweep) {
    connectors::NotificationRecord first;
    first.notificationId = "n-" + prefix_;
    first.msisdn = "0912345678";
    first.kind = "pickup_alert";
    first.text = "alert";
    store_->notifications().insertNotification(first);
    store_->notifications().markNotificationSent(first.notificationId, "gw-" + prefix_, 1);
    connectors::NotificationRecord retry = *store_->notifications().findNotification(first.notificationId);
    retry.notificationId = first.notificationId + "~2";
    retry.status = "queued";
    retry.gatewayMsgId.clear();
    retry.createdAt.clear();
    retry.updatedAt.clear();
    store_->notifications().failAndRetryNotification(first.notificationId, "handset off", retry);
    // …and producing it failed: nothing on the topic.

    engine::SchedulerSettings settings;
    settings.outboundTopic = prefix_ + "notifications.outbound";
    settings.kafka = settings_.kafka;
    settings.requeueAfterSeconds = 1;
    engine::SmsScheduler one(settings, store_->sms());
    engine::SmsScheduler other(settings, store_->sms());
    const long long later = std::time(nullptr) + 5;
    EXPECT_EQ(one.requeueStale(later) + other.requeueStale(later), 1) << "one engine of two sends it";
    EXPECT_EQ(one.requeueStale(later), 0) << "claimed just now: not stale";
    EXPECT_EQ(one.requeueStale(later + 1), 0) << "nor a second later";
    const auto sent = td_testing::readRecords(settings.outboundTopic, 2, std::chrono::seconds(5));
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_NE(sent[0].value.find("\"notification_id\":\"" + retry.notificationId + "\""), std::string::npos)
        << sent[0].value;
    EXPECT_NE(sent[0].value.find("\"attempt\":2"), std::string::npos) << "the second send: " << sent[0].value;
}
