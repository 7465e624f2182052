#pragma once
// The engine's HTTP server (Poco::Net): routes "METHOD /path/{param}/…" to handlers. A handler returns a reply whose
// body is either a string or written by a function (streamed, chunked), so large results never sit in memory whole.
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace Poco::Net {
class HTTPServer;
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

/// A handler may throw this to answer with an error body.
class HttpError : public std::runtime_error {
  public:
    HttpError(int status, std::string code, const std::string& message)
        : std::runtime_error(message), status_(status), code_(std::move(code)) {}
    [[nodiscard]] int status() const { return status_; }
    [[nodiscard]] const std::string& code() const { return code_; }

  private:
    int status_;
    std::string code_;
};

struct Route {
    std::string method;
    std::string pattern;  ///< "/api/v1/batches/{id}/results"; a final "{rest*}" takes the remaining path
    HttpHandler handler;
};

/// Starts listening in the constructor, stops in the destructor. Handlers run on the server's threads.
class HttpServer {
  public:
    /// Throws Poco::Net::NetException when the address is taken.
    HttpServer(const std::string& host, int port, int threads, std::vector<Route> routes);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;
    [[nodiscard]] int port() const;

  private:
    std::unique_ptr<Poco::Net::HTTPServer> server_;
};

}  // namespace taxdesk::engine
