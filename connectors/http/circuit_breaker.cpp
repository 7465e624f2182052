#include "connectors/http/circuit_breaker.hpp"

#include <algorithm>

namespace taxdesk::connectors {

bool worthRetryingThroughBreaker(const ConnectorError& error) noexcept {
    return error.isRetryable() && dynamic_cast<const CircuitOpenError*>(&error) == nullptr;
}

std::string_view toString(BreakerState state) noexcept {
    switch (state) {
        case BreakerState::kClosed:
            return "closed";
        case BreakerState::kOpen:
            return "open";
        case BreakerState::kHalfOpen:
            return "half_open";
    }
    return "unknown";
}

CircuitBreaker::CircuitBreaker(std::string name, int failureThreshold, std::chrono::milliseconds openFor, Clock clock)
    : name_(std::move(name)),
      failureThreshold_(std::max(1, failureThreshold)),
      openFor_(std::max(openFor, std::chrono::milliseconds(0))),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {}

BreakerState CircuitBreaker::state() const {
    std::lock_guard lock(mutex_);
    if (state_ == BreakerState::kOpen && clock_() - openedAt_ >= openFor_) return BreakerState::kHalfOpen;
    return state_;
}

int CircuitBreaker::consecutiveFailures() const {
    std::lock_guard lock(mutex_);
    return failures_;
}

std::uint64_t CircuitBreaker::timesOpened() const {
    std::lock_guard lock(mutex_);
    return timesOpened_;
}

void CircuitBreaker::acquire() {
    std::lock_guard lock(mutex_);
    switch (state_) {
        case BreakerState::kClosed:
            return;
        case BreakerState::kOpen:
            if (clock_() - openedAt_ < openFor_) break;
            state_ = BreakerState::kHalfOpen;
            probeInFlight_ = true;
            return;
        case BreakerState::kHalfOpen:
            if (probeInFlight_) break;
            probeInFlight_ = true;
            return;
    }
    throw CircuitOpenError(name_);
}

void CircuitBreaker::recordSuccess() {
    std::lock_guard lock(mutex_);
    // A success that started before the circuit opened says little about now: the open period runs its course.
    if (state_ == BreakerState::kOpen) return;
    state_ = BreakerState::kClosed;
    failures_ = 0;
    probeInFlight_ = false;
}

void CircuitBreaker::recordFailure() {
    std::lock_guard lock(mutex_);
    switch (state_) {
        case BreakerState::kClosed:
            if (++failures_ >= failureThreshold_) openLocked(clock_());
            return;
        case BreakerState::kHalfOpen:
            ++failures_;
            openLocked(clock_());
            return;
        case BreakerState::kOpen:
            // A late failure of a call that started before the circuit opened: do not extend the open period.
            return;
    }
}

void CircuitBreaker::openLocked(std::chrono::steady_clock::time_point now) {
    state_ = BreakerState::kOpen;
    openedAt_ = now;
    probeInFlight_ = false;
    ++timesOpened_;
}

}  // namespace taxdesk::connectors
