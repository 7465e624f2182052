// Issue 13: the webhook workers (engine/flow/webhook_delivery): webhook POSTs apart from the sender's SMS batches,
// bounded concurrency and queue, one delivery per notification id, dead letters; the outbox relay that produces a
// completion's notifications at once. Over in-memory fakes, and the real HTTP client against local receivers (one
// that hangs).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "connectors/api/errors.hpp"
#include "connectors/http/webhook_client.hpp"
#include "engine/flow/webhook_delivery.hpp"
#include "fixtures/webhook_receiver.hpp"

namespace taxdesk::engine {
namespace {

using connectors::NotificationRecord;
using Clock = std::chrono::steady_clock;

class FakeNotifications final : public connectors::NotificationStore {
  public:
    void insertNotification(const NotificationRecord& notification) override {
        const std::lock_guard lock(mutex_);
        auto stored = notification;
        if (stored.status.empty()) stored.status = "queued";
        rows_.emplace(notification.notificationId, stored);
    }
    void markNotificationSent(const std::string& id, const std::string& gatewayMsgId, int segments) override {
        const std::lock_guard lock(mutex_);
        if (auto found = rows_.find(id); found != rows_.end()) {
            found->second.status = "sent";
            found->second.gatewayMsgId = gatewayMsgId;
            found->second.segments = segments;
            ++found->second.attempt;
        }
    }
    void markNotificationStatus(const std::string& id, const std::string& status, const std::string& error) override {
        const std::lock_guard lock(mutex_);
        if (auto found = rows_.find(id); found != rows_.end()) {
            found->second.status = status;
            found->second.error = error;
        }
    }
    void failAndRetryNotification(const std::string&, const std::string&, const NotificationRecord&) override {}
    std::vector<NotificationRecord> claimStaleQueued(const std::string&, const std::string&, int) override {
        return {};
    }
    std::optional<NotificationRecord> findNotification(const std::string& id) override {
        const std::lock_guard lock(mutex_);
        if (auto found = rows_.find(id); found != rows_.end()) return found->second;
        return std::nullopt;
    }
    std::optional<NotificationRecord> findNotificationByGatewayMsgId(const std::string&) override {
        return std::nullopt;
    }
    std::vector<NotificationRecord> notificationsWithStatus(const std::string&, int) override { return {}; }
    std::vector<NotificationRecord> deadNotifications(int) override { return {}; }

    std::string status(const std::string& id) {
        const auto found = findNotification(id);
        return found ? found->status : "";
    }

  private:
    std::mutex mutex_;
    std::map<std::string, NotificationRecord> rows_;
};

class FakeWebhooks final : public connectors::WebhookStore {
  public:
    void putWebhook(const connectors::WebhookRecord& webhook) override {
        const std::lock_guard lock(mutex_);
        hooks_[webhook.tokenId] = webhook;
    }
    std::optional<connectors::WebhookRecord> findWebhook(const std::string& tokenId) override {
        const std::lock_guard lock(mutex_);
        if (auto found = hooks_.find(tokenId); found != hooks_.end()) return found->second;
        return std::nullopt;
    }
    bool removeWebhook(const std::string& tokenId) override {
        const std::lock_guard lock(mutex_);
        return hooks_.erase(tokenId) > 0;
    }

  private:
    std::mutex mutex_;
    std::map<std::string, connectors::WebhookRecord> hooks_;
};

/// A sender that records each POST and, while `hold` is set, keeps it until released; answers `status`, or throws
/// PermanentError when `refuse` is set.
class GateSender final : public connectors::WebhookSender {
  public:
    int deliver(const connectors::WebhookPost& post) override {
        std::unique_lock lock(mutex_);
        posts.push_back(post.notificationId);
        ++entered_;
        changed_.notify_all();
        changed_.wait(lock, [this] { return !hold; });
        if (refuse) throw connectors::PermanentError("webhook refused the notification: HTTP 410");
        return 200;
    }
    void release() {
        const std::lock_guard lock(mutex_);
        hold = false;
        changed_.notify_all();
    }
    /// Waits (bounded) until `count` POSTs have begun.
    bool waitEntered(int count) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, std::chrono::seconds(30), [&] { return entered_ >= count; });
    }
    std::vector<std::string> postsSoFar() {
        const std::lock_guard lock(mutex_);
        return posts;
    }
    bool hold = false;
    bool refuse = false;

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::string> posts;
    int entered_ = 0;
};

NotificationRecord webhookNotification(const std::string& id, const std::string& token) {
    NotificationRecord notification;
    notification.notificationId = id;
    notification.msisdn = "webhook:" + token;
    notification.text = R"({"event":"batch.completed","batch_id":"b1"})";
    notification.kind = "batch_done";
    notification.status = "queued";
    return notification;
}

/// Waits (bounded) until `check` holds.
template <typename Check>
bool eventually(Check check) {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!check() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return check();
}

class Workers : public ::testing::Test {
  protected:
    void SetUp() override {
        webhooks_.putWebhook({"tok1", "C1", "https://hooks.example/a", "whsec_0123456789abcdef", "", ""});
        webhooks_.putWebhook({"tok2", "C1", "https://hooks.example/b", "whsec_0123456789abcdef", "", ""});
    }
    std::unique_ptr<WebhookWorkers> start(int concurrency, std::size_t queueSize) {
        return std::make_unique<WebhookWorkers>(WebhookWorkerSettings{concurrency, queueSize}, sender_, webhooks_,
                                                notifications_,
                                                [this](const std::string& key, const std::string& value) {
                                                    const std::lock_guard lock(mutex_);
                                                    deadLetters_.emplace_back(key, value);
                                                });
    }
    NotificationRecord stored(const std::string& id, const std::string& token) {
        auto notification = webhookNotification(id, token);
        notifications_.insertNotification(notification);
        return notification;
    }

    std::shared_ptr<GateSender> sender_ = std::make_shared<GateSender>();
    FakeNotifications notifications_;
    FakeWebhooks webhooks_;
    std::mutex mutex_;
    std::vector<std::pair<std::string, std::string>> deadLetters_;
};

TEST_F(Workers, SubmitReturnsWhileAPostIsHeldAndARepeatIsNotPostedTwice) {
    sender_->hold = true;
    auto workers = start(1, 10);
    const auto first = stored("bd-b1-completed-wtok1", "tok1");
    const auto second = stored("bd-b2-completed-wtok1", "tok1");
    ASSERT_TRUE(workers->submit(first, "{}"));
    ASSERT_TRUE(sender_->waitEntered(1));
    // The only worker is held in a POST: handing over more returns (the sender's SMS batch goes on).
    EXPECT_TRUE(workers->submit(second, "{}"));
    EXPECT_TRUE(workers->submit(first, "{}")) << "a repeat (the sweep's) of one in flight";
    EXPECT_TRUE(workers->submit(second, "{}")) << "a repeat of one waiting";
    EXPECT_EQ(workers->pending(), 2U);
    EXPECT_EQ(notifications_.status(first.notificationId), "queued") << "marked only once delivered";
    sender_->release();
    ASSERT_TRUE(eventually([&] { return workers->pending() == 0; }));
    EXPECT_EQ(sender_->postsSoFar(), (std::vector<std::string>{first.notificationId, second.notificationId}));
    EXPECT_EQ(notifications_.status(first.notificationId), "sent");
    EXPECT_EQ(notifications_.status(second.notificationId), "sent");
    EXPECT_EQ(notifications_.findNotification(first.notificationId)->gatewayMsgId, "http-200");
}

TEST_F(Workers, AFullQueueRefusesAndLeavesTheNotificationQueuedForTheSweep) {
    sender_->hold = true;
    auto workers = start(1, 1);
    const auto a = stored("a", "tok1");
    const auto b = stored("b", "tok1");
    const auto c = stored("c", "tok1");
    ASSERT_TRUE(workers->submit(a, "{}"));
    ASSERT_TRUE(sender_->waitEntered(1));  // a in flight, the queue empty
    EXPECT_TRUE(workers->submit(b, "{}"));
    EXPECT_FALSE(workers->submit(c, "{}"));
    sender_->release();
    ASSERT_TRUE(eventually([&] { return workers->pending() == 0; }));
    EXPECT_EQ(notifications_.status("c"), "queued");
    EXPECT_EQ(sender_->postsSoFar(), (std::vector<std::string>{"a", "b"}));
}

TEST_F(Workers, SentOrDeadBeforeIsNotPostedAgain) {
    auto workers = start(1, 10);
    const auto sent = stored("sent-before", "tok1");
    notifications_.markNotificationSent("sent-before", "http-200", 0);
    const auto dead = stored("dead-before", "tok1");
    notifications_.markNotificationStatus("dead-before", "dead", "HTTP 410");
    workers->deliverOne(sent, "{}");
    workers->deliverOne(dead, "{}");
    workers->deliverOne(webhookNotification("never-stored", "tok1"), "{}");
    EXPECT_TRUE(sender_->postsSoFar().empty());
}

TEST_F(Workers, ARefusalOrARemovedWebhookIsDeadWithADeadLetter) {
    sender_->refuse = true;
    auto workers = start(1, 10);
    const auto refused = stored("refused", "tok1");
    workers->deliverOne(refused, R"({"notification_id":"refused"})");
    EXPECT_EQ(notifications_.status("refused"), "dead");
    EXPECT_EQ(notifications_.findNotification("refused")->error, "webhook refused the notification: HTTP 410");
    ASSERT_TRUE(webhooks_.removeWebhook("tok2"));
    const auto removed = stored("removed", "tok2");
    workers->deliverOne(removed, R"({"notification_id":"removed"})");
    EXPECT_EQ(notifications_.status("removed"), "dead");
    EXPECT_EQ(sender_->postsSoFar(), std::vector<std::string>{"refused"});
    const std::lock_guard lock(mutex_);
    ASSERT_EQ(deadLetters_.size(), 2U);
    EXPECT_EQ(deadLetters_[0].first, "webhook:tok1");
    EXPECT_NE(deadLetters_[0].second.find(R"("error":"webhook refused the notification: HTTP 410")"), std::string::npos)
        << deadLetters_[0].second;
    EXPECT_NE(deadLetters_[1].second.find("the token's webhook was removed"), std::string::npos)
        << deadLetters_[1].second;
}

TEST(StopSignalTest, CutsAWaitShortAndThrowsRetryable) {
    StopSignal signal;
    std::thread stopper([&] { signal.stop(); });
    EXPECT_THROW(signal.sleepFor(std::chrono::hours(1)), connectors::TransientError);
    stopper.join();
    EXPECT_TRUE(signal.stopped());
}

TEST(OutboxRelayTest, ProducesOffTheCallingThreadAndSurvivesAFailedProduce) {
    std::mutex mutex;
    std::vector<std::string> produced;
    int calls = 0;
    OutboxRelay relay([&](const std::vector<NotificationRecord>& records) {
        const std::lock_guard lock(mutex);
        if (++calls == 1) throw std::runtime_error("broker away");  // left to the sweep
        for (const auto& record : records) produced.push_back(record.notificationId);
    });
    relay.relay({webhookNotification("lost-to-the-sweep", "tok1")});
    ASSERT_TRUE(eventually([&] {
        const std::lock_guard lock(mutex);
        return calls == 1;
    }));
    relay.relay({webhookNotification("n1", "tok1"), webhookNotification("n2", "tok2")});
    ASSERT_TRUE(eventually([&] {
        const std::lock_guard lock(mutex);
        return produced.size() == 2;
    }));
    relay.stop();
    relay.relay({webhookNotification("after-stop", "tok1")});  // ignored: the sweep has it
    EXPECT_EQ(produced, (std::vector<std::string>{"n1", "n2"}));
}

// The real client: a receiver that hangs holds up its own worker only; another notification, to another receiver,
// is delivered meanwhile, and the hung one is delivered once released.
TEST_F(Workers, AHangingReceiverHoldsUpOnlyItsOwnWorker) {
    testing::WebhookReceiver hanging({}, /*holdFirst=*/true);
    testing::WebhookReceiver quick;
    webhooks_.putWebhook({"tok1", "C1", hanging.url(), "whsec_0123456789abcdef", "", ""});
    webhooks_.putWebhook({"tok2", "C1", quick.url(), "whsec_0123456789abcdef", "", ""});
    connectors::WebhookClientSettings client;
    client.timeout = std::chrono::milliseconds(60000);
    client.attempts = 1;
    client.allowPrivateHosts = true;  // the receivers are on 127.0.0.1
    WebhookWorkers workers(WebhookWorkerSettings{2, 10}, std::make_shared<connectors::HttpWebhookSender>(client),
                           webhooks_, notifications_, nullptr);
    ASSERT_TRUE(workers.submit(stored("to-hanging", "tok1"), "{}"));
    ASSERT_TRUE(eventually([&] { return hanging.got().size() == 1; }));
    ASSERT_TRUE(workers.submit(stored("to-quick", "tok2"), "{}"));
    ASSERT_TRUE(eventually([&] { return notifications_.status("to-quick") == "sent"; }));
    EXPECT_EQ(notifications_.status("to-hanging"), "queued") << "still in flight";
    hanging.release();
    ASSERT_TRUE(eventually([&] { return notifications_.status("to-hanging") == "sent"; }));
    EXPECT_EQ(hanging.distinctIds(), std::set<std::string>{"to-hanging"});
    EXPECT_EQ(quick.got().size(), 1U);
}

}  // namespace
}  // namespace taxdesk::engine
