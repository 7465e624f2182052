// Issue 11: the group commit of POST /api/v1/sms/inbound's inbox rows (engine/api/sms_api.hpp, InboxGroupCommit).
// Requests that arrive while another request's rows are being stored are stored together in one enqueueInbox call;
// each gets its own rows back; a group whose store fails is stored request by request. Over a fake inbox, no SQL.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/api/sms_api.hpp"

namespace taxdesk::engine::api {
namespace {

using connectors::InboxRecord;

InboxRecord row(const std::string& id) {
    InboxRecord record;
    record.gatewayMsgId = id;
    record.message = "{}";
    return record;
}

/// Stores rows by answering them with state "stored-<call number>"; the first call waits until `release` is set, so
/// that the test can line up requests behind it. Refuses a call that holds a row with id "bad".
class FakeInbox : public connectors::SmsInbox {
  public:
    std::mutex mutex;
    std::condition_variable changed;
    bool release = false;
    std::vector<std::vector<std::string>> calls;  ///< the ids of each call

    std::vector<InboxRecord> enqueueInbox(const std::vector<InboxRecord>& messages) override {
        std::unique_lock lock(mutex);
        std::vector<std::string> ids;
        for (const auto& message : messages) ids.push_back(message.gatewayMsgId);
        calls.push_back(ids);
        changed.notify_all();
        const auto call = calls.size();
        if (call == 1) changed.wait(lock, [&] { return release; });
        for (const auto& id : ids)
            if (id == "bad") throw std::runtime_error("refused");
        std::vector<InboxRecord> stored = messages;
        for (auto& record : stored) record.state = "stored-" + std::to_string(call);
        return stored;
    }
    void markInboxDone(const std::string&) override {}
    std::optional<InboxRecord> findInbox(const std::string&) override { return std::nullopt; }
    std::vector<InboxRecord> claimStaleInbox(const std::string&, const std::string&, int, int) override { return {}; }
    void returnInboxAttempts(const std::vector<std::string>&) override {}
    int pruneInbox(const std::string&, int) override { return 0; }
};

TEST(SmsInboxGroupCommit, RequestsArrivingDuringAStoreAreStoredTogetherEachGettingItsOwnRows) {
    FakeInbox inbox;
    InboxGroupCommit group(inbox);
    std::vector<InboxRecord> first;
    std::thread leader([&] { first = group.enqueue({row("a")}); });
    {
        std::unique_lock lock(inbox.mutex);
        inbox.changed.wait(lock, [&] { return inbox.calls.size() == 1; });  // "a" is being stored
    }
    std::vector<InboxRecord> second;
    std::vector<InboxRecord> third;
    std::atomic<int> queued{0};
    std::thread b([&] {
        ++queued;
        second = group.enqueue({row("b1"), row("b2")});
    });
    std::thread c([&] {
        ++queued;
        third = group.enqueue({row("c")});
    });
    // Both wait behind "a" (no timing: the store cannot finish before release; give them a bounded while to queue).
    for (int i = 0; i < 2000 && queued.load() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    {
        std::lock_guard lock(inbox.mutex);
        inbox.release = true;
    }
    inbox.changed.notify_all();
    leader.join();
    b.join();
    c.join();

    ASSERT_EQ(first.size(), 1U);
    EXPECT_EQ(first[0].gatewayMsgId, "a");
    EXPECT_EQ(first[0].state, "stored-1");
    ASSERT_EQ(second.size(), 2U);
    EXPECT_EQ(second[0].gatewayMsgId, "b1");
    EXPECT_EQ(second[1].gatewayMsgId, "b2");
    ASSERT_EQ(third.size(), 1U);
    EXPECT_EQ(third[0].gatewayMsgId, "c");
    // Stored by one call (both queued behind "a", unless the machine was too slow to queue them in time: then each
    // is still stored, with its own rows).
    std::size_t rows = 0;
    for (const auto& call : inbox.calls) rows += call.size();
    EXPECT_EQ(rows, 4U);
    if (inbox.calls.size() == 2) {
        EXPECT_EQ(second[0].state, "stored-2");
        EXPECT_EQ(third[0].state, "stored-2");
    }
}

TEST(SmsInboxGroupCommit, AGroupThatFailsIsStoredRequestByRequestSoThatOnlyTheBadOneFails) {
    FakeInbox inbox;
    InboxGroupCommit group(inbox);
    std::thread leader([&] { group.enqueue({row("a")}); });
    {
        std::unique_lock lock(inbox.mutex);
        inbox.changed.wait(lock, [&] { return inbox.calls.size() == 1; });
    }
    std::vector<InboxRecord> good;
    bool badFailed = false;
    std::atomic<int> queued{0};
    std::thread b([&] {
        ++queued;
        good = group.enqueue({row("good")});
    });
    std::thread c([&] {
        ++queued;
        try {
            group.enqueue({row("bad")});
        } catch (const std::runtime_error&) {
            badFailed = true;
        }
    });
    for (int i = 0; i < 2000 && queued.load() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    {
        std::lock_guard lock(inbox.mutex);
        inbox.release = true;
    }
    inbox.changed.notify_all();
    leader.join();
    b.join();
    c.join();

    EXPECT_TRUE(badFailed);
    ASSERT_EQ(good.size(), 1U);
    EXPECT_EQ(good[0].gatewayMsgId, "good");
    EXPECT_EQ(good[0].state.rfind("stored-", 0), 0U);
}

TEST(SmsInboxGroupCommit, ALoneRequestIsStoredAsGiven) {
    FakeInbox inbox;
    inbox.release = true;
    InboxGroupCommit group(inbox);
    const auto stored = group.enqueue({row("x"), row("y")});
    ASSERT_EQ(stored.size(), 2U);
    EXPECT_EQ(stored[1].gatewayMsgId, "y");
    ASSERT_EQ(inbox.calls.size(), 1U);
    EXPECT_EQ(inbox.calls[0], (std::vector<std::string>{"x", "y"}));
    EXPECT_THROW(group.enqueue({row("bad")}), std::runtime_error);
}

}  // namespace
}  // namespace taxdesk::engine::api
