// The SMS application stage against the redis-server scripts/test started, a SQLite store and the stub connectors,
// with the registry able to fail (issue 9, findings 10 and 12): an outage is answered "try later" and never uses up
// the day's limit; a step run again for the same gateway_msg_id counts once; without Redis the answer is "try later".
#include <Poco/Timestamp.h>
#include <gtest/gtest.h>

#include <sstream>

#include "connectors/store/store.hpp"
#include "connectors/stubs/demo_data/population.hpp"
#include "connectors/stubs/stub_connectors.hpp"
#include "engine/flow/redis_keys.hpp"
#include "engine/flow/sms_stage.hpp"
#include "engine/runtime/metrics.hpp"
#include "fixtures/kafka_helpers.hpp"
#include "fixtures/test_env.hpp"
#include "jobs/sms/received_at.hpp"
#include "jobs/sms/replies.hpp"

using namespace taxdesk;
using namespace taxdesk::engine;
namespace td_testing = taxdesk::testing;

namespace {

constexpr std::uint64_t kSeed = 20261126;
// The texts the citizen reads (jobs/sms/replies.cpp), written out here rather than taken from the code.
constexpr const char* kTryLater = "系統忙碌，暫時無法受理，請稍後再試";
constexpr const char* kLimitReached = "今日申請已達5次上限";

/// A registry that fails as told, else answers from the stub population.
class FlakyRegistry : public connectors::Registry {
  public:
    explicit FlakyRegistry(std::shared_ptr<connectors::Registry> inner) : inner_(std::move(inner)) {}
    std::optional<connectors::RegistryRecord> lookup(const std::string& id) override {
        ++calls;
        if (transientFailures > 0) {
            --transientFailures;
            throw connectors::TransientError("registry: connection refused");
        }
        if (permanentFailures > 0) {
            --permanentFailures;
            throw connectors::PermanentError("registry: refused");
        }
        return inner_->lookup(id);
    }
    int transientFailures = 0;
    int permanentFailures = 0;
    int calls = 0;

  private:
    std::shared_ptr<connectors::Registry> inner_;
};

class SmsStageTest : public ::testing::Test {
  protected:
    void SetUp() override {
        prefix_ = td_testing::uniqueName("smsstage") + ":";
        connectors::StoreSettings storeSettings;
        storeSettings.sqlitePath = td_testing::tempDir("smsstage") + "/taxdesk.db";
        store_ = std::make_unique<connectors::Store>(storeSettings);
        connectors::StubSettings stubs;
        stubs.seed = kSeed;
        connectors_ = connectors::makeStubConnectors(stubs);
        registry_ = std::make_shared<FlakyRegistry>(connectors_.registry);
        connectors_.registry = registry_;
    }

    std::unique_ptr<SmsStage> stage(int redisPort) {
        SmsSettings settings;
        settings.outboundTopic = "notifications.outbound";
        settings.inboundDeadLetter = "sms.inbound.dlq";
        settings.outboundDeadLetter = "notifications.outbound.dlq";
        settings.dailyLimit = 5;
        std::istringstream offices("default = 總局\n");
        settings.offices = std::make_shared<const jobs::sms::OfficeTable>(jobs::sms::OfficeTable::load(offices));
        connectors::RedisSettings redis;
        redis.port = redisPort;
        redis.timeoutMs = 2000;  // a busy machine's pause must not make Redis look down (port 1 is refused at once)
        redis.keyPrefix = prefix_;
        return std::make_unique<SmsStage>(settings, connectors_, store_->sms(),
                                          std::make_unique<connectors::RedisClient>(redis), metrics_.pipeline("sms"));
    }

    /// A living person of the stub population and their NHI card's last four digits.
    static std::pair<std::string, std::string> person(std::uint64_t from) {
        const demo_data::Population population(kSeed);
        for (std::uint64_t index = from;; ++index) {
            const auto id = population.nationalIdAt(index);
            const auto record = population.registryRecord(id);
            if (record && !record->deceased && !record->company) return {id, population.nhiCardNumber(id).substr(8)};
        }
    }

    static std::string message(const std::string& msisdn, const std::string& text, const std::string& gmid) {
        return R"({"msisdn":")" + msisdn + R"(","text":")" + text + R"(","gateway_msg_id":")" + gmid + R"("})";
    }

    /// The day's count for an msisdn as Redis holds it (0 when none).
    long long dailyCount(const std::string& msisdn) {
        connectors::RedisClient client({"127.0.0.1", td_testing::redisPort(), 1000, prefix_});
        const auto value =
            client.get(taxdesk::engine::redis_keys::smsDaily(msisdn, jobs::sms::dayKey(Poco::Timestamp().epochTime())));
        return value ? std::stoll(*value) : 0;
    }

    std::string prefix_;
    std::unique_ptr<connectors::Store> store_;
    connectors::ConnectorSet connectors_;
    std::shared_ptr<FlakyRegistry> registry_;
    Metrics metrics_;
};

}  // namespace

TEST_F(SmsStageTest, ARegistryOutageIsAnsweredTryLaterAndNeverUsesUpTheDailyLimit) {
    auto sms = stage(td_testing::redisPort());
    const std::string from = "0912000001";
    const auto [id, last4] = person(700000);
    registry_->transientFailures = 1000;  // an outage outlasting every application below
    for (int i = 1; i <= 6; ++i) {
        std::string reason;
        const auto reply =
            sms->handle(message(from, "1 " + id + " " + last4, "out-" + prefix_ + std::to_string(i)), reason);
        ASSERT_TRUE(reply) << reason;
        EXPECT_NE(reply->text.find(kTryLater), std::string::npos) << "application " << i << ": " << reply->text;
        EXPECT_EQ(store_->pickups().findInbound("out-" + prefix_ + std::to_string(i))->outcome, "unavailable");
    }
    EXPECT_EQ(dailyCount(from), 0) << "answered 'try later', so not counted";
    registry_->transientFailures = 0;
    std::string reason;
    const auto reply = sms->handle(message(from, "1 " + id + " " + last4, "out-" + prefix_ + "after"), reason);
    ASSERT_TRUE(reply) << reason;
    EXPECT_EQ(reply->kind, "pickup_alert") << reply->text;
    EXPECT_EQ(dailyCount(from), 1);
}

TEST_F(SmsStageTest, AStepRunAgainForTheSameMessageCountsOnce) {
    auto sms = stage(td_testing::redisPort());
    const std::string from = "0912000002";
    const auto [id, last4] = person(700100);
    // Four applications counted and answered; the fifth's step fails after counting and is run again twice.
    for (int i = 1; i <= 4; ++i) {
        std::string reason;
        const auto reply = sms->handle(
            message(from, std::to_string(i) + " " + id + " " + last4, "once-" + prefix_ + std::to_string(i)), reason);
        ASSERT_TRUE(reply) << reason;
    }
    EXPECT_EQ(dailyCount(from), 4);
    registry_->permanentFailures = 2;
    const std::string fifth = message(from, "5 " + id + " " + last4, "once-" + prefix_ + "5");
    std::string reason;
    EXPECT_THROW(sms->handle(fifth, reason), connectors::PermanentError);
    EXPECT_THROW(sms->handle(fifth, reason), connectors::PermanentError);
    const auto reply = sms->handle(fifth, reason);
    ASSERT_TRUE(reply) << reason;
    EXPECT_EQ(reply->kind, "pickup_alert") << "the fifth is within the limit of 5: " << reply->text;
    EXPECT_EQ(dailyCount(from), 5) << "three runs of one message count once";
    // The sixth is over the limit.
    const auto sixth = sms->handle(message(from, "1 " + id + " " + last4, "once-" + prefix_ + "6"), reason);
    ASSERT_TRUE(sixth) << reason;
    EXPECT_EQ(store_->pickups().findInbound("once-" + prefix_ + "6")->outcome, "limit");
    EXPECT_NE(sixth->text.find(kLimitReached), std::string::npos) << sixth->text;
}

TEST_F(SmsStageTest, AnApplicationThatFailsForGoodIsAnsweredTryLaterOnceAndNotCounted) {
    // The registry refuses for good: the pipeline dead-letters the message and asks the stage to answer it (SPEC 4.1:
    // every inbound SMS gets exactly one reply). Before, the citizen got no reply at all.
    auto sms = stage(td_testing::redisPort());
    const std::string from = "0912000009";
    const auto [id, last4] = person(700300);
    const std::string gmid = "perm-" + prefix_;
    const std::string sent = message(from, "1 " + id + " " + last4, gmid);
    registry_->permanentFailures = 100;
    std::string reason;
    EXPECT_THROW(sms->handle(sent, reason), connectors::PermanentError);
    EXPECT_EQ(dailyCount(from), 1) << "counted before the registry refused";
    const auto reply = sms->answerUnprocessed(sent);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->notificationId, "n-" + gmid);
    EXPECT_NE(reply->text.find(kTryLater), std::string::npos) << reply->text;
    EXPECT_EQ(reply->text.find(id), std::string::npos) << "a reply never holds a whole ID";
    EXPECT_EQ(store_->pickups().findInbound(gmid)->outcome, "unavailable");
    EXPECT_EQ(dailyCount(from), 0) << "an application that did not get through does not count";
    // One reply: asked again, or the message redelivered once the registry is back, it is the same reply.
    EXPECT_EQ(sms->answerUnprocessed(sent)->notificationId, reply->notificationId);
    registry_->permanentFailures = 0;
    const auto redelivered = sms->handle(sent, reason);
    ASSERT_TRUE(redelivered) << reason;
    EXPECT_EQ(redelivered->notificationId, reply->notificationId);
    EXPECT_EQ(redelivered->text, reply->text);
    EXPECT_EQ(dailyCount(from), 0);
    // Nobody to answer.
    EXPECT_FALSE(sms->answerUnprocessed("not json"));
    EXPECT_FALSE(sms->answerUnprocessed(R"({"msisdn":"12","text":"1","gateway_msg_id":"x"})"));
}

TEST_F(SmsStageTest, WithoutRedisAnApplicationIsRecordedAndAnsweredTryLater) {
    auto sms = stage(1);  // nobody listens on port 1
    const auto [id, last4] = person(700200);
    std::string reason;
    const auto reply = sms->handle(message("0912000003", "1 " + id + " " + last4, "noredis-" + prefix_), reason);
    ASSERT_TRUE(reply) << reason;
    EXPECT_NE(reply->text.find(kTryLater), std::string::npos) << reply->text;
    const auto inbound = store_->pickups().findInbound("noredis-" + prefix_);
    ASSERT_TRUE(inbound);
    EXPECT_EQ(inbound->outcome, "unavailable");
    EXPECT_EQ(registry_->calls, 0) << "refused before the registry is asked";
}

// Issue 9, finding 13: the stage marks a message's inbox row done with its outcome, also for a message the gateway
// sent again after its done row was pruned (else the inbox sweep would re-drive it for ever), and answers it once.
TEST_F(SmsStageTest, TheInboxRowIsDoneWithTheOutcomeAndARepeatAfterPruningIsDoneWithoutASecondReply) {
    auto sms = stage(td_testing::redisPort());
    const std::string gmid = prefix_ + "inbox";
    const std::string value = message("0912000001", "?", gmid);
    connectors::InboxRecord row;
    row.gatewayMsgId = gmid;
    row.message = value;
    row.attempts = 1;
    store_->inbox().enqueueInbox({row});
    std::string reason;
    const auto first = sms->handle(value, reason);
    ASSERT_TRUE(first) << reason;
    EXPECT_EQ(store_->inbox().findInbox(gmid)->state, "done");

    // Pruned (done, and older than the retention), then the gateway sends it again: a new queued row…
    ASSERT_GE(store_->inbox().pruneInbox("9999-01-01T00:00:00.000Z", 100000), 1);
    ASSERT_EQ(store_->inbox().enqueueInbox({row}).at(0).state, "queued");
    const auto again = sms->handle(value, reason);
    ASSERT_TRUE(again) << reason;
    EXPECT_EQ(again->notificationId, first->notificationId) << "the same one reply";
    EXPECT_EQ(store_->inbox().findInbox(gmid)->state, "done") << "…done at once, not left for the sweep";
}

TEST_F(SmsStageTest, ABatchIsDecidedThenRecordedTogetherAsOneAtATimeWould) {
    // prepare() decides a whole poll batch, then records it in one transaction (issue 11). Within one batch: the same
    // applicant's second application for a service re-sends the first's pickup (one pickup, one code); a gateway
    // message given twice is stored once and answered with its one reply; other messages are unaffected.
    const std::string topic = td_testing::uniqueName("sms-batch");
    const std::string from = "0912000010";
    const auto [id, last4] = person(700300);
    const std::string a1 = "batch-" + prefix_ + "a1";
    const std::string a2 = "batch-" + prefix_ + "a2";
    const std::string help = "batch-" + prefix_ + "help";
    td_testing::produceAll(topic, {{from, message(from, "1 " + id + " " + last4, a1)},
                                   {from, message(from, "1 " + id + " " + last4, a2)},
                                   {from, message(from, "1 " + id + " " + last4, a1)},
                                   {from, message(from, "0", help)}});
    connectors::kafka::Consumer consumer(td_testing::consumerSettings(), td_testing::uniqueName("sms-batch"));
    consumer.subscribe({topic});
    std::vector<connectors::kafka::Message> batch;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (batch.size() < 4 && std::chrono::steady_clock::now() < deadline)
        for (auto& message : consumer.consume(10, 100)) batch.push_back(std::move(message));
    ASSERT_EQ(batch.size(), 4U);

    const auto prepared = stage(td_testing::redisPort())->prepare(batch);
    ASSERT_EQ(prepared->out.size(), 4U);
    for (const auto& out : prepared->out) ASSERT_EQ(out.size(), 1U);
    const auto value = [&](std::size_t i) { return prepared->out[i][0].value; };
    EXPECT_NE(value(0).find("\"n-" + a1 + "\""), std::string::npos) << value(0);
    EXPECT_NE(value(1).find("\"n-" + a2 + "\""), std::string::npos) << value(1);
    EXPECT_EQ(value(2), value(0)) << "the same message again: its one reply";
    EXPECT_NE(value(3).find("\"n-" + help + "\""), std::string::npos) << value(3);

    EXPECT_EQ(store_->pickups().findInbound(a1)->outcome, "alert");
    EXPECT_EQ(store_->pickups().findInbound(a2)->outcome, "resent");
    EXPECT_EQ(store_->pickups().findInbound(help)->outcome, "help");
    const auto pickup = store_->pickups().openPickupFor(id, 1, Poco::Timestamp().epochTime());
    ASSERT_TRUE(pickup.has_value());
    EXPECT_EQ(pickup->pickupId, "p-" + a1);
    const auto alert = store_->notifications().findNotification("n-" + a1).value();
    const auto resent = store_->notifications().findNotification("n-" + a2).value();
    EXPECT_NE(alert.text.find("取件碼" + pickup->code), std::string::npos) << alert.text;
    EXPECT_NE(resent.text.find("取件碼" + pickup->code), std::string::npos) << "the first's code: " << resent.text;
    consumer.close();
}
