// The SMS inbox (SqlSmsInbox; issue 9 finding 13; migration 8), on both backends (store_sms_fixture.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <set>
#include <thread>

#include "fixtures/at_once.hpp"
#include "store_sms_fixture.hpp"

namespace taxdesk::connectors {
namespace {

using namespace Poco::Data::Keywords;

class StoreInboxTest : public StoreSmsTest {};

// --- the inbox (issue 9 finding 13; migration 8) ---

InboxRecord newInboxRow(const std::string& stamp = "") {
    InboxRecord row;
    row.gatewayMsgId = testing::uniqueName("inbox");
    row.message = R"({"msisdn":"0912345678","text":"?","gateway_msg_id":")" + row.gatewayMsgId + R"("})";
    row.attempts = 1;
    row.receivedAt = stamp;
    row.updatedAt = stamp;
    return row;
}

TEST_P(StoreInboxTest, AnInboundMessageIsOneInboxRowHoweverOftenItIsStored) {
    Store store(settings_);
    const InboxRecord first = newInboxRow();
    const InboxRecord second = newInboxRow();
    const auto stored = store.inbox().enqueueInbox({first, second});
    ASSERT_EQ(stored.size(), 2u);
    EXPECT_EQ(stored[0].gatewayMsgId, first.gatewayMsgId);
    EXPECT_EQ(stored[0].message, first.message);
    EXPECT_EQ(stored[0].state, "queued");
    EXPECT_EQ(stored[0].attempts, 1);
    EXPECT_FALSE(stored[0].receivedAt.empty()) << "stamped now";
    EXPECT_EQ(stored[0].updatedAt, stored[0].receivedAt);
    EXPECT_EQ(stored[1].gatewayMsgId, second.gatewayMsgId);

    // The gateway sends it again (with another text, even): still one row, the first.
    InboxRecord again = first;
    again.message = R"({"other":true})";
    const auto repeated = store.inbox().enqueueInbox({again});
    ASSERT_EQ(repeated.size(), 1u);
    EXPECT_EQ(repeated[0], stored[0]);
    EXPECT_EQ(countOf("sms_inbox", "gateway_msg_id", first.gatewayMsgId), 1);

    // A done row stays done when the message comes again.
    store.inbox().markInboxDone(first.gatewayMsgId);
    EXPECT_EQ(store.inbox().findInbox(first.gatewayMsgId)->state, "done");
    EXPECT_EQ(store.inbox().enqueueInbox({first})[0].state, "done");
    EXPECT_EQ(store.inbox().findInbox(second.gatewayMsgId)->state, "queued") << "only the one marked";
    EXPECT_FALSE(store.inbox().findInbox("no such message"));
}

TEST_P(StoreInboxTest, AnIncompleteInboxRowStoresNoneOfTheRequest) {
    Store store(settings_);
    const InboxRecord good = newInboxRow();
    InboxRecord bad = newInboxRow();
    bad.message.clear();
    EXPECT_THROW(store.inbox().enqueueInbox({good, bad}), std::invalid_argument);
    InboxRecord unknownState = newInboxRow();
    unknownState.state = "lost";
    EXPECT_THROW(store.inbox().enqueueInbox({good, unknownState}), std::invalid_argument);
    EXPECT_FALSE(store.inbox().findInbox(good.gatewayMsgId));
    EXPECT_TRUE(store.inbox().enqueueInbox({}).empty());
}

TEST_P(StoreInboxTest, RecordingAnOutcomeMarksTheInboxRowDoneInTheSameStep) {
    Store store(settings_);
    InboundRecord inbound = newInbound("help");
    InboxRecord row = newInboxRow();
    row.gatewayMsgId = inbound.gatewayMsgId;
    store.inbox().enqueueInbox({row});
    NotificationRecord reply = newNotification("reply");
    store.pickups().recordSmsOutcome(inbound, std::nullopt, reply);
    const auto done = store.inbox().findInbox(inbound.gatewayMsgId).value();
    EXPECT_EQ(done.state, "done");
    EXPECT_EQ(done.attempts, 1) << "finishing is not a produce";
    // Processed again (a redelivery): still done, still one reply.
    store.pickups().recordSmsOutcome(inbound, std::nullopt, reply);
    EXPECT_EQ(store.inbox().findInbox(inbound.gatewayMsgId)->state, "done");
    EXPECT_EQ(countOf("notifications", "notification_id", reply.notificationId), 1);
}

TEST_P(StoreInboxTest, QueuedInboxRowsAreClaimedOnceUntilStaleAgainAndDoneOnesNever) {
    Store store(settings_);
    const std::string old = "2020-01-01T00:00:00.000Z";
    const InboxRecord stuck = newInboxRow(old);
    const InboxRecord recent = newInboxRow();  // stamped now: not stale
    const InboxRecord done = newInboxRow(old);
    InboxRecord givenUp = newInboxRow(old);
    givenUp.attempts = 5;
    store.inbox().enqueueInbox({stuck, recent, done, givenUp});
    store.inbox().markInboxDone(done.gatewayMsgId);
    // markInboxDone stamps now; put it back in the past so that only its state keeps it from being claimed.
    setInboxUpdatedAt(done.gatewayMsgId, old);
    const std::set<std::string> ours{stuck.gatewayMsgId, recent.gatewayMsgId, done.gatewayMsgId, givenUp.gatewayMsgId};
    auto mine = [&](const std::vector<InboxRecord>& claimed) {
        std::vector<InboxRecord> rows;
        for (const auto& row : claimed)
            if (ours.count(row.gatewayMsgId) != 0) rows.push_back(row);
        return rows;
    };
    const std::string cutoff = "2021-01-01T00:00:00.000Z";
    const std::string claimedAt = "2022-06-01T00:00:00.000Z";
    // Four sweepers at once: exactly one gets the stuck row; none gets the others.
    std::mutex mutex;
    std::vector<InboxRecord> claims;
    std::vector<std::thread> sweepers;
    for (int i = 0; i < 4; ++i)
        sweepers.emplace_back([&] {
            Store own(settings_);
            const auto got = mine(own.inbox().claimStaleInbox(cutoff, claimedAt, 5, 1000));
            const std::lock_guard lock(mutex);
            claims.insert(claims.end(), got.begin(), got.end());
        });
    for (auto& sweeper : sweepers) sweeper.join();
    ASSERT_EQ(claims.size(), 1u);
    EXPECT_EQ(claims[0].gatewayMsgId, stuck.gatewayMsgId);
    EXPECT_EQ(claims[0].attempts, 2) << "the API's produce, then this one";
    EXPECT_EQ(claims[0].updatedAt, claimedAt);
    EXPECT_EQ(claims[0].message, stuck.message);
    EXPECT_EQ(store.inbox().findInbox(stuck.gatewayMsgId)->attempts, 2);
    EXPECT_EQ(store.inbox().findInbox(stuck.gatewayMsgId)->updatedAt, claimedAt);
    EXPECT_TRUE(mine(store.inbox().claimStaleInbox(cutoff, claimedAt, 5, 1000)).empty())
        << "claimed: pushed back past the cut-off";
    // Once the cut-off passes its claim, it is stale again (the recent row, stamped now, is still younger).
    const auto later =
        mine(store.inbox().claimStaleInbox("2023-01-01T00:00:00.000Z", "2023-01-01T00:00:01.000Z", 5, 1000));
    ASSERT_EQ(later.size(), 1u);
    EXPECT_EQ(later[0].gatewayMsgId, stuck.gatewayMsgId);
    EXPECT_EQ(later[0].attempts, 3);
    EXPECT_EQ(store.inbox().findInbox(done.gatewayMsgId)->state, "done");
    EXPECT_EQ(store.inbox().findInbox(givenUp.gatewayMsgId)->attempts, 5) << "at the bound: left for operations";
    EXPECT_TRUE(store.inbox().claimStaleInbox(cutoff, claimedAt, 5, 0).empty());
    // Its produce failed (the broker away): that attempt does not count; a done row is left as it is.
    store.inbox().returnInboxAttempts({stuck.gatewayMsgId, done.gatewayMsgId});
    EXPECT_EQ(store.inbox().findInbox(stuck.gatewayMsgId)->attempts, 2);
    EXPECT_EQ(store.inbox().findInbox(done.gatewayMsgId)->attempts, 1);
    store.inbox().returnInboxAttempts({});
}

TEST_P(StoreInboxTest, PruningDeletesDoneInboxRowsOlderThanTheCutOffOnly) {
    Store store(settings_);
    const std::string old = "2020-01-01T00:00:00.000Z";
    const InboxRecord oldDone = newInboxRow(old);
    const InboxRecord oldQueued = newInboxRow(old);
    const InboxRecord newDone = newInboxRow();
    store.inbox().enqueueInbox({oldDone, oldQueued, newDone});
    store.inbox().markInboxDone(newDone.gatewayMsgId);  // done now: younger than the cut-off
    // oldDone: done, then aged behind the store's back.
    store.inbox().markInboxDone(oldDone.gatewayMsgId);
    setInboxUpdatedAt(oldDone.gatewayMsgId, old);
    EXPECT_EQ(store.inbox().pruneInbox("2021-01-01T00:00:00.000Z", 0), 0);
    EXPECT_GE(store.inbox().pruneInbox("2021-01-01T00:00:00.000Z", 100000), 1);
    EXPECT_FALSE(store.inbox().findInbox(oldDone.gatewayMsgId)) << "done and old: pruned";
    EXPECT_TRUE(store.inbox().findInbox(oldQueued.gatewayMsgId)) << "queued: never pruned, however old";
    EXPECT_TRUE(store.inbox().findInbox(newDone.gatewayMsgId)) << "done, but younger than the cut-off";
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreInboxTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

}  // namespace
}  // namespace taxdesk::connectors
