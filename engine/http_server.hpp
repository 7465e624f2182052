#pragma once
// The engine's HTTP server (Poco::Net): a small router of exact paths to handlers. Later issues add the API.
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace Poco::Net {
class HTTPServer;
class HTTPServerRequest;
class HTTPServerResponse;
}  // namespace Poco::Net

namespace taxdesk::engine {

struct HttpReply {
    int status = 200;
    std::string contentType = "application/json; charset=utf-8";
    std::string body;
};

using HttpHandler = std::function<HttpReply(Poco::Net::HTTPServerRequest&)>;

/// JSON error body of SPEC 5: {"error": {"code": …, "message": …}}.
HttpReply errorReply(int status, const std::string& code, const std::string& message);

/// Starts listening in the constructor, stops in the destructor. Handlers run on the server's threads.
class HttpServer {
public:
    /// Routes are keyed "METHOD /path". Throws Poco::Net::NetException when the address is taken.
    HttpServer(const std::string& host, int port, int threads, std::map<std::string, HttpHandler> routes);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;
    [[nodiscard]] int port() const;

private:
    std::unique_ptr<Poco::Net::HTTPServer> server_;
};

}  // namespace taxdesk::engine
