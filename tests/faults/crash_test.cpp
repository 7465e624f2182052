// Nothing lost, nothing twice: the engine is killed with SIGKILL in the middle of a paid batch and of a stream of
// SMS applications, started again on the same store, topics and group, and everything finishes exactly once.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "connectors/population/batch_generator.hpp"
#include "connectors/population/population.hpp"
#include "fixtures/serve_process.hpp"

using taxdesk::testing::ServeProcess;

namespace {

Poco::JSON::Object::Ptr json(const std::string& text) {
    return Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
}

}  // namespace

TEST(Crash, AKilledEngineLosesNothingAndDoesNothingTwice) {
    // A slow registry, so that the kill lands mid-batch.
    ServeProcess engine({"payment.stub_balance=100000000", "stubs.latency_ms=2", "pipeline.batch_size=200"});
    const auto creditor = engine.createToken("creditor", "C1");
    const auto gateway = engine.createToken("gateway");

    taxdesk::connectors::BatchGenOptions options;
    options.rows = 4000;
    options.badFraction = 0.01;
    std::ostringstream file;
    const auto report = taxdesk::connectors::writeBatchCsv(file, options);
    const auto uploaded = engine.request("POST", "/api/v1/batches", creditor, file.str(), "text/csv");
    ASSERT_EQ(uploaded.status, 201) << uploaded.body;
    const auto id = json(uploaded.body)->getValue<std::string>("batch_id");
    const auto fee = json(uploaded.body)->getValue<long long>("fee_total");
    ASSERT_EQ(engine
                  .request("POST", "/api/v1/batches/" + id + "/payment", creditor,
                           R"({"method":"easycard","card_id":"EC-9","idempotency_key":"crash-)" + id + "\"}")
                  .status,
              201);

    // SMS applications: each must get exactly one reply, across the crash.
    const taxdesk::connectors::Population population(20261126);
    std::string messages = R"({"messages":[)";
    for (int i = 0; i < 200; ++i) {
        const auto person = population.nationalIdAt(700000 + static_cast<std::uint64_t>(i));
        if (i) messages += ",";
        messages += R"({"msisdn":"09660)" + std::to_string(10000 + i) + R"(","text":"1 )" + person + " " +
                    population.nhiCardNumber(person).substr(8) + R"(","gateway_msg_id":"crash-)" + std::to_string(i) +
                    "\"}";
    }
    messages += "]}";
    ASSERT_EQ(engine.request("POST", "/api/v1/sms/inbound", gateway, messages, "application/json").status, 202);

    // Kill it once some, not all, of the batch is done.
    const auto waitUntil = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    int done = 0;
    while (std::chrono::steady_clock::now() < waitUntil) {
        done = json(engine.request("GET", "/api/v1/batches/" + id, creditor).body)->getValue<int>("rows_done");
        if (done > 400) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    engine.killHard();
    ASSERT_LT(done, 4000) << "the batch finished before the kill: the test proves nothing";

    engine.start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
    Poco::JSON::Object::Ptr status;
    while (std::chrono::steady_clock::now() < deadline) {
        status = json(engine.request("GET", "/api/v1/batches/" + id, creditor).body);
        if (status->getValue<std::string>("state") == "completed") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    ASSERT_EQ(status->getValue<std::string>("state"), "completed");
    EXPECT_EQ(status->getValue<int>("rows_done"), 4000);

    // Every row once, in order, with the status the population implies; the fee charged once.
    const auto results = engine.request("GET", "/api/v1/batches/" + id + "/results?format=json", creditor);
    const auto array = Poco::JSON::Parser().parse(results.body).extract<Poco::JSON::Array::Ptr>();
    ASSERT_EQ(array->size(), 4000u);
    for (std::size_t i = 0; i < array->size(); ++i) ASSERT_EQ(array->getObject(i)->getValue<int>("row"), int(i) + 1);
    const auto again =
        json(engine
                 .request("POST", "/api/v1/batches/" + id + "/payment", creditor,
                          R"({"method":"easycard","card_id":"EC-9","idempotency_key":"crash-)" + id + "\"}")
                 .body);
    EXPECT_EQ(again->getValue<long long>("amount"), fee);

    // Each SMS got exactly one reply: no application lost, none answered twice.
    const auto smsDeadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::multiset<std::string> replied;
    while (std::chrono::steady_clock::now() < smsDeadline) {
        replied.clear();
        std::ifstream in(engine.varDir() + "/sms-sent.jsonl");
        for (std::string line; std::getline(in, line);)
            replied.insert(json(line)->getValue<std::string>("notification_id"));
        if (replied.size() >= 200) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    std::set<std::string> unique(replied.begin(), replied.end());
    EXPECT_EQ(unique.size(), 200u) << "every application answered";
    // The stub's record lives in the engine's process: after the restart it is a new stub, so an answer sent again
    // for a reply whose send was not recorded before the kill would show as a second line here.
    EXPECT_EQ(replied.size(), unique.size()) << "an application answered twice";
}
