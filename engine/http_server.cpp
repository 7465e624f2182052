#include "engine/http_server.hpp"

#include <Poco/Logger.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/URI.h>

#include "jobs/common/json.hpp"

#include <chrono>
#include <cstdio>
#include <random>

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

/// Matches a path against a pattern, filling the {params}. Segments are percent-decoded.
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
            std::string decoded;
            Poco::URI::decode(path[i], decoded);
            if (decoded.empty()) return false;
            params[want.substr(1, want.size() - 2)] = decoded;
        } else if (want != path[i]) {
            return false;
        }
    }
    return pattern.size() == path.size();
}

std::string newRequestId() {
    static thread_local std::mt19937_64 generator{std::random_device{}()};
    char text[20];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(generator()));
    return text;
}

struct CompiledRoute {
    Route route;
    std::vector<std::string> pattern;
};

class RouteHandler : public Poco::Net::HTTPRequestHandler {
  public:
    explicit RouteHandler(const std::vector<CompiledRoute>& routes) : routes_(routes) {}

    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
        const auto started = std::chrono::steady_clock::now();
        HttpReply reply;
        std::string requestId = request.get("X-Request-Id", "");
        if (requestId.empty() || requestId.size() > 64 ||
            requestId.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
                std::string::npos)
            requestId = newRequestId();
        std::string path;
        try {
            const Poco::URI uri(request.getURI());
            path = uri.getPath();
            HttpRequest req{request, request.getMethod(), uri.getPath(), {}, {}, requestId};
            for (const auto& [name, value] : uri.getQueryParameters()) req.query[name] = value;
            const auto pathSegments = segments(req.path);
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
            if (found != nullptr) {
                reply = found->route.handler(req);
            } else {
                reply = pathKnown ? errorReply(405, "method_not_allowed", req.method + " is not allowed on " + req.path)
                                  : errorReply(404, "not_found", "no such resource: " + req.path);
            }
        } catch (const HttpError& error) {
            reply = errorReply(error.status(), error.code(), error.what());
        } catch (const std::exception& error) {
            // Not Poco::URI(request.getURI()) again: when the URI is what failed, it would throw out of the handler
            // and the client would get Poco's bare 500, without our error body or request id (tests/fuzz/route_fuzz).
            Poco::Logger::get("http").error("%s %s failed: %s", request.getMethod(),
                                            path.empty() ? std::string("(unreadable URI)") : path,
                                            std::string(error.what()));
            reply = errorReply(500, "internal", "internal error");
        }
        reply.headers["X-Request-Id"] = requestId;
        send(response, reply);
        // One line a request: no query string, no body (they may hold IDs), no token.
        auto& log = Poco::Logger::get("http");
        if (log.information() && path != "/healthz" && path != "/readyz" && path != "/metrics" &&
            path != "/dashboard/data") {
            const bool pickup = path.rfind("/api/v1/pickups/", 0) == 0;  // the code is not for the log
            log.information("request_id=%s method=%s path=%s status=%d ms=%d", requestId, request.getMethod(),
                            pickup ? std::string("/api/v1/pickups/{code}/collect") : path, reply.status,
                            static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 std::chrono::steady_clock::now() - started)
                                                 .count()));
        }
    }

  private:
    static void send(Poco::Net::HTTPServerResponse& response, const HttpReply& reply) {
        response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
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
        response.send() << reply.body;
    }

    const std::vector<CompiledRoute>& routes_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    explicit Factory(std::vector<Route> routes) {
        for (auto& route : routes) {
            auto pattern = segments(route.pattern);
            routes_.push_back({std::move(route), std::move(pattern)});
        }
    }
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
        return new RouteHandler(routes_);
    }

  private:
    std::vector<CompiledRoute> routes_;
};

}  // namespace

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

HttpServer::HttpServer(const std::string& host, int port, int threads, std::vector<Route> routes) {
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(threads);
    params->setKeepAlive(true);
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress(host, static_cast<Poco::UInt16>(port)));
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(std::move(routes)), socket, params);
    server_->start();
}

HttpServer::~HttpServer() {
    server_->stopAll(true);
}

int HttpServer::port() const {
    return server_->port();
}

}  // namespace taxdesk::engine
