#include "connectors/retry/retry.hpp"

#include <algorithm>
#include <random>
#include <thread>

namespace taxdesk::connectors::detail {

std::chrono::milliseconds backoffCap(const RetryPolicy& policy, int retry) noexcept {
    const auto base = std::max<std::chrono::milliseconds::rep>(0, policy.baseDelay.count());
    const auto ceiling = std::max<std::chrono::milliseconds::rep>(0, policy.maxDelay.count());
    auto cap = base;
    // Doubling stops at the ceiling, so a large retry count cannot overflow.
    for (int i = 1; i < retry && cap < ceiling; ++i) cap *= 2;
    return std::chrono::milliseconds(std::min(cap, ceiling));
}

std::chrono::milliseconds fullJitter(std::chrono::milliseconds cap) {
    if (cap.count() <= 0) return std::chrono::milliseconds(0);
    thread_local std::mt19937_64 generator{std::random_device{}()};
    std::uniform_int_distribution<std::chrono::milliseconds::rep> distribution(0, cap.count());
    return std::chrono::milliseconds(distribution(generator));
}

std::chrono::milliseconds pauseBefore(const RetryPolicy& policy, int retry) {
    const auto cap = backoffCap(policy, retry);
    return policy.jitter ? fullJitter(cap) : cap;
}

bool shouldRetry(const RetryHooks& hooks, const ConnectorError& error) {
    return hooks.shouldRetry ? hooks.shouldRetry(error) : error.isRetryable();
}

RetryHooks::Clock::time_point now(const RetryHooks& hooks) {
    return hooks.now ? hooks.now() : RetryHooks::Clock::now();
}

bool pastDeadline(const RetryPolicy& policy, const RetryHooks& hooks, RetryHooks::Clock::time_point started,
                  std::chrono::milliseconds pause) {
    if (policy.deadline.count() <= 0) return false;
    return now(hooks) + pause > started + policy.deadline;
}

void pauseFor(const RetryHooks& hooks, std::chrono::milliseconds pause) {
    auto stopped = [&] { return hooks.stopped && hooks.stopped(); };
    if (hooks.sleep) {
        if (stopped()) throw RetryStopped();
        hooks.sleep(pause);
    } else {
        // In slices, so that a stop is noticed within 50 ms however long the pause.
        constexpr std::chrono::milliseconds kSlice{50};
        for (auto left = pause; left.count() > 0; left -= kSlice) {
            if (stopped()) throw RetryStopped();
            std::this_thread::sleep_for(std::min(left, kSlice));
        }
    }
    if (stopped()) throw RetryStopped();
}

void countCall(const RetryHooks& hooks) noexcept {
    if (hooks.stats != nullptr) hooks.stats->calls.fetch_add(1, std::memory_order_relaxed);
}

void countAttempt(const RetryHooks& hooks, bool first) noexcept {
    if (hooks.stats == nullptr) return;
    hooks.stats->attempts.fetch_add(1, std::memory_order_relaxed);
    if (!first) hooks.stats->retries.fetch_add(1, std::memory_order_relaxed);
}

void countExhausted(const RetryHooks& hooks) noexcept {
    if (hooks.stats != nullptr) hooks.stats->exhausted.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace taxdesk::connectors::detail
