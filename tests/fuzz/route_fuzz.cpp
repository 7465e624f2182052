// Fuzz target: how the engine reads a request line (engine/http_server.cpp): the URI and query parsing, the route
// matching with {param} and {rest*} segments, the X-Request-Id check and the error replies. Poco parses the bytes of
// the connection itself; what the project does with them is the handler its request handler factory makes, which is
// driven here with an in-memory request and response (no socket). The file is compiled into this target so that the
// factory (in an anonymous namespace) is reachable without being exported; nothing else of its internals is used.
//
// Input: the first line is "<METHOD> <URI>", an optional second line is the X-Request-Id header.
// Invariants: handleRequest never throws; the status is the routes' 200 or the router's 4xx; every answer has a sane
// X-Request-Id (the caller's when it is a sane token); an error answer is SPEC 5's JSON error object; a matched
// route's {param}s are all set and not empty. A 500 (an unexpected exception: issue 9 #19 says a client error must
// be a 4xx) fails the run when TAXDESK_FUZZ_STRICT_STATUS=1 and is otherwise counted and printed at the end.
#include "engine/http_server.cpp"  // NOLINT(bugprone-suspicious-include): the internals are what is fuzzed

#include <Poco/AutoPtr.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Logger.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/NullChannel.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <sstream>

#include "fuzz_check.hpp"

namespace {

class FakeResponse : public Poco::Net::HTTPServerResponse {
  public:
    void sendContinue() override {}
    std::ostream& send() override {
        sent_ = true;
        return body_;
    }
    void sendFile(const std::string&, const std::string&) override { sent_ = true; }
    void sendBuffer(const void* buffer, std::size_t length) override {
        sent_ = true;
        body_.write(static_cast<const char*>(buffer), static_cast<std::streamsize>(length));
    }
    void redirect(const std::string&, HTTPStatus) override { sent_ = true; }
    void requireAuthentication(const std::string&) override {}
    [[nodiscard]] bool sent() const override { return sent_; }
    [[nodiscard]] std::string body() const { return body_.str(); }

  private:
    std::ostringstream body_;
    bool sent_ = false;
};

class FakeRequest : public Poco::Net::HTTPServerRequest {
  public:
    explicit FakeRequest(FakeResponse& response) : response_(response), params_(new Poco::Net::HTTPServerParams) {}
    std::istream& stream() override { return body_; }
    [[nodiscard]] const Poco::Net::SocketAddress& clientAddress() const override { return client_; }
    [[nodiscard]] const Poco::Net::SocketAddress& serverAddress() const override { return server_; }
    [[nodiscard]] const Poco::Net::HTTPServerParams& serverParams() const override { return *params_; }
    [[nodiscard]] Poco::Net::HTTPServerResponse& response() const override { return response_; }
    [[nodiscard]] bool secure() const override { return false; }

  private:
    FakeResponse& response_;
    Poco::AutoPtr<Poco::Net::HTTPServerParams> params_;
    std::istringstream body_;
    Poco::Net::SocketAddress client_{"127.0.0.1", 40000};
    Poco::Net::SocketAddress server_{"127.0.0.1", 8080};
};

using taxdesk::engine::HttpReply;
using taxdesk::engine::HttpRequest;
using taxdesk::engine::Route;

/// The parameter names of a route pattern: `{id}` gives "id", a final `{rest*}` gives "rest".
std::vector<std::pair<std::string, bool>> parameters(const std::string& pattern) {
    std::vector<std::pair<std::string, bool>> names;
    std::size_t start = 0;
    while ((start = pattern.find('{', start)) != std::string::npos) {
        const std::size_t end = pattern.find('}', start);
        const bool rest = pattern[end - 1] == '*';
        names.emplace_back(pattern.substr(start + 1, end - start - (rest ? 2 : 1)), rest);
        start = end;
    }
    return names;
}

/// The engine's routes (engine/api/*.cpp, engine/service.cpp, engine/pages/static_pages.cpp) and one {rest*}
/// route, each answering 200 after checking its parameters, or 400 (HttpError) when the query says fail=1.
/// Only the router's public face is used (its factory and the Route struct), so that its internals may change.
taxdesk::engine::Factory& router() {
    static taxdesk::engine::Factory factory = [] {
        const std::vector<std::pair<std::string, std::string>> table = {
            {"POST", "/api/v1/batches"},
            {"GET", "/api/v1/batches"},
            {"GET", "/api/v1/batches/{id}"},
            {"POST", "/api/v1/batches/{id}/payment"},
            {"GET", "/api/v1/batches/{id}/results"},
            {"GET", "/api/v1/batches/{id}/receipt"},
            {"GET", "/r/{token}"},
            {"GET", "/dashboard/data"},
            {"GET", "/metrics"},
            {"POST", "/api/v1/sms/inbound"},
            {"POST", "/api/v1/sms/dlr"},
            {"POST", "/api/v1/pickups/{code}/collect"},
            {"GET", "/api/v1/ops/dead-letters"},
            {"POST", "/api/v1/ops/dead-letters/{id}/replay"},
            {"GET", "/healthz"},
            {"GET", "/readyz"},
            {"GET", "/"},
            {"GET", "/dashboard"},
            {"GET", "/static/{rest*}"},
        };
        std::vector<Route> routes;
        for (const auto& entry : table) {
            const auto names = parameters(entry.second);
            routes.push_back({entry.first, entry.second, [names](HttpRequest& request) {
                                  for (const auto& [name, rest] : names) {
                                      const auto it = request.params.find(name);
                                      FUZZ_CHECK(it != request.params.end(), "a matched route has all its {params}");
                                      FUZZ_CHECK(rest || !it->second.empty(), "a {param} is never empty");
                                  }
                                  // What handlers do with the query: read it (the last value of a name wins).
                                  if (request.queryValue("fail") == "1")
                                      throw taxdesk::engine::HttpError(400, "bad_request", "asked to fail");
                                  return taxdesk::engine::jsonReply(200, R"({"ok":true})");
                              }});
        }
        return taxdesk::engine::Factory(std::move(routes));
    }();
    return factory;
}

std::atomic<long> serverErrors{0};

void reportServerErrors() {
    if (serverErrors > 0)
        std::fprintf(stderr, "route_fuzz: %ld inputs answered 500 (set TAXDESK_FUZZ_STRICT_STATUS=1 to stop at one)\n",
                     serverErrors.load());
}

bool isSaneRequestId(const std::string& id) {
    return !id.empty() && id.size() <= 64 &&
           id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
               std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // The router logs 500s; the log is not what is fuzzed here.
    Poco::Logger::root().setChannel(new Poco::NullChannel);
    Poco::Logger::get("http").setChannel(new Poco::NullChannel);
    std::atexit(reportServerErrors);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = taxdesk::fuzz::asText(data, size);
    const std::string_view firstLine = text.substr(0, text.find('\n'));
    const std::string_view requestId =
        firstLine.size() < text.size() ? text.substr(firstLine.size() + 1) : std::string_view();
    const auto space = firstLine.find(' ');
    const std::string method(space == std::string_view::npos ? "GET" : firstLine.substr(0, space));
    const std::string uri(space == std::string_view::npos ? firstLine : firstLine.substr(space + 1));

    FakeResponse response;
    FakeRequest request(response);
    request.setMethod(method);
    request.setURI(uri);
    if (!requestId.empty()) request.set("X-Request-Id", std::string(requestId));

    const std::unique_ptr<Poco::Net::HTTPRequestHandler> handler(router().createRequestHandler(request));
    handler->handleRequest(request, response);

    const int status = static_cast<int>(response.getStatus());
    FUZZ_CHECK(response.sent(), "every request is answered");
    FUZZ_CHECK(status == 200 || (status >= 400 && status <= 499) || status == 500,
               "the routes answer 200, and the router a 4xx or (counted below) a 500");
    const std::string answeredId = response.get("X-Request-Id", "");
    FUZZ_CHECK(isSaneRequestId(answeredId), "the answer has a sane X-Request-Id");
    if (isSaneRequestId(std::string(requestId)))
        FUZZ_CHECK(answeredId == requestId, "a sane X-Request-Id is answered as given");
    if (status != 200) {
        Poco::JSON::Object::Ptr error;
        try {
            error = Poco::JSON::Parser().parse(response.body()).extract<Poco::JSON::Object::Ptr>()->getObject("error");
        } catch (const Poco::Exception&) {
        }
        FUZZ_CHECK(error && error->has("code") && error->has("message"), "an error answer is SPEC 5's JSON error");
    }
    if (status == 500) {
        ++serverErrors;
        FUZZ_CHECK(std::getenv("TAXDESK_FUZZ_STRICT_STATUS") == nullptr ||
                       std::string_view(std::getenv("TAXDESK_FUZZ_STRICT_STATUS")) != "1",
                   "a client's request is never answered 500 (issue 9 #19)");
    }
    return 0;
}
