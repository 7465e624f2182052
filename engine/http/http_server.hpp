#pragma once
// The engine's HTTP server (Poco::Net): routes "METHOD /path/{param}/…" to handlers. A handler returns a reply whose
// body is either a string or written by a function (streamed, chunked), so large results never sit in memory whole.
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace Poco::Net {
class HTTPServerRequest;
}  // namespace Poco::Net

namespace taxdesk::engine {

struct HttpReply {
    int status = 200;
    std::string contentType = "application/json; charset=utf-8";
    std::string body;
    /// When set, the body is streamed by this function (chunked transfer) and `body` is ignored.
    std::function<void(std::ostream&)> stream;
    std::map<std::string, std::string> headers;
};

/// One request as a handler sees it.
struct HttpRequest {
    Poco::Net::HTTPServerRequest& raw;
    std::string method;
    std::string path;
    std::map<std::string, std::string> params;  ///< from {name} segments of the route
    std::map<std::string, std::string> query;   ///< decoded query parameters (the last one wins)
    /// The caller's X-Request-Id when it is a sane token, else a new one; answered in X-Request-Id and carried on
    /// into Kafka headers (request_id) and the log lines of the work it starts.
    std::string requestId;

    /// The query parameter, or `fallback`.
    [[nodiscard]] std::string queryValue(const std::string& name, const std::string& fallback = "") const;
    /// A request header, or empty.
    [[nodiscard]] std::string header(const std::string& name) const;
};

using HttpHandler = std::function<HttpReply(HttpRequest&)>;

/// JSON error body of SPEC 5: {"error": {"code": …, "message": …}}.
HttpReply errorReply(int status, const std::string& code, const std::string& message);
/// A JSON body with a status.
HttpReply jsonReply(int status, std::string json);

/// A handler may throw this to answer with an error body (and, say, a Retry-After header).
class HttpError : public std::runtime_error {
  public:
    HttpError(int status, std::string code, const std::string& message, std::map<std::string, std::string> headers = {})
        : std::runtime_error(message), status_(status), code_(std::move(code)), headers_(std::move(headers)) {}
    [[nodiscard]] int status() const { return status_; }
    [[nodiscard]] const std::string& code() const { return code_; }
    [[nodiscard]] const std::map<std::string, std::string>& headers() const { return headers_; }

  private:
    int status_;
    std::string code_;
    std::map<std::string, std::string> headers_;
};

struct Route {
    std::string method;
    std::string pattern;  ///< "/api/v1/batches/{id}/results"; a final "{rest*}" takes the remaining path
    HttpHandler handler;
    /// False (most routes): the server reads the body first, at most HttpServerSettings::maxBodyBytes (413 beyond),
    /// and the handler reads it from memory. True: the handler reads the socket itself and bounds it (the upload).
    bool streamsBody = false;
};

/// How the server defends itself against slow and greedy clients (issue 9, finding 5).
struct HttpServerSettings {
    std::string host = "127.0.0.1";
    int port = 8080;
    int threads = 16;                    ///< workers for requests whose head has arrived whole
    std::size_t maxBodyBytes = 1 << 20;  ///< bodies of routes that do not stream theirs (413 beyond)
    int headerTimeoutMs = 10000;         ///< the whole request head, from the connection's first byte
    int bodyTimeoutMs = 30000;           ///< a body read by the server (not streamed), from the end of the head
    int readTimeoutMs = 5000;            ///< one read of a streamed body
    int keepAliveTimeoutMs = 5000;       ///< an idle connection between requests
    int keepAliveRequests = 100;         ///< requests on one connection
    int maxConnectionsPerClient = 64;    ///< open connections from one client address (503 beyond)
    int maxQueued = 256;                 ///< requests waiting for a worker (503 beyond)
    /// One turn of a connection on a worker (its request and any pipelined behind it, to the end of the answers): a
    /// client that trickles a body or reads the answers slowly is cut off then and frees the worker. A pipelined head
    /// still arriving gets headerTimeoutMs of it.
    int requestTimeoutMs = 120000;
    /// The same for a turn that streams a body in (an upload) or an answer out (results): large files, slow links.
    int streamTimeoutMs = 900000;
    int maxConnections = 10000;  ///< open connections in all (503 beyond); at most what the open-file limit allows
};

/// Starts listening in the constructor, stops in the destructor. Handlers run on the server's threads.
///
/// A connection holds no worker while its request head is still arriving or while it idles between requests: one
/// thread watches those (epoll) and hands a connection to a worker only when its head is whole. /healthz and /readyz
/// have workers of their own, so that busy or slow clients never hide the engine's health.
class HttpServer {
  public:
    /// Throws Poco::Net::NetException when the address is taken.
    HttpServer(const HttpServerSettings& settings, std::vector<Route> routes);
    HttpServer(const std::string& host, int port, int threads, std::vector<Route> routes);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;
    [[nodiscard]] int port() const;

    class Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace taxdesk::engine
