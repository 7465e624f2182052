#pragma once
// The HTTP side of `taxdesk stubs`: serves any ConnectorSet (normally the in-process stubs) with the protocol that
// the network clients of makeHttpConnectors speak.
//
// Routes (bodies are JSON, UTF-8; field names as in json_codec.hpp):
//   GET  /healthz                    200 {"status":"ok"}
//   GET  /registry/v1/persons/{id}   200 RegistryRecord | 404 {"code":"not_found"}       ({id} percent-encoded)
//   POST /nhi/v1/verify              {id, last4} -> 200 {"match": bool}
//   POST /taxdata/v1/records         {id, years: [int], income: bool, property: bool} -> 200 TaxRecords
//   POST /payment/v1/charges         {card_id, amount, idempotency_key} -> 200 ChargeResult
//   GET  /payment/v1/charges/{key}   -> 200 ChargeResult of the charge made under the key, or 404 not_found
//                                    | 402 {"code":"insufficient_balance"} | 409 {"code":"conflict"} (key reuse)
//   POST /sms/v1/messages            OutboundSms -> 200 SendReceipt
//
// Every error response is {"code": "...", "error": "message"}:
//   400 bad_request         the request body is not what the route expects (names the field)
//   400 rejected            the connector threw PermanentError (payment: 409 conflict)
//   404 no_route            no such route (a client aimed at the wrong base URL)
//   405 method_not_allowed  known route, other method (Allow header set)
//   413 too_large           request body over 1 MiB
//   501 not_configured      the ConnectorSet has no connector for this route
//   503 transient           the connector threw TransientError (injected failures, CircuitOpenError)
//   500 internal            any other exception
#include <Poco/Net/HTTPRequestHandlerFactory.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "connectors/api/connector_set.hpp"

namespace taxdesk::connectors {

/// Creates one handler per request; the handlers call the connectors of the set given at construction.
/// Thread-safe (the connectors are).
class StubRequestHandlerFactory : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    explicit StubRequestHandlerFactory(ConnectorSet connectors);

    /// Never returns null; never throws except std::bad_alloc.
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest& request) override;

    /// Requests handled so far, every status included.
    [[nodiscard]] std::uint64_t requestsServed() const noexcept { return served_->load(std::memory_order_relaxed); }

  private:
    std::shared_ptr<const ConnectorSet> connectors_;
    std::shared_ptr<std::atomic<std::uint64_t>> served_;
};

struct StubServerOptions {
    std::string host = "127.0.0.1";  ///< address to listen on; "0.0.0.0" for every interface
    std::uint16_t port = 0;          ///< 0: the system picks a free port (read it with port())
    int maxThreads = 64;             ///< each open keep-alive connection holds a thread while it waits
    int maxQueued = 256;             ///< connections waiting for a thread beyond this are refused
    int keepAliveTimeoutMs = 5000;   ///< idle keep-alive connections are closed after this
};

/// RAII: listens and serves from construction, stops in the destructor (aborting requests still in flight and
/// waiting for their threads). Not copyable or movable. port(), baseUrl() and requestsServed() are thread-safe.
class StubHttpServer {
  public:
    /// Throws Poco::Net::NetException (e.g. address in use) when it cannot listen.
    explicit StubHttpServer(ConnectorSet connectors, const StubServerOptions& options = {});
    ~StubHttpServer();

    StubHttpServer(const StubHttpServer&) = delete;
    StubHttpServer& operator=(const StubHttpServer&) = delete;

    /// The port it listens on (the chosen one when options.port was 0).
    [[nodiscard]] std::uint16_t port() const noexcept;
    /// "http://<host>:<port>", ready for HttpClientSettings::baseUrl ("127.0.0.1" when listening on 0.0.0.0).
    [[nodiscard]] std::string baseUrl() const;
    [[nodiscard]] std::uint64_t requestsServed() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace taxdesk::connectors
