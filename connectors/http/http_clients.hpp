#pragma once
// The network clients behind makeHttpConnectors (connector_set.hpp). They speak the protocol of stub_server.hpp
// (routes listed there). Each client has its own circuit breaker and runs every call through retry()
// (connectors/retry); the breaker sees every attempt, so a retry loop against a dead server opens it.
//
// Errors: connection refused, timeouts, HTTP 5xx (except 501), 408 and 429 -> TransientError; other 4xx and 501 ->
// PermanentError; 402 from payment -> InsufficientBalance; 404 {"code":"not_found"} from a registry lookup ->
// nullopt (a 404 without that code means the route itself is missing, i.e. a wrong baseUrl, and is a
// PermanentError rather than a silent "not registered"). A refused call throws CircuitOpenError.
//
// makeHttpConnectors throws std::invalid_argument when baseUrl is not http://host[:port][/path]; it does not
// connect (the first call does). Its connectors are thread-safe: each keeps a small pool of keep-alive sessions.
#include <string>
#include <vector>

#include "connectors/api/connector_set.hpp"
#include "connectors/http/circuit_breaker.hpp"
#include "connectors/retry/retry.hpp"

namespace taxdesk::connectors {

/// What metrics read from a network client. Every connector that makeHttpConnectors returns implements it.
/// Thread-safe.
class HttpConnectorStatus {
  public:
    virtual ~HttpConnectorStatus() = default;
    /// "registry", "nhi", "taxdata", "payment" or "sms".
    [[nodiscard]] virtual const std::string& connectorName() const noexcept = 0;
    [[nodiscard]] virtual BreakerState breakerState() const = 0;
    [[nodiscard]] virtual const CircuitBreaker& breaker() const noexcept = 0;
    [[nodiscard]] virtual const RetryStats& retryStats() const noexcept = 0;
};

/// The network clients among the members of `connectors` (in-process stubs are skipped), for metrics. The pointers
/// live as long as the connectors in `connectors`. Never throws except std::bad_alloc. Thread-safe.
std::vector<const HttpConnectorStatus*> httpConnectorStatuses(const ConnectorSet& connectors);

}  // namespace taxdesk::connectors
