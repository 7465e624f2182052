// The inbox's sweeper (issue 9, finding 13) against the broker scripts/test started and a SQLite store: inbound SMS
// stored by the API but never produced (or lost by the broker) are produced to sms.inbound again, by one engine of
// several, keyed by msisdn; done rows are never re-driven; a failed produce is tried again later; done rows are pruned
// after the retention.
#include <gtest/gtest.h>

#include <ctime>

#include "connectors/store/store.hpp"
#include "engine/flow/sms_scheduler.hpp"
#include "fixtures/kafka_helpers.hpp"
#include "fixtures/test_env.hpp"

using namespace taxdesk;
namespace td_testing = taxdesk::testing;

namespace {

class SmsInboxTest : public ::testing::Test {
  protected:
    void SetUp() override {
        prefix_ = td_testing::uniqueName("inbox") + ".";
        connectors::StoreSettings storeSettings;
        storeSettings.sqlitePath = td_testing::tempDir("inbox") + "/taxdesk.db";
        store_ = std::make_unique<connectors::Store>(storeSettings);
        settings_.outboundTopic = prefix_ + "notifications.outbound";
        settings_.inboundTopic = prefix_ + "sms.inbound";
        settings_.kafka = td_testing::kafkaSettings();
        settings_.inboxRequeueAfterSeconds = 30;
        settings_.onInboxRedriven = [this](int count) { redriven_ += count; };
    }

    /// Stores an inbound SMS as the API does (its produce counted), returning its row as stored.
    connectors::InboxRecord stored(const std::string& name, const std::string& msisdn = "0912345678") {
        connectors::InboxRecord row;
        row.gatewayMsgId = prefix_ + name;
        row.message = R"({"msisdn":")" + msisdn + R"(","text":"?","gateway_msg_id":")" + row.gatewayMsgId +
                      R"(","received_at":""})";
        row.attempts = 1;
        return store_->inbox().enqueueInbox({row}).at(0);
    }

    std::string prefix_;
    std::unique_ptr<connectors::Store> store_;
    engine::SchedulerSettings settings_;
    int redriven_ = 0;
};

}  // namespace

TEST_F(SmsInboxTest, AStuckRowIsProducedAgainByOneEngineOfTwoAndADoneRowNever) {
    const auto stuck = stored("stuck", "0912000111");
    const auto done = stored("done");
    store_->inbox().markInboxDone(done.gatewayMsgId);
    const long long now = std::time(nullptr);

    engine::SmsScheduler one(settings_, store_->sms());
    engine::SmsScheduler other(settings_, store_->sms());
    EXPECT_EQ(one.redriveInbox(now) + other.redriveInbox(now), 0) << "just stored: the API's produce may still land";
    const long long later = now + 31;  // sms.inbox_requeue_after_s (30) has passed
    EXPECT_EQ(one.redriveInbox(later) + other.redriveInbox(later), 1) << "one engine of two re-drives it";
    EXPECT_EQ(redriven_, 1) << "the metric counts the re-drive once";
    EXPECT_EQ(one.redriveInbox(later + 1), 0) << "claimed: pushed back by sms.inbox_requeue_after_s";

    const auto records = td_testing::readRecords(settings_.inboundTopic, 2, std::chrono::seconds(5));
    ASSERT_EQ(records.size(), 1u) << "the stuck row only, once; never the done one";
    EXPECT_EQ(records[0].key, "0912000111") << "keyed by msisdn, as the API produces";
    EXPECT_EQ(records[0].value, stuck.message);
    const auto row = store_->inbox().findInbox(stuck.gatewayMsgId).value();
    EXPECT_EQ(row.state, "queued") << "queued until the SMS stage records its outcome";
    EXPECT_EQ(row.attempts, 2);
    EXPECT_EQ(store_->inbox().findInbox(done.gatewayMsgId)->attempts, 1);

    // Still not answered after another requeue period (the broker lost it again): produced again.
    EXPECT_EQ(one.redriveInbox(later + 31), 1);
    EXPECT_EQ(redriven_, 2);
}

TEST_F(SmsInboxTest, ARedriveTheBrokerDidNotTakeIsTriedAgainLaterAndAttemptsBoundIt) {
    const auto stuck = stored("unlucky");
    const long long now = std::time(nullptr);
    auto unreachable = settings_;
    unreachable.kafka.bootstrap = "127.0.0.1:1";
    unreachable.kafka.rdkafka["message.timeout.ms"] = "300";
    unreachable.inboxMaxAttempts = 3;
    {
        engine::SmsScheduler scheduler(unreachable, store_->sms());
        EXPECT_EQ(scheduler.redriveInbox(now + 31), 0) << "not delivered, not counted";
    }
    EXPECT_EQ(redriven_, 0);
    EXPECT_EQ(store_->inbox().findInbox(stuck.gatewayMsgId)->attempts, 1)
        << "a try the broker did not take does not count: an outage never uses up a message's attempts";
    {
        engine::SmsScheduler scheduler(unreachable, store_->sms());
        EXPECT_EQ(scheduler.redriveInbox(now + 62), 0) << "the broker still away";
    }
    EXPECT_EQ(store_->inbox().findInbox(stuck.gatewayMsgId)->attempts, 1);

    auto working = unreachable;
    working.kafka = settings_.kafka;
    engine::SmsScheduler scheduler(working, store_->sms());
    EXPECT_EQ(scheduler.redriveInbox(now + 62), 0) << "claimed by the failed try: not stale again yet";
    EXPECT_EQ(scheduler.redriveInbox(now + 93), 1) << "after the requeue period, with the broker there";
    EXPECT_EQ(td_testing::readRecords(working.inboundTopic, 1, std::chrono::seconds(8)).size(), 1u);
    EXPECT_EQ(scheduler.redriveInbox(now + 124), 1) << "produced, and still not processed: again";
    EXPECT_EQ(scheduler.redriveInbox(now + 155), 0) << "three produces (sms.inbox_max_attempts): left for operations";
    EXPECT_EQ(store_->inbox().findInbox(stuck.gatewayMsgId)->state, "queued");
}

TEST_F(SmsInboxTest, DoneRowsArePrunedAfterTheRetentionAndQueuedOnesNever) {
    const auto done = stored("old-done");
    const auto queued = stored("old-queued");
    store_->inbox().markInboxDone(done.gatewayMsgId);
    settings_.inboxRetentionSeconds = 3600;
    engine::SmsScheduler scheduler(settings_, store_->sms());
    const long long now = std::time(nullptr);
    EXPECT_EQ(scheduler.pruneInbox(now), 0) << "done just now: kept for the retention";
    EXPECT_EQ(scheduler.pruneInbox(now + 3601 + 1), 1);
    EXPECT_FALSE(store_->inbox().findInbox(done.gatewayMsgId));
    EXPECT_TRUE(store_->inbox().findInbox(queued.gatewayMsgId)) << "not done: never pruned";
}
