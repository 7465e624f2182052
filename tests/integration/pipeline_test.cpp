// The inquiry pipeline end to end inside one process: the embedded broker, a real redis-server, a SQLite store and
// the stub connectors. Expected statuses are computed from the stub population directly, without the pipeline.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "connectors/stubs/demo_data/population.hpp"
#include "engine/cli/request_gen.hpp"
#include "engine/flow/inquiry_stage.hpp"
#include "engine/runtime/config.hpp"
#include "engine/runtime/lookup_cache.hpp"
#include "engine/runtime/metrics.hpp"
#include "engine/runtime/pipeline.hpp"
#include "fixtures/fault_report.hpp"
#include "fixtures/kafka_helpers.hpp"
#include "jobs/inquiry/codec.hpp"

using namespace taxdesk;
using namespace taxdesk::engine;
namespace td_testing = taxdesk::testing;

namespace {

constexpr std::uint64_t kSeed = 20261126;

/// What the stub population says the result of a request must be.
jobs::inquiry::InquiryResult expectedResult(const jobs::inquiry::InquiryRequest& request) {
    const demo_data::Population population(kSeed);
    const auto record = population.registryRecord(request.debtorId);
    if (auto settled = jobs::inquiry::decideFromRegistry(request, record)) return *settled;
    return jobs::inquiry::decideFromTaxData(
        request,
        population.taxRecords(request.debtorId, request.incomeYears, request.wantsIncome(), request.wantsProperty()));
}

class PipelineTest : public ::testing::Test {
  protected:
    void SetUp() override {
        prefix_ = td_testing::uniqueName("pipe") + ".";
        connectors::StoreSettings storeSettings;
        storeSettings.sqlitePath = td_testing::tempDir("pipeline") + "/taxdesk.db";
        store_ = std::make_unique<connectors::Store>(storeSettings);
        stubs_.seed = kSeed;
    }

    std::unique_ptr<connectors::RedisClient> redis(int port) {
        connectors::RedisSettings settings;
        settings.port = port;
        settings.timeoutMs = 2000;  // a busy machine's pause must not turn a cache hit into a miss
        settings.keyPrefix = prefix_;
        return std::make_unique<connectors::RedisClient>(settings);
    }

    /// Runs the pipeline in a thread until `until` says stop (or 90 s pass); returns what it consumed.
    std::uint64_t runPipeline(const std::string& group, std::unique_ptr<connectors::RedisClient> cache,
                              const std::function<bool(const Pipeline&)>& until) {
        InquiryStageSettings stageSettings;
        stageSettings.resultsTopic = prefix_ + "inquiry.results";
        stageSettings.deadLetterTopic = prefix_ + "inquiry.requests.dlq";
        stageSettings.concurrency = 8;
        InquiryStage stage(stageSettings, connectors::makeStubConnectors(stubs_), store_->results(), store_->batches(),
                           std::move(cache), metrics_.pipeline("inquiry"));
        PipelineSettings settings;
        settings.name = "inquiry";
        settings.inputTopic = prefix_ + "inquiry.requests";
        settings.groupId = group;
        settings.kafka = td_testing::kafkaSettings();
        settings.batchSize = 100;
        settings.maxInFlight = 250;  // smaller than the load: backpressure must engage
        settings.warmTopics = {settings.inputTopic, stageSettings.resultsTopic, stageSettings.deadLetterTopic};
        Pipeline pipeline(settings, stage, metrics_.pipeline("inquiry"));
        std::atomic<bool> stop{false};
        std::exception_ptr failure;
        std::thread thread([&] {
            try {
                pipeline.run(stop);
            } catch (...) {
                failure = std::current_exception();
            }
        });
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
        while (!until(pipeline) && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        stop = true;
        thread.join();
        if (failure) std::rethrow_exception(failure);
        return pipeline.consumed();
    }

    std::vector<jobs::inquiry::InquiryRequest> produceRequests(int rows) {
        std::vector<jobs::inquiry::InquiryRequest> requests;
        std::vector<std::pair<std::string, std::string>> messages;
        for (int row = 1; row <= rows; ++row) {
            requests.push_back(generatedRequest("B-" + prefix_, "C1", row, kSeed));
            messages.emplace_back(requests.back().batchId, jobs::inquiry::encodeRequest(requests.back()));
        }
        td_testing::produceAll(prefix_ + "inquiry.requests", messages);
        return requests;
    }

    std::string prefix_;
    connectors::StubSettings stubs_;
    std::unique_ptr<connectors::Store> store_;
    Metrics metrics_;
};

}  // namespace

TEST_F(PipelineTest, EveryRequestGetsTheResultThePopulationImpliesOnceStoredOnceProduced) {
    constexpr int kRows = 600;
    const auto requests = produceRequests(kRows);
    td_testing::produceAll(prefix_ + "inquiry.requests", {{"B-bad", R"({"batch_id":"B-bad","row":1})"}});

    const auto consumed = runPipeline(prefix_ + "engine", redis(td_testing::redisPort()), [&](const Pipeline& p) {
        return p.consumed() >= kRows + 1 && store_->results().resultsOfBatch("B-" + prefix_).size() >= kRows;
    });
    EXPECT_EQ(consumed, kRows + 1u);

    const auto results = td_testing::readRecords(prefix_ + "inquiry.results", kRows);
    ASSERT_EQ(results.size(), static_cast<std::size_t>(kRows));
    std::map<int, jobs::inquiry::InquiryResult> byRow;
    for (const auto& record : results) {
        EXPECT_EQ(record.key, "B-" + prefix_) << "results are keyed by batch_id";
        const auto result = jobs::inquiry::decodeResult(record.value);
        EXPECT_TRUE(byRow.emplace(result.row, result).second) << "row " << result.row << " produced twice";
    }
    std::map<std::string, int> statuses;
    for (const auto& request : requests) {
        ASSERT_TRUE(byRow.count(request.row)) << "row " << request.row << " has no result";
        EXPECT_EQ(byRow[request.row], expectedResult(request)) << "row " << request.row;
        statuses[jobs::inquiry::toString(byRow[request.row].status)]++;
    }
    // The generated load covers every status the registry and tax data can give.
    for (const char* status : {"found", "not_registered", "name_mismatch", "deceased"})
        EXPECT_GT(statuses[status], 0) << status;

    const auto stored = store_->results().resultsOfBatch("B-" + prefix_);
    ASSERT_EQ(stored.size(), static_cast<std::size_t>(kRows));
    EXPECT_EQ(stored.front().row, 1);
    EXPECT_EQ(stored.back().row, kRows);
    EXPECT_EQ(jobs::inquiry::decodeResult(stored[41].payload), byRow[42]);

    const auto dead = td_testing::readRecords(prefix_ + "inquiry.requests.dlq", 1);
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_NE(dead[0].value.find(R"("error":"missing field 'creditor_id'")"), std::string::npos) << dead[0].value;

    // The same group again, with one new request: only that one is consumed, as everything before was committed.
    const auto extra = generatedRequest("B-" + prefix_, "C1", kRows + 1, kSeed);
    td_testing::produceAll(prefix_ + "inquiry.requests", {{extra.batchId, jobs::inquiry::encodeRequest(extra)}});
    const auto again = runPipeline(prefix_ + "engine", redis(td_testing::redisPort()), [&](const Pipeline& p) {
        return p.consumed() >= 1 && store_->results().resultsOfBatch("B-" + prefix_).size() >= kRows + 1;
    });
    EXPECT_EQ(again, 1u) << "committed messages were consumed again";
    EXPECT_EQ(store_->results().resultsOfBatch("B-" + prefix_).size(), kRows + 1u);
}

TEST_F(PipelineTest, AReplayChangesNothingAUserCanSeeAndIsServedFromTheCache) {
    constexpr int kRows = 200;
    produceRequests(kRows);
    runPipeline(prefix_ + "first", redis(td_testing::redisPort()),
                [&](const Pipeline&) { return store_->results().resultsOfBatch("B-" + prefix_).size() >= kRows; });
    const auto before = store_->results().resultsOfBatch("B-" + prefix_);
    ASSERT_EQ(before.size(), static_cast<std::size_t>(kRows));

    // A second group reads the same requests, as after a crash before the commit: same rows, same payloads.
    runPipeline(prefix_ + "replay", redis(td_testing::redisPort()),
                [&](const Pipeline& p) { return p.consumed() >= kRows; });
    const auto after = store_->results().resultsOfBatch("B-" + prefix_);
    ASSERT_EQ(after.size(), before.size());
    for (std::size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i].payload, before[i].payload) << i;
    const std::string text = metrics_.serialize();
    const std::string needle = R"(taxdesk_cache_lookups_total{pipeline="inquiry",result="hit"} )";
    const auto hits = text.find(needle);
    ASSERT_NE(hits, std::string::npos);
    EXPECT_GE(std::stod(text.substr(hits + needle.size())), kRows) << "the replay should be served from Redis:\n"
                                                                   << text;
}

TEST_F(PipelineTest, OneCacheEntryARowWithItsTtlAndEntriesOfTheOldLayoutAreNotRead) {
    constexpr int kRows = 80;
    const auto requests = produceRequests(kRows);
    const demo_data::Population population(kSeed);
    // The old layout (v1: a registry key an ID, a tax-data key a question), with answers the population contradicts
    // ("not registered", no records): were they read, the results would differ from the population's.
    auto seed = redis(td_testing::redisPort());
    std::vector<std::pair<std::string, std::string>> old;
    for (const auto& request : requests) {
        old.emplace_back("v1:reg:" + request.debtorId, "0");
        std::string taxKey = "v1:tax:" + request.debtorId + ":" + (request.wantsIncome() ? "i" : "") +
                             (request.wantsProperty() ? "p" : "") + ":";
        for (const int year : request.incomeYears) taxKey += std::to_string(year) + ",";
        old.emplace_back(taxKey, "T");
    }
    seed->setMany(old, 600);

    runPipeline(prefix_ + "engine", redis(td_testing::redisPort()),
                [&](const Pipeline&) { return store_->results().resultsOfBatch("B-" + prefix_).size() >= kRows; });
    const auto stored = store_->results().resultsOfBatch("B-" + prefix_);
    ASSERT_EQ(stored.size(), static_cast<std::size_t>(kRows));
    for (const auto& row : stored)
        EXPECT_EQ(jobs::inquiry::decodeResult(row.payload), expectedResult(requests[row.row - 1])) << row.row;
    EXPECT_NE(metrics_.serialize().find(R"(taxdesk_cache_lookups_total{pipeline="inquiry",result="hit"} 0)"),
              std::string::npos)
        << "an entry of the old layout was read";

    // One key a question, written with the stage's TTL (3600 s by default), holding the registry's answer and the tax
    // data's when the row needed it; the old layout's keys are left as they were (600 s), never rewritten.
    std::size_t withTax = 0;
    for (const auto& request : requests) {
        const std::string key =
            cache::entryKey(request.debtorId, request.wantsIncome(), request.wantsProperty(), request.incomeYears);
        const long long ttl = seed->ttl(key);
        EXPECT_GT(ttl, 600) << key;
        EXPECT_LE(ttl, 3600) << key;
        const auto value = seed->get(key);
        ASSERT_TRUE(value.has_value()) << key;
        const auto entry = cache::decodeEntry(*value);
        const auto record = population.registryRecord(request.debtorId);
        EXPECT_EQ(entry.registry, std::optional<std::optional<connectors::RegistryRecord>>(record)) << key;
        if (jobs::inquiry::decideFromRegistry(request, record)) {
            EXPECT_EQ(entry.tax, std::nullopt) << key << ": the registry settled it, tax data was not asked";
        } else {
            ++withTax;
            EXPECT_EQ(entry.tax, population.taxRecords(request.debtorId, request.incomeYears, request.wantsIncome(),
                                                       request.wantsProperty()))
                << key;
        }
        EXPECT_LE(seed->ttl("v1:reg:" + request.debtorId), 600);
        EXPECT_EQ(seed->get("v1:reg:" + request.debtorId), "0");
    }
    EXPECT_GT(withTax, 0U);
}

TEST_F(PipelineTest, ACachedRegistryAnswerNeverOutlivesTheTtlItWasCachedWith) {
    constexpr int kRows = 40;
    const demo_data::Population population(kSeed);
    auto seed = redis(td_testing::redisPort());
    // Each question's entry holds the registry's answer only, with 100 s left. Right after each row comes the same ID
    // asked with another scope: a question of its own, with no entry yet, that finds the ID's registry answer in the
    // first question's entry when both rows are in one poll batch (80 messages, batches of up to 100).
    std::vector<jobs::inquiry::InquiryRequest> requests, siblings;
    std::vector<std::pair<std::string, std::string>> messages, entries;
    for (int row = 1; row <= kRows; ++row) {
        requests.push_back(generatedRequest("B-" + prefix_, "C1", row, kSeed));
        const auto& request = requests.back();
        entries.emplace_back(
            cache::entryKey(request.debtorId, request.wantsIncome(), request.wantsProperty(), request.incomeYears),
            cache::encodeEntry(population.registryRecord(request.debtorId), nullptr));
        auto sibling = request;
        sibling.row += kRows;
        sibling.scope =
            request.scope == jobs::inquiry::Scope::both ? jobs::inquiry::Scope::income : jobs::inquiry::Scope::both;
        siblings.push_back(sibling);
        messages.emplace_back(request.batchId, jobs::inquiry::encodeRequest(request));
        messages.emplace_back(sibling.batchId, jobs::inquiry::encodeRequest(sibling));
    }
    seed->setMany(entries, 100);
    td_testing::produceAll(prefix_ + "inquiry.requests", messages);

    runPipeline(prefix_ + "engine", redis(td_testing::redisPort()),
                [&](const Pipeline&) { return store_->results().resultsOfBatch("B-" + prefix_).size() >= 2 * kRows; });
    const auto stored = store_->results().resultsOfBatch("B-" + prefix_);
    ASSERT_EQ(stored.size(), static_cast<std::size_t>(2 * kRows));
    for (const auto& row : stored) {
        const auto& request = row.row <= kRows ? requests[row.row - 1] : siblings[row.row - kRows - 1];
        EXPECT_EQ(jobs::inquiry::decodeResult(row.payload), expectedResult(request)) << row.row;
    }

    std::size_t replaced = 0;
    std::size_t siblingsNotWritten = 0;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        const auto& request = requests[i];
        const std::string key =
            cache::entryKey(request.debtorId, request.wantsIncome(), request.wantsProperty(), request.incomeYears);
        // The entry keeps its expiry, its tax data added when the row needed it.
        const long long ttl = seed->ttl(key);
        EXPECT_GT(ttl, 0) << key;
        EXPECT_LE(ttl, 100) << key << ": the registry's answer was given a new TTL";
        const auto value = seed->get(key);
        ASSERT_TRUE(value.has_value()) << key;
        const auto entry = cache::decodeEntry(*value);
        const auto record = population.registryRecord(request.debtorId);
        EXPECT_EQ(entry.registry, std::optional<std::optional<connectors::RegistryRecord>>(record)) << key;
        if (!jobs::inquiry::decideFromRegistry(request, record)) {
            ++replaced;
            EXPECT_EQ(entry.tax, population.taxRecords(request.debtorId, request.incomeYears, request.wantsIncome(),
                                                       request.wantsProperty()))
                << key;
        } else {
            EXPECT_EQ(entry.tax, std::nullopt) << key;
        }
        // The other scope's question: when it took the registry's answer from that entry, a full TTL would carry the
        // answer past the entry's expiry, so it is not written; it is written (with a full TTL) only when it was in
        // another poll batch, where the registry was asked afresh.
        const auto& sibling = siblings[i];
        const std::string siblingKey =
            cache::entryKey(sibling.debtorId, sibling.wantsIncome(), sibling.wantsProperty(), sibling.incomeYears);
        if (!seed->get(siblingKey).has_value()) {
            ++siblingsNotWritten;
        } else {
            EXPECT_GT(seed->ttl(siblingKey), 100) << siblingKey;
        }
    }
    EXPECT_GT(replaced, 0U) << "no row needed tax data: the in-place replacement was not exercised";
    EXPECT_GT(siblingsNotWritten, 0U) << "no question took its registry answer from another entry";
}

TEST_F(PipelineTest, WithoutRedisLookupsGoStraightToTheConnectors) {
    constexpr int kRows = 50;
    const auto requests = produceRequests(kRows);
    // Port 1: nothing listens; Redis is a cache, so the work goes on without it.
    runPipeline(prefix_ + "engine", redis(1),
                [&](const Pipeline&) { return store_->results().resultsOfBatch("B-" + prefix_).size() >= kRows; });
    const auto stored = store_->results().resultsOfBatch("B-" + prefix_);
    ASSERT_EQ(stored.size(), static_cast<std::size_t>(kRows));
    for (const auto& row : stored)
        EXPECT_EQ(jobs::inquiry::decodeResult(row.payload), expectedResult(requests[row.row - 1]));
    EXPECT_NE(metrics_.serialize().find(R"(taxdesk_cache_degraded{pipeline="inquiry"} 1)"), std::string::npos);
}

TEST_F(PipelineTest, ACacheThatRefusesWritesIsShownDegradedWhileTheLookUpsGoOn) {
    // A Redis demoted to a replica of a primary that is gone (a failover half done): it answers the cache's reads
    // and refuses its writes (READONLY). The writes' answers are read before the next batch's writes, so the state
    // shows from the second batch of 100 on. Before, the reads' success kept taxdesk_cache_degraded at 0.
    constexpr int kRows = 600;
    const auto requests = produceRequests(kRows);
    td_testing::RedisServer server;
    ASSERT_NE(server.command("replicaof 127.0.0.1 1").find("OK"), std::string::npos);
    const std::string degraded = R"(taxdesk_cache_degraded{pipeline="inquiry"} 1)";
    runPipeline(prefix_ + "engine", redis(server.port()), [&](const Pipeline&) {
        return store_->results().resultsOfBatch("B-" + prefix_).size() >= kRows &&
               metrics_.serialize().find(degraded) != std::string::npos;
    });
    const auto stored = store_->results().resultsOfBatch("B-" + prefix_);
    ASSERT_EQ(stored.size(), static_cast<std::size_t>(kRows));
    for (const auto& row : stored)
        EXPECT_EQ(jobs::inquiry::decodeResult(row.payload), expectedResult(requests[row.row - 1]));
    EXPECT_NE(metrics_.serialize().find(degraded), std::string::npos);
    EXPECT_EQ(server.command("dbsize").find("0"), 0u) << "the replica took a write";
}

TEST_F(PipelineTest, AConnectorThatKeepsFailingGivesErrorResultsNotLostRows) {
    constexpr int kRows = 30;
    produceRequests(kRows);
    stubs_.failureRate = 1.0;  // every connector call fails (retryable), every attempt
    runPipeline(prefix_ + "engine", redis(td_testing::redisPort()),
                [&](const Pipeline&) { return store_->results().resultsOfBatch("B-" + prefix_).size() >= kRows; });
    const auto stored = store_->results().resultsOfBatch("B-" + prefix_);
    ASSERT_EQ(stored.size(), static_cast<std::size_t>(kRows));
    for (const auto& row : stored) {
        EXPECT_EQ(row.status, "error");
        EXPECT_EQ(row.reason, "registry_unavailable");  // a reason code, never the connector's address
    }
    EXPECT_NE(metrics_.serialize().find("taxdesk_connector_retries_total"), std::string::npos);
}

TEST_F(PipelineTest, ARequestThatFailsForGoodGivesItsRowAnErrorResultAndItsBatchCompletes) {
    // Before: a request that went to the dead-letter topic left its row without a result, the batch `processing`
    // for ever, and the dispatcher sending it again every 30 s.
    const std::string batchId = "B-" + prefix_;
    connectors::BatchRecord batch;
    batch.batchId = batchId;
    batch.creditorId = "C1";
    batch.state = jobs::inquiry::BatchState::awaiting_payment;
    batch.receiptToken = td_testing::uniqueName("receipt");
    std::vector<jobs::inquiry::InquiryRequest> requests;
    std::vector<connectors::BatchRowRecord> rows;
    for (int row = 1; row <= 3; ++row) {
        requests.push_back(generatedRequest(batchId, "C1", row, kSeed));
        const auto& r = requests.back();
        rows.push_back(
            {batchId, row, r.debtorId, r.debtorName, "112年度司執字第1號", "both", "2024", true, "", "", 500});
    }
    auto writer = store_->batches().beginBatch(batch);
    writer->addRows(rows);
    writer->commit(3, 3, 0, 1500);
    ASSERT_TRUE(store_->batches().setBatchState(batchId, jobs::inquiry::BatchState::awaiting_payment,
                                                jobs::inquiry::BatchState::queued));

    // Row 2's message cannot be read (its debtor_id was mangled on the way); rows 1 and 3 are fine.
    std::string mangled = jobs::inquiry::encodeRequest(requests[1]);
    mangled.replace(mangled.find(requests[1].debtorId), requests[1].debtorId.size(), "A000000000");
    td_testing::produceAll(prefix_ + "inquiry.requests", {{batchId, jobs::inquiry::encodeRequest(requests[0])},
                                                          {batchId, mangled},
                                                          {batchId, jobs::inquiry::encodeRequest(requests[2])}});
    runPipeline(prefix_ + "engine", redis(td_testing::redisPort()), [&](const Pipeline&) {
        return store_->batches().findBatch(batchId)->state == jobs::inquiry::BatchState::completed;
    });

    const auto stored = store_->batches().findBatch(batchId).value();
    EXPECT_EQ(stored.state, jobs::inquiry::BatchState::completed);
    EXPECT_EQ(stored.rowsDone, 3);
    const auto failed = store_->results().findResult(batchId, 2);
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(failed->status, "error");
    EXPECT_EQ(failed->reason, "processing_failed");
    EXPECT_EQ(failed->debtorId, requests[1].debtorId) << "the stored row says who it was about";
    const auto payload = jobs::inquiry::decodeResult(failed->payload);
    EXPECT_EQ(payload.status, jobs::inquiry::ResultStatus::error);
    EXPECT_EQ(payload.reason, "processing_failed");
    EXPECT_NE(store_->results().findResult(batchId, 1)->status, "error");
    EXPECT_NE(store_->results().findResult(batchId, 3)->status, "error");
    EXPECT_TRUE(store_->batches().pendingRows(batchId, 0, 10).empty())
        << "nothing left for the dispatcher to send again";
    std::map<int, std::string> published;  // inquiry.results: every row's result once, the error one included
    for (const auto& record : td_testing::readRecords(prefix_ + "inquiry.results", 4, std::chrono::seconds(8)))
        published.emplace(jobs::inquiry::decodeResult(record.value).row, record.value);
    EXPECT_EQ(published.size(), 3u);
    EXPECT_EQ(published[2], failed->payload);
    EXPECT_EQ(td_testing::readRecords(prefix_ + "inquiry.requests.dlq", 1).size(), 1u);

    // The same message delivered again, as after a crash between storing the error result and committing its output:
    // the stored result is produced again (else inquiry.results would never carry it), and nothing else changes.
    td_testing::produceAll(prefix_ + "inquiry.requests", {{batchId, mangled}});
    // One reader for the whole wait (a fresh group's join takes longer than a short read: a reader a check never
    // joined, and the wait ran to runPipeline's 90 s bound).
    connectors::kafka::Consumer deadLetters(td_testing::consumerSettings(), td_testing::uniqueName("reader"));
    deadLetters.subscribe({prefix_ + "inquiry.requests.dlq"});
    std::size_t deadLettersRead = 0;
    runPipeline(prefix_ + "engine", redis(td_testing::redisPort()), [&](const Pipeline&) {
        deadLettersRead += deadLetters.consume(100, 100).size();
        return deadLettersRead >= 2;
    });
    deadLetters.close();
    EXPECT_EQ(deadLettersRead, 2u);
    const auto all = td_testing::readRecords(prefix_ + "inquiry.results", 4, std::chrono::seconds(8));
    ASSERT_EQ(all.size(), 4u);
    EXPECT_EQ(all[3].value, failed->payload);
    EXPECT_EQ(store_->batches().findBatch(batchId)->rowsDone, 3);
}

namespace {

/// A stage that echoes each message to `<prefix>out` from commit() (as the inquiry stage adds its results there), and
/// fails as its values say: `prepare-permanent` throws a
/// PermanentError in prepare(), `commit-permanent` a non-retryable StoreError (a constraint violation) in commit(),
/// `invalid` a std::invalid_argument (a contract violation, as the store's for an unknown outcome); `transient-once`
/// throws a retryable StoreError the first time it is prepared, which must be retried, not dead-lettered.
class FailingStage : public BatchStage {
  public:
    explicit FailingStage(std::string outTopic) : outTopic_(std::move(outTopic)) {}

    struct Prepared : PreparedBatch {
        std::vector<std::string> keys;
        std::vector<std::string> values;
    };

    std::unique_ptr<PreparedBatch> prepare(const std::vector<connectors::kafka::Message>& batch) override {
        auto prepared = std::make_unique<Prepared>();
        prepared->out.resize(batch.size());
        for (std::size_t i = 0; i < batch.size(); ++i) {
            const std::string value(batch[i].value());
            if (value == "prepare-permanent") throw connectors::PermanentError("refused for good");
            if (value == "invalid") throw std::invalid_argument("store: recordSmsOutcome: outcome 'x' is not one of …");
            if (value == "transient-once" && !failedOnce_) {
                failedOnce_ = true;
                throw connectors::StoreError("sqlite: database is locked");
            }
            prepared->keys.emplace_back(batch[i].key());
            prepared->values.push_back(value);
        }
        return prepared;
    }

    std::vector<OutMessage> deadLettered(const connectors::kafka::Message& message, const std::string& error) override {
        EXPECT_FALSE(error.empty());
        std::lock_guard lock(mutex_);
        deadLettered_.emplace(message.value());
        return {{outTopic_ + ".failed", std::string(message.key()), std::string(message.value()), {}}};
    }

    std::set<std::string> deadLetteredValues() {
        std::lock_guard lock(mutex_);
        return deadLettered_;
    }

    void commit(PreparedBatch& prepared) override {
        auto& mine = static_cast<Prepared&>(prepared);
        for (const auto& value : mine.values)
            if (value == "commit-permanent")
                throw connectors::StoreError("sqlite: UNIQUE constraint failed: results.batch_id", false);
        for (std::size_t i = 0; i < mine.values.size(); ++i)
            prepared.out[i].push_back({outTopic_, mine.keys[i], mine.values[i], {}});
    }

  private:
    std::string outTopic_;
    bool failedOnce_ = false;
    std::mutex mutex_;  // deadLettered() runs on the consumer or the committer thread
    std::set<std::string> deadLettered_;
};

}  // namespace

TEST(PipelineErrors, AMessageThatFailsForGoodGoesToTheDeadLetterTopicAndThePipelineGoesOn) {
    const std::string prefix = td_testing::uniqueName("poison") + ".";
    const std::vector<std::string> values{"ok-1", "prepare-permanent", "ok-2",    "commit-permanent",
                                          "ok-3", "transient-once",    "invalid", "ok-4"};
    std::vector<std::pair<std::string, std::string>> messages;
    for (const auto& value : values) messages.emplace_back("k", value);  // one key: one partition, one order
    td_testing::produceAll(prefix + "in", messages);

    FailingStage stage(prefix + "out");
    Metrics metrics;
    PipelineSettings settings;
    settings.name = "poison";
    settings.inputTopic = prefix + "in";
    settings.groupId = prefix + "group";
    settings.kafka = td_testing::consumerSettings();
    settings.batchSize = 100;
    settings.warmTopics = {settings.inputTopic, prefix + "out", prefix + "in.dlq", prefix + "out.failed"};
    Pipeline pipeline(settings, stage, metrics.pipeline("poison"));
    std::atomic<bool> stop{false};
    std::exception_ptr failure;
    std::thread thread([&] {
        try {
            pipeline.run(stop);
        } catch (...) {
            failure = std::current_exception();
        }
    });
    const auto out = td_testing::readRecords(prefix + "out", 5);
    const auto dead = td_testing::readRecords(prefix + "in.dlq", 3);
    stop = true;
    thread.join();
    if (failure) {
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& error) {
            FAIL() << "the pipeline stopped: " << error.what();
        }
    }

    std::vector<std::string> outValues;
    for (const auto& record : out) outValues.push_back(record.value);
    EXPECT_EQ(outValues, (std::vector<std::string>{"ok-1", "ok-2", "ok-3", "transient-once", "ok-4"}))
        << "every good message once, in order; the transient failure retried";
    ASSERT_EQ(dead.size(), 3u);
    std::set<std::string> deadOriginals;
    for (const auto& record : dead) {
        // Not JSON objects: the dead letter wraps the original text with the error.
        EXPECT_NE(record.value.find("\"error\":"), std::string::npos) << record.value;
        for (const char* original : {"prepare-permanent", "commit-permanent", "invalid"})
            if (record.value.find(std::string("\"original\":\"") + original + "\"") != std::string::npos)
                deadOriginals.insert(original);
    }
    EXPECT_EQ(deadOriginals, (std::set<std::string>{"prepare-permanent", "commit-permanent", "invalid"}));
    // The stage heard of each before its dead letter went out (the inquiry stage gives the row an error result), and
    // what it returned went out with the dead letter.
    EXPECT_EQ(stage.deadLetteredValues(), (std::set<std::string>{"prepare-permanent", "commit-permanent", "invalid"}));
    std::set<std::string> effects;
    for (const auto& record : td_testing::readRecords(prefix + "out.failed", 3)) effects.insert(record.value);
    EXPECT_EQ(effects, (std::set<std::string>{"prepare-permanent", "commit-permanent", "invalid"}));
    EXPECT_EQ(pipeline.consumed(), values.size());
}
