// Fuzz target: how the engine answers a request line (engine/http/http_router.cpp, served by
// engine/http/http_server.cpp): the URI and query parsing, the route matching with {param} and {rest*} segments, the
// X-Request-Id check and the error replies. The engine's HttpServer (its public constructor only, so that its internals
// may change) listens on a loopback port with the engine's route patterns, and each input is sent to it as one request
// over a kept-alive connection.
//
// Input: the first line is "<METHOD> <URI>", an optional second line is the X-Request-Id header. Bytes that cannot
// stand in a request line (controls, spaces, non-ASCII: a URI %-encodes them) are dropped, so that what is fuzzed is
// the engine's reading of well-formed HTTP rather than Poco's refusal of broken HTTP.
// Invariants: every request is answered; the status is the routes' 200 or a 4xx, never a 500 (issue 9 #19: a client's
// error is a 4xx); every answer has a sane X-Request-Id (the caller's when it is a sane token); an error answer is
// SPEC 5's JSON error object; a matched route's {param}s are all set and not empty.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Logger.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/NullChannel.h>
#include <Poco/StreamCopier.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/http/http_server.hpp"
#include "fuzz_check.hpp"

namespace {

using taxdesk::engine::HttpRequest;
using taxdesk::engine::Route;

/// The parameter names of a route pattern: `{id}` gives "id", a final `{rest*}` gives "rest" (which may be empty).
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

/// The engine's route patterns (engine/api/*.cpp, engine/runtime/service.cpp, engine/pages/static_pages.cpp) and one
/// {rest*} route, each answering 200 after checking its parameters, or 400 (HttpError) when the query says fail=1.
std::vector<Route> routes() {
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
    std::vector<Route> out;
    for (const auto& entry : table) {
        const auto names = parameters(entry.second);
        Route route;
        route.method = entry.first;
        route.pattern = entry.second;
        route.handler = [names](HttpRequest& request) {
            for (const auto& [name, rest] : names) {
                const auto it = request.params.find(name);
                FUZZ_CHECK(it != request.params.end(), "a matched route has all its {params}");
                FUZZ_CHECK(rest || !it->second.empty(), "a {param} is never empty");
            }
            // What handlers do with the query: read it (the last value of a name wins).
            if (request.queryValue("fail") == "1")
                throw taxdesk::engine::HttpError(400, "bad_request", "asked to fail");
            return taxdesk::engine::jsonReply(200, R"({"ok":true})");
        };
        out.push_back(std::move(route));
    }
    return out;
}

// Started once, never stopped: the process ends with the run.
taxdesk::engine::HttpServer* server = nullptr;
std::unique_ptr<Poco::Net::HTTPClientSession> session;
bool isSaneRequestId(const std::string& id) {
    return !id.empty() && id.size() <= 64 &&
           id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
               std::string::npos;
}

/// `text` with only printable ASCII but space (what a request line's URI may hold: anything else is %-encoded, and
/// Poco refuses a request line with other bytes before the engine sees it).
std::string printable(std::string_view text, std::size_t limit) {
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte > 0x20 && byte < 0x7F) out.push_back(c);
        if (out.size() == limit) break;
    }
    return out;
}

struct Answer {
    int status = 0;
    std::string requestId;
    std::string body;
};

Answer exchange(Poco::Net::HTTPRequest& request) {
    session->sendRequest(request);
    Poco::Net::HTTPResponse response;
    std::istream& in = session->receiveResponse(response);
    Answer answer;
    answer.status = static_cast<int>(response.getStatus());
    answer.requestId = response.get("X-Request-Id", "");
    Poco::StreamCopier::copyToString(in, answer.body);
    return answer;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // The server logs requests and 500s; the log is not what is fuzzed here.
    Poco::Logger::root().setChannel(new Poco::NullChannel);
    Poco::Logger::get("http").setChannel(new Poco::NullChannel);
    server = new taxdesk::engine::HttpServer("127.0.0.1", 0, 2, routes());
    session = std::make_unique<Poco::Net::HTTPClientSession>("127.0.0.1", static_cast<Poco::UInt16>(server->port()));
    session->setKeepAlive(true);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = taxdesk::fuzz::asText(data, size);
    const std::string_view firstLine = text.substr(0, text.find('\n'));
    const std::string givenId =
        printable(firstLine.size() < text.size() ? text.substr(firstLine.size() + 1) : std::string_view(), 100);
    const auto space = firstLine.find(' ');
    std::string method = space == std::string_view::npos ? "GET" : printable(firstLine.substr(0, space), 16);
    std::string uri = printable(space == std::string_view::npos ? firstLine : firstLine.substr(space + 1), 2048);
    // HEAD answers carry no body to check; an empty method or URI is not a request line.
    if (method.empty() || method == "HEAD") method = "GET";
    if (uri.empty()) uri = "/";

    Poco::Net::HTTPRequest request(method, uri, Poco::Net::HTTPMessage::HTTP_1_1);
    request.setKeepAlive(true);
    if (!givenId.empty()) request.set("X-Request-Id", givenId);
    Answer answer;
    try {
        answer = exchange(request);
    } catch (const Poco::Exception&) {
        // The server may have closed a kept-alive connection after its last answer: one more try on a new one.
        session->reset();
        try {
            answer = exchange(request);
        } catch (const Poco::Exception& error) {
            std::fprintf(stderr, "%s %s: %s\n", method.c_str(), uri.c_str(), error.displayText().c_str());
            FUZZ_CHECK(false, "every request is answered");
        }
    }

    const int status = answer.status;
    if (status != 200 && (status < 400 || status > 499))
        std::fprintf(stderr, "%s %s: %d %s\n", method.c_str(), uri.c_str(), status, answer.body.c_str());
    FUZZ_CHECK(status == 200 || (status >= 400 && status <= 499), "the routes answer 200, and the router a 4xx");
    if (!isSaneRequestId(answer.requestId))
        std::fprintf(stderr, "%s %s: %d %s\n", method.c_str(), uri.c_str(), status, answer.body.c_str());
    FUZZ_CHECK(isSaneRequestId(answer.requestId), "the answer has a sane X-Request-Id");
    if (isSaneRequestId(givenId)) FUZZ_CHECK(answer.requestId == givenId, "a sane X-Request-Id is answered as given");
    if (status != 200) {
        Poco::JSON::Object::Ptr error;
        try {
            error = Poco::JSON::Parser().parse(answer.body).extract<Poco::JSON::Object::Ptr>()->getObject("error");
        } catch (const Poco::Exception&) {
        }
        if (!error) std::fprintf(stderr, "%d %s\n", status, answer.body.c_str());
        FUZZ_CHECK(error && error->has("code") && error->has("message"), "an error answer is SPEC 5's JSON error");
    }
    return 0;
}
