// The notification store (SqlNotificationStore, SPEC 4.2): outbound SMS, their statuses, retries and
// sweeps, on both backends (store_sms_fixture.hpp).
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

class StoreNotificationsTest : public StoreSmsTest {};

// --- notifications ---

// Issue 9, finding 8: a failed delivery's status and its retry are one durable step (the outbox), and a sweeper
// claims what is stuck in queued, once across engines.
TEST_P(StoreNotificationsTest, AFailedDeliveryAndItsRetryAreStoredTogether) {
    Store store(settings_);
    NotificationRecord first = newNotification();
    store.notifications().insertNotification(first);
    store.notifications().markNotificationSent(first.notificationId, testing::uniqueName("gw"), 1);
    NotificationRecord retry = first;
    retry.notificationId = first.notificationId + "~2";
    retry.attempt = 1;
    retry.status = "queued";
    store.notifications().failAndRetryNotification(first.notificationId, "handset off", retry);
    const auto failed = store.notifications().findNotification(first.notificationId).value();
    EXPECT_EQ(failed.status, "failed");
    EXPECT_EQ(failed.error, "handset off");
    const auto queued = store.notifications().findNotification(retry.notificationId).value();
    EXPECT_EQ(queued.status, "queued");
    EXPECT_EQ(queued.attempt, 1);
    EXPECT_EQ(queued.text, first.text);

    // An incomplete retry is refused before anything changes.
    NotificationRecord second = newNotification();
    store.notifications().insertNotification(second);
    store.notifications().markNotificationSent(second.notificationId, testing::uniqueName("gw"), 1);
    NotificationRecord bad = second;
    bad.notificationId = second.notificationId + "~2";
    bad.kind = "no such kind";
    EXPECT_THROW(store.notifications().failAndRetryNotification(second.notificationId, "x", bad),
                 std::invalid_argument);
    EXPECT_EQ(store.notifications().findNotification(second.notificationId)->status, "sent");
    EXPECT_FALSE(store.notifications().findNotification(bad.notificationId));
}

TEST_P(StoreNotificationsTest, NotificationsStuckInQueuedAreClaimedOnceUntilTheyAreStaleAgain) {
    Store store(settings_);
    NotificationRecord stuck = newNotification("reply");
    stuck.createdAt = "2020-01-01T00:00:00.000Z";
    stuck.updatedAt = "2020-01-01T00:00:00.000Z";
    store.notifications().insertNotification(stuck);
    NotificationRecord recent = newNotification("reply");  // stamped now: not stale
    store.notifications().insertNotification(recent);
    NotificationRecord sent = newNotification("reply");
    sent.status = "sent";
    sent.createdAt = sent.updatedAt = "2020-01-01T00:00:00.000Z";
    store.notifications().insertNotification(sent);

    auto mine = [&](const std::vector<NotificationRecord>& claimed) {
        std::vector<std::string> ids;
        for (const auto& n : claimed)
            if (n.notificationId == stuck.notificationId || n.notificationId == recent.notificationId ||
                n.notificationId == sent.notificationId)
                ids.push_back(n.notificationId);
        return ids;
    };
    // Four sweepers at once: exactly one gets it.
    std::atomic<int> claims{0};
    std::vector<std::thread> sweepers;
    for (int i = 0; i < 4; ++i)
        sweepers.emplace_back([&] {
            Store own(settings_);
            claims += static_cast<int>(
                mine(own.notifications().claimStaleQueued("2021-01-01T00:00:00.000Z", "", 100)).size());
        });
    for (auto& sweeper : sweepers) sweeper.join();
    EXPECT_EQ(claims.load(), 1);
    EXPECT_TRUE(mine(store.notifications().claimStaleQueued("2021-01-01T00:00:00.000Z", "", 100)).empty())
        << "claimed: its updated_at is now, no longer stale";
    EXPECT_EQ(store.notifications().findNotification(stuck.notificationId)->status, "queued")
        << "claiming sends nothing";
    EXPECT_EQ(store.notifications().claimStaleQueued("2021-01-01T00:00:00.000Z", "", 0).size(), 0u);
}

// Issue 11: the sender reads a batch's notifications in one query; what it finds is what one-at-a-time reads find.
TEST_P(StoreNotificationsTest, TheBatchReadFindsWhatTheOneAtATimeReadsFind) {
    Store store(settings_);
    auto& sql = dynamic_cast<SqlNotificationStore&>(store.notifications());
    EXPECT_TRUE(sql.findNotifications({}).empty());
    // 140 stored (slices of 128 and 12, padded to 128 and 32 on SQLite), asked for with 10 unknown ids among them.
    std::vector<std::string> ids;
    std::set<std::string> stored;
    for (int i = 0; i < 140; ++i) {
        NotificationRecord notification = newNotification("reply");
        store.notifications().insertNotification(notification);
        if (i % 3 == 0) store.notifications().markNotificationSent(notification.notificationId, "GW-1", 2);
        ids.push_back(notification.notificationId);
        stored.insert(notification.notificationId);
        if (i % 14 == 0) ids.push_back(testing::uniqueName("unknown"));
    }
    const auto found = sql.findNotifications(ids);
    EXPECT_EQ(found.size(), 140U);
    std::set<std::string> foundIds;
    for (const auto& notification : found) {
        foundIds.insert(notification.notificationId);
        EXPECT_EQ(store.notifications().findNotification(notification.notificationId), notification);
    }
    EXPECT_EQ(foundIds, stored);
    EXPECT_EQ(std::count_if(found.begin(), found.end(), [](const auto& n) { return n.status == "sent"; }), 47);
}

TEST_P(StoreNotificationsTest, ANotificationIsInsertedOnceAndMovesThroughItsStatuses) {
    Store store(settings_);
    const NotificationRecord notification = newNotification("reminder");
    store.notifications().insertNotification(notification);
    const NotificationRecord stored = store.notifications().findNotification(notification.notificationId).value();
    EXPECT_EQ(stored.status, "queued");
    EXPECT_EQ(stored.attempt, 0);
    EXPECT_EQ(stored.kind, "reminder");
    EXPECT_EQ(stored.text, notification.text);
    EXPECT_EQ(stored.createdAt.size(), 24U) << stored.createdAt;
    EXPECT_EQ(stored.updatedAt, stored.createdAt);

    NotificationRecord replay = notification;
    replay.text = "something else";
    replay.status = "sent";
    store.notifications().insertNotification(replay);
    EXPECT_EQ(store.notifications().findNotification(notification.notificationId), stored) << "the first insert stays";

    const std::string firstSend = testing::uniqueName("gw");
    store.notifications().markNotificationSent(notification.notificationId, firstSend, 2);
    NotificationRecord sent = store.notifications().findNotification(notification.notificationId).value();
    EXPECT_EQ(sent.status, "sent");
    EXPECT_EQ(sent.gatewayMsgId, firstSend);
    EXPECT_EQ(sent.segments, 2);
    EXPECT_EQ(sent.attempt, 1);
    EXPECT_GE(sent.updatedAt, sent.createdAt);

    store.notifications().markNotificationStatus(notification.notificationId, "failed", "absent subscriber");
    const NotificationRecord failed = store.notifications().findNotification(notification.notificationId).value();
    EXPECT_EQ(failed.status, "failed");
    EXPECT_EQ(failed.error, "absent subscriber");
    bool listed = false;
    for (const auto& n : store.notifications().notificationsWithStatus("failed", 100'000)) {
        listed = listed || n.notificationId == notification.notificationId;
    }
    EXPECT_TRUE(listed) << "failed notifications are listed for a retry";

    const std::string secondSend = testing::uniqueName("gw");
    store.notifications().markNotificationSent(notification.notificationId, secondSend, 1);
    sent = store.notifications().findNotification(notification.notificationId).value();
    EXPECT_EQ(sent.attempt, 2);
    EXPECT_EQ(sent.error, "") << "cleared by a send";
    EXPECT_EQ(sent.gatewayMsgId, secondSend);

    store.notifications().markNotificationStatus(notification.notificationId, "dead", "3 attempts");
    bool dead = false;
    for (const auto& n : store.notifications().deadNotifications(100'000))
        dead = dead || n.notificationId == notification.notificationId;
    EXPECT_TRUE(dead);
    EXPECT_EQ(store.notifications().findNotification(notification.notificationId)->status, "dead");

    EXPECT_THROW(store.notifications().markNotificationStatus(notification.notificationId, "lost"),
                 std::invalid_argument);
    store.notifications().markNotificationStatus(testing::uniqueName("n"), "delivered");  // unknown: ignored
    store.notifications().markNotificationSent(testing::uniqueName("n"), testing::uniqueName("gw"), 1);
    EXPECT_EQ(store.notifications().findNotification(testing::uniqueName("n")), std::nullopt);
    EXPECT_TRUE(store.notifications().notificationsWithStatus("queued", 0).empty());

    NotificationRecord bad = newNotification("fax");
    EXPECT_THROW(store.notifications().insertNotification(bad), std::invalid_argument);
    bad = newNotification();
    bad.notificationId = "";
    EXPECT_THROW(store.notifications().insertNotification(bad), std::invalid_argument);
}

TEST_P(StoreNotificationsTest, ADeliveryReportFindsItsNotificationByTheLastSendsGatewayMessageId) {
    Store store(settings_);
    const NotificationRecord notification = newNotification();
    store.notifications().insertNotification(notification);
    EXPECT_EQ(store.notifications().findNotificationByGatewayMsgId(""), std::nullopt)
        << "not every unsent notification";

    const std::string firstSend = testing::uniqueName("gw");
    store.notifications().markNotificationSent(notification.notificationId, firstSend, 1);
    EXPECT_EQ(store.notifications().findNotificationByGatewayMsgId(firstSend)->notificationId,
              notification.notificationId);

    store.notifications().markNotificationStatus(notification.notificationId, "failed", "timeout");
    const std::string secondSend = testing::uniqueName("gw");
    store.notifications().markNotificationSent(notification.notificationId, secondSend, 1);
    EXPECT_EQ(store.notifications().findNotificationByGatewayMsgId(firstSend), std::nullopt)
        << "a late report of the first send";
    store.notifications().markNotificationStatus(
        store.notifications().findNotificationByGatewayMsgId(secondSend)->notificationId, "delivered");
    EXPECT_EQ(store.notifications().findNotification(notification.notificationId)->status, "delivered");
    EXPECT_EQ(store.notifications().findNotificationByGatewayMsgId(testing::uniqueName("gw")), std::nullopt);
}

TEST_P(StoreNotificationsTest, NotificationsWithAStatusComeOldestFirst) {
    Store store(settings_);
    std::vector<std::string> ids;
    ids.reserve(3);
    for (int i = 2; i >= 0; --i) {  // inserted newest first
        NotificationRecord notification = newNotification();
        notification.createdAt = "2001-01-01T00:00:0" + std::to_string(i) + ".000Z";
        store.notifications().insertNotification(notification);
        ids.insert(ids.begin(), notification.notificationId);
    }
    std::vector<std::string> mine;
    for (const auto& n : store.notifications().notificationsWithStatus("queued", 100'000)) {
        if (std::find(ids.begin(), ids.end(), n.notificationId) != ids.end()) mine.push_back(n.notificationId);
    }
    EXPECT_EQ(mine, ids);
}

TEST_P(StoreNotificationsTest, ConcurrentInsertsOfOneNotificationStoreOne) {
    constexpr int kThreads = 8;
    settings_.poolSize = kThreads;
    Store store(settings_);
    const NotificationRecord notification = newNotification();
    const auto errors = testing::atOnce(kThreads, [&](int t, std::latch& start) {
        NotificationRecord mine = notification;
        mine.text = "attempt " + std::to_string(t);
        start.arrive_and_wait();
        store.notifications().insertNotification(mine);
    });
    EXPECT_EQ(errors, std::vector<std::string>(kThreads));
    EXPECT_EQ(countOf("notifications", "notification_id", notification.notificationId), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreNotificationsTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

}  // namespace
}  // namespace taxdesk::connectors
