#include "engine/http/http_router.hpp"

#include <Poco/Logger.h>
#include <Poco/Net/HTTPServerResponseImpl.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/URI.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>

#include "jobs/common/json.hpp"
#include "jobs/identity/identifiers.hpp"

namespace taxdesk::engine {
namespace {

std::vector<std::string> segments(const std::string& path) {
    std::vector<std::string> parts;
    std::size_t start = 1;
    while (start <= path.size()) {
        const auto end = path.find('/', start);
        parts.push_back(path.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return parts;
}

/// Matches a path against a pattern, filling the {params}. The path is decoded already (Poco::URI::getPath): decoding a
/// segment again would read `%25en` (a literal `%en`) as a broken escape and throw.
bool matches(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
             std::map<std::string, std::string>& params) {
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const std::string& want = pattern[i];
        const bool param = want.size() > 2 && want.front() == '{' && want.back() == '}';
        if (param && want[want.size() - 2] == '*') {
            std::string rest;
            for (std::size_t j = i; j < path.size(); ++j) rest += (j > i ? "/" : "") + path[j];
            params[want.substr(1, want.size() - 3)] = rest;
            return true;
        }
        if (i >= path.size()) return false;
        if (param) {
            if (path[i].empty()) return false;
            params[want.substr(1, want.size() - 2)] = path[i];
        } else if (want != path[i]) {
            return false;
        }
    }
    return pattern.size() == path.size();
}

using Clock = std::chrono::steady_clock;

std::string validRequestId(const std::string& given) {
    if (given.empty() || given.size() > 64 ||
        given.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
            std::string::npos)
        return newRequestId();
    return given;
}

/// A path as the log may show it: IDs masked, the pickup code left out.
std::string loggablePath(const std::string& path) {
    if (path.rfind("/api/v1/pickups/", 0) == 0) return "/api/v1/pickups/{code}/collect";
    return jobs::identity::maskIdsIn(path);
}

/// The request a handler sees when the server has read the body: everything from the real request, the body from
/// memory.
class BufferedRequest final : public Poco::Net::HTTPServerRequest {
  public:
    BufferedRequest(Poco::Net::HTTPServerRequest& raw, std::string body)
        : raw_(raw), body_(std::move(body)), stream_(body_) {
        setMethod(raw.getMethod());
        setURI(raw.getURI());
        setVersion(raw.getVersion());
        for (auto it = raw.begin(); it != raw.end(); ++it) add(it->first, it->second);
    }
    std::istream& stream() override { return stream_; }
    const Poco::Net::SocketAddress& clientAddress() const override { return raw_.clientAddress(); }
    const Poco::Net::SocketAddress& serverAddress() const override { return raw_.serverAddress(); }
    const Poco::Net::HTTPServerParams& serverParams() const override { return raw_.serverParams(); }
    Poco::Net::HTTPServerResponse& response() const override { return raw_.response(); }
    bool secure() const override { return raw_.secure(); }

  private:
    Poco::Net::HTTPServerRequest& raw_;
    std::string body_;
    std::istringstream stream_;
};

/// Does the request announce a body? Without Content-Length or chunked coding a request has none (RFC 9112 6.3).
bool hasBody(const Poco::Net::HTTPServerRequest& request) {
    if (request.getChunkedTransferEncoding()) return true;
    return request.hasContentLength() && request.getContentLength64() > 0;
}

/// After an answer that left the body unread (413, 404 on a POST): tell the client we are done sending, then read
/// and drop what it is still sending, a bounded amount for a bounded time. Closing on unread bytes would reset the
/// connection, and the client would see the reset instead of the answer.
void drain(Poco::Net::StreamSocket& socket) {
    try {
        socket.shutdownSend();
        const auto deadline = Clock::now() + std::chrono::seconds(2);
        std::vector<char> buffer(64 * 1024);
        std::size_t dropped = 0;
        while (dropped < 16 * 1024 * 1024 && Clock::now() < deadline) {
            socket.setReceiveTimeout(Poco::Timespan(0, 200 * 1000));
            const int got = socket.receiveBytes(buffer.data(), static_cast<int>(buffer.size()));
            if (got <= 0) break;
            dropped += static_cast<std::size_t>(got);
        }
    } catch (const Poco::Exception&) {
        // A timeout or a reset: the client has what we said, or is gone.
    }
}

}  // namespace

std::string newRequestId() {
    static thread_local std::mt19937_64 generator{std::random_device{}()};
    char text[20];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(generator()));
    return text;
}

Router::Router(std::vector<Route> routes, const HttpServerSettings& settings) : settings_(settings) {
    for (auto& route : routes) {
        auto pattern = segments(route.pattern);
        routes_.push_back({std::move(route), std::move(pattern)});
    }
}

void Router::handle(Poco::Net::HTTPServerRequestImpl& request, Poco::Net::HTTPServerResponse& response,
                    const std::function<void()>& streaming) const {
    const auto started = Clock::now();
    HttpReply reply;
    const std::string requestId = validRequestId(request.get("X-Request-Id", ""));
    std::string path;
    bool bodyLeft = hasBody(request);  // unread body bytes would be taken for the next request: then close
    try {
        HttpRequest req{request, request.getMethod(), "", {}, {}, requestId};
        std::vector<std::string> pathSegments;
        try {
            const Poco::URI uri(request.getURI());
            path = uri.getPath();
            req.path = path;
            for (const auto& [name, value] : uri.getQueryParameters()) req.query[name] = value;
            pathSegments = segments(req.path);
        } catch (const Poco::SyntaxException&) {
            throw HttpError(400, "bad_uri", "the request URI is not valid (check its %-encoding)");
        }
        const CompiledRoute* found = nullptr;
        bool pathKnown = false;
        for (const auto& route : routes_) {
            std::map<std::string, std::string> params;
            if (!matches(route.pattern, pathSegments, params)) continue;
            pathKnown = true;
            if (route.route.method != req.method) continue;
            found = &route;
            req.params = std::move(params);
            break;
        }
        if (found == nullptr) {
            reply = pathKnown ? errorReply(405, "method_not_allowed", req.method + " is not allowed on " + req.path)
                              : errorReply(404, "not_found", "no such resource: " + req.path);
        } else if (found->route.streamsBody) {
            streaming();
            reply = found->route.handler(req);
        } else {
            std::string body = readBody(request);  // 413 and 408 leave bodyLeft set: the rest is drained
            bodyLeft = false;
            BufferedRequest buffered(request, std::move(body));
            HttpRequest inMemory{buffered, req.method, req.path, req.params, req.query, requestId};
            reply = found->route.handler(inMemory);
        }
    } catch (const HttpError& error) {
        reply = errorReply(error.status(), error.code(), error.what());
        for (const auto& [name, value] : error.headers()) reply.headers[name] = value;
    } catch (const std::exception& error) {
        Poco::Logger::get("http").error("%s %s failed: %s", request.getMethod(), loggablePath(path),
                                        jobs::identity::maskIdsIn(error.what()));
        reply = errorReply(500, "internal", "internal error");
    }
    reply.headers["X-Request-Id"] = requestId;
    if (bodyLeft) response.setKeepAlive(false);
    if (reply.stream) streaming();
    send(response, reply);
    if (bodyLeft && !reply.stream) drain(request.socket());
    // One line a request: no query string, no body (they may hold IDs), no token; IDs in the path masked.
    auto& log = Poco::Logger::get("http");
    if (log.information() && path != "/healthz" && path != "/readyz" && path != "/metrics" &&
        path != "/dashboard/data") {
        log.information(
            "request_id=%s method=%s path=%s status=%d ms=%d", requestId, request.getMethod(), loggablePath(path),
            reply.status,
            static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()));
    }
}

void Router::sendBadHead(Poco::Net::HTTPServerSession& session, const std::string& message) {
    Poco::Net::HTTPServerResponseImpl response(session);
    response.setVersion(Poco::Net::HTTPMessage::HTTP_1_1);
    response.setKeepAlive(false);
    HttpReply reply = errorReply(400, "bad_request", message);
    reply.headers["X-Request-Id"] = newRequestId();
    send(response, reply);
}

std::string Router::readBody(Poco::Net::HTTPServerRequestImpl& request) const {
    const std::string tooLarge = "the body is larger than " + std::to_string(settings_.maxBodyBytes) + " bytes";
    if (request.hasContentLength() && request.getContentLength64() > static_cast<Poco::Int64>(settings_.maxBodyBytes)) {
        request.response().setKeepAlive(false);
        throw HttpError(413, "too_large", tooLarge);
    }
    std::string body;
    if (!hasBody(request)) return body;
    const auto deadline = Clock::now() + std::chrono::milliseconds(settings_.bodyTimeoutMs);
    std::istream& in = request.stream();
    std::vector<char> buffer(16 * 1024);
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            request.response().setKeepAlive(false);
            throw HttpError(408, "body_timeout", "the body did not arrive in time");
        }
        request.socket().setReceiveTimeout(
            Poco::Timespan(std::min<long long>(left, settings_.readTimeoutMs) * Poco::Timespan::MILLISECONDS));
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        const auto got = in.gcount();
        if (got > 0) body.append(buffer.data(), static_cast<std::size_t>(got));
        if (body.size() > settings_.maxBodyBytes) {
            request.response().setKeepAlive(false);
            throw HttpError(413, "too_large", tooLarge);
        }
        if (in.bad()) {
            request.response().setKeepAlive(false);
            throw HttpError(408, "body_timeout", "the body did not arrive in time");
        }
        if (in.eof() || got == 0) break;
    }
    request.socket().setReceiveTimeout(Poco::Timespan(settings_.readTimeoutMs * Poco::Timespan::MILLISECONDS));
    return body;
}

void Router::send(Poco::Net::HTTPServerResponse& response, const HttpReply& reply) {
    // With its reason phrase: "401 Unauthorized", not Poco's default "401 OK".
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
    response.setContentType(reply.contentType);
    for (const auto& [name, value] : reply.headers) response.set(name, value);
    if (reply.stream) {
        response.setChunkedTransferEncoding(true);
        std::ostream& out = response.send();
        try {
            reply.stream(out);
        } catch (const std::exception& error) {
            // Headers are gone: all we can do is cut the stream short, which the client sees as an error.
            Poco::Logger::get("http").error("streamed response failed: %s", std::string(error.what()));
        }
        return;
    }
    response.setContentLength(static_cast<std::streamsize>(reply.body.size()));
    response.send() << reply.body << std::flush;  // out now, not when the response object goes: drain() follows
}

std::string HttpRequest::queryValue(const std::string& name, const std::string& fallback) const {
    const auto it = query.find(name);
    return it == query.end() ? fallback : it->second;
}

std::string HttpRequest::header(const std::string& name) const {
    return raw.get(name, "");
}

HttpReply errorReply(int status, const std::string& code, const std::string& message) {
    std::string inner;
    jobs::json::ObjectWriter(inner).field("code", code).field("message", message).close();
    HttpReply reply;
    reply.status = status;
    jobs::json::ObjectWriter(reply.body).raw("error", inner).close();
    return reply;
}

HttpReply jsonReply(int status, std::string json) {
    HttpReply reply;
    reply.status = status;
    reply.body = std::move(json);
    return reply;
}

}  // namespace taxdesk::engine
