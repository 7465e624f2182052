// Issue 13 "Done means told", end to end: a creditor registers a webhook (a receiver in this test), a batch
// completes, and the receiver gets exactly one notification (counted by idempotency id: a repeat at the wire is
// allowed, the receiver dedups), signed with the creditor's secret — across an engine SIGKILLed while the POST is in
// flight, and after the receiver answered 500 twice; delivered on completion with the scheduler's sweep configured
// not to run; and a receiver that hangs holds up no SMS reply.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "faults/fault_client.hpp"
#include "fixtures/webhook_receiver.hpp"
#include "jobs/notify/notify.hpp"

using taxdesk::testing::ServeProcess;
using taxdesk::testing::StubsProcess;
using taxdesk::testing::WebhookReceiver;
using namespace taxdesk::testing::faults;

namespace {

constexpr const char* kSecret = "test-secret-0123456789";

std::vector<std::string> engineSets(const StubsProcess& stubs) {
    auto sets = stubs.connectorSets();
    // The receiver is on 127.0.0.1 (allowed for tests only). The scheduler's sweep produces queued notifications
    // within seconds (the way back after the SIGKILL); retries within a round are quick.
    for (const char* set : {"webhook.allow_private_hosts=true", "sms.scheduler_interval_s=1", "sms.requeue_after_s=1",
                            "webhook.backoff_ms=200", "webhook.timeout_ms=60000"})
        sets.emplace_back(set);
    return sets;
}

/// The sweep of queued notifications configured not to run while the test does: its first round is at start-up,
/// before any batch, and the next an hour later; and what it would take up must be a day old.
std::vector<std::string> noSweepSets(const StubsProcess& stubs) {
    auto sets = stubs.connectorSets();
    for (const char* set : {"webhook.allow_private_hosts=true", "sms.scheduler_interval_s=3600",
                            "sms.requeue_after_s=86400", "webhook.backoff_ms=200"})
        sets.emplace_back(set);
    return sets;
}

/// Registers the receiver, uploads and pays a small batch and waits until it is completed; returns its id.
std::string completeABatch(const ServeProcess& engine, const std::string& token, const WebhookReceiver& receiver) {
    const auto put =
        engine.request("PUT", "/api/v1/webhook", token,
                       R"({"url":")" + receiver.url() + R"(","secret":")" + kSecret + "\"}", "application/json");
    EXPECT_EQ(put.status, 200) << put.body;
    const Batch batch = uploadBatch(engine, token, 20);
    int attempts = 0;
    const auto paid = payUntilAnswered(engine, token, batch, "hook-" + batch.id, &attempts, std::chrono::seconds(60));
    EXPECT_TRUE(paid.status == 200 || paid.status == 201) << paid.body;
    EXPECT_EQ(waitCompleted(engine, token, batch.id, std::chrono::seconds(180)), "completed");
    return batch.id;
}

/// Waits (bounded) until the receiver has at least `posts` POSTs.
bool waitPosts(WebhookReceiver& receiver, std::size_t posts, std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (receiver.got().size() < posts && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return receiver.got().size() >= posts;
}

void expectOneSignedNotification(WebhookReceiver& receiver, const std::string& batchId) {
    const auto ids = receiver.distinctIds();
    ASSERT_EQ(ids.size(), 1U) << "one notification per batch, whatever the repeats at the wire";
    EXPECT_EQ(ids.begin()->rfind("bd-" + batchId + "-completed-w", 0), 0U) << *ids.begin();
    for (const auto& one : receiver.got()) {
        EXPECT_TRUE(taxdesk::jobs::notify::verifySignature(kSecret, one.signature, one.body)) << one.signature;
        EXPECT_NE(one.body.find(R"("batch_id":")" + batchId + "\""), std::string::npos) << one.body;
        EXPECT_NE(one.body.find(R"("event":"batch.completed")"), std::string::npos) << one.body;
    }
}

TEST(WebhookDelivery, ExactlyOneNotificationAcrossAnEngineKilledMidDelivery) {
    StubsProcess stubs;
    ServeProcess engine(engineSets(stubs));
    const auto token = engine.createToken("creditor", "C1");
    WebhookReceiver receiver({}, /*holdFirst=*/true);
    const std::string batchId = completeABatch(engine, token, receiver);

    ASSERT_TRUE(waitPosts(receiver, 1, std::chrono::seconds(120))) << "the first POST never came";
    engine.killHard();  // the POST is held unanswered: the engine dies mid-delivery
    receiver.release();
    engine.start();
    ASSERT_TRUE(waitPosts(receiver, 2, std::chrono::seconds(180))) << "not delivered again after the restart";
    std::this_thread::sleep_for(std::chrono::seconds(5));  // a further sweep would show a second id now
    expectOneSignedNotification(receiver, batchId);
}

TEST(WebhookDelivery, FiveHundredTwiceThenDeliveredOnce) {
    StubsProcess stubs;
    ServeProcess engine(engineSets(stubs));
    const auto token = engine.createToken("creditor", "C1");
    WebhookReceiver receiver({500, 500});
    const std::string batchId = completeABatch(engine, token, receiver);
    ASSERT_TRUE(waitPosts(receiver, 3, std::chrono::seconds(120)));
    std::this_thread::sleep_for(std::chrono::seconds(5));
    expectOneSignedNotification(receiver, batchId);
    EXPECT_EQ(receiver.got().size(), 3U) << "500, 500, then 200: delivered, not posted again";
}

TEST(WebhookDelivery, ProducedOnCompletionNotLeftToTheSweep) {
    StubsProcess stubs;
    ServeProcess engine(noSweepSets(stubs));
    const auto token = engine.createToken("creditor", "C1");
    WebhookReceiver receiver;
    const std::string batchId = completeABatch(engine, token, receiver);
    // Only the produce right after the completion's commit can bring it: the sweep does not run meanwhile.
    ASSERT_TRUE(waitPosts(receiver, 1, std::chrono::seconds(120))) << "not delivered while the sweep was off";
    expectOneSignedNotification(receiver, batchId);
}

TEST(WebhookDelivery, AHangingReceiverHoldsUpNoSmsReply) {
    StubsProcess stubs;
    auto sets = noSweepSets(stubs);
    // One POST a round, waited for up to a minute: a sender waiting on it would send the replies below only after
    // that minute, and by then the receiver would have the round's second POST.
    sets.emplace_back("webhook.timeout_ms=60000");
    sets.emplace_back("webhook.attempts=2");
    ServeProcess engine(sets);
    const auto token = engine.createToken("creditor", "C1");
    const auto gateway = engine.createToken("gateway");
    WebhookReceiver receiver({}, /*holdFirst=*/true);  // answers nothing until released
    const std::string batchId = completeABatch(engine, token, receiver);
    ASSERT_TRUE(waitPosts(receiver, 1, std::chrono::seconds(120))) << "the webhook POST never came";

    // SMS applications while the webhook POST hangs: their replies go out through the same sender.
    for (const auto& body : smsBodies(0, 3, 3, "hang"))
        ASSERT_GT(sendSmsUntilAccepted(engine, gateway, body, std::chrono::seconds(60)), 0);
    const auto replies = waitReplies(stubs, 3, std::chrono::seconds(120), std::chrono::seconds(0));
    EXPECT_EQ(replies.replies, 3);
    EXPECT_EQ(receiver.got().size(), 1U) << "the replies came while the first POST still hung (no second attempt)";

    receiver.release();  // answered 200 now: delivered, and not posted again
    std::this_thread::sleep_for(std::chrono::seconds(3));
    expectOneSignedNotification(receiver, batchId);
    EXPECT_EQ(receiver.got().size(), 1U);
}

}  // namespace
