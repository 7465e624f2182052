#pragma once
// Typed errors for everything behind a connector: each says whether a retry can help.
#include <stdexcept>
#include <string>

namespace taxdesk::connectors {

/// Base of every error raised by a connector. `isRetryable()` tells the caller what to do:
/// retry with back-off (timeouts, 5xx, a broker or server that is briefly away) or give up at once.
class ConnectorError : public std::runtime_error {
  public:
    ConnectorError(const std::string& what, bool retryable) : std::runtime_error(what), retryable_(retryable) {}
    [[nodiscard]] bool isRetryable() const noexcept { return retryable_; }

  private:
    bool retryable_;
};

/// A failure that may pass: timeout, connection refused, HTTP 5xx, injected stub failure.
class TransientError : public ConnectorError {
  public:
    explicit TransientError(const std::string& what) : ConnectorError(what, true) {}
};

/// A failure that repeats on every try: bad request, contract violation.
class PermanentError : public ConnectorError {
  public:
    explicit PermanentError(const std::string& what) : ConnectorError(what, false) {}
};

/// The circuit breaker refused the call without trying it. Retryable later, not now.
class CircuitOpenError : public TransientError {
  public:
    explicit CircuitOpenError(const std::string& connector)
        : TransientError("circuit breaker open for connector '" + connector + "'") {}
};

}  // namespace taxdesk::connectors
