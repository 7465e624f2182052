// WorkerPool (engine/worker_pool): the bounded pool the inquiry stage's connector calls run on.
#include "engine/runtime/worker_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

TEST(WorkerPool, RunsEveryItemOnceAcrossBatches) {
    taxdesk::engine::WorkerPool pool(8);
    for (int round = 0; round < 50; ++round) {
        std::vector<std::atomic<int>> hits(257);
        pool.parallelFor(hits.size(), [&](std::size_t i) { hits[i]++; });
        for (auto& hit : hits) ASSERT_EQ(hit.load(), 1);
    }
    pool.parallelFor(0, [](std::size_t) { FAIL() << "no items, no calls"; });
}
