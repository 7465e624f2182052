#pragma once
// A circuit breaker per connector (DESIGN "Failure handling"): after a run of failures, calls are refused at once
// for a while instead of piling up on a system that is down; then one probe decides whether it is back.
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>

#include "connectors/api/errors.hpp"

namespace taxdesk::connectors {

/// closed: calls pass. open: calls are refused with CircuitOpenError. half_open: one probe passes, the rest are
/// refused until the probe's outcome closes or re-opens the circuit.
enum class BreakerState { kClosed, kOpen, kHalfOpen };

/// "closed", "open" or "half_open" (the metric label values). Never throws.
std::string_view toString(BreakerState state) noexcept;

/// Whether a call through a breaker is worth another try after `error`: retryable, and not refused by an open
/// breaker (it stays open far longer than any back-off, so waiting only delays the caller). The network clients'
/// RetryHooks::shouldRetry. Never throws.
bool worthRetryingThroughBreaker(const ConnectorError& error) noexcept;

/// Thread-safe: one breaker is shared by every thread that calls its connector.
class CircuitBreaker {
  public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;

    /// `name` appears in CircuitOpenError. `failureThreshold` consecutive failures open the circuit (values below 1
    /// count as 1); it stays open for `openFor`. `clock` is for tests; the default is std::chrono::steady_clock.
    CircuitBreaker(std::string name, int failureThreshold, std::chrono::milliseconds openFor, Clock clock = {});

    CircuitBreaker(const CircuitBreaker&) = delete;
    CircuitBreaker& operator=(const CircuitBreaker&) = delete;

    /// Runs `call` if the circuit lets it through and records its outcome, returning what it returns.
    /// Throws CircuitOpenError without calling when refused; otherwise rethrows whatever `call` throws.
    /// A PermanentError counts as a success: the other side answered, it only disliked the request. Every other
    /// exception (TransientError, anything unexpected) counts as a failure.
    template <class F>
    decltype(auto) run(F&& call) {
        acquire();
        try {
            if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
                call();
                recordSuccess();
            } else {
                decltype(auto) result = call();
                recordSuccess();
                return result;
            }
        } catch (const ConnectorError& error) {
            if (error.isRetryable()) {
                recordFailure();
            } else {
                recordSuccess();
            }
            throw;
        } catch (...) {
            recordFailure();
            throw;
        }
    }

    /// The state as the next call would see it: an open circuit whose open time has passed reports half_open.
    [[nodiscard]] BreakerState state() const;
    /// Failures since the last success (or since the circuit last closed).
    [[nodiscard]] int consecutiveFailures() const;
    /// How many times the circuit has opened (including re-opens after a failed probe).
    [[nodiscard]] std::uint64_t timesOpened() const;
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

  private:
    // acquire() and record*() are private so that a caller cannot take a half-open probe and forget to report it:
    // run() always pairs them.
    void acquire();
    void recordSuccess();
    void recordFailure();
    void openLocked(std::chrono::steady_clock::time_point now);

    const std::string name_;
    const int failureThreshold_;
    const std::chrono::milliseconds openFor_;
    const Clock clock_;

    mutable std::mutex mutex_;
    BreakerState state_ = BreakerState::kClosed;
    int failures_ = 0;
    bool probeInFlight_ = false;
    std::chrono::steady_clock::time_point openedAt_{};
    std::uint64_t timesOpened_ = 0;
};

}  // namespace taxdesk::connectors
