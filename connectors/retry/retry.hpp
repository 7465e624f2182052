#pragma once
// The one way to retry in taxdesk (issue 10): exponential back-off with full jitter, for errors that say a retry can
// help (ConnectorError::isRetryable()). Full jitter (a pause drawn uniformly from [0, cap]) keeps many clients that
// failed together from retrying together.
//
// Each call site has ONE policy, filled from the configuration (engine/runtime/config.cpp):
//   - the network clients (connectors/http): connectors.retries, connectors.backoff_ms, connectors.max_backoff_ms;
//   - the inquiry stage's connector calls: pipeline.connector_attempts, pipeline.connector_backoff_ms (only when the
//     connectors do not retry themselves, see Service: never attempts x attempts calls);
//   - the pipeline's batches (store or broker away): pipeline.retry_backoff_ms, pipeline.retry_max_backoff_ms, no
//     limit on attempts, until the engine stops.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "connectors/api/errors.hpp"

namespace taxdesk::connectors {

/// Counters a metrics exporter can read while calls run. Thread-safe (atomics); never reset.
struct RetryStats {
    std::atomic<std::uint64_t> calls{0};      ///< calls to retry()
    std::atomic<std::uint64_t> attempts{0};   ///< tries, first tries included
    std::atomic<std::uint64_t> retries{0};    ///< tries after the first
    std::atomic<std::uint64_t> exhausted{0};  ///< calls that ran out of tries (or time) and threw a retryable error
};

/// How one call site retries: plain values, filled from the configuration once.
struct RetryPolicy {
    /// Tries in all, the first included. 0 or less: no limit (until the deadline, or until `stopped` says so).
    int attempts = 4;
    std::chrono::milliseconds baseDelay{50};     ///< cap of the pause before the first retry; doubles each retry
    std::chrono::milliseconds maxDelay{10'000};  ///< the doubling stops here
    bool jitter = true;                          ///< full jitter: each pause uniform in [0, cap]; false: the cap itself
    /// More than 0: no retry whose pause would end later than this after the first try began (the last error is
    /// thrown instead). 0: no deadline.
    std::chrono::milliseconds deadline{0};
};

/// What a call site plugs in; every member may stay empty. The functions are called on the retrying thread.
struct RetryHooks {
    using Clock = std::chrono::steady_clock;
    /// Which ConnectorErrors are worth another try; empty: isRetryable(). Other exceptions are never retried.
    std::function<bool(const ConnectorError&)> shouldRetry;
    /// Sleeps a pause; empty: std::this_thread::sleep_for in slices of at most 50 ms, watching `stopped`.
    std::function<void(std::chrono::milliseconds)> sleep;
    /// The clock the deadline is measured with; empty: steady_clock.
    std::function<Clock::time_point()> now;
    /// True once the caller wants to stop: no further try starts and retry() throws RetryStopped. Empty: never.
    std::function<bool()> stopped;
    /// Called before each pause with the error, the number of the try that failed (1-based) and the pause (to log
    /// and count). What it throws replaces the error.
    std::function<void(const ConnectorError&, int failedAttempt, std::chrono::milliseconds pause)> onRetry;
    /// Where attempts are counted; may be null. Must outlive the calls.
    RetryStats* stats = nullptr;
};

/// Thrown by retry() when `hooks.stopped` turned true while it waited to try again: the work was not done.
/// Deliberately not a ConnectorError, so that no caller mistakes it for the call's own failure.
class RetryStopped : public std::runtime_error {
  public:
    RetryStopped() : std::runtime_error("retry: stopped before the work succeeded") {}
};

namespace detail {

/// The back-off cap before retry number `retry` (1-based): baseDelay * 2^(retry-1), at most maxDelay. Never throws.
std::chrono::milliseconds backoffCap(const RetryPolicy& policy, int retry) noexcept;
/// A uniformly random duration in [0, cap], from a per-thread generator. Thread-safe.
std::chrono::milliseconds fullJitter(std::chrono::milliseconds cap);
/// The pause before retry number `retry`: the cap, jittered when the policy says so.
std::chrono::milliseconds pauseBefore(const RetryPolicy& policy, int retry);
bool shouldRetry(const RetryHooks& hooks, const ConnectorError& error);
RetryHooks::Clock::time_point now(const RetryHooks& hooks);
/// Whether a pause starting now ends after the policy's deadline.
bool pastDeadline(const RetryPolicy& policy, const RetryHooks& hooks, RetryHooks::Clock::time_point started,
                  std::chrono::milliseconds pause);
/// Sleeps `pause` (hooks.sleep, or in slices watching hooks.stopped); throws RetryStopped once stopped.
void pauseFor(const RetryHooks& hooks, std::chrono::milliseconds pause);
void countCall(const RetryHooks& hooks) noexcept;
void countAttempt(const RetryHooks& hooks, bool first) noexcept;
void countExhausted(const RetryHooks& hooks) noexcept;

}  // namespace detail

/// Runs `call` and returns its result. A ConnectorError that `hooks.shouldRetry` accepts (by default: isRetryable())
/// is tried again after a pause, up to `policy.attempts` tries in all and within `policy.deadline`; then the last
/// error is rethrown. Any other ConnectorError and any other exception is rethrown at once. Throws RetryStopped
/// when `hooks.stopped` turns true between tries. Thread-safe if `call` and the hooks are.
template <class F>
std::invoke_result_t<F&> retry(const RetryPolicy& policy, const RetryHooks& hooks, F&& call) {
    const auto started = detail::now(hooks);
    detail::countCall(hooks);
    for (int attempt = 1;; ++attempt) {
        detail::countAttempt(hooks, attempt == 1);
        std::chrono::milliseconds pause{0};
        try {
            return call();
        } catch (const ConnectorError& error) {
            if (!detail::shouldRetry(hooks, error)) throw;
            if (policy.attempts > 0 && attempt >= policy.attempts) {
                detail::countExhausted(hooks);
                throw;
            }
            pause = detail::pauseBefore(policy, attempt);
            if (detail::pastDeadline(policy, hooks, started, pause)) {
                detail::countExhausted(hooks);
                throw;
            }
            if (hooks.onRetry) hooks.onRetry(error, attempt, pause);
        }
        // Outside the handler, so that the failed try's exception is released while this thread sleeps.
        detail::pauseFor(hooks, pause);
    }
}

/// retry() with no hooks: default sleep and clock, isRetryable(), never stopped.
template <class F>
std::invoke_result_t<F&> retry(const RetryPolicy& policy, F&& call) {
    return retry(policy, RetryHooks{}, std::forward<F>(call));
}

}  // namespace taxdesk::connectors
