#include "connectors/http/retry.hpp"

#include <algorithm>
#include <random>
#include <thread>

namespace taxdesk::connectors::detail {

std::chrono::milliseconds backoffCap(const RetryPolicy& policy, int retry) noexcept {
    const auto base = std::max<std::chrono::milliseconds::rep>(0, policy.backoff.count());
    const auto ceiling = std::max<std::chrono::milliseconds::rep>(0, policy.maxBackoff.count());
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

void backOff(const RetryPolicy& policy, int retry) {
    const auto pause = fullJitter(backoffCap(policy, retry));
    if (policy.sleep) {
        policy.sleep(pause);
    } else if (pause.count() > 0) {
        std::this_thread::sleep_for(pause);
    }
}

void countAttempt(const RetryPolicy& policy, bool first) noexcept {
    if (policy.stats == nullptr) return;
    policy.stats->attempts.fetch_add(1, std::memory_order_relaxed);
    if (!first) policy.stats->retries.fetch_add(1, std::memory_order_relaxed);
}

void countExhausted(const RetryPolicy& policy) noexcept {
    if (policy.stats != nullptr) policy.stats->exhausted.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace taxdesk::connectors::detail
