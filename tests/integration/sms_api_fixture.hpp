#pragma once
// The fixture of the SMS path over real HTTP (sms_api_test, sms_delivery_test): `taxdesk serve` as a process against
// the broker and redis-server that scripts/test started; the gateway stub records what it sends in
// <var>/sms-sent.jsonl, which the tests read.
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

inline Poco::JSON::Object::Ptr json(const std::string& text) {
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

}  // namespace
