// The SMS path over real HTTP (SPEC 4, 5): `taxdesk serve` as a process against the broker and redis-server that
// scripts/test started; the gateway stub records what it sends in <var>/sms-sent.jsonl, which the tests read.
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "connectors/store/store.hpp"
#include "connectors/stubs/demo_data/population.hpp"
#include "fixtures/kafka_helpers.hpp"
#include "fixtures/serve_process.hpp"
#include "fixtures/test_env.hpp"
#include "jobs/sms/pickup_rules.hpp"

using taxdesk::testing::HttpResult;
using taxdesk::testing::ServeProcess;

namespace {

constexpr std::uint64_t kSeed = 20261126;

Poco::JSON::Object::Ptr json(const std::string& text) {
    return Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
}

struct Sent {
    std::string notificationId;
    std::string msisdn;
    std::string text;
    std::string gatewayMsgId;
};

class SmsApiTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        engine_ = new ServeProcess({"sms.scheduler_interval_s=1"});
        gateway_ = engine_->createToken("gateway");
        counter_ = engine_->createToken("counter");
        ops_ = engine_->createToken("ops");
    }
    static void TearDownTestSuite() {
        delete engine_;
        engine_ = nullptr;
    }

    /// A fresh msisdn for each test, so that counters and replies do not mix.
    static std::string msisdn() {
        static int next = 0;
        char text[16];
        std::snprintf(text, sizeof text, "09%08d", (::getpid() % 1000) * 10000 + next++);
        return text;
    }
    static std::string person(std::uint64_t index) {
        return taxdesk::demo_data::Population(kSeed).nationalIdAt(500000 + index);
    }
    static std::string last4(const std::string& id) {
        return taxdesk::demo_data::Population(kSeed).nhiCardNumber(id).substr(8);
    }

    /// Now, as the gateway writes it: ISO 8601 in Taipei time.
    static std::string receivedNow() {
        const std::time_t taipei = std::time(nullptr) + 8 * 3600;
        std::tm fields{};
        gmtime_r(&taipei, &fields);
        char text[32];
        std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S+08:00", &fields);
        return text;
    }

    static HttpResult send(const std::string& from, const std::string& text, const std::string& gmid,
                           const std::string& receivedAt = receivedNow()) {
        std::string body = R"({"msisdn":")" + from + R"(","text":")" + text + R"(","gateway_msg_id":")" + gmid +
                           R"(","received_at":")" + receivedAt + R"("})";
        return engine_->request("POST", "/api/v1/sms/inbound", gateway_, body, "application/json");
    }

    static std::vector<Sent> sentTo(const std::string& to) {
        std::vector<Sent> sent;
        std::ifstream in(engine_->varDir() + "/sms-sent.jsonl");
        for (std::string line; std::getline(in, line);) {
            const auto object = json(line);
            if (object->getValue<std::string>("msisdn") != to) continue;
            sent.push_back({object->getValue<std::string>("notification_id"), object->getValue<std::string>("msisdn"),
                            object->getValue<std::string>("text"),
                            object->optValue<std::string>("gateway_msg_id", "")});
        }
        return sent;
    }

    /// Waits until `to` has been sent `count` messages (or 30 s pass), and returns them.
    static std::vector<Sent> waitSent(const std::string& to, std::size_t count) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (sentTo(to).size() < count && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        return sentTo(to);
    }

    static std::string codeIn(const std::string& text) {
        std::smatch match;
        return std::regex_search(text, match, std::regex("取件碼([0-9]{6})")) ? match[1].str() : "";
    }

    /// Moves time for one pickup (the engine's clock is real): sets a column in its SQLite store.
    static void setPickup(const std::string& code, const std::string& assignment) {
        Poco::Data::SQLite::Connector::registerConnector();
        Poco::Data::Session session("SQLite", engine_->varDir() + "/taxdesk.db");
        session << "PRAGMA busy_timeout=5000", Poco::Data::Keywords::now;
        session << "UPDATE pickups SET " + assignment + " WHERE code = '" + code + "'", Poco::Data::Keywords::now;
    }

    /// A statement on the engine's SQLite store, behind its back.
    static void execute(const std::string& statement) {
        Poco::Data::SQLite::Connector::registerConnector();
        Poco::Data::Session session("SQLite", engine_->varDir() + "/taxdesk.db");
        session << "PRAGMA busy_timeout=5000", Poco::Data::Keywords::now;
        session << statement, Poco::Data::Keywords::now;
    }

    /// The inbox row of a gateway message as the engine stored it: its count of rows, state and attempts.
    struct InboxRow {
        int rows = 0;
        std::string state;
        int attempts = 0;
    };
    static InboxRow inboxRow(const std::string& gatewayMsgId) {
        Poco::Data::SQLite::Connector::registerConnector();
        Poco::Data::Session session("SQLite", engine_->varDir() + "/taxdesk.db");
        session << "PRAGMA busy_timeout=5000", Poco::Data::Keywords::now;
        std::vector<std::string> states;
        std::vector<int> attempts;
        session << "SELECT state, attempts FROM sms_inbox WHERE gateway_msg_id = ?", Poco::Data::Keywords::into(states),
            Poco::Data::Keywords::into(attempts), Poco::Data::Keywords::useRef(gatewayMsgId), Poco::Data::Keywords::now;
        InboxRow row;
        row.rows = static_cast<int>(states.size());
        if (!states.empty()) {
            row.state = states[0];
            row.attempts = attempts[0];
        }
        return row;
    }

    /// A sample of /metrics, e.g. `taxdesk_sms_inbox_redrives_total`; 0 when absent.
    static double metric(const std::string& name) {
        const auto scraped = engine_->request("GET", "/metrics");
        std::istringstream in(scraped.body);
        for (std::string line; std::getline(in, line);)
            if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
        return 0;
    }

    static ServeProcess* engine_;
    static std::string gateway_;
    static std::string counter_;
    static std::string ops_;
};

ServeProcess* SmsApiTest::engine_ = nullptr;
std::string SmsApiTest::gateway_;
std::string SmsApiTest::counter_;
std::string SmsApiTest::ops_;

TEST_F(SmsApiTest, AValidApplicationGetsOneAlertWithCodeOfficeAndDeadline) {
    const auto from = msisdn();
    const auto id = person(1);
    const auto accepted = send(from, "1 " + id + " " + last4(id), "valid-" + from);
    ASSERT_EQ(accepted.status, 202) << accepted.body;
    const auto sent = waitSent(from, 1);
    ASSERT_EQ(sent.size(), 1u);
    const std::string& text = sent[0].text;
    EXPECT_EQ(text.rfind("【臺北國稅局】您申請的財產所得資料已備妥，請於", 0), 0u) << text;
    EXPECT_TRUE(std::regex_search(
        text, std::regex("請於[0-9]{1,2}/[0-9]{1,2} 18:00前持身分證至.+(分局|稽徵所|總局)快速取件櫃台領取")))
        << text;
    EXPECT_EQ(codeIn(text).size(), 6u) << text;
    EXPECT_EQ(text.find(id), std::string::npos) << "never a whole ID";
    std::this_thread::sleep_for(std::chrono::seconds(1));
    EXPECT_EQ(sentTo(from).size(), 1u) << "exactly one reply";
}

TEST_F(SmsApiTest, EveryMistakeGetsItsReason) {
    const auto id = person(2);
    struct Case {
        std::string text;
        std::string says;
    };
    std::string badId = id;
    badId[9] = static_cast<char>('0' + (badId[9] - '0' + 1) % 10);
    const std::vector<Case> cases{
        {"1 " + badId + " 1234", "身分證字號有誤"},
        {"1 " + id + " " + (last4(id) == "0000" ? "0001" : "0000"), "身分驗證未通過"},
        {"9 " + id + " " + last4(id), "查無此服務代碼"},
        {"1 " + id, "格式"},
        {"說明", "服務"},
        {"？", "服務"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        const auto from = msisdn();
        ASSERT_EQ(send(from, c.text, "mistake-" + from).status, 202);
        const auto sent = waitSent(from, 1);
        ASSERT_EQ(sent.size(), 1u);
        EXPECT_NE(sent[0].text.find(c.says), std::string::npos) << sent[0].text;
        EXPECT_EQ(sent[0].text.find(id), std::string::npos);
        EXPECT_EQ(sent[0].text.find(badId), std::string::npos);
    }
}

TEST_F(SmsApiTest, TheSameGatewayMessageTwiceGetsOneReply) {
    const auto from = msisdn();
    const auto id = person(3);
    ASSERT_EQ(send(from, "2 " + id + " " + last4(id), "twice-" + from).status, 202);
    ASSERT_EQ(send(from, "2 " + id + " " + last4(id), "twice-" + from).status, 202);
    waitSent(from, 1);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_EQ(sentTo(from).size(), 1u);
}

TEST_F(SmsApiTest, ApplyingAgainForAnOpenPickupResendsTheSameCode) {
    const auto from = msisdn();
    const auto id = person(4);
    ASSERT_EQ(send(from, "3 " + id + " " + last4(id), "first-" + from).status, 202);
    ASSERT_EQ(send(from, "稅籍資料 " + id + " " + last4(id), "second-" + from).status, 202);
    const auto sent = waitSent(from, 2);
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_FALSE(codeIn(sent[0].text).empty());
    EXPECT_EQ(codeIn(sent[0].text), codeIn(sent[1].text));
}

TEST_F(SmsApiTest, AnOpenPickupPastItsDeadlineMakesWayForANewOne) {
    const auto from = msisdn();
    const auto id = person(12);
    ASSERT_EQ(send(from, "3 " + id + " " + last4(id), "late-1-" + from).status, 202);
    const auto old = codeIn(waitSent(from, 1).at(0).text);
    // Past its deadline, but the scheduler has not marked it expired yet: a new application gets a new pickup.
    setPickup(old, "deadline_at = 1, remind_at = 4000000000");
    ASSERT_EQ(send(from, "3 " + id + " " + last4(id), "late-2-" + from).status, 202);
    const auto sent = waitSent(from, 2);
    ASSERT_EQ(sent.size(), 2u);
    const auto renewed = codeIn(sent[1].text);
    EXPECT_EQ(renewed.size(), 6u) << sent[1].text;
    EXPECT_NE(renewed, old);
}

TEST_F(SmsApiTest, ThreeFailedChecksLockTheIdAndTheMsisdn) {
    const auto from = msisdn();
    const auto id = person(5);
    const std::string wrong = last4(id) == "0000" ? "0001" : "0000";
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(send(from, "1 " + id + " " + wrong, "fail-" + std::to_string(i) + "-" + from).status, 202);
    waitSent(from, 3);
    ASSERT_EQ(send(from, "1 " + id + " " + last4(id), "right-" + from).status, 202);
    const auto sent = waitSent(from, 4);
    ASSERT_EQ(sent.size(), 4u);
    EXPECT_NE(sent[3].text.find("次數過多"), std::string::npos)
        << "locked even with the right digits: " << sent[3].text;
    EXPECT_NE(sent[3].text.find("10分鐘"), std::string::npos) << "a first lock: 10 minutes left: " << sent[3].text;
    // The ID is locked from another phone too.
    const auto other = msisdn();
    ASSERT_EQ(send(other, "1 " + id + " " + last4(id), "other-" + other).status, 202);
    EXPECT_NE(waitSent(other, 1).at(0).text.find("次數過多"), std::string::npos);
}

TEST_F(SmsApiTest, TheDailyLimitHolds) {
    const auto from = msisdn();
    for (int i = 0; i < 6; ++i) {
        const auto id = person(100 + static_cast<std::uint64_t>(i));
        ASSERT_EQ(send(from, "1 " + id + " " + last4(id), "daily-" + std::to_string(i) + "-" + from).status, 202);
    }
    const auto sent = waitSent(from, 6);
    ASSERT_EQ(sent.size(), 6u);
    for (int i = 0; i < 5; ++i) EXPECT_FALSE(codeIn(sent[i].text).empty()) << sent[i].text;
    EXPECT_NE(sent[5].text.find("上限"), std::string::npos) << sent[5].text;
}

TEST_F(SmsApiTest, ABacklogFromYesterdayKeepsYesterdaysDeadlineAndDailyCount) {
    using namespace taxdesk::jobs::sms;
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    const LocalDate yesterday = addDays(taipeiDate(now), -1);
    // The last second of yesterday in Taipei: less than 24 hours ago, so the engine believes it.
    const std::string lastSecond = toString(yesterday) + "T23:59:59+08:00";
    std::ifstream holidays(std::string(TAXDESK_SOURCE_DIR) + "/config/holidays.txt");
    const BusinessCalendar calendar = loadHolidays(holidays);
    const LocalDate due = pickupDeadline(calendar, yesterday, 3).date;
    const std::string dueText = std::to_string(due.month) + "/" + std::to_string(due.day) + " 18:00前";

    // Five applications received yesterday fill yesterday's count, not today's.
    const auto from = msisdn();
    for (int i = 0; i < 5; ++i) {
        const auto id = person(200 + static_cast<std::uint64_t>(i));
        ASSERT_EQ(
            send(from, "1 " + id + " " + last4(id), "backlog-" + std::to_string(i) + "-" + from, lastSecond).status,
            202);
    }
    const auto sent = waitSent(from, 5);
    ASSERT_EQ(sent.size(), 5u);
    EXPECT_NE(sent[0].text.find(dueText), std::string::npos)
        << "due as counted from " << toString(yesterday) << ": " << sent[0].text;
    // A sixth, received now: today's first, so not refused.
    const auto id = person(205);
    ASSERT_EQ(send(from, "1 " + id + " " + last4(id), "backlog-today-" + from, "").status, 202);
    const auto all = waitSent(from, 6);
    ASSERT_EQ(all.size(), 6u);
    EXPECT_FALSE(codeIn(all[5].text).empty()) << all[5].text;
}

TEST(SmsReadyzTest, WarnsWhileReadyWhenTheHolidayTableEndsBeforeTodaysDeadlines) {
    const std::string dir = taxdesk::testing::tempDir("holidays");
    {
        std::ofstream(dir + "/old.txt") << "2025-12-25\n";
        std::ofstream(dir + "/long.txt") << "2999-12-24\n";
    }
    {
        ServeProcess old({"sms.holidays_file=" + dir + "/old.txt"});
        const auto ready = old.request("GET", "/readyz");
        EXPECT_EQ(ready.status, 200) << "a warning leaves readiness as it is: " << ready.body;
        EXPECT_NE(ready.body.find(R"("status":"ready")"), std::string::npos) << ready.body;
        EXPECT_NE(ready.body.find(R"("warnings":["sms.holidays_file: the holiday table ends with 2025)"),
                  std::string::npos)
            << ready.body;
        std::ifstream log(old.logFile());
        const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
        EXPECT_NE(text.find("the holiday table ends with 2025"), std::string::npos) << "logged at start-up";
    }
    ServeProcess longTable({"sms.holidays_file=" + dir + "/long.txt"});
    const auto ready = longTable.request("GET", "/readyz");
    EXPECT_EQ(ready.status, 200);
    EXPECT_NE(ready.body.find(R"("warnings":[])"), std::string::npos) << ready.body;
}

TEST_F(SmsApiTest, AFailedDeliveryIsRetriedThenDeadLettered) {
    const auto from = msisdn();
    const auto id = person(6);
    ASSERT_EQ(send(from, "5 " + id + " " + last4(id), "dlr-" + from).status, 202);
    auto sent = waitSent(from, 1);
    ASSERT_EQ(sent.size(), 1u);
    for (std::size_t attempt = 1; attempt <= 3; ++attempt) {
        const auto report = engine_->request(
            "POST", "/api/v1/sms/dlr", gateway_,
            R"({"gateway_msg_id":")" + sent.back().gatewayMsgId + R"(","status":"failed","error":"handset off"})",
            "application/json");
        ASSERT_EQ(report.status, 200) << report.body;
        if (attempt < 3) {
            EXPECT_EQ(json(report.body)->getValue<std::string>("outcome"), "retried");
            sent = waitSent(from, attempt + 1);
            ASSERT_EQ(sent.size(), attempt + 1) << "a new send after a failed delivery";
            EXPECT_EQ(sent.back().text, sent.front().text);
        } else {
            EXPECT_EQ(json(report.body)->getValue<std::string>("outcome"), "dead_letter");
        }
    }
    const auto dead =
        taxdesk::testing::readRecords(engine_->prefix() + "notifications.outbound.dlq", 1, std::chrono::seconds(15));
    ASSERT_GE(dead.size(), 1u);
    EXPECT_NE(dead.back().value.find("handset off"), std::string::npos) << dead.back().value;
    const auto delivered = engine_->request("POST", "/api/v1/sms/dlr", gateway_,
                                            R"({"gateway_msg_id":"nope","status":"delivered"})", "application/json");
    EXPECT_EQ(delivered.status, 404);

    // Operations staff see the dead letter and replay it: one more send, however often they ask.
    const auto base = sent.front().notificationId;
    EXPECT_EQ(engine_->request("GET", "/api/v1/ops/dead-letters", gateway_).status, 403);
    const auto listed = engine_->request("GET", "/api/v1/ops/dead-letters", ops_);
    ASSERT_EQ(listed.status, 200);
    const std::string deadId = base + "~3";
    EXPECT_NE(listed.body.find("\"id\":\"" + deadId + "\""), std::string::npos) << listed.body;
    EXPECT_EQ(listed.body.find("\"msisdn\":\"" + from + "\""), std::string::npos) << "no whole phone number";
    const auto replayed = engine_->request("POST", "/api/v1/ops/dead-letters/" + deadId + "/replay", ops_);
    ASSERT_EQ(replayed.status, 202) << replayed.body;
    EXPECT_EQ(waitSent(from, 4).size(), 4u) << "the replay is sent";
    ASSERT_EQ(engine_->request("POST", "/api/v1/ops/dead-letters/" + deadId + "/replay", ops_).status, 202);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_EQ(sentTo(from).size(), 4u) << "a second replay sends nothing more";
    EXPECT_EQ(engine_->request("POST", "/api/v1/ops/dead-letters/nope/replay", ops_).status, 404);
}

// Issue 9, finding 8: the gateway sending the same failed report again (after a 503, a timeout) is told "retried" and
// causes no second retry.
TEST_F(SmsApiTest, AFailedReportSentTwiceRetriesOnce) {
    const auto from = msisdn();
    const auto id = person(7);
    ASSERT_EQ(send(from, "4 " + id + " " + last4(id), "dlr2-" + from).status, 202);
    const auto sent = waitSent(from, 1);
    ASSERT_EQ(sent.size(), 1u);
    const std::string report =
        R"({"gateway_msg_id":")" + sent.back().gatewayMsgId + R"(","status":"failed","error":"handset off"})";
    for (int time = 1; time <= 2; ++time) {
        const auto answer = engine_->request("POST", "/api/v1/sms/dlr", gateway_, report, "application/json");
        ASSERT_EQ(answer.status, 200) << answer.body;
        EXPECT_EQ(json(answer.body)->getValue<std::string>("outcome"), "retried") << "report " << time;
    }
    EXPECT_EQ(waitSent(from, 2).size(), 2u) << "the retry is sent";
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_EQ(sentTo(from).size(), 2u) << "once";
}

TEST_F(SmsApiTest, CounterCollectionInEachOfItsOutcomes) {
    const auto from = msisdn();
    const auto id = person(7);
    ASSERT_EQ(send(from, "4 " + id + " " + last4(id), "collect-" + from).status, 202);
    const auto code = codeIn(waitSent(from, 1).at(0).text);
    ASSERT_EQ(code.size(), 6u);
    auto collect = [&](const std::string& who, const std::string& token) {
        return engine_->request("POST", "/api/v1/pickups/" + code + "/collect", token,
                                R"({"debtor_id":")" + who + "\"}", "application/json");
    };
    EXPECT_EQ(collect(id, gateway_).status, 403) << "the counter's role only";
    EXPECT_EQ(collect(person(8), counter_).status, 409) << "another person's ID";
    const auto ok = collect(id, counter_);
    EXPECT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(json(ok.body)->getValue<std::string>("state"), "collected");
    EXPECT_EQ(collect(id, counter_).status, 409) << "already collected";
    EXPECT_EQ(engine_
                  ->request("POST", "/api/v1/pickups/000000x/collect", counter_, R"({"debtor_id":")" + id + "\"}",
                            "application/json")
                  .status,
              404);

    // Another pickup, past its deadline.
    const auto from2 = msisdn();
    const auto id2 = person(9);
    ASSERT_EQ(send(from2, "1 " + id2 + " " + last4(id2), "expire-" + from2).status, 202);
    const auto code2 = codeIn(waitSent(from2, 1).at(0).text);
    setPickup(code2, "deadline_at = 1");
    const auto late = engine_->request("POST", "/api/v1/pickups/" + code2 + "/collect", counter_,
                                       R"({"debtor_id":")" + id2 + "\"}", "application/json");
    EXPECT_EQ(late.status, 410) << late.body;
}

TEST_F(SmsApiTest, TheReminderGoesOutOnTheDeadlineDay) {
    const auto from = msisdn();
    const auto id = person(10);
    ASSERT_EQ(send(from, "2 " + id + " " + last4(id), "remind-" + from).status, 202);
    const auto code = codeIn(waitSent(from, 1).at(0).text);
    setPickup(code, "remind_at = 1");  // as if it were 09:00 on the deadline day
    const auto sent = waitSent(from, 2);
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_EQ(sent[1].notificationId.rfind("r-", 0), 0u);
    EXPECT_EQ(codeIn(sent[1].text), code);
    std::this_thread::sleep_for(std::chrono::seconds(3));
    EXPECT_EQ(sentTo(from).size(), 2u) << "one reminder";
}

TEST_F(SmsApiTest, TheRequestIdIsCarriedFromHttpThroughKafkaIntoTheJobsLogLines) {
    const auto from = msisdn();
    const auto id = person(11);
    const std::string requestId = "trace-" + from;
    const auto accepted = engine_->request("POST", "/api/v1/sms/inbound", gateway_,
                                           R"({"msisdn":")" + from + R"(","text":"1 )" + id + " " + last4(id) +
                                               R"(","gateway_msg_id":"trace-)" + from + "\"}",
                                           "application/json", requestId);
    ASSERT_EQ(accepted.status, 202);
    waitSent(from, 1);
    // The sender logs after the gateway has the message: wait for its line, bounded.
    const std::set<std::string> expected{"http", "sms", "sender"};
    std::set<std::string> sources;
    std::vector<std::string> lines;
    taxdesk::testing::eventually([&] {
        sources.clear();
        lines.clear();
        std::ifstream in(engine_->logFile());
        for (std::string line; std::getline(in, line);) {
            if (line.find("request_id=" + requestId) == std::string::npos) continue;
            const auto at = line.find("source=");
            sources.insert(line.substr(at + 7, line.find(' ', at) - at - 7));
            lines.push_back(line);
        }
        return std::includes(sources.begin(), sources.end(), expected.begin(), expected.end());
    });
    for (const auto& line : lines) EXPECT_EQ(line.find(id), std::string::npos) << "no whole ID in a log line";
    EXPECT_EQ(sources, (std::set<std::string>{"http", "sms", "sender"}))
        << "HTTP → sms.inbound → notifications.outbound";
}

TEST_F(SmsApiTest, BadInboundRequestsNameWhatIsWrong) {
    EXPECT_EQ(send("12345", "1 A123456789 1234", "bad-msisdn").status, 400);
    EXPECT_EQ(send("0912345678", "1 A123456789 1234", "").status, 400);
    EXPECT_EQ(engine_->request("POST", "/api/v1/sms/inbound", gateway_, "not json", "application/json").status, 400);
    EXPECT_EQ(engine_->request("POST", "/api/v1/sms/inbound", counter_, "{}", "application/json").status, 403);
    EXPECT_EQ(engine_->request("POST", "/api/v1/sms/inbound", "", "{}", "application/json").status, 401);
    const auto plus = send("+886912000111", "?", "plus-form");
    EXPECT_EQ(plus.status, 202) << "+8869… is stored in the 09… form";
    EXPECT_EQ(waitSent("0912000111", 1).size(), 1u);
}

// ---- issue 9, finding 13: an inbound SMS is stored (the inbox) before the 202, and a sweeper re-drives it ----

TEST_F(SmsApiTest, AnAcceptedMessageIsInTheInboxUntilDoneAndARepeatIsOneRow) {
    const auto from = msisdn();
    const std::string gmid = "inbox-" + from;
    ASSERT_EQ(send(from, "?", gmid).status, 202);
    EXPECT_EQ(inboxRow(gmid).rows, 1) << "stored before the 202";
    ASSERT_EQ(waitSent(from, 1).size(), 1u);
    EXPECT_TRUE(taxdesk::testing::eventually([&] { return inboxRow(gmid).state == "done"; }))
        << "done with its outcome: " << inboxRow(gmid).state;
    EXPECT_EQ(inboxRow(gmid).attempts, 1) << "the API's produce only";

    // The gateway sends it again, alone and within a batch: one row, still done, still one reply.
    ASSERT_EQ(send(from, "?", gmid).status, 202);
    const std::string batch = R"({"messages":[{"msisdn":")" + from + R"(","text":"?","gateway_msg_id":")" + gmid +
                              R"("},{"msisdn":")" + from + R"(","text":"?","gateway_msg_id":")" + gmid + R"("}]})";
    const auto both = engine_->request("POST", "/api/v1/sms/inbound", gateway_, batch, "application/json");
    ASSERT_EQ(both.status, 202) << both.body;
    const auto row = inboxRow(gmid);
    EXPECT_EQ(row.rows, 1);
    EXPECT_EQ(row.state, "done");
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_EQ(sentTo(from).size(), 1u);
}

TEST_F(SmsApiTest, AMessageWhoseProduceWasLostGetsItsOneReplyFromTheInboxSweep) {
    const auto from = msisdn();
    const auto id = person(7);
    const std::string gmid = "lost-" + from;
    // Stored as the API stores it, and never produced (the broker lost it, or the engine died before producing):
    // last touched long ago, so the next sweep (every second here) finds it.
    taxdesk::connectors::StoreSettings settings;
    settings.sqlitePath = engine_->varDir() + "/taxdesk.db";
    taxdesk::connectors::Store store(settings);
    taxdesk::connectors::InboxRecord row;
    row.gatewayMsgId = gmid;
    row.message = R"({"msisdn":")" + from + R"(","text":"1 )" + id + " " + last4(id) + R"(","gateway_msg_id":")" +
                  gmid + R"(","received_at":")" + receivedNow() + R"("})";
    row.attempts = 1;
    row.receivedAt = row.updatedAt = "2020-01-01T00:00:00.000Z";
    const double before = metric("taxdesk_sms_inbox_redrives_total");
    ASSERT_EQ(store.enqueueInbox({row}).at(0).state, "queued");

    const auto sent = waitSent(from, 1);
    ASSERT_EQ(sent.size(), 1u) << "the sweep produced it and it was answered";
    EXPECT_EQ(codeIn(sent[0].text).size(), 6u) << sent[0].text;
    EXPECT_TRUE(taxdesk::testing::eventually([&] { return store.findInbox(gmid)->state == "done"; }));
    EXPECT_GE(store.findInbox(gmid)->attempts, 2) << "the lost produce and the sweep's";
    // Counted once the broker acknowledged the re-drive: by now, but on the scheduler's thread.
    EXPECT_TRUE(taxdesk::testing::eventually([&] { return metric("taxdesk_sms_inbox_redrives_total") >= before + 1; }))
        << metric("taxdesk_sms_inbox_redrives_total") << " re-drives, " << before << " before";
    // Done: not re-driven again (the sweep runs every second), and the one reply stays one.
    const int attempts = store.findInbox(gmid)->attempts;
    std::this_thread::sleep_for(std::chrono::seconds(3));
    EXPECT_EQ(sentTo(from).size(), 1u) << "exactly one reply";
    EXPECT_EQ(store.findInbox(gmid)->attempts, attempts) << "a done row is not re-driven";
}

TEST_F(SmsApiTest, AStoreThatCannotWriteIsAnswered503WithRetryAfterAndTheRetryIsAnsweredOnce) {
    const auto from = msisdn();
    const std::string gmid = "refused-" + from;
    // The store refuses this message's inbox row (as a full disk or a lost database would refuse every write).
    const std::string trigger = "refuse_" + std::to_string(::getpid());
    execute("CREATE TRIGGER " + trigger + " BEFORE INSERT ON sms_inbox WHEN NEW.gateway_msg_id = '" + gmid +
            "' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
    const auto refused = send(from, "?", gmid);
    execute("DROP TRIGGER " + trigger);
    EXPECT_EQ(refused.status, 503) << refused.body;
    EXPECT_EQ(refused.retryAfter, "5");
    EXPECT_NE(refused.body.find("not_stored"), std::string::npos) << refused.body;
    EXPECT_EQ(inboxRow(gmid).rows, 0);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    EXPECT_TRUE(sentTo(from).empty()) << "not stored, not produced: nothing answered";

    // The gateway tries again once the store writes: accepted and answered once.
    ASSERT_EQ(send(from, "?", gmid).status, 202);
    EXPECT_EQ(waitSent(from, 1).size(), 1u);
    EXPECT_EQ(inboxRow(gmid).rows, 1);
}

}  // namespace

// Issue 9, finding 12: with Redis away the engine used to exit at the first application (an outcome the store did
// not know stopped the pipeline). Now every application gets "try later" and the engine stays up.
TEST(SmsWithoutRedisTest, ApplicationsGetTryLaterAndTheEngineStaysUp) {
    ServeProcess engine({"redis.port=1"}, false);  // nobody listens on port 1
    const std::string gateway = engine.createToken("gateway");
    const auto id = taxdesk::demo_data::Population(kSeed).nationalIdAt(500000 + 6);
    const auto last4 = taxdesk::demo_data::Population(kSeed).nhiCardNumber(id).substr(8);
    const std::string from = "0987" + std::to_string(100000 + ::getpid() % 900000);
    for (int i = 1; i <= 2; ++i) {
        const std::string body = R"({"msisdn":")" + from + R"(","text":"1 )" + id + " " + last4 +
                                 R"(","gateway_msg_id":"noredis-)" + engine.prefix() + std::to_string(i) + R"("})";
        ASSERT_EQ(engine.request("POST", "/api/v1/sms/inbound", gateway, body, "application/json").status, 202);
    }
    std::vector<std::string> texts;
    taxdesk::testing::eventually(
        [&] {
            texts.clear();
            std::ifstream in(engine.varDir() + "/sms-sent.jsonl");
            for (std::string line; std::getline(in, line);) {
                const auto object = json(line);
                if (object->getValue<std::string>("msisdn") == from)
                    texts.push_back(object->getValue<std::string>("text"));
            }
            return texts.size() >= 2;
        },
        std::chrono::seconds(30));
    ASSERT_EQ(texts.size(), 2u) << "one reply for each application";
    for (const auto& text : texts)
        EXPECT_NE(text.find("系統忙碌，暫時無法受理，請稍後再試"), std::string::npos) << text;
    EXPECT_EQ(engine.request("GET", "/healthz").status, 200) << "the engine is still up";
    const auto ready = engine.request("GET", "/readyz");
    EXPECT_EQ(ready.body.find("pipeline stopped"), std::string::npos) << ready.body;
}
