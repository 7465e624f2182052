#pragma once
// The HTTP server's request side, used by engine/http/http_server.cpp only: routing a request whose head has arrived to
// its handler, reading a body the handler does not stream (bounded in size and time), writing the answer (whole or
// streamed) and the access log line. The connections, the watcher thread and the workers are http_server.cpp's.
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/HTTPServerSession.h>

#include <functional>
#include <string>
#include <vector>

#include "engine/http/http_server.hpp"

namespace taxdesk::engine {

/// A new request id: 16 hex digits, from a per-thread generator. Thread-safe.
std::string newRequestId();

/// Routes one request whose head has arrived: finds the handler, reads a body the handler does not stream (bounded
/// in size and time), answers, and writes the access log line. Thread-safe after construction (const).
class Router {
  public:
    Router(std::vector<Route> routes, const HttpServerSettings& settings);

    /// `streaming` is called before a route that streams its body runs and before a streamed answer is sent: the
    /// worker's turn gets the longer bound of large uploads and downloads (http.stream_timeout_ms).
    void handle(Poco::Net::HTTPServerRequestImpl& request, Poco::Net::HTTPServerResponse& response,
                const std::function<void()>& streaming) const;

    /// An answer for a request whose head Poco could not read (and so no route saw).
    static void sendBadHead(Poco::Net::HTTPServerSession& session, const std::string& message);

  private:
    /// The body, at most maxBodyBytes (413 beyond, announced or not) and within bodyTimeoutMs (408 beyond).
    std::string readBody(Poco::Net::HTTPServerRequestImpl& request) const;
    static void send(Poco::Net::HTTPServerResponse& response, const HttpReply& reply);

    struct CompiledRoute {
        Route route;
        std::vector<std::string> pattern;
    };
    std::vector<CompiledRoute> routes_;
    HttpServerSettings settings_;
};

}  // namespace taxdesk::engine
