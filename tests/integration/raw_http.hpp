#pragma once
// What the HTTP integration tests (http_requests_test, http_load_test) share: raw HTTP over a socket from a chosen
// loopback address, where a test must say exactly which bytes are sent, and small readers of what the engine wrote.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "fixtures/test_env.hpp"
#include "jobs/identity/identifiers.hpp"

namespace taxdesk::testing::raw_http {

using Clock = std::chrono::steady_clock;

// ---- raw HTTP ------------------------------------------------------------------------------------------------------

/// A socket to the engine from `source` (a 127.0.0.x address), with send and receive timeouts. -1 on failure.
inline int connectFrom(int port, const std::string& source = "127.0.0.1", int timeoutMs = 10000) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &local.sin_addr);
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
    timeval tv{timeoutMs / 1000, (timeoutMs % 1000) * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// Waits, at most `bound`, until the kernel holds no connection to `port` that the server has not taken yet: none
/// half-open (SYN_RECV) and none in the listener's accept queue (/proc/net/tcp and tcp6). connect() returns before the
/// server accepts, and on a busy machine a later connection can reach the accept queue ahead of an earlier one: a test
/// that fills a connection limit waits here before it expects the next connection to be refused.
inline bool waitUntilAccepted(int port, std::chrono::milliseconds bound = std::chrono::seconds(10)) {
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, ":%04X", static_cast<unsigned>(port));
    const auto noneWaiting = [&] {
        for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
            std::ifstream in(table);
            std::string line;
            std::getline(in, line);  // the heading
            while (std::getline(in, line)) {
                std::istringstream fields(line);
                std::string slot, local, remote, state, queues;
                fields >> slot >> local >> remote >> state >> queues;
                if (local.size() < 5 || local.compare(local.size() - 5, 5, suffix) != 0) continue;
                if (state == "03") return false;  // half-open
                // A listener's (0A) rx_queue, after the colon, is its accept queue's length.
                if (state == "0A" && queues.substr(queues.find(':') + 1) != "00000000") return false;
            }
        }
        return true;
    };
    return eventually(noneWaiting, bound);
}

inline bool sendAll(int fd, const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
        const auto n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

struct RawResponse {
    int status = 0;
    std::string statusLine;
    std::map<std::string, std::string> headers;  ///< names in lower case
    std::string body;
    double seconds = 0;  ///< from the request's first byte to the response's end
};

/// Reads one response (Content-Length or up to the close) and parses it.
inline RawResponse readResponse(int fd) {
    std::string data;
    char buffer[65536];
    std::size_t headEnd = std::string::npos;
    std::size_t length = std::string::npos;
    for (;;) {
        const auto n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        data.append(buffer, static_cast<std::size_t>(n));
        if (headEnd == std::string::npos && (headEnd = data.find("\r\n\r\n")) != std::string::npos) {
            std::smatch match;
            const std::string head = data.substr(0, headEnd);
            if (std::regex_search(head, match, std::regex("[Cc]ontent-[Ll]ength: *([0-9]+)")))
                length = std::stoul(match[1]);
        }
        if (headEnd != std::string::npos && length != std::string::npos && data.size() >= headEnd + 4 + length) break;
    }
    RawResponse response;
    if (headEnd == std::string::npos) return response;
    std::istringstream head(data.substr(0, headEnd));
    std::getline(head, response.statusLine);
    if (!response.statusLine.empty() && response.statusLine.back() == '\r') response.statusLine.pop_back();
    if (response.statusLine.size() >= 12) response.status = std::atoi(response.statusLine.c_str() + 9);
    for (std::string line; std::getline(head, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        response.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    response.body = data.substr(headEnd + 4, length == std::string::npos ? std::string::npos : length);
    return response;
}

/// Sends `request` (whole, as bytes) on a new connection from `source` and reads the answer.
inline RawResponse exchange(int port, const std::string& request, const std::string& source = "127.0.0.1",
                            int timeoutMs = 10000) {
    const auto started = Clock::now();
    const int fd = connectFrom(port, source, timeoutMs);
    if (fd < 0) return {};
    sendAll(fd, request);
    auto response = readResponse(fd);
    ::close(fd);
    response.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return response;
}

inline std::string get(const std::string& target, const std::string& token = "", const std::string& extra = "") {
    return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
           (token.empty() ? "" : "Authorization: Bearer " + token + "\r\n") + extra + "Connection: close\r\n\r\n";
}

inline std::string post(const std::string& target, const std::string& token, const std::string& contentType,
                        const std::string& body) {
    return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
           "\r\nContent-Type: " + contentType + "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
}

/// The error body of SPEC 5 and the request id: what every client error must carry.
inline void expectClientError(const RawResponse& response, int status, const std::string& code) {
    EXPECT_EQ(response.status, status) << response.statusLine << "\n" << response.body;
    EXPECT_FALSE(response.headers.count("x-request-id") == 0 || response.headers.at("x-request-id").empty())
        << "no X-Request-Id";
    try {
        const auto error =
            Poco::JSON::Parser().parse(response.body).extract<Poco::JSON::Object::Ptr>()->getObject("error");
        ASSERT_TRUE(error) << response.body;
        EXPECT_EQ(error->getValue<std::string>("code"), code) << response.body;
        EXPECT_FALSE(error->getValue<std::string>("message").empty());
    } catch (const Poco::Exception& e) {
        ADD_FAILURE() << "not a JSON error body: " << response.body << " (" << e.displayText() << ")";
    }
}

inline Poco::JSON::Object::Ptr json(const std::string& body) {
    return Poco::JSON::Parser().parse(body).extract<Poco::JSON::Object::Ptr>();
}

inline std::string readFile(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

/// Peak resident memory of a process (kB), from /proc: a body held whole shows here even after it is freed.
inline long peakRssKb(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

/// Whole IDs (valid checksum) in a text, masked, as the log scan of scripts/test finds them.
inline std::vector<std::string> wholeIds(const std::string& text) {
    namespace id = taxdesk::jobs::identity;
    std::vector<std::string> found;
    const std::regex candidate("[A-Z][1289A-D][0-9]{8}");
    for (std::sregex_iterator it(text.begin(), text.end(), candidate), end; it != end; ++it)
        if (id::classify(it->str()) != id::IdKind::invalid) found.push_back(id::mask(it->str()));
    return found;
}

/// A small valid batch file: A123456789 is a valid national ID.
inline const std::string kBatch =
    "debtor_id,debtor_name,title_ref,scope\nA123456789,王小明,北院112司執12345,property\n";

}  // namespace taxdesk::testing::raw_http
