// The embedded broker SIGKILLed in the middle of a paid batch and of a stream of SMS applications, and started again
// on the same address (broker.port) with nothing: no messages, no committed offsets, no groups. The engine is not
// restarted: it must follow the broker by itself — readiness goes away and comes back, the store-driven dispatcher
// sends again what the broker lost, every row is done once, the fee charged once, applications sent after the
// restart answered once.
//
// This test starts a broker of its own on a free fixed port; the broker scripts/test started is left alone (other
// tests use it).
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Pipe.h>
#include <Poco/PipeStream.h>
#include <Poco/Process.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "connectors/stubs/demo_data/batch_generator.hpp"
#include "connectors/stubs/demo_data/population.hpp"
#include "fixtures/fault_report.hpp"
#include "fixtures/serve_process.hpp"
#include "fixtures/test_env.hpp"

using taxdesk::testing::ServeProcess;

namespace {

using Clock = std::chrono::steady_clock;

Poco::JSON::Object::Ptr json(const std::string& text) {
    return Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
}

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

/// `taxdesk broker` on a fixed port, with the SPEC topics of one prefix.
class BrokerProcess {
  public:
    BrokerProcess(int port, std::string prefix)
        : port_(port), prefix_(std::move(prefix)), varDir_(taxdesk::testing::tempDir("broker")) {
        start();
    }
    ~BrokerProcess() { stop(SIGTERM); }
    BrokerProcess(const BrokerProcess&) = delete;
    BrokerProcess& operator=(const BrokerProcess&) = delete;

    void start() {
        process_ = std::make_unique<Poco::ProcessHandle>(Poco::Process::launch(
            TAXDESK_BINARY,
            {"--set", "app.var_dir=" + varDir_, "--set", "app.log_level=warning", "--set",
             "broker.port=" + std::to_string(port_), "--set", "kafka.topic_prefix=" + prefix_, "broker"}));
        // Listening is not enough: the topics are created after; the bootstrap file is written last.
        if (!taxdesk::testing::eventually(
                [&] { return taxdesk::testing::accepts(port_) && std::ifstream(varDir_ + "/kafka-bootstrap").good(); },
                std::chrono::seconds(20)))
            throw std::runtime_error("taxdesk broker did not start on port " + std::to_string(port_));
    }
    void kill() { stop(SIGKILL); }

  private:
    void stop(int signal) {
        if (!process_) return;
        ::kill(process_->id(), signal);
        process_->wait();
        process_.reset();
        if (signal == SIGKILL) std::remove((varDir_ + "/kafka-bootstrap").c_str());  // as a dead broker leaves it
    }

    int port_;
    std::string prefix_;
    std::string varDir_;
    std::unique_ptr<Poco::ProcessHandle> process_;
};

/// One POST of `count` applications from msisdns 0966<first…>; retried while the engine answers 503 (the broker is
/// away), as the gateway does on Retry-After.
void sendApplications(const ServeProcess& engine, const std::string& gateway,
                      const taxdesk::demo_data::Population& population, int first, int count) {
    std::string messages = R"({"messages":[)";
    for (int i = first; i < first + count; ++i) {
        const auto person = population.nationalIdAt(800000 + static_cast<std::uint64_t>(i));
        if (i != first) messages += ",";
        messages += R"({"msisdn":"09661)" + std::to_string(10000 + i) + R"(","text":"1 )" + person + " " +
                    population.nhiCardNumber(person).substr(8) + R"(","gateway_msg_id":"brk-)" + std::to_string(i) +
                    "\"}";
    }
    messages += "]}";
    int status = 0;
    ASSERT_TRUE(taxdesk::testing::eventually(
        [&] {
            status = engine.request("POST", "/api/v1/sms/inbound", gateway, messages, "application/json").status;
            return status == 202;
        },
        std::chrono::seconds(60)))
        << "POST /api/v1/sms/inbound answered " << status;
}

/// Replies recorded by the SMS stub, by msisdn.
std::map<std::string, int> repliesByMsisdn(const std::string& varDir) {
    std::map<std::string, int> replies;
    std::ifstream in(varDir + "/sms-sent.jsonl");
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) ++replies[json(line)->getValue<std::string>("msisdn")];
    return replies;
}

long long chargedByProvider(const std::string& varDir) {
    long long total = 0;
    std::ifstream in(varDir + "/payment-charges.jsonl");
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) total += json(line)->getValue<long long>("amount");
    return total;
}

std::string msisdnOf(int i) {
    return "09661" + std::to_string(10000 + i);
}

}  // namespace

TEST(BrokerRestart, TheEngineFollowsABrokerRestartedOnTheSameAddress) {
    constexpr int kRows = 20000;
    constexpr int kBefore = 100;  // applications sent before the kill
    constexpr int kAfter = 100;   // and after the restart
    const int port = taxdesk::testing::freePort();
    const std::string prefix = taxdesk::testing::uniqueName("brk") + ".";
    BrokerProcess broker(port, prefix);
    ServeProcess engine({"kafka.bootstrap=127.0.0.1:" + std::to_string(port), "kafka.topic_prefix=" + prefix,
                         "payment.stub_balance=100000000", "stubs.latency_ms=1", "pipeline.batch_size=200",
                         // A small prefetch, so that rows the dispatcher sent are still in the broker when it dies
                         // (lost with it), not all in the engine's memory: the dispatcher must send them again.
                         "kafka.rdkafka.queued.min.messages=500",
                         // Inbound SMS and replies the broker lost are produced again from the store (the inbox and
                         // the notifications outbox) by the scheduler: sooner than the defaults, for a short test.
                         "sms.scheduler_interval_s=1", "sms.inbox_requeue_after_s=5", "sms.requeue_after_s=5"});
    const auto creditor = engine.createToken("creditor", "C1");
    const auto gateway = engine.createToken("gateway");

    taxdesk::demo_data::BatchGenOptions options;
    options.rows = kRows;
    options.badFraction = 0.01;
    std::ostringstream file;
    (void)taxdesk::demo_data::writeBatchCsv(file, options);
    const auto uploaded = engine.request("POST", "/api/v1/batches", creditor, file.str(), "text/csv");
    ASSERT_EQ(uploaded.status, 201) << uploaded.body;
    const auto id = json(uploaded.body)->getValue<std::string>("batch_id");
    const auto fee = json(uploaded.body)->getValue<long long>("fee_total");
    const std::string payment = R"({"method":"easycard","card_id":"EC-9","idempotency_key":"brk-)" + id + "\"}";
    ASSERT_EQ(engine.request("POST", "/api/v1/batches/" + id + "/payment", creditor, payment).status, 201);

    const taxdesk::demo_data::Population population(20261201);
    sendApplications(engine, gateway, population, 0, kBefore / 2);

    auto rowsDone = [&] {
        return json(engine.request("GET", "/api/v1/batches/" + id, creditor).body)->getValue<int>("rows_done");
    };
    int doneAtKill = 0;
    ASSERT_TRUE(taxdesk::testing::eventually(
        [&] {
            doneAtKill = rowsDone();
            return doneAtKill > kRows / 10;
        },
        std::chrono::seconds(120)));
    // The rest just before the kill: accepted (202, in the inbox) and perhaps still only in the broker when it dies.
    sendApplications(engine, gateway, population, kBefore / 2, kBefore - kBefore / 2);
    broker.kill();
    ASSERT_LT(doneAtKill, kRows) << "the batch finished before the kill: the test proves nothing";

    // While the broker is away the engine says it is not ready.
    EXPECT_TRUE(taxdesk::testing::eventually([&] { return engine.request("GET", "/readyz").status == 503; },
                                             std::chrono::seconds(30)))
        << "/readyz still 200 with the broker gone";
    std::this_thread::sleep_for(std::chrono::seconds(2));  // away a while, as a real outage is

    broker.start();
    const auto restarted = Clock::now();
    const int doneAtRestart = rowsDone();
    ASSERT_TRUE(taxdesk::testing::eventually([&] { return engine.request("GET", "/readyz").status == 200; },
                                             std::chrono::seconds(120)))
        << "/readyz did not come back: " << engine.request("GET", "/readyz").body;
    const double readyAfter = secondsSince(restarted);
    ASSERT_TRUE(taxdesk::testing::eventually([&] { return rowsDone() > doneAtRestart; }, std::chrono::seconds(120)))
        << "the batch did not move after the broker came back";
    const double movingAfter = secondsSince(restarted);

    sendApplications(engine, gateway, population, kBefore, kAfter);

    Poco::JSON::Object::Ptr status;
    ASSERT_TRUE(taxdesk::testing::eventually(
        [&] {
            status = json(engine.request("GET", "/api/v1/batches/" + id, creditor).body);
            return status->getValue<std::string>("state") == "completed";
        },
        std::chrono::seconds(300)))
        << "batch state " << status->getValue<std::string>("state") << ", rows_done "
        << status->getValue<int>("rows_done");
    const double completedAfter = secondsSince(restarted);
    EXPECT_EQ(status->getValue<int>("rows_done"), kRows);

    // Every row once, in row order.
    const auto results = engine.request("GET", "/api/v1/batches/" + id + "/results?format=json", creditor);
    const auto array = Poco::JSON::Parser().parse(results.body).extract<Poco::JSON::Array::Ptr>();
    std::map<int, int> seen;
    bool inOrder = true;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const int row = array->getObject(i)->getValue<int>("row");
        ++seen[row];
        inOrder = inOrder && row == static_cast<int>(i) + 1;
    }
    long long duplicatedRows = 0;
    for (const auto& [row, count] : seen) duplicatedRows += count - 1;
    const long long lostRows = kRows - static_cast<long long>(seen.size());
    EXPECT_EQ(array->size(), static_cast<std::size_t>(kRows));
    EXPECT_TRUE(inOrder) << "results out of row order";

    // The fee charged once: the ledger (paying again with the same key answers what was paid) and the provider.
    const auto again = json(engine.request("POST", "/api/v1/batches/" + id + "/payment", creditor, payment).body);
    const long long ledger = again->getValue<long long>("amount");
    EXPECT_EQ(ledger, fee);
    long long charged = 0;
    EXPECT_TRUE(taxdesk::testing::eventually([&] { return (charged = chargedByProvider(engine.varDir())) == fee; }))
        << "the provider charged NT$" << charged << " for a fee of NT$" << fee;

    // Every application, sent before the kill or after the restart: exactly one reply each (waited for; a second one
    // would be a duplicate). Those the broker lost are in the store's inbox, produced again by the scheduler.
    std::map<std::string, int> replies;
    auto answeredAfter = [&] {
        int answered = 0;
        for (int i = kBefore; i < kBefore + kAfter; ++i) answered += replies.count(msisdnOf(i)) ? 1 : 0;
        return answered;
    };
    auto answeredAll = [&] {
        int answered = 0;
        for (int i = 0; i < kBefore + kAfter; ++i) answered += replies.count(msisdnOf(i)) ? 1 : 0;
        return answered;
    };
    EXPECT_TRUE(taxdesk::testing::eventually(
        [&] {
            replies = repliesByMsisdn(engine.varDir());
            return answeredAll() == kBefore + kAfter;
        },
        std::chrono::seconds(120)));
    // Then longer than a sweep (sms.requeue_after_s=5, every second): a re-drive's second reply would show by now.
    std::this_thread::sleep_for(std::chrono::seconds(8));
    replies = repliesByMsisdn(engine.varDir());
    long long duplicatedReplies = 0;
    long long lostBefore = 0;
    long long totalReplies = 0;
    for (int i = 0; i < kBefore + kAfter; ++i) {
        const auto found = replies.find(msisdnOf(i));
        const int count = found == replies.end() ? 0 : found->second;
        totalReplies += count;
        duplicatedReplies += std::max(0, count - 1);
        if (i < kBefore && count == 0) ++lostBefore;
    }
    const long long lostAfter = kAfter - answeredAfter();
    EXPECT_EQ(lostAfter, 0) << "applications sent after the restart without a reply";
    EXPECT_EQ(duplicatedReplies, 0) << "applications answered twice";
    EXPECT_EQ(lostBefore, 0) << "applications accepted (202) before the kill without a reply";

    taxdesk::testing::FaultFigures figures;
    figures.name = "broker_restart";
    figures.sent = kRows + kBefore + kAfter;
    figures.done = static_cast<long long>(seen.size()) + (kBefore - lostBefore) + (kAfter - lostAfter);
    figures.lost = lostRows + lostBefore + lostAfter;
    figures.duplicated = duplicatedRows + duplicatedReplies;
    figures.charged = charged;
    figures.ledger = ledger;
    figures.replies = totalReplies;
    std::ostringstream more;
    more << std::fixed << std::setprecision(1) << "rows_at_kill=" << doneAtKill << " lost_before_kill=" << lostBefore
         << " ready_after_s=" << readyAfter << " moving_after_s=" << movingAfter
         << " completed_after_s=" << completedAfter;
    figures.more = more.str();
    taxdesk::testing::reportFault(figures);
    EXPECT_EQ(figures.lost, 0);
    EXPECT_EQ(figures.duplicated, 0);
}

TEST(BrokerRestart, ASecondBrokerOnAPortInUseSaysSoAndExits) {
    const int port = taxdesk::testing::freePort();
    BrokerProcess broker(port, taxdesk::testing::uniqueName("brk") + ".");
    Poco::Pipe errors;
    auto second = Poco::Process::launch(TAXDESK_BINARY,
                                        {"--set", "app.var_dir=" + taxdesk::testing::tempDir("broker2"), "--set",
                                         "broker.port=" + std::to_string(port), "broker"},
                                        nullptr, nullptr, &errors);
    Poco::PipeInputStream stream(errors);
    std::string text;
    Poco::StreamCopier::copyToString(stream, text);
    EXPECT_EQ(second.wait(), 1);
    EXPECT_NE(text.find("taxdesk broker: kafka: cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos)
        << text;
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << "one line: " << text;
}
