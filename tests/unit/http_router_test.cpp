// engine/http_server: what the router answers to requests whose URI Poco cannot read. Regression tests for inputs
// found by tests/fuzz/route_fuzz. The server listens on a loopback port of its own; no other server is needed.
#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Timespan.h>
#include <gtest/gtest.h>

#include <string>

#include "engine/http/http_server.hpp"

namespace taxdesk::engine {
namespace {

/// Sends one raw request and returns everything the server sent until it closed the connection.
std::string exchange(int port, const std::string& target) {
    Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", static_cast<Poco::UInt16>(port)));
    socket.setReceiveTimeout(Poco::Timespan(30, 0));
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    socket.sendBytes(request.data(), static_cast<int>(request.size()));
    std::string answer;
    char buffer[4096];
    for (;;) {
        const int n = socket.receiveBytes(buffer, sizeof buffer);
        if (n <= 0) break;
        answer.append(buffer, static_cast<std::size_t>(n));
    }
    return answer;
}

TEST(HttpRouter, AnswersEveryRequestWhoseUriCannotBeRead) {
    std::vector<Route> routes;
    routes.push_back({"GET", "/static/{rest*}", [](HttpRequest&) { return jsonReply(200, R"({"ok":true})"); }});
    routes.push_back({"GET", "/ok", [](HttpRequest&) { return jsonReply(200, R"({"ok":true})"); }});
    HttpServer server("127.0.0.1", 0, 2, std::move(routes));
    // A bad escape in the fragment, in the path and in the query: the first two made the error handler parse the URI
    // again, which threw out of the handler, and Poco answered a bare 500 without SPEC 5's JSON error or the request
    // id. (Which 4xx or 5xx they get is issue 9 #19's business; here: an answer of ours.)
    for (const std::string target : {"/static/a/%60/c?#xb%2rag", "/%zz", "/ok?limit=%zz"}) {
        SCOPED_TRACE(target);
        const std::string answer = exchange(server.port(), target);
        ASSERT_EQ(answer.rfind("HTTP/1.1 ", 0), 0u) << answer;
        const int status = std::stoi(answer.substr(9, 3));
        EXPECT_GE(status, 400);
        EXPECT_NE(answer.find(R"({"error":{"code":)"), std::string::npos) << answer;
        EXPECT_NE(answer.find("X-Request-Id: "), std::string::npos) << answer;
    }
    EXPECT_EQ(exchange(server.port(), "/ok").rfind("HTTP/1.1 200", 0), 0u);
}

}  // namespace
}  // namespace taxdesk::engine

namespace taxdesk::engine {
namespace {

TEST(HttpRouter, AParameterHoldingAnEncodedPercentIsDecodedOnce) {
    // Found by route_fuzz: `/r/tok%25en` is the token "tok%en"; decoding the path a second time read "%en" as a broken
    // escape, threw, and the request was answered 500.
    std::vector<Route> routes;
    routes.push_back({"GET", "/r/{token}", [](HttpRequest& request) {
                          return jsonReply(200, R"({"token":")" + request.params.at("token") + R"("})");
                      }});
    HttpServer server("127.0.0.1", 0, 2, std::move(routes));
    const std::string answer = exchange(server.port(), "/r/tok%25en?q=%41");
    ASSERT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
    EXPECT_NE(answer.find(R"({"token":"tok%en"})"), std::string::npos) << answer;
    EXPECT_NE(exchange(server.port(), "/r/a%2Fb").rfind("HTTP/1.1 5", 0), 0u) << "an encoded slash is no 500 either";
}

}  // namespace
}  // namespace taxdesk::engine

namespace taxdesk::engine {
namespace {

/// One route, GET /who, answering `body`.
std::vector<Route> answering(const std::string& body) {
    std::vector<Route> routes;
    routes.push_back({"GET", "/who", [body](HttpRequest&) { return jsonReply(200, body); }});
    return routes;
}

TEST(HttpServerListener, APortAnotherServerListensOnIsRefusedNotShared) {
    // Poco's ServerSocket(address) binds with SO_REUSEPORT: a second engine on a taken port started, and the kernel
    // shared the connections between the two (CI: a test's request reached another test's engine, which answered 401
    // to a token it had never seen). A taken port must stop the second server instead.
    HttpServer server("127.0.0.1", 0, 2, answering(R"({"who":"first"})"));
    EXPECT_THROW(HttpServer("127.0.0.1", server.port(), 2, answering(R"({"who":"second"})")), Poco::Net::NetException);
    for (int i = 0; i < 20; ++i)
        EXPECT_NE(exchange(server.port(), "/who").find(R"({"who":"first"})"), std::string::npos);
}

TEST(HttpServerListener, APortFreedByAServerThatStoppedIsTakenAgainAtOnce) {
    // SO_REUSEADDR stays: a restarted engine binds its port while the old one's connections sit in TIME_WAIT.
    int port = 0;
    {
        HttpServer server("127.0.0.1", 0, 2, answering(R"({"who":"first"})"));
        port = server.port();
        EXPECT_EQ(exchange(port, "/who").rfind("HTTP/1.1 200", 0), 0u);
    }
    HttpServer again("127.0.0.1", port, 2, answering(R"({"who":"again"})"));
    EXPECT_EQ(exchange(port, "/who").rfind("HTTP/1.1 200", 0), 0u);
}

}  // namespace
}  // namespace taxdesk::engine
