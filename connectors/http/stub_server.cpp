#include "connectors/http/stub_server.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>

#include <algorithm>
#include <cstdio>
#include <istream>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "connectors/api/errors.hpp"
#include "connectors/api/payment.hpp"
#include "connectors/http/json_codec.hpp"
#include "connectors/http/listener.hpp"

namespace taxdesk::connectors {
namespace detail {
namespace {

constexpr std::size_t kMaxRequestBody = 1U << 20U;
constexpr std::string_view kPersonsPrefix = "/registry/v1/persons/";
constexpr std::string_view kChargesPrefix = "/payment/v1/charges/";

struct Reply {
    int status = 200;
    Poco::JSON::Object::Ptr body;
    std::string allow;   // the Allow header of a 405
    bool close = false;  // the request body was not read to its end, so the connection cannot be reused
};

Reply errorReply(int status, std::string code, std::string message) {
    return Reply{status, toJson(ErrorBody{std::move(code), std::move(message)}), {}, false};
}

Reply ok(Poco::JSON::Object::Ptr body) {
    return Reply{200, std::move(body), {}, false};
}

// A request the route cannot use: 400 before any connector is called.
class BadRequest : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

template <class Decode>
auto decodeRequest(const std::string& body, std::string_view what, Decode decode) {
    try {
        return decode(parseJsonObject(body, what));
    } catch (const PermanentError& error) {
        throw BadRequest(error.what());
    }
}

// Turns the connector's typed errors into the statuses the clients map back (http_clients.hpp).
template <class Call>
Reply callConnector(Call&& call, int permanentStatus, const char* permanentCode) {
    try {
        return call();
    } catch (const InsufficientBalance& error) {
        return errorReply(402, "insufficient_balance", error.what());
    } catch (const ConnectorError& error) {
        if (error.isRetryable()) return errorReply(503, "transient", error.what());
        return errorReply(permanentStatus, permanentCode, error.what());
    }
}

// Reads the whole body, or returns false once it exceeds the limit.
bool readBody(std::istream& in, std::string& body) {
    char buffer[8192];
    while (in) {
        in.read(buffer, sizeof buffer);
        body.append(buffer, static_cast<std::size_t>(in.gcount()));
        if (body.size() > kMaxRequestBody) return false;
    }
    return true;
}

class StubRequestHandler : public Poco::Net::HTTPRequestHandler {
  public:
    StubRequestHandler(std::shared_ptr<const ConnectorSet> connectors,
                       std::shared_ptr<std::atomic<std::uint64_t>> served)
        : connectors_(std::move(connectors)), served_(std::move(served)) {}

    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
        served_->fetch_add(1, std::memory_order_relaxed);
        Reply reply;
        try {
            std::string body;
            if (readBody(request.stream(), body)) {
                std::string path = request.getURI();
                path = path.substr(0, path.find('?'));
                reply = route(request.getMethod(), path, body);
            } else {
                reply = errorReply(413, "too_large", "request body over " + std::to_string(kMaxRequestBody) + " bytes");
                reply.close = true;
            }
        } catch (const BadRequest& error) {
            reply = errorReply(400, "bad_request", error.what());
        } catch (const std::exception& error) {
            reply = errorReply(500, "internal", error.what());
        } catch (...) {
            reply = errorReply(500, "internal", "unknown exception");
        }
        send(response, reply);
    }

  private:
    Reply route(const std::string& method, const std::string& path, const std::string& body) {
        if (path == "/healthz") {
            if (method != "GET") return notAllowed("GET");
            auto json = Poco::JSON::Object::Ptr(new Poco::JSON::Object);
            json->set("status", "ok");
            return ok(json);
        }
        if (path.size() > kPersonsPrefix.size() && path.starts_with(kPersonsPrefix)) {
            const std::string segment = path.substr(kPersonsPrefix.size());
            if (segment.find('/') != std::string::npos) return noRoute(path);
            if (method != "GET") return notAllowed("GET");
            return lookupPerson(segment);
        }
        if (path == "/nhi/v1/verify") {
            if (method != "POST") return notAllowed("POST");
            const auto request = decodeRequest(body, "nhi verify request", nhiVerifyRequestFromJson);
            if (!connectors_->nhi) return notConfigured("nhi");
            return callConnector(
                [&] { return ok(nhiMatchToJson(connectors_->nhi->verifyLast4(request.id, request.last4))); }, 400,
                "rejected");
        }
        if (path == "/taxdata/v1/records") {
            if (method != "POST") return notAllowed("POST");
            const auto request = decodeRequest(body, "tax data request", taxDataRequestFromJson);
            if (!connectors_->taxData) return notConfigured("taxdata");
            return callConnector(
                [&] {
                    return ok(toJson(
                        connectors_->taxData->lookup(request.id, request.years, request.income, request.property)));
                },
                400, "rejected");
        }
        if (path == "/payment/v1/charges") {
            if (method != "POST") return notAllowed("POST");
            const auto request = decodeRequest(body, "charge request", chargeRequestFromJson);
            if (!connectors_->payment) return notConfigured("payment");
            // The payment connector's PermanentError is the idempotency key reused with another card or amount.
            return callConnector(
                [&] {
                    return ok(
                        toJson(connectors_->payment->charge(request.cardId, request.amount, request.idempotencyKey)));
                },
                409, "conflict");
        }
        if (path.size() > kChargesPrefix.size() && path.starts_with(kChargesPrefix)) {
            if (method != "GET") return notAllowed("GET");
            std::string key;
            Poco::URI::decode(path.substr(kChargesPrefix.size()), key);
            if (!connectors_->payment) return notConfigured("payment");
            return callConnector(
                [&] {
                    const auto charge = connectors_->payment->findCharge(key);
                    if (!charge) return errorReply(404, "not_found", "no charge with this idempotency key");
                    return ok(toJson(*charge));
                },
                400, "rejected");
        }
        if (path == "/sms/v1/messages") {
            if (method != "POST") return notAllowed("POST");
            const auto request = decodeRequest(body, "outbound sms", outboundSmsFromJson);
            if (!connectors_->sms) return notConfigured("sms");
            return callConnector([&] { return ok(toJson(connectors_->sms->send(request))); }, 400, "rejected");
        }
        return noRoute(path);
    }

    Reply lookupPerson(const std::string& segment) {
        std::string id;
        try {
            Poco::URI::decode(segment, id);
        } catch (const Poco::Exception& error) {
            throw BadRequest("person id: " + error.displayText());
        }
        if (!connectors_->registry) return notConfigured("registry");
        return callConnector(
            [&] {
                const auto record = connectors_->registry->lookup(id);
                if (!record) return errorReply(404, "not_found", "no person or company with this id");
                return ok(toJson(*record));
            },
            400, "rejected");
    }

    static Reply notAllowed(const std::string& allow) {
        Reply reply = errorReply(405, "method_not_allowed", "use " + allow);
        reply.allow = allow;
        return reply;
    }

    static Reply noRoute(const std::string& path) { return errorReply(404, "no_route", "no route " + path); }

    static Reply notConfigured(const std::string& connector) {
        return errorReply(501, "not_configured", "this server has no " + connector + " connector");
    }

    static void send(Poco::Net::HTTPServerResponse& response, const Reply& reply) {
        const std::string text = toJsonString(reply.body);
        response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
        response.setContentType("application/json; charset=utf-8");
        response.setContentLength(static_cast<std::streamsize>(text.size()));
        if (!reply.allow.empty()) response.set("Allow", reply.allow);
        if (reply.close) response.setKeepAlive(false);
        response.send() << text;
    }

    std::shared_ptr<const ConnectorSet> connectors_;
    std::shared_ptr<std::atomic<std::uint64_t>> served_;
};

}  // namespace
}  // namespace detail

StubRequestHandlerFactory::StubRequestHandlerFactory(ConnectorSet connectors)
    : connectors_(std::make_shared<const ConnectorSet>(std::move(connectors))),
      served_(std::make_shared<std::atomic<std::uint64_t>>(0)) {}

Poco::Net::HTTPRequestHandler* StubRequestHandlerFactory::createRequestHandler(const Poco::Net::HTTPServerRequest&) {
    return new detail::StubRequestHandler(connectors_, served_);
}

struct StubHttpServer::Impl {
    explicit Impl(int threads) : pool(2, std::max(2, threads)) {}

    std::string host;
    std::uint16_t port = 0;
    Poco::ThreadPool pool;                         // outlives server (declared first, destroyed last)
    StubRequestHandlerFactory* factory = nullptr;  // owned by server
    std::unique_ptr<Poco::Net::HTTPServer> server;
};

StubHttpServer::StubHttpServer(ConnectorSet connectors, const StubServerOptions& options)
    : impl_(std::make_unique<Impl>(options.maxThreads)) {
    Poco::Net::ServerSocket socket = listenExclusively(Poco::Net::SocketAddress(options.host, options.port));
    impl_->host = options.host;
    impl_->port = socket.address().port();

    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(std::max(2, options.maxThreads));
    params->setMaxQueued(std::max(1, options.maxQueued));
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(static_cast<long>(std::max(1, options.keepAliveTimeoutMs)) * 1000));

    auto* factory = new StubRequestHandlerFactory(std::move(connectors));
    impl_->factory = factory;
    impl_->server = std::make_unique<Poco::Net::HTTPServer>(Poco::Net::HTTPRequestHandlerFactory::Ptr(factory),
                                                            impl_->pool, socket, params);
    impl_->server->start();
}

StubHttpServer::~StubHttpServer() {
    // Abort rather than wait: idle keep-alive connections would otherwise hold the stop for keepAliveTimeoutMs. A
    // destructor must not throw: a failure to stop is written to stderr (this server has no logger of its own).
    try {
        impl_->server->stopAll(true);
        impl_->server.reset();
        impl_->pool.joinAll();
    } catch (const std::exception& error) {
        std::fprintf(stderr, "stub server: stopping failed: %s\n", error.what());
    }
}

std::uint16_t StubHttpServer::port() const noexcept {
    return impl_->port;
}

std::string StubHttpServer::baseUrl() const {
    std::string host = impl_->host;
    if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
    if (host == "::") host = "::1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    return "http://" + host + ":" + std::to_string(impl_->port);
}

std::uint64_t StubHttpServer::requestsServed() const noexcept {
    return impl_->factory->requestsServed();
}

}  // namespace taxdesk::connectors
