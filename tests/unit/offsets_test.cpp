#include <gtest/gtest.h>

#include "engine/dead_letter.hpp"
#include "engine/lookup_cache.hpp"
#include "engine/offsets.hpp"
#include "engine/worker_pool.hpp"

#include <atomic>
#include <numeric>

using taxdesk::engine::OffsetTracker;

TEST(OffsetTracker, CommitsOnlyBelowTheFirstUnfinishedMessage) {
    OffsetTracker tracker;
    for (int offset = 10; offset < 15; ++offset) tracker.add("t", 0, offset);
    EXPECT_EQ(tracker.inFlight(), 5u);
    tracker.done("t", 0, 12);  // out of order: nothing committable yet
    tracker.done("t", 0, 13);
    EXPECT_TRUE(tracker.takeCommittable().empty());
    tracker.done("t", 0, 10);
    auto offsets = tracker.takeCommittable();
    ASSERT_EQ(offsets.size(), 1u);
    EXPECT_EQ(offsets[0].offset, 11);  // 11 is still in flight
    tracker.done("t", 0, 11);
    offsets = tracker.takeCommittable();
    ASSERT_EQ(offsets.size(), 1u);
    EXPECT_EQ(offsets[0].offset, 14);  // 10..13 done, 14 not
    EXPECT_EQ(tracker.inFlight(), 1u);
    EXPECT_TRUE(tracker.takeCommittable().empty()) << "nothing advanced since";
}

TEST(OffsetTracker, PartitionsAreIndependentAndForgettable) {
    OffsetTracker tracker;
    tracker.add("t", 0, 0);
    tracker.add("t", 1, 100);
    tracker.add("u", 0, 5);
    tracker.done("t", 1, 100);
    tracker.done("u", 0, 5);
    auto offsets = tracker.takeCommittable();
    ASSERT_EQ(offsets.size(), 2u);
    tracker.forget("t", 0);
    EXPECT_EQ(tracker.inFlight(), 0u);
    tracker.done("t", 0, 0);  // a late completion for a revoked partition is ignored
    EXPECT_TRUE(tracker.takeCommittable().empty());
    tracker.done("t", 1, 100);  // done twice: ignored
    EXPECT_EQ(tracker.inFlight(), 0u);
}

TEST(WorkerPool, RunsEveryItemOnceAcrossBatches) {
    taxdesk::engine::WorkerPool pool(8);
    for (int round = 0; round < 50; ++round) {
        std::vector<std::atomic<int>> hits(257);
        pool.parallelFor(hits.size(), [&](std::size_t i) { hits[i]++; });
        for (auto& hit : hits) ASSERT_EQ(hit.load(), 1);
    }
    pool.parallelFor(0, [](std::size_t) { FAIL() << "no items, no calls"; });
}

TEST(LookupCache, RoundTripsConnectorAnswers) {
    namespace cache = taxdesk::engine::cache;
    taxdesk::connectors::RegistryRecord person{"A123456789", "王小明", "1980-01-02", "信義區", false, false};
    EXPECT_EQ(cache::decodeRegistry(cache::encodeRegistry(person)), std::optional(std::optional(person)));
    const std::optional<taxdesk::connectors::RegistryRecord> unknown;
    const auto decoded = cache::decodeRegistry(cache::encodeRegistry(unknown));
    ASSERT_TRUE(decoded.has_value()) << "'not registered' is an answer, not a miss";
    EXPECT_FALSE(decoded->has_value());
    EXPECT_EQ(cache::decodeRegistry("garbage"), std::nullopt);

    taxdesk::connectors::TaxRecords records;
    records.income.push_back({2024, "22099131", "臺北股份有限公司", "50", 1234567});
    records.property.push_back({"land", "土地 100 m²", "臺北市信義區", 9876543});
    EXPECT_EQ(cache::decodeTax(cache::encodeTax(records)), records);
    EXPECT_EQ(cache::decodeTax(cache::encodeTax({})), taxdesk::connectors::TaxRecords{});
    EXPECT_EQ(cache::decodeTax("T\x1eX\x1f" "1"), std::nullopt);
    EXPECT_NE(cache::taxKey("A123456789", true, false, {2024}), cache::taxKey("A123456789", true, true, {2024}));
}

TEST(DeadLetter, KeepsTheOriginalAndAddsErrorAttemptsFailedAt) {
    const std::string extended = taxdesk::engine::deadLetterValue(R"({"batch_id":"B1","row":0})", "row must be 1", 2);
    EXPECT_EQ(extended.rfind(R"({"batch_id":"B1","row":0,"error":"row must be 1","attempts":2,"failed_at":")", 0), 0u)
        << extended;
    const std::string wrapped = taxdesk::engine::deadLetterValue("not \"json\"", "bad", 1);
    EXPECT_EQ(wrapped.rfind(R"({"original":"not \"json\"","dead_letter":{"error":"bad","attempts":1,)", 0), 0u)
        << wrapped;
}
