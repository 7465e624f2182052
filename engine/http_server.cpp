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

namespace taxdesk::engine {
namespace {

using Routes = std::map<std::string, HttpHandler>;

class RouteHandler : public Poco::Net::HTTPRequestHandler {
public:
    explicit RouteHandler(const Routes& routes) : routes_(routes) {}

    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
        HttpReply reply;
        try {
            const std::string path = Poco::URI(request.getURI()).getPath();
            const auto it = routes_.find(request.getMethod() + " " + path);
            if (it != routes_.end()) {
                reply = it->second(request);
            } else {
                bool pathKnown = false;
                for (const auto& [key, handler] : routes_)
                    if (key.substr(key.find(' ') + 1) == path) pathKnown = true;
                reply = pathKnown ? errorReply(405, "method_not_allowed", "method not allowed on " + path)
                                  : errorReply(404, "not_found", "no such resource: " + path);
            }
        } catch (const std::exception& error) {
            Poco::Logger::get("http").error("handler failed: %s", std::string(error.what()));
            reply = errorReply(500, "internal", "internal error");
        }
        response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
        response.setContentType(reply.contentType);
        response.setContentLength(static_cast<std::streamsize>(reply.body.size()));
        response.send() << reply.body;
    }

private:
    const Routes& routes_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit Factory(Routes routes) : routes_(std::move(routes)) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
        return new RouteHandler(routes_);
    }

private:
    Routes routes_;
};

}  // namespace

HttpReply errorReply(int status, const std::string& code, const std::string& message) {
    std::string inner;
    jobs::json::ObjectWriter(inner).field("code", code).field("message", message).close();
    HttpReply reply;
    reply.status = status;
    jobs::json::ObjectWriter(reply.body).raw("error", inner).close();
    return reply;
}

HttpServer::HttpServer(const std::string& host, int port, int threads, std::map<std::string, HttpHandler> routes) {
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(threads);
    params->setKeepAlive(true);
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress(host, static_cast<Poco::UInt16>(port)));
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(std::move(routes)), socket, params);
    server_->start();
}

HttpServer::~HttpServer() { server_->stopAll(true); }

int HttpServer::port() const { return server_->port(); }

}  // namespace taxdesk::engine
