// Nothing lost, nothing twice: the engine is SIGKILLed five times at random (seeded) moments during a paid
// 50,000-row batch, a second batch being paid and a stream of 1,000 SMS applications, started again each time on the
// same store, topics and group, and everything finishes exactly once. The connectors run as `taxdesk stubs` in a
// process of their own, so the provider's record of charges and of sent SMS outlives every engine.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "connectors/store/store.hpp"
#include "faults/fault_client.hpp"

using taxdesk::testing::HttpResult;
using taxdesk::testing::ServeProcess;
using taxdesk::testing::StubsProcess;
using namespace taxdesk::testing::faults;

namespace {

std::string joined(const std::vector<double>& values) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(1);
    for (std::size_t i = 0; i < values.size(); ++i) out << (i ? "/" : "") << values[i];
    return out.str();
}

}  // namespace

TEST(Crash, FiveKillsDuringAPaidBatchPaymentsAndSmsLoseNothingAndDoNothingTwice) {
    const auto seed = faultSeed();
    std::cout << "[fault] crash: seed=" << seed << " (TAXDESK_TEST_FAULT_SEED=" << seed << " replays the kill moments)"
              << std::endl;
    std::mt19937_64 random(seed);
    const std::size_t rows = envSize("TAXDESK_TEST_FAULT_ROWS", 50000);
    const int kills = static_cast<int>(envSize("TAXDESK_TEST_FAULT_KILLS", 5));
    constexpr int kApplications = 1000;

    // A payment lease of 15 s (the least the defaults allow): a payment in flight when its engine died is taken
    // over by the client's retry after that long at most.
    // Each connector call takes 5 ms (about 3,000 rows/s): the batch takes longer than the engine's ~11 s restarts and
    // every kill lands mid-batch (without it a restarted engine once ran from row 14,000 to 46,000 between two looks).
    StubsProcess stubs({"payment.stub_balance=100000000000", "stubs.latency_ms=5"});
    auto sets = stubs.connectorSets();
    sets.insert(sets.end(), {"payment.lease_s=15", "pipeline.batch_size=500"});
    for (const auto& set : quickSweeps()) sets.push_back(set);
    for (const auto& set : measuringSets()) sets.push_back(set);
    ServeProcess engine(sets);
    const auto creditor = engine.createToken("creditor", "C1");
    const auto gateway = engine.createToken("gateway");

    const auto batch = uploadBatch(engine, creditor, rows);
    const auto paid = engine.request("POST", "/api/v1/batches/" + batch.id + "/payment", creditor,
                                     payBody("EC-7", "crash-" + batch.id), "application/json");
    ASSERT_EQ(paid.status, 201) << paid.body;
    const auto second = uploadBatch(engine, creditor, 2000);

    // The gateway: 1,000 applications in requests of 50, one request every 1.5 s (across the kills), each sent again
    // until accepted.
    std::atomic<bool> smsFailed{false};
    std::atomic<int> smsRetries{0};
    std::thread gatewayThread([&] {
        for (const auto& body : smsBodies(0, kApplications, 50, "crash")) {
            const int tries = sendSmsUntilAccepted(engine, gateway, body, std::chrono::seconds(120));
            if (tries < 0) smsFailed = true;
            smsRetries += std::max(0, tries - 1);
            std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        }
    });

    // The second batch is paid while the kills happen: the kill after it starts lands within 30 ms of the request.
    std::atomic<bool> payStarting{false};
    int payAttempts = 0;
    HttpResult secondPaid;
    std::thread payer;

    std::vector<double> restartSeconds;  // from the kill until /readyz says 200
    std::vector<double> workingSeconds;  // from the kill until rows_done moves again
    int midBatch = 0;
    // The moments: kill k when rows_done passes a random point near (k+1)/(kills+1) of the batch (so that every kill
    // lands mid-batch however fast the engine is), then after a random 0-300 ms more.
    std::vector<long long> marks;
    for (int kill = 0; kill < kills; ++kill) {
        const double share = (kill + 1 + std::uniform_real_distribution<double>(-0.4, 0.4)(random)) / (kills + 1);
        marks.push_back(static_cast<long long>(share * static_cast<double>(rows)));
    }
    for (int kill = 0; kill < kills; ++kill) {
        const auto until = Clock::now() + std::chrono::seconds(180);
        while (Clock::now() < until && rowsDone(engine, creditor, batch.id) < marks[kill])
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (kill == 1) {
            payer = std::thread([&] {
                payStarting = true;
                secondPaid = payUntilAnswered(engine, creditor, second, "crash-" + second.id, &payAttempts,
                                              std::chrono::seconds(180));
            });
            while (!payStarting) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 30)(random)));
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 300)(random)));
        }
        const auto before = rowsDone(engine, creditor, batch.id);
        if (before >= 0 && before < static_cast<long long>(rows)) ++midBatch;
        engine.killHard();
        const auto killed = Clock::now();
        engine.start();
        restartSeconds.push_back(secondsSince(killed));
        if (before >= 0 && before < static_cast<long long>(rows)) {
            const auto deadline = Clock::now() + std::chrono::seconds(120);
            while (Clock::now() < deadline && rowsDone(engine, creditor, batch.id) <= before)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            workingSeconds.push_back(secondsSince(killed));
        }
        std::cout << "[fault] crash: kill " << kill + 1 << " at rows_done=" << before << " (mark " << marks[kill]
                  << "), ready after " << restartSeconds.back() << " s, working after "
                  << (workingSeconds.empty() ? 0.0 : workingSeconds.back()) << " s" << std::endl;
    }
    gatewayThread.join();
    if (payer.joinable()) payer.join();
    EXPECT_FALSE(smsFailed) << "an SMS request was never accepted";
    EXPECT_GE(midBatch, std::min(kills, 5)) << "kills that landed after the batch finished prove nothing";

    EXPECT_EQ(waitCompleted(engine, creditor, batch.id, std::chrono::seconds(300)), "completed");
    if (kills > 1) {
        ASSERT_EQ(secondPaid.status / 100, 2) << secondPaid.body;
        EXPECT_EQ(json(secondPaid.body)->getValue<long long>("amount"), second.fee);
        EXPECT_EQ(waitCompleted(engine, creditor, second.id, std::chrono::seconds(120)), "completed");
    }

    // Every row once, in row order.
    const auto check = checkRows(engine, creditor, batch);
    EXPECT_EQ(check.done, static_cast<long long>(rows));
    EXPECT_EQ(check.lost, 0);
    EXPECT_EQ(check.duplicated, 0);
    EXPECT_TRUE(check.inOrder);

    // The provider charged exactly what the ledger says was paid, and that is the fee of each batch, once.
    const long long expectedFee = batch.fee + (kills > 1 ? second.fee : 0);
    taxdesk::connectors::StoreSettings storeSettings;
    storeSettings.sqlitePath = engine.varDir() + "/taxdesk.db";
    taxdesk::connectors::Store store(storeSettings);
    const long long ledger = store.payments().paidTotal(batch.id) + store.payments().paidTotal(second.id);
    const long long charges = charged(stubs);
    EXPECT_EQ(charges, expectedFee);
    EXPECT_EQ(ledger, expectedFee);

    // Every application exactly one reply: none lost, none sent twice.
    const auto replies = waitReplies(stubs, kApplications, std::chrono::seconds(120));
    EXPECT_EQ(replies.replies, kApplications);
    EXPECT_EQ(replies.duplicated, 0);

    std::ostringstream more;
    more << std::fixed << std::setprecision(1) << "seed=" << seed << " kills=" << restartSeconds.size()
         << " mid_batch=" << midBatch << " ready_s=" << joined(restartSeconds)
         << " working_s=" << joined(workingSeconds) << " pay_attempts=" << payAttempts
         << " sms_retries=" << smsRetries.load();
    taxdesk::testing::reportFault({"crash (engine SIGKILLed)", static_cast<long long>(rows) + kApplications,
                                   check.done + replies.replies, check.lost + (kApplications - replies.replies),
                                   check.duplicated + replies.duplicated, charges, ledger, replies.replies,
                                   more.str()});
}
