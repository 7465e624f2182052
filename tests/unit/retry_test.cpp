// The one retry helper (connectors/retry): attempt counts, back-off bounds with jitter, errors that stop it at once,
// the deadline and a stop, with a recording sleep and a fake clock (no real waiting, no timing thresholds).
#include "connectors/retry/retry.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "connectors/api/errors.hpp"
#include "connectors/api/payment.hpp"

namespace taxdesk::connectors {
namespace {

using namespace std::chrono_literals;

struct RetryTest : ::testing::Test {
    RetryStats stats;
    std::vector<std::chrono::milliseconds> sleeps;
    RetryHooks::Clock::time_point clock{};  // advanced by the recorded sleeps
    RetryPolicy policy;
    RetryHooks hooks;

    void SetUp() override {
        policy.attempts = 4;
        policy.baseDelay = 10ms;
        hooks.sleep = [this](std::chrono::milliseconds pause) {
            sleeps.push_back(pause);
            clock += pause;
        };
        hooks.now = [this] { return clock; };
        hooks.stats = &stats;
    }
};

TEST_F(RetryTest, RetryableErrorsAreTriedAttemptsTimesThenTheLastIsThrown) {
    int attempts = 0;
    try {
        retry(policy, hooks, [&]() -> int {
            ++attempts;
            throw TransientError("timeout #" + std::to_string(attempts));
        });
        FAIL() << "no exception";
    } catch (const TransientError& error) {
        EXPECT_STREQ(error.what(), "timeout #4");  // the last attempt's error
    }
    EXPECT_EQ(attempts, 4);
    EXPECT_EQ(sleeps.size(), 3U);
    EXPECT_EQ(stats.calls.load(), 1U);
    EXPECT_EQ(stats.attempts.load(), 4U);
    EXPECT_EQ(stats.retries.load(), 3U);
    EXPECT_EQ(stats.exhausted.load(), 1U);
}

TEST_F(RetryTest, NonRetryableErrorsStopAtOnce) {
    int attempts = 0;
    EXPECT_THROW(retry(policy, hooks,
                       [&]() -> int {
                           ++attempts;
                           throw InsufficientBalance("poor");
                       }),
                 InsufficientBalance);
    EXPECT_THROW(retry(policy, hooks,
                       [&]() -> int {
                           ++attempts;
                           throw std::logic_error("bug");  // not a ConnectorError: never retried
                       }),
                 std::logic_error);
    EXPECT_EQ(attempts, 2);
    EXPECT_TRUE(sleeps.empty());
    EXPECT_EQ(stats.retries.load(), 0U);
    EXPECT_EQ(stats.exhausted.load(), 0U);
}

TEST_F(RetryTest, ShouldRetryDecidesWhichConnectorErrorsAreTriedAgain) {
    // By default an open circuit is retryable like any TransientError; a call site may refuse it.
    int attempts = 0;
    EXPECT_THROW(retry(policy, hooks,
                       [&]() -> int {
                           ++attempts;
                           throw CircuitOpenError("payment");
                       }),
                 CircuitOpenError);
    EXPECT_EQ(attempts, 4);
    hooks.shouldRetry = [](const ConnectorError& error) {
        return dynamic_cast<const CircuitOpenError*>(&error) == nullptr;
    };
    attempts = 0;
    EXPECT_THROW(retry(policy, hooks,
                       [&]() -> int {
                           ++attempts;
                           throw CircuitOpenError("payment");
                       }),
                 CircuitOpenError);
    EXPECT_EQ(attempts, 1);
}

TEST_F(RetryTest, SuccessAfterTwoFailuresReturnsTheValue) {
    int attempts = 0;
    const std::string value = retry(policy, hooks, [&] {
        if (++attempts <= 2) throw TransientError("503");
        return std::string("record");
    });
    EXPECT_EQ(value, "record");
    EXPECT_EQ(attempts, 3);
    EXPECT_EQ(sleeps.size(), 2U);
    EXPECT_EQ(stats.attempts.load(), 3U);
    EXPECT_EQ(stats.retries.load(), 2U);
    EXPECT_EQ(stats.exhausted.load(), 0U);
}

TEST_F(RetryTest, VoidCallsAndASingleAttempt) {
    policy.attempts = 1;
    int attempts = 0;
    retry(policy, hooks, [&] { ++attempts; });
    EXPECT_THROW(retry(policy, hooks,
                       [&] {
                           ++attempts;
                           throw TransientError("x");
                       }),
                 TransientError);
    EXPECT_EQ(attempts, 2);
    EXPECT_TRUE(sleeps.empty());
}

TEST_F(RetryTest, OnRetrySeesEachFailedAttemptAndItsPause) {
    policy.jitter = false;
    std::vector<std::pair<int, std::chrono::milliseconds>> seen;
    hooks.onRetry = [&](const ConnectorError& error, int failedAttempt, std::chrono::milliseconds pause) {
        EXPECT_STREQ(error.what(), "busy");
        seen.emplace_back(failedAttempt, pause);
    };
    EXPECT_THROW(retry(policy, hooks, []() -> int { throw TransientError("busy"); }), TransientError);
    // No jitter: the pauses are the caps, 10, 20, 40 ms; none after the last try.
    const std::vector<std::pair<int, std::chrono::milliseconds>> expected{{1, 10ms}, {2, 20ms}, {3, 40ms}};
    EXPECT_EQ(seen, expected);
    EXPECT_EQ(sleeps, (std::vector<std::chrono::milliseconds>{10ms, 20ms, 40ms}));
}

TEST_F(RetryTest, BackoffDoublesFromBaseUpToTheCeiling) {
    policy.maxDelay = 60ms;
    EXPECT_EQ(detail::backoffCap(policy, 1), 10ms);
    EXPECT_EQ(detail::backoffCap(policy, 2), 20ms);
    EXPECT_EQ(detail::backoffCap(policy, 3), 40ms);
    EXPECT_EQ(detail::backoffCap(policy, 4), 60ms);
    EXPECT_EQ(detail::backoffCap(policy, 1000), 60ms);  // no overflow
    policy.baseDelay = -5ms;
    EXPECT_EQ(detail::backoffCap(policy, 3), 0ms);
}

TEST_F(RetryTest, PausesAreFullJitterWithinTheBound) {
    policy.attempts = 7;
    policy.maxDelay = 200ms;
    for (int round = 0; round < 200; ++round) {
        sleeps.clear();
        EXPECT_THROW(retry(policy, hooks, []() -> int { throw TransientError("x"); }), TransientError);
        ASSERT_EQ(sleeps.size(), 6U);
        // Caps 10, 20, 40, 80, 160, 200 (the ceiling).
        const std::vector<std::chrono::milliseconds> caps{10ms, 20ms, 40ms, 80ms, 160ms, 200ms};
        for (std::size_t i = 0; i < sleeps.size(); ++i) {
            EXPECT_GE(sleeps[i].count(), 0);
            EXPECT_LE(sleeps[i], caps[i]);
        }
    }
    // Jitter means spread: over many draws from [0, 100] both halves occur.
    int low = 0;
    int high = 0;
    for (int i = 0; i < 1000; ++i) {
        const auto pause = detail::fullJitter(100ms);
        ASSERT_LE(pause, 100ms);
        (pause < 50ms ? low : high)++;
    }
    EXPECT_GT(low, 100);
    EXPECT_GT(high, 100);
    EXPECT_EQ(detail::fullJitter(0ms), 0ms);
}

TEST_F(RetryTest, NoRetryPausesPastTheDeadline) {
    policy.attempts = 0;  // no limit: only the deadline ends it
    policy.jitter = false;
    policy.deadline = 100ms;
    int attempts = 0;
    EXPECT_THROW(retry(policy, hooks,
                       [&]() -> int {
                           ++attempts;
                           clock += 5ms;  // each try takes 5 ms
                           throw TransientError("down");
                       }),
                 TransientError);
    // Tries start at 0, 15, 40 and 85 ms (each ends 5 ms later, then pauses 10, 20, 40 ms); the pause of 80 ms
    // after the 4th (ending at 90) would end at 170 > 100: its error is thrown instead.
    EXPECT_EQ(attempts, 4);
    EXPECT_EQ(sleeps, (std::vector<std::chrono::milliseconds>{10ms, 20ms, 40ms}));
    EXPECT_EQ(stats.exhausted.load(), 1U);
}

TEST_F(RetryTest, WithoutALimitItTriesUntilSuccess) {
    policy.attempts = 0;
    policy.maxDelay = 40ms;
    int attempts = 0;
    const int value = retry(policy, hooks, [&] {
        if (++attempts < 50) throw TransientError("store locked");
        return 7;
    });
    EXPECT_EQ(value, 7);
    EXPECT_EQ(attempts, 50);
    EXPECT_EQ(sleeps.size(), 49U);
}

TEST_F(RetryTest, AStopEndsTheRetriesWithRetryStopped) {
    policy.attempts = 0;
    int attempts = 0;
    hooks.stopped = [&] { return attempts >= 3; };
    EXPECT_THROW(retry(policy, hooks,
                       [&]() -> int {
                           ++attempts;
                           throw TransientError("broker away");
                       }),
                 RetryStopped);
    EXPECT_EQ(attempts, 3);
    // A stop is no ConnectorError: nobody takes it for the call's own failure.
    static_assert(!std::is_base_of_v<ConnectorError, RetryStopped>);
}

TEST_F(RetryTest, TheDefaultSleepNoticesAStop) {
    hooks.sleep = nullptr;
    hooks.now = nullptr;
    policy.attempts = 0;
    policy.baseDelay = 3'600'000ms;  // an hour: only the stop can end this test
    policy.jitter = false;
    int attempts = 0;
    bool stop = false;
    hooks.onRetry = [&](const ConnectorError&, int, std::chrono::milliseconds) { stop = true; };
    hooks.stopped = [&] { return stop; };
    EXPECT_THROW(retry(policy, hooks,
                       [&]() -> int {
                           ++attempts;
                           throw TransientError("x");
                       }),
                 RetryStopped);
    EXPECT_EQ(attempts, 1);
}

}  // namespace
}  // namespace taxdesk::connectors
