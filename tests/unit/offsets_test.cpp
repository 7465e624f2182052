// OffsetTracker (engine/offsets): what a pipeline may commit when messages finish out of order.
#include "engine/runtime/offsets.hpp"

#include <gtest/gtest.h>

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
