#pragma once
// The set of outside-system connectors the engine uses, and the settings that choose and shape them.
#include <cstdint>
#include <memory>
#include <string>

#include "connectors/api/nhi.hpp"
#include "connectors/api/payment.hpp"
#include "connectors/api/registry.hpp"
#include "connectors/api/sms_gateway.hpp"
#include "connectors/api/taxdata.hpp"

namespace taxdesk::connectors {

/// Settings of the in-process stubs (SPEC 7). Also used by `taxdesk stubs`, which serves them over HTTP.
struct StubSettings {
    std::uint64_t seed = 20261126;         ///< the synthetic population is a pure function of (ID, seed)
    int latencyMs = 0;                     ///< added to every call
    int jitterMs = 0;                      ///< uniformly random extra latency, 0..jitterMs
    double failureRate = 0.0;              ///< probability that a call throws TransientError at once
    double timeoutRate = 0.0;              ///< probability that a call hangs timeoutMs, then throws TransientError
    int timeoutMs = 5000;                  ///< how long a timed-out call hangs (longer than clients wait)
    long long paymentBalance = 1'000'000;  ///< every card starts with this balance (NT$)
    std::string smsSentPath;               ///< where the SMS stub appends sent messages (JSON lines); empty: nowhere
    std::string paymentChargesPath;        ///< where the payment stub appends its charges (JSON lines); empty: nowhere
};

/// Settings of the network clients that talk to `taxdesk stubs` or to the real systems.
struct HttpClientSettings {
    std::string baseUrl = "http://127.0.0.1:8091";
    int timeoutMs = 2000;
    int retries = 3;            ///< extra tries after the first, for retryable errors
    int backoffMs = 50;         ///< first back-off; doubles each retry, with full jitter
    int maxBackoffMs = 10'000;  ///< the doubling stops here
    int breakerFailures = 5;    ///< consecutive failures that open the circuit
    int breakerOpenMs = 5000;   ///< how long it stays open before a half-open probe
};

struct ConnectorSet {
    std::shared_ptr<Registry> registry;
    std::shared_ptr<NhiCard> nhi;
    std::shared_ptr<TaxData> taxData;
    std::shared_ptr<Payment> payment;
    std::shared_ptr<SmsGateway> sms;
};

/// The in-process stubs (connectors/stubs).
ConnectorSet makeStubConnectors(const StubSettings& settings);
/// The network clients (connectors/http).
ConnectorSet makeHttpConnectors(const HttpClientSettings& settings);

}  // namespace taxdesk::connectors
