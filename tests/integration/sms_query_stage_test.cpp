// Issue 13: the progress query by SMS (`查 <ID> <NHI last 4>`) through the SMS stage, on both SQL backends (SQLite in a
// temporary folder, the PostgreSQL that scripts/test started) and the real Redis: one reply naming every open pickup,
// a wrong NHI digit answered with the identity error and counted towards the lock, a replay answered with the same one
// reply, and a poll batch (prepare) answering as one message at a time would. Applicants are drawn at random from the
// stub population and ids are unique per run, so a shared PostgreSQL is fine.
#include <Poco/Timestamp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "connectors/store/store.hpp"
#include "connectors/stubs/demo_data/population.hpp"
#include "connectors/stubs/stub_connectors.hpp"
#include "engine/flow/redis_keys.hpp"
#include "engine/flow/sms_stage.hpp"
#include "engine/runtime/metrics.hpp"
#include "fixtures/kafka_helpers.hpp"
#include "fixtures/store_backend.hpp"
#include "fixtures/test_env.hpp"
#include "jobs/sms/received_at.hpp"

using namespace taxdesk;
using namespace taxdesk::engine;
namespace td_testing = taxdesk::testing;

namespace {

constexpr std::uint64_t kSeed = 20261126;
// The texts the citizen reads (jobs/sms/replies.cpp, jobs/sms/query.cpp), written out here rather than taken from the
// code.
constexpr const char* kIdentityFailed = "【臺北國稅局】身分驗證未通過，請確認身分證字號及健保卡末4碼後重新傳送";
constexpr const char* kLocked = "【臺北國稅局】驗證失敗次數過多，請於10分鐘後再試";
constexpr const char* kNone = "【臺北國稅局】目前查無待領取的文件（已領取或已逾期者不列入）";

class SmsQueryStageTest : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        prefix_ = td_testing::uniqueName("smsquery") + ":";
        backend_ = std::make_unique<td_testing::StoreBackend>(GetParam(), "smsquery");
        store_ = std::make_unique<connectors::Store>(backend_->settings());
        connectors::StubSettings stubs;
        stubs.seed = kSeed;
        connectors_ = connectors::makeStubConnectors(stubs);
    }

    std::unique_ptr<SmsStage> stage() {
        SmsSettings settings;
        settings.outboundTopic = "notifications.outbound";
        settings.inboundDeadLetter = "sms.inbound.dlq";
        settings.outboundDeadLetter = "notifications.outbound.dlq";
        settings.dailyLimit = 5;
        settings.lockFailures = 3;
        settings.lockSeconds = 600;
        std::istringstream offices("default = 總局\n");
        settings.offices = std::make_shared<const jobs::sms::OfficeTable>(jobs::sms::OfficeTable::load(offices));
        connectors::RedisSettings redis;
        redis.port = td_testing::redisPort();
        redis.timeoutMs = 1000;
        redis.keyPrefix = prefix_;
        return std::make_unique<SmsStage>(settings, connectors_, store_->sms(),
                                          std::make_unique<connectors::RedisClient>(redis), metrics_.pipeline("sms"));
    }

    /// A living person of the stub population, drawn at random, and their NHI card's last four digits.
    static std::pair<std::string, std::string> person() {
        const demo_data::Population population(kSeed);
        std::mt19937_64 random{std::random_device{}()};
        for (std::uint64_t index = 1'000'000 + random() % 1'000'000'000;; ++index) {
            const auto id = population.nationalIdAt(index);
            const auto record = population.registryRecord(id);
            if (record && !record->deceased && !record->company) return {id, population.nhiCardNumber(id).substr(8)};
        }
    }

    /// `last4` with its last digit changed.
    static std::string wrongDigit(const std::string& last4) {
        std::string wrong = last4;
        wrong.back() = wrong.back() == '9' ? '0' : static_cast<char>(wrong.back() + 1);
        return wrong;
    }

    static std::string message(const std::string& msisdn, const std::string& text, const std::string& gmid) {
        return R"({"msisdn":")" + msisdn + R"(","text":")" + text + R"(","gateway_msg_id":")" + gmid + R"("})";
    }

    connectors::NotificationRecord handle(SmsStage& sms, const std::string& msisdn, const std::string& text,
                                          const std::string& gmid) {
        std::string reason;
        auto reply = sms.handle(message(msisdn, text, gmid), reason);
        if (!reply) ADD_FAILURE() << "dead letter: " << reason;
        return reply.value_or(connectors::NotificationRecord{});
    }

    /// The day's application count of an msisdn as Redis holds it (0 when none).
    long long dailyCount(const std::string& msisdn) {
        connectors::RedisClient client({"127.0.0.1", td_testing::redisPort(), 1000, prefix_});
        const auto value = client.get(redis_keys::smsDaily(msisdn, jobs::sms::dayKey(Poco::Timestamp().epochTime())));
        return value ? std::stoll(*value) : 0;
    }

    std::string prefix_;
    std::unique_ptr<td_testing::StoreBackend> backend_;
    std::unique_ptr<connectors::Store> store_;
    connectors::ConnectorSet connectors_;
    Metrics metrics_;
};

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_P(SmsQueryStageTest, ACitizenWithTwoPickupsGetsOneReplyNamingBoth) {
    auto sms = stage();
    const std::string from = "0912000031";
    const auto [id, last4] = person();
    EXPECT_EQ(handle(*sms, from, "1 " + id + " " + last4, prefix_ + "a1").kind, "pickup_alert");
    EXPECT_EQ(handle(*sms, from, "納稅證明 " + id + " " + last4, prefix_ + "a2").kind, "pickup_alert");
    const std::int64_t now = Poco::Timestamp().epochTime();
    const auto first = store_->pickups().openPickupFor(id, 1, now);
    const auto second = store_->pickups().openPickupFor(id, 2, now);
    ASSERT_TRUE(first && second);

    const auto reply = handle(*sms, from, "查 " + id + " " + last4, prefix_ + "q");
    EXPECT_EQ(reply.notificationId, "n-" + prefix_ + "q");
    EXPECT_EQ(reply.kind, "reply");
    EXPECT_EQ(reply.pickupId, "");
    EXPECT_EQ(reply.msisdn, from);
    EXPECT_TRUE(contains(reply.text, "【臺北國稅局】您有2件文件待領取：")) << reply.text;
    EXPECT_TRUE(contains(reply.text, "財產所得資料，總局，")) << reply.text;
    EXPECT_TRUE(contains(reply.text, "綜所稅納稅證明，總局，")) << reply.text;
    EXPECT_TRUE(contains(reply.text, "取件碼" + first->code)) << reply.text;
    EXPECT_TRUE(contains(reply.text, "取件碼" + second->code)) << reply.text;
    EXPECT_FALSE(contains(reply.text, id) || contains(reply.text, id.substr(1))) << "no ID in a reply";
    EXPECT_EQ(store_->pickups().findInbound(prefix_ + "q")->outcome, "query");
    EXPECT_EQ(store_->notifications().findNotification("n-" + prefix_ + "q")->text, reply.text);
    EXPECT_EQ(dailyCount(from), 2) << "the two applications; the query is no application";

    // From another phone, `Q` in full width: the same list (the pickups are the applicant's, not the phone's).
    const auto other = handle(*sms, "0912000032", "Ｑ\u3000" + id + "\u3000" + last4, prefix_ + "q2");
    EXPECT_EQ(other.text, reply.text);
}

TEST_P(SmsQueryStageTest, AWrongNhiDigitGetsTheIdentityErrorAndCountsTowardsTheLock) {
    auto sms = stage();
    const std::string from = "0912000033";
    const auto [id, last4] = person();
    const std::string wrong = wrongDigit(last4);
    for (int i = 1; i <= 2; ++i) {
        const auto reply = handle(*sms, from, "查 " + id + " " + wrong, prefix_ + "w" + std::to_string(i));
        EXPECT_EQ(reply.text, kIdentityFailed) << "query " << i;
        EXPECT_EQ(store_->pickups().findInbound(prefix_ + "w" + std::to_string(i))->outcome, "identity_failed");
    }
    // A third failure, this time an application's: queries and applications strike towards one lock.
    EXPECT_EQ(handle(*sms, from, "1 " + id + " " + wrong, prefix_ + "w3").text, kIdentityFailed);
    // Locked now: the right digits are refused too, a query as an application, without asking the registry.
    EXPECT_EQ(handle(*sms, from, "查 " + id + " " + last4, prefix_ + "after").text, kLocked);
    EXPECT_EQ(store_->pickups().findInbound(prefix_ + "after")->outcome, "locked");
    EXPECT_EQ(handle(*sms, from, "2 " + id + " " + last4, prefix_ + "after2").text, kLocked);
    // The ID is locked from any phone.
    EXPECT_EQ(handle(*sms, "0912000034", "Q " + id + " " + last4, prefix_ + "after3").text, kLocked);
    EXPECT_FALSE(store_->pickups().openPickupFor(id, 2, Poco::Timestamp().epochTime()).has_value());
}

TEST_P(SmsQueryStageTest, AReplayedQueryGetsItsOneReplyAgainAndNothingNew) {
    auto sms = stage();
    const std::string from = "0912000035";
    const auto [id, last4] = person();
    const std::string query = "查 " + id + " " + last4;
    const auto first = handle(*sms, from, query, prefix_ + "q");
    EXPECT_EQ(first.text, kNone);
    // A pickup made in between does not change the replayed message's reply: the same notification, the same text,
    // which the sender sends once (by notification id).
    EXPECT_EQ(handle(*sms, from, "3 " + id + " " + last4, prefix_ + "a").kind, "pickup_alert");
    const auto again = handle(*sms, from, query, prefix_ + "q");
    EXPECT_EQ(again.notificationId, first.notificationId);
    EXPECT_EQ(again.text, kNone);
    EXPECT_EQ(store_->notifications().findNotification("n-" + prefix_ + "q")->text, kNone);
    // A new query (another gateway message) lists it.
    EXPECT_TRUE(
        contains(handle(*sms, from, query, prefix_ + "q-new").text, "您有1件文件待領取：綜所稅稅籍資料，總局，"));
}

TEST_P(SmsQueryStageTest, APollBatchAnswersAQueryAndItsReplayWithOneReply) {
    // prepare() reads a batch's stored messages and pickups up front (issue 11); a query and its replay in one batch
    // get the one reply, naming the pickup made before the batch.
    auto sms = stage();
    const std::string from = "0912000036";
    const auto [id, last4] = person();
    EXPECT_EQ(handle(*sms, from, "5 " + id + " " + last4, prefix_ + "a").kind, "pickup_alert");
    const auto open = store_->pickups().openPickupFor(id, 5, Poco::Timestamp().epochTime());
    ASSERT_TRUE(open);

    const std::string topic = td_testing::uniqueName("sms-query");
    const std::string gmid = prefix_ + "q";
    td_testing::produceAll(topic, {{from, message(from, "q " + id + " " + last4, gmid)},
                                   {from, message(from, "q " + id + " " + last4, gmid)},
                                   {from, message(from, "0", prefix_ + "help")}});
    connectors::kafka::Consumer consumer(td_testing::consumerSettings(), td_testing::uniqueName("sms-query"));
    consumer.subscribe({topic});
    std::vector<connectors::kafka::Message> batch;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (batch.size() < 3 && std::chrono::steady_clock::now() < deadline)
        for (auto& message : consumer.consume(10, 100)) batch.push_back(std::move(message));
    ASSERT_EQ(batch.size(), 3U);

    const auto prepared = sms->prepare(batch);
    ASSERT_EQ(prepared->out.size(), 3U);
    for (const auto& out : prepared->out) ASSERT_EQ(out.size(), 1U);
    const std::string& value = prepared->out[0][0].value;
    EXPECT_TRUE(contains(value, "\"n-" + gmid + "\"")) << value;
    EXPECT_TRUE(contains(value, "取件碼" + open->code)) << value;
    EXPECT_EQ(prepared->out[1][0].value, value) << "the replay: the same one reply";
    EXPECT_EQ(store_->pickups().findInbound(gmid)->outcome, "query");
    EXPECT_EQ(store_->pickups().findInbound(prefix_ + "help")->outcome, "help");
    consumer.close();
}

INSTANTIATE_TEST_SUITE_P(Backends, SmsQueryStageTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });
