// Redis killed mid-run and started again (empty: no persistence) on the same port: the engine, never restarted,
// becomes ready again by itself; the paid batch completes exactly once and every SMS application gets exactly one
// reply ("try later" for those hit during the outage is fine: SPEC 4.1). The engine has a redis-server of its own
// (the one scripts/test started is shared with other tests and stays up).
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "connectors/store/store.hpp"
#include "faults/fault_client.hpp"

using taxdesk::testing::RedisServer;
using taxdesk::testing::ServeProcess;
using taxdesk::testing::StubsProcess;
using namespace taxdesk::testing::faults;

namespace {

/// Whether the process runs (not gone, not a zombie waiting to be reaped).
bool running(int pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (pid <= 0 || !std::getline(stat, line)) return false;
    const auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

/// Applications by outcome in the engine's store ("unavailable": answered "try later").
std::map<std::string, int> outcomes(const std::string& sqlitePath) {
    Poco::Data::SQLite::Connector::registerConnector();
    Poco::Data::Session session("SQLite", sqlitePath);
    session << "PRAGMA busy_timeout=5000", Poco::Data::Keywords::now;
    std::vector<std::string> names;
    std::vector<int> counts;
    session << "SELECT outcome, COUNT(*) FROM sms_inbound GROUP BY outcome", Poco::Data::Keywords::into(names),
        Poco::Data::Keywords::into(counts), Poco::Data::Keywords::now;
    std::map<std::string, int> result;
    for (std::size_t i = 0; i < names.size(); ++i) result[names[i]] = counts[i];
    return result;
}

}  // namespace

TEST(RedisRestart, TheEngineRecoversByItselfAndNothingIsLostOrDoneTwice) {
    constexpr std::size_t kRows = 20000;
    constexpr int kApplications = 400;
    RedisServer redis;
    StubsProcess stubs({"payment.stub_balance=100000000000"});
    auto sets = stubs.connectorSets();
    sets.insert(sets.end(), {"redis.port=" + std::to_string(redis.port()), "pipeline.batch_size=500"});
    for (const auto& set : quickSweeps()) sets.push_back(set);
    for (const auto& set : measuringSets()) sets.push_back(set);
    ServeProcess engine(sets);
    const int pid = engine.pid();
    const auto creditor = engine.createToken("creditor", "C1");
    const auto gateway = engine.createToken("gateway");

    const auto batch = uploadBatch(engine, creditor, kRows);
    const auto paid = engine.request("POST", "/api/v1/batches/" + batch.id + "/payment", creditor,
                                     payBody("EC-7", "redis-" + batch.id), "application/json");
    ASSERT_EQ(paid.status, 201) << paid.body;

    // The gateway: applications in requests of 50 every 750 ms, before, during and after the outage.
    std::atomic<bool> smsFailed{false};
    std::atomic<int> smsRetries{0};
    std::thread gatewayThread([&] {
        for (const auto& body : smsBodies(0, kApplications, 50, "redis")) {
            const int tries = sendSmsUntilAccepted(engine, gateway, body, std::chrono::seconds(120));
            if (tries < 0) smsFailed = true;
            smsRetries += std::max(0, tries - 1);
            std::this_thread::sleep_for(std::chrono::milliseconds(750));
        }
    });

    EXPECT_TRUE(taxdesk::testing::eventually([&] { return rowsDone(engine, creditor, batch.id) > 2000; },
                                             std::chrono::seconds(120)));
    const auto atKill = rowsDone(engine, creditor, batch.id);
    redis.kill();
    const auto killed = Clock::now();
    // Redis stays away 4 s; readiness must say so (503) while it is away.
    bool unreadyDuringOutage = false;
    while (secondsSince(killed) < 4) {
        if (tryRequest(engine, "GET", "/readyz", "").status == 503) unreadyDuringOutage = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    EXPECT_TRUE(running(pid)) << "the engine exited while Redis was away";
    redis.start();
    const auto back = Clock::now();
    EXPECT_TRUE(taxdesk::testing::eventually([&] { return tryRequest(engine, "GET", "/readyz", "").status == 200; },
                                             std::chrono::seconds(60)))
        << "the engine did not become ready again after Redis came back";
    const double readyAgain = secondsSince(back);
    EXPECT_TRUE(unreadyDuringOutage) << "/readyz said 200 while Redis was away";
    EXPECT_EQ(engine.pid(), pid);
    EXPECT_TRUE(running(pid)) << "the engine was not restarted by the test: it must have recovered by itself";

    gatewayThread.join();
    EXPECT_FALSE(smsFailed) << "an SMS request was never accepted";
    EXPECT_EQ(waitCompleted(engine, creditor, batch.id, std::chrono::seconds(240)), "completed");
    const auto check = checkRows(engine, creditor, batch);
    EXPECT_EQ(check.done, static_cast<long long>(kRows));
    EXPECT_EQ(check.lost, 0);
    EXPECT_EQ(check.duplicated, 0);
    EXPECT_TRUE(check.inOrder);

    taxdesk::connectors::StoreSettings storeSettings;
    storeSettings.sqlitePath = engine.varDir() + "/taxdesk.db";
    taxdesk::connectors::Store store(storeSettings);
    const long long ledger = store.payments().paidTotal(batch.id);
    const long long charges = charged(stubs);
    EXPECT_EQ(charges, batch.fee);
    EXPECT_EQ(ledger, batch.fee);

    const auto replies = waitReplies(stubs, kApplications, std::chrono::seconds(120));
    EXPECT_EQ(replies.replies, kApplications);
    EXPECT_EQ(replies.duplicated, 0);

    const auto byOutcome = outcomes(storeSettings.sqlitePath);
    std::ostringstream more;
    more << std::fixed << std::setprecision(1) << "redis_down_s=4 killed_at_rows=" << atKill
         << " try_later=" << (byOutcome.count("unavailable") ? byOutcome.at("unavailable") : 0)
         << " ready_again_s=" << readyAgain << " engine_restarts=0 sms_retries=" << smsRetries.load();
    taxdesk::testing::reportFault({"redis restart", static_cast<long long>(kRows) + kApplications,
                                   check.done + replies.replies, check.lost + (kApplications - replies.replies),
                                   check.duplicated + replies.duplicated, charges, ledger, replies.replies,
                                   more.str()});
}
