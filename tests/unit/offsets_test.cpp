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

TEST(OffsetTracker, TopicsThatShareAPrefixOrAPartitionNumberAreKeptApart) {
    // Lookups go by (topic view, partition) without building a string: "ab" partition 1 must not be "a" partition 1,
    // "abc" partition 0, nor "ab" partition 2; the views may point into any buffer.
    OffsetTracker tracker;
    const std::string buffer = "abcd";
    tracker.add(std::string_view(buffer).substr(0, 1), 1, 7);  // "a"
    tracker.add(std::string_view(buffer).substr(0, 2), 1, 7);  // "ab"
    tracker.add(std::string_view(buffer).substr(0, 3), 0, 7);  // "abc"
    tracker.add("ab", 2, 3);
    EXPECT_EQ(tracker.inFlight(), 4u);
    tracker.done(std::string("ab"), 1, 7);
    auto offsets = tracker.takeCommittable();
    ASSERT_EQ(offsets.size(), 1u);
    EXPECT_EQ(offsets[0].topic, "ab");
    EXPECT_EQ(offsets[0].partition, 1);
    EXPECT_EQ(offsets[0].offset, 8);
    EXPECT_EQ(tracker.inFlight(), 3u);
    tracker.forget("abc", 0);  // only "abc"/0 goes
    EXPECT_EQ(tracker.inFlight(), 2u);
    tracker.done("a", 1, 7);
    tracker.done("ab", 2, 3);
    offsets = tracker.takeCommittable();
    ASSERT_EQ(offsets.size(), 2u);  // ordered by topic, then partition
    EXPECT_EQ(offsets[0].topic, "a");
    EXPECT_EQ(offsets[0].offset, 8);
    EXPECT_EQ(offsets[1].topic, "ab");
    EXPECT_EQ(offsets[1].partition, 2);
    EXPECT_EQ(offsets[1].offset, 4);
    EXPECT_EQ(tracker.inFlight(), 0u);
}
