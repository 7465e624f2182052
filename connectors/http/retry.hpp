#pragma once
// Retries with exponential back-off and full jitter, for retryable connector errors only (DESIGN "Failure
// handling"). Full jitter (sleep a uniform time in [0, cap]) keeps many clients that failed together from retrying
// together.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <type_traits>

#include "connectors/api/errors.hpp"

namespace taxdesk::connectors {

/// Counters a metrics exporter can read while calls run. Thread-safe (atomics); never reset.
struct RetryStats {
    std::atomic<std::uint64_t> calls{0};      ///< calls to retryCall
    std::atomic<std::uint64_t> attempts{0};   ///< tries, first tries included
    std::atomic<std::uint64_t> retries{0};    ///< tries after the first
    std::atomic<std::uint64_t> exhausted{0};  ///< calls that ran out of retries and threw a retryable error
};

struct RetryPolicy {
    int retries = 3;                               ///< extra tries after the first; negative counts as 0
    std::chrono::milliseconds backoff{50};         ///< cap of the first back-off; doubles each retry
    std::chrono::milliseconds maxBackoff{10'000};  ///< the doubling stops here
    /// Sleeps between tries; empty means std::this_thread::sleep_for. Tests put a recorder here.
    std::function<void(std::chrono::milliseconds)> sleep;
    /// Where attempts are counted; may be null. Must outlive the calls.
    RetryStats* stats = nullptr;
};

namespace detail {

/// The back-off cap before retry number `retry` (1-based): backoff * 2^(retry-1), at most maxBackoff. Never throws.
std::chrono::milliseconds backoffCap(const RetryPolicy& policy, int retry) noexcept;
/// A uniformly random duration in [0, cap], from a per-thread generator. Thread-safe.
std::chrono::milliseconds fullJitter(std::chrono::milliseconds cap);
/// Counts a retry and sleeps the jittered back-off before retry number `retry`.
void backOff(const RetryPolicy& policy, int retry);
void countAttempt(const RetryPolicy& policy, bool first) noexcept;
void countExhausted(const RetryPolicy& policy) noexcept;

}  // namespace detail

/// Runs `call` and returns its result. A ConnectorError with isRetryable() is retried up to `policy.retries` more
/// times with back-off; the last one is rethrown. A non-retryable ConnectorError, a CircuitOpenError (the breaker
/// stays open far longer than any back-off, so waiting here only delays the caller) and any other exception are
/// rethrown at once. Thread-safe if `call` is.
template <class F>
std::invoke_result_t<F&> retryCall(const RetryPolicy& policy, F&& call) {
    if (policy.stats != nullptr) policy.stats->calls.fetch_add(1, std::memory_order_relaxed);
    for (int retry = 0;; ++retry) {
        detail::countAttempt(policy, retry == 0);
        try {
            return call();
        } catch (const CircuitOpenError&) {
            throw;
        } catch (const ConnectorError& error) {
            if (!error.isRetryable()) throw;
            if (retry >= policy.retries) {
                detail::countExhausted(policy);
                throw;
            }
        }
        detail::backOff(policy, retry + 1);
    }
}

}  // namespace taxdesk::connectors
