// Issue 13: webhook registrations in the SQL store, and the completion path's outbox: when a batch reaches completed
// or failed, exactly one batch_done notification per registered channel is recorded in the same transaction, and a
// replay records nothing twice. Both backends (store_area_fixture.hpp).
#include <gtest/gtest.h>

#include "connectors/store/sql_audit_store.hpp"
#include "store_area_fixture.hpp"

namespace taxdesk::connectors {
namespace {

using namespace store_areas;
using jobs::inquiry::BatchState;

class StoreWebhooksTest : public StoreAreaTest {
  protected:
    /// The batch_done notifications of `batchId` still queued, by id.
    static std::map<std::string, NotificationRecord> intentsOf(Store& store, const std::string& batchId) {
        std::map<std::string, NotificationRecord> out;
        for (auto& notification : store.notifications().notificationsWithStatus("queued", 10000))
            if (notification.notificationId.rfind("bd-" + batchId + "-", 0) == 0)
                out[notification.notificationId] = notification;
        return out;
    }
};

TEST_P(StoreWebhooksTest, PutFindRemove) {
    Store store(settings_);
    const std::string token = testing::uniqueName("tok");
    EXPECT_FALSE(store.webhooks().findWebhook(token));
    store.webhooks().putWebhook({token, creditor_, "https://a.example/h", "secret-0123456789", "", ""});
    auto found = store.webhooks().findWebhook(token);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->url, "https://a.example/h");
    EXPECT_EQ(found->creditorId, creditor_);
    EXPECT_EQ(found->updatedAt.size(), 24U);
    store.webhooks().putWebhook({token, creditor_, "", "", "0912345678", ""});  // replaces
    found = store.webhooks().findWebhook(token);
    EXPECT_EQ(found->url, "");
    EXPECT_EQ(found->sms, "0912345678");
    EXPECT_TRUE(store.webhooks().removeWebhook(token));
    EXPECT_FALSE(store.webhooks().removeWebhook(token));
    EXPECT_FALSE(store.webhooks().findWebhook(token));
}

TEST_P(StoreWebhooksTest, CompletionRecordsOneIntentPerChannelOnce) {
    Store store(settings_);
    const std::string token = testing::uniqueName("tok");
    store.webhooks().putWebhook({token, creditor_, "https://a.example/h", "secret-0123456789", "0912345678", ""});
    const BatchRecord batch = newBatch();
    writeBatch(store, batch, makeRows(batch.batchId, 4, 3));  // row 3 rejected
    ASSERT_TRUE(store.batches().setBatchState(batch.batchId, BatchState::awaiting_payment, BatchState::queued));

    store.results().upsertResults({foundResult(batch.batchId, 1), foundResult(batch.batchId, 2)});
    EXPECT_TRUE(intentsOf(store, batch.batchId).empty()) << "processing: nothing to tell yet";

    store.results().upsertResults({foundResult(batch.batchId, 4)});
    ASSERT_EQ(store.batches().findBatch(batch.batchId)->state, BatchState::completed);
    auto intents = intentsOf(store, batch.batchId);
    ASSERT_EQ(intents.size(), 2U);
    const auto& hook = intents.at("bd-" + batch.batchId + "-completed-w" + token);
    EXPECT_EQ(hook.msisdn, "webhook:" + token);
    EXPECT_EQ(hook.kind, "batch_done");
    EXPECT_EQ(hook.status, "queued");
    EXPECT_NE(hook.text.find(R"("event":"batch.completed")"), std::string::npos) << hook.text;
    EXPECT_NE(hook.text.find(R"("rows_total":4,"rows_done":4)"), std::string::npos) << hook.text;
    const auto& sms = intents.at("bd-" + batch.batchId + "-completed-s" + token);
    EXPECT_EQ(sms.msisdn, "0912345678");

    // Replays of the last results, and missing results inserted again: nothing recorded twice.
    store.results().upsertResults({foundResult(batch.batchId, 4), foundResult(batch.batchId, 1)});
    store.results().insertMissingResults({foundResult(batch.batchId, 4)});
    EXPECT_EQ(intentsOf(store, batch.batchId).size(), 2U);
}

TEST_P(StoreWebhooksTest, ABatchIdWithAQuoteAQuestionMarkAndADollarIsToldAndAudited) {
    // The outbox and the audit trail look batches up by IN lists of a chunk's batch ids: bound, never spliced into
    // the SQL, so an id holding ', ? or $1 (PostgreSQL's placeholder) finds its batch like any other.
    Store store(settings_);
    store.audit().configure({true, "test-audit-key"});
    const std::string token = testing::uniqueName("tok");
    store.webhooks().putWebhook({token, creditor_, "https://a.example/h", "secret-0123456789", "", ""});
    BatchRecord hostile = newBatch();
    hostile.batchId += "-o'k?$1";
    const BatchRecord plain = newBatch();
    for (const BatchRecord& batch : {hostile, plain}) {
        writeBatch(store, batch, makeRows(batch.batchId, 2, 0));
        ASSERT_TRUE(store.batches().setBatchState(batch.batchId, BatchState::awaiting_payment, BatchState::queued));
    }
    store.results().upsertResults({foundResult(hostile.batchId, 1), foundResult(plain.batchId, 1),
                                   foundResult(hostile.batchId, 2), foundResult(plain.batchId, 2)},
                                  {"req-h1", "req-p1", "req-h2", "req-p2"});
    for (const BatchRecord& batch : {hostile, plain}) {
        EXPECT_EQ(store.batches().findBatch(batch.batchId)->state, BatchState::completed) << batch.batchId;
        EXPECT_EQ(intentsOf(store, batch.batchId).size(), 1U) << batch.batchId;
        AuditQuery query;
        query.creditorId = creditor_;
        query.limit = 1000;
        int entries = 0;
        for (const AuditHit& hit : store.audit().search(query).hits)
            if (hit.batchId == batch.batchId && hit.kind == "results") ++entries;
        EXPECT_EQ(entries, 2) << batch.batchId;
    }
}

TEST_P(StoreWebhooksTest, AFailedBatchIsToldAndOtherCreditorsAreNot) {
    Store store(settings_);
    const std::string token = testing::uniqueName("tok");
    store.webhooks().putWebhook({token, creditor_, "https://a.example/h", "secret-0123456789", "", ""});
    const BatchRecord failing = newBatch();
    writeBatch(store, failing, makeRows(failing.batchId, 2, 0));
    ASSERT_TRUE(store.batches().setBatchState(failing.batchId, BatchState::awaiting_payment, BatchState::failed,
                                              "payment_refunded"));
    auto intents = intentsOf(store, failing.batchId);
    ASSERT_EQ(intents.size(), 1U);
    const auto& hook = intents.begin()->second;
    EXPECT_EQ(hook.notificationId, "bd-" + failing.batchId + "-failed-w" + token);
    EXPECT_NE(hook.text.find(R"("failure_reason":"payment_refunded")"), std::string::npos) << hook.text;
    // A state that did not move records nothing more.
    EXPECT_FALSE(store.batches().setBatchState(failing.batchId, BatchState::awaiting_payment, BatchState::failed));
    EXPECT_EQ(intentsOf(store, failing.batchId).size(), 1U);

    const BatchRecord other = newBatch(testing::uniqueName("C-other"));
    writeBatch(store, other, makeRows(other.batchId, 2, 0));
    ASSERT_TRUE(store.batches().setBatchState(other.batchId, BatchState::awaiting_payment, BatchState::queued));
    store.results().upsertResults({foundResult(other.batchId, 1), foundResult(other.batchId, 2)});
    ASSERT_EQ(store.batches().findBatch(other.batchId)->state, BatchState::completed);
    EXPECT_TRUE(intentsOf(store, other.batchId).empty()) << "a creditor without a registration is told nothing";
}

TEST_P(StoreWebhooksTest, TheListenerIsToldAfterTheCommitOfWhatWasRecordedNowOnly) {
    Store store(settings_);
    std::vector<std::vector<NotificationRecord>> told;
    std::vector<std::string> statusSeenByListener;
    store.database().onOutboxCommitted([&](const std::vector<NotificationRecord>& records) {
        told.push_back(records);
        // Committed already: another session reads the notification as stored.
        for (const auto& record : records) {
            const auto stored = store.notifications().findNotification(record.notificationId);
            statusSeenByListener.push_back(stored ? stored->status : "missing");
        }
    });
    const std::string token = testing::uniqueName("tok");
    store.webhooks().putWebhook({token, creditor_, "https://a.example/h", "secret-0123456789", "", ""});
    const BatchRecord batch = newBatch();
    writeBatch(store, batch, makeRows(batch.batchId, 2, 0));
    ASSERT_TRUE(store.batches().setBatchState(batch.batchId, BatchState::awaiting_payment, BatchState::queued));
    store.results().upsertResults({foundResult(batch.batchId, 1)});
    EXPECT_TRUE(told.empty()) << "processing: nothing recorded, nothing told";
    store.results().upsertResults({foundResult(batch.batchId, 2)});
    ASSERT_EQ(told.size(), 1U);
    ASSERT_EQ(told[0].size(), 1U);
    EXPECT_EQ(told[0][0].notificationId, "bd-" + batch.batchId + "-completed-w" + token);
    EXPECT_EQ(told[0][0].msisdn, "webhook:" + token);
    EXPECT_EQ(told[0][0].kind, "batch_done");
    EXPECT_EQ(told[0][0].status, "queued");
    EXPECT_NE(told[0][0].text.find(R"("event":"batch.completed")"), std::string::npos) << told[0][0].text;
    EXPECT_EQ(statusSeenByListener, std::vector<std::string>{"queued"});
    // A replay records nothing, so tells nothing; a failure through setBatchState tells its own.
    store.results().upsertResults({foundResult(batch.batchId, 2)});
    store.results().insertMissingResults({foundResult(batch.batchId, 2)});
    EXPECT_EQ(told.size(), 1U);
    const BatchRecord failing = newBatch();
    writeBatch(store, failing, makeRows(failing.batchId, 2, 0));
    ASSERT_TRUE(store.batches().setBatchState(failing.batchId, BatchState::awaiting_payment, BatchState::failed,
                                              "payment_refunded"));
    ASSERT_EQ(told.size(), 2U);
    EXPECT_EQ(told[1].at(0).notificationId, "bd-" + failing.batchId + "-failed-w" + token);
    store.database().onOutboxCommitted(nullptr);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreWebhooksTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

}  // namespace
}  // namespace taxdesk::connectors
