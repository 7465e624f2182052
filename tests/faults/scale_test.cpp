// The scale test (issue 12, ctest label `scale`): `taxdesk serve` processes in one consumer group against the embedded
// broker (topics of 16 partitions created up front: $TAXDESK_TEST_SCALE_TOPIC_PREFIX), one PostgreSQL (a database of
// its own on the server scripts/test started) and one redis-server, the connectors in a `taxdesk stubs` process of
// their own (its record of charges and sent SMS outlives every engine).
//
// 1. Throughput: after a small warm-up batch, a paid batch worked by one engine, then another by two, then another by
// three (each batch with
//    debtors of its own: a cold cache), timed from the payment's answer to `completed`; rows/s of each is printed.
// 2. Faults: a paid 200,000-row batch and a stream of 2,000 SMS applications sent round the live engines; mid-batch
//    one engine is stopped (SIGTERM), one SIGKILLed, and another started. The takeover time is from the SIGKILL to
//    the first row stored new (inquiry_results.updated_at; a result replayed as stored keeps its first stamp, so the
//    survivor's replay of the dead engine's uncommitted rows counts in) in a partition the killed engine held (its
//    log's "partitions of … held:" line; a row's partition is librdkafka's default, CRC-32 of its message key
//    `<batch_id>:<block>` modulo the partition count).
// Asserted: every row of every batch stored exactly once, every application replied to exactly once (the gateway
// stub's record, by notification id), every payment charged once (the provider's record equals the ledger and the
// fees). No timed assertion: every wait is bounded, the figures are printed, not judged.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "connectors/store/store.hpp"
#include "faults/fault_client.hpp"

using taxdesk::testing::ServeProcess;
using taxdesk::testing::StubsProcess;
using namespace taxdesk::testing::faults;

namespace {

/// A libpq connection that fails the test when it cannot connect; exec() returns the first column of each row.
class Sql {
  public:
    explicit Sql(const std::string& conninfo) : connection_(PQconnectdb(conninfo.c_str())) {
        if (PQstatus(connection_) != CONNECTION_OK)
            throw std::runtime_error(std::string("PostgreSQL: ") + PQerrorMessage(connection_));
    }
    ~Sql() { PQfinish(connection_); }
    Sql(const Sql&) = delete;
    Sql& operator=(const Sql&) = delete;

    std::vector<std::string> exec(const std::string& statement, const std::vector<std::string>& parameters = {}) {
        std::vector<const char*> values;
        for (const auto& parameter : parameters) values.push_back(parameter.c_str());
        PGresult* result = PQexecParams(connection_, statement.c_str(), static_cast<int>(values.size()), nullptr,
                                        values.data(), nullptr, nullptr, 0);
        const auto status = PQresultStatus(result);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            const std::string error = PQresultErrorMessage(result);
            PQclear(result);
            throw std::runtime_error("PostgreSQL: " + statement + ": " + error);
        }
        std::vector<std::string> rows;
        for (int row = 0; row < PQntuples(result); ++row)
            rows.emplace_back(PQgetisnull(result, row, 0) ? "" : PQgetvalue(result, row, 0));
        PQclear(result);
        return rows;
    }

  private:
    PGconn* connection_;
};

/// A database of its own on the test server (dropped at the end), so that no other test's rows (a notification
/// another test left unsent) reach these engines' sweeps.
class ScaleDatabase {
  public:
    ScaleDatabase() : name_(sanitized(taxdesk::testing::uniqueName("scale"))) {
        Sql(taxdesk::testing::postgresql()).exec("CREATE DATABASE " + name_);
        conninfo_ = taxdesk::testing::postgresql() + " dbname=" + name_;  // libpq: the last dbname wins
    }
    ~ScaleDatabase() {
        try {
            Sql(taxdesk::testing::postgresql()).exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
        } catch (const std::exception& error) {
            std::cerr << "scale test: " << error.what() << std::endl;
        }
    }
    ScaleDatabase(const ScaleDatabase&) = delete;
    ScaleDatabase& operator=(const ScaleDatabase&) = delete;
    [[nodiscard]] const std::string& conninfo() const { return conninfo_; }

  private:
    static std::string sanitized(std::string name) {
        for (auto& c : name)
            if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        return name;
    }
    std::string name_;
    std::string conninfo_;
};

/// CRC-32 (IEEE, reflected, as zlib and librdkafka's rd_crc32 compute it).
std::uint32_t crc32(const std::string& text) {
    std::uint32_t crc = 0xFFFFFFFFU;
    for (const unsigned char byte : text) {
        crc ^= byte;
        for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320U & (0U - (crc & 1U)));
    }
    return ~crc;
}

/// The partition librdkafka's default partitioner (consistent_random) gives block `block` of a batch: the message key
/// is `<batch_id>:<block>`, the block number at least four digits (engine/flow/batch_dispatcher.cpp requestKey).
int partitionOfBlock(const std::string& batchId, int block, int partitions) {
    std::string number = std::to_string(block);
    if (number.size() < 4) number.insert(0, 4 - number.size(), '0');
    return static_cast<int>(crc32(batchId + ":" + number) % static_cast<std::uint32_t>(partitions));
}

/// The partitions of `topic` the engine holds now, from its log's last "partitions of <topic> held: a,b,c" line (an
/// empty set after a later "revoked").
std::set<int> heldPartitions(const std::string& logFile, const std::string& topic) {
    std::ifstream in(logFile);
    std::set<int> held;
    const std::string heldTag = "msg=\"partitions of " + topic + " held: ";
    const std::string revokedTag = " partitions of " + topic + "\"";
    for (std::string line; std::getline(in, line);) {
        if (const auto at = line.find(heldTag); at != std::string::npos) {
            held.clear();
            std::istringstream numbers(line.substr(at + heldTag.size()));
            for (std::string number; std::getline(numbers, number, ',');)
                if (!number.empty() && std::isdigit(static_cast<unsigned char>(number[0])))
                    held.insert(std::atoi(number.c_str()));
        } else if (line.find("msg=\"revoked ") != std::string::npos && line.find(revokedTag) != std::string::npos) {
            held.clear();
        }
    }
    return held;
}

/// ISO 8601 UTC with milliseconds, as the store writes updated_at.
std::string isoMillis(std::chrono::system_clock::time_point at) {
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[40];
    const auto length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(text + length, sizeof text - length, ".%03dZ", static_cast<int>(millis % 1000));
    return text;
}

/// Seconds since the epoch of an updated_at text ("2026-12-02T02:29:48.228Z").
double epochSeconds(const std::string& iso) {
    std::tm utc{};
    std::istringstream in(iso);
    in >> std::get_time(&utc, "%Y-%m-%dT%H:%M:%S");
    double fraction = 0;
    if (const auto dot = iso.find('.'); dot != std::string::npos) fraction = std::atof(iso.c_str() + dot);
    return static_cast<double>(timegm(&utc)) + fraction;
}

double epochSeconds(std::chrono::system_clock::time_point at) {
    return std::chrono::duration<double>(at.time_since_epoch()).count();
}

/// Pays a batch (the same key again until it is answered) and waits until it is completed; returns rows/s from the
/// payment's answer to the first look that saw it completed (looks every 100 ms), or -1 if it did not complete.
double payAndTime(const ServeProcess& engine, const std::string& token, const Batch& batch, int* payAttempts) {
    const auto paid =
        payUntilAnswered(engine, token, batch, "scale-" + batch.id, payAttempts, std::chrono::seconds(60));
    EXPECT_TRUE(paid.status == 201 || paid.status == 200) << paid.status << " " << paid.body;
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::seconds(240);
    while (Clock::now() < deadline) {
        const auto status = tryRequest(engine, "GET", "/api/v1/batches/" + batch.id, token);
        if (status.status == 200 && json(status.body)->getValue<std::string>("state") == "completed")
            return static_cast<double>(batch.rows) / secondsSince(start);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return -1;
}

}  // namespace

TEST(Scale, ThreeEnginesOnPostgresqlOneStoppedOneKilledOneStartedEverythingExactlyOnce) {
    const std::size_t phaseRows = envSize("TAXDESK_TEST_SCALE_PHASE_ROWS", 30000);
    const std::size_t bigRows = envSize("TAXDESK_TEST_SCALE_ROWS", 200000);
    const int applications = static_cast<int>(envSize("TAXDESK_TEST_SCALE_SMS", 2000));
    const auto latencyMs = envSize("TAXDESK_TEST_SCALE_STUB_LATENCY_MS", 0);

    ScaleDatabase database;
    StubsProcess stubs({"payment.stub_balance=100000000000", "stubs.latency_ms=" + std::to_string(latencyMs)});
    auto sets = stubs.connectorSets();
    sets.insert(sets.end(),
                {"store.backend=postgresql", "store.postgresql=" + database.conninfo(),
                 "limits.batch_rows=" + std::to_string(std::max<std::size_t>(bigRows, 100000)), "payment.lease_s=15"});
    for (const auto& set : quickSweeps()) sets.push_back(set);
    // Topics the broker created up front with broker.partitions (16) partitions, as a real cluster's would be:
    // scripts/test starts the broker with broker.extra_prefixes naming this prefix. Without it the test's own topics
    // are auto-created with the embedded broker's default of 4 partitions, and the test works on those.
    std::string topicPrefix;
    if (const char* text = std::getenv("TAXDESK_TEST_SCALE_TOPIC_PREFIX"); text != nullptr && *text != '\0') {
        topicPrefix = text;
        sets.push_back("kafka.topic_prefix=" + topicPrefix);
    }
    for (const auto& set : measuringSets()) sets.push_back(set);

    // Never destroyed before the end: the gateway thread may be sending to any of them.
    std::vector<std::unique_ptr<ServeProcess>> engines;
    std::array<std::atomic<bool>, 4> alive{};
    std::mutex enginesMutex;
    auto addEngine = [&] {
        auto engine = engines.empty() ? std::make_unique<ServeProcess>(sets)
                                      : std::make_unique<ServeProcess>(*engines.front(), sets);
        std::lock_guard lock(enginesMutex);
        engines.push_back(std::move(engine));
        alive[engines.size() - 1] = true;
    };
    addEngine();
    ServeProcess& first = *engines.front();
    const auto creditor = first.createToken("creditor", "C1");
    const auto gateway = first.createToken("gateway");
    const std::string requests = (topicPrefix.empty() ? first.prefix() : topicPrefix) + "inquiry.requests";
    ASSERT_TRUE(taxdesk::testing::eventually([&] { return !heldPartitions(first.logFile(), requests).empty(); },
                                             std::chrono::seconds(60)))
        << "the first engine's log never said which partitions it holds";
    const int partitions = static_cast<int>(heldPartitions(first.logFile(), requests).size());

    // ---- 1. rows/s with one, two and three engines ----------------------------------------------------------------
    std::vector<Batch> batches;
    std::vector<double> rates;
    int payAttempts = 0;
    // A small batch first, untimed: the first batch of a fresh engine and database pays for connections, statement
    // plans and the producer's metadata, which would be charged to the one-engine phase alone.
    batches.push_back(uploadBatch(first, creditor, 2000, 9000000));
    EXPECT_GT(payAndTime(first, creditor, batches.back(), &payAttempts), 0) << "the warm-up batch did not complete";
    for (int count = 1; count <= 3; ++count) {
        if (count > 1) addEngine();
        // Every engine holds partitions before the clock starts (the newcomer's /readyz said it joined; the group
        // may still be settling for the others).
        ASSERT_TRUE(taxdesk::testing::eventually(
            [&] {
                std::size_t total = 0;
                for (const auto& engine : engines) {
                    const auto held = heldPartitions(engine->logFile(), requests);
                    if (held.empty()) return false;
                    total += held.size();
                }
                return total == static_cast<std::size_t>(partitions);
            },
            std::chrono::seconds(60)))
            << count << " engines never shared the partitions";
        batches.push_back(uploadBatch(first, creditor, phaseRows, static_cast<std::uint64_t>(count) * 1000000));
        rates.push_back(payAndTime(first, creditor, batches.back(), &payAttempts));
        EXPECT_GT(rates.back(), 0) << "the batch of the " << count << "-engine phase did not complete";
        std::cout << "[scale] engines=" << count << " rows=" << phaseRows << " rows_per_s=" << std::fixed
                  << std::setprecision(0) << rates.back() << std::endl;
    }

    // ---- 2. 200,000 rows and 2,000 SMS; one engine stopped, one killed, another started ----------------------------
    const Batch big = uploadBatch(first, creditor, bigRows, 5000000);
    batches.push_back(big);
    const auto paid = payUntilAnswered(first, creditor, big, "scale-" + big.id, &payAttempts, std::chrono::seconds(60));
    ASSERT_TRUE(paid.status == 201 || paid.status == 200) << paid.status << " " << paid.body;

    // The gateway: requests of 50 applications, one every 300 ms, each to the next live engine, sent again (to the
    // next one) until accepted; the engine deduplicates by gateway_msg_id.
    std::atomic<bool> smsFailed{false};
    std::atomic<int> smsRetries{0};
    std::thread gatewayThread([&] {
        std::size_t next = 0;
        for (const auto& body : smsBodies(0, applications, 50, "scale")) {
            const auto deadline = Clock::now() + std::chrono::seconds(120);
            bool accepted = false;
            for (int attempt = 0; !accepted && Clock::now() < deadline; ++attempt) {
                const ServeProcess* engine = nullptr;
                {
                    std::lock_guard lock(enginesMutex);
                    for (std::size_t tries = 0; tries < engines.size() && engine == nullptr; ++tries, ++next)
                        if (alive[next % engines.size()]) engine = engines[next % engines.size()].get();
                }
                if (engine != nullptr &&
                    tryRequest(*engine, "POST", "/api/v1/sms/inbound", gateway, body, "application/json").status ==
                        202) {
                    accepted = true;
                    break;
                }
                ++smsRetries;
                std::this_thread::sleep_for(std::chrono::milliseconds(250));
            }
            if (!accepted) smsFailed = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
        }
    });

    const auto total = static_cast<long long>(bigRows);
    auto waitRowsDone = [&](long long mark) {
        const auto deadline = Clock::now() + std::chrono::seconds(180);
        long long done = 0;
        while (Clock::now() < deadline && (done = rowsDone(first, creditor, big.id)) < mark)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return done;
    };

    // SIGTERM the second engine at a fifth of the batch: it finishes what is on its way and leaves the group.
    const long long atStop = waitRowsDone(total / 5);
    alive[1] = false;
    const auto stopping = Clock::now();
    EXPECT_TRUE(engines[1]->stop()) << "the engine did not stop within 60 s of SIGTERM";
    const double stopSeconds = secondsSince(stopping);
    // The first and third engines share the partitions before the kill, so that the killed one held some.
    EXPECT_TRUE(taxdesk::testing::eventually(
        [&] {
            const auto a = heldPartitions(first.logFile(), requests);
            const auto c = heldPartitions(engines[2]->logFile(), requests);
            return !a.empty() && !c.empty() && a.size() + c.size() == static_cast<std::size_t>(partitions);
        },
        std::chrono::seconds(60)))
        << "the two engines left never shared the partitions";

    // SIGKILL the third engine at about half of the batch.
    const long long atKill = waitRowsDone(total * 9 / 20);
    const auto dead = heldPartitions(engines[2]->logFile(), requests);
    alive[2] = false;
    engines[2]->killHard();
    const auto killedAt = std::chrono::system_clock::now();
    EXPECT_FALSE(dead.empty()) << "the killed engine held no partition: nothing to take over";
    EXPECT_LT(atKill, total) << "the batch was done before the kill: the test proves nothing";

    // The takeover: the first row stored after the kill in one of the dead engine's partitions. Blocks of
    // dispatch.block_rows (500) rows under one key each.
    constexpr int kBlockRows = 500;
    std::string deadBlocks = "{";
    int deadBlockCount = 0;
    for (int block = 0; block * kBlockRows < static_cast<int>(bigRows); ++block) {
        if (dead.count(partitionOfBlock(big.id, block, partitions)) == 0) continue;
        deadBlocks += (deadBlockCount++ ? "," : "") + std::to_string(block);
    }
    deadBlocks += "}";
    Sql sql(database.conninfo());
    double takeover = -1;
    const auto takeoverDeadline = Clock::now() + std::chrono::seconds(120);
    while (takeover < 0 && Clock::now() < takeoverDeadline) {
        const auto found = sql.exec(
            "SELECT min(updated_at) FROM inquiry_results WHERE batch_id = $1 AND updated_at > $2 AND "
            "(row_no - 1) / " +
                std::to_string(kBlockRows) + " = ANY($3::int[])",
            {big.id, isoMillis(killedAt), deadBlocks});
        if (!found.empty() && !found.front().empty())
            takeover = epochSeconds(found.front()) - epochSeconds(killedAt);
        else
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_GE(takeover, 0) << "no row of the killed engine's partitions was stored after the kill";
    const long long atTakeover = rowsDone(first, creditor, big.id);

    // Another engine joins.
    const auto starting = Clock::now();
    addEngine();
    const double startSeconds = secondsSince(starting);
    const long long atStart = rowsDone(first, creditor, big.id);

    EXPECT_EQ(waitCompleted(first, creditor, big.id, std::chrono::seconds(300)), "completed");
    gatewayThread.join();
    EXPECT_FALSE(smsFailed) << "an SMS request was never accepted";

    // ---- what came out --------------------------------------------------------------------------------------------
    // Every row of every batch exactly once: the download (row order, none missing, none twice) and the table.
    RowCheck all;
    long long fees = 0;
    long long sent = 0;
    for (const auto& batch : batches) {
        EXPECT_EQ(waitCompleted(first, creditor, batch.id, std::chrono::seconds(120)), "completed") << batch.id;
        const auto check = checkRows(first, creditor, batch);
        all.done += check.done;
        all.lost += check.lost;
        all.duplicated += check.duplicated;
        EXPECT_TRUE(check.inOrder) << batch.id;
        const auto stored = sql.exec("SELECT count(*) FROM inquiry_results WHERE batch_id = $1", {batch.id});
        EXPECT_EQ(std::stoll(stored.front()), static_cast<long long>(batch.rows)) << batch.id;
        fees += batch.fee;
        sent += static_cast<long long>(batch.rows);
    }
    EXPECT_EQ(all.done, sent);
    EXPECT_EQ(all.lost, 0);
    EXPECT_EQ(all.duplicated, 0);

    // Every payment charged once: the provider's record, the ledger and the fees agree.
    taxdesk::connectors::StoreSettings storeSettings;
    storeSettings.backend = "postgresql";
    storeSettings.postgresql = database.conninfo();
    storeSettings.poolSize = 2;
    long long ledger = 0;
    {
        taxdesk::connectors::Store store(storeSettings);
        for (const auto& batch : batches) ledger += store.payments().paidTotal(batch.id);
    }
    const long long charges = charged(stubs);
    EXPECT_EQ(charges, fees);
    EXPECT_EQ(ledger, fees);

    // Every application exactly one reply.
    const auto replies = waitReplies(stubs, static_cast<std::size_t>(applications), std::chrono::seconds(180));
    EXPECT_EQ(replies.replies, applications);
    EXPECT_EQ(replies.duplicated, 0);

    std::ostringstream more;
    more << std::fixed << std::setprecision(0) << "rows_per_s_1=" << rates[0] << " rows_per_s_2=" << rates[1]
         << " rows_per_s_3=" << rates[2] << std::setprecision(2) << " speedup_2=" << rates[1] / rates[0]
         << " speedup_3=" << rates[2] / rates[0] << std::setprecision(1) << " takeover_s=" << takeover
         << " dead_engine_partitions=" << dead.size() << "/" << partitions << " stop_s=" << stopSeconds
         << " start_s=" << startSeconds << " rows_done_at_stop/kill/takeover/start=" << atStop << "/" << atKill << "/"
         << atTakeover << "/" << atStart << " phase_rows=" << phaseRows << " stub_latency_ms=" << latencyMs
         << " pay_attempts=" << payAttempts << " sms_retries=" << smsRetries.load();
    taxdesk::testing::reportFault({"scale (3 engines on PostgreSQL; 1 stopped, 1 SIGKILLed, 1 started)",
                                   sent + applications, all.done + replies.replies,
                                   all.lost + (applications - replies.replies), all.duplicated + replies.duplicated,
                                   charges, ledger, replies.replies, more.str()});
}
