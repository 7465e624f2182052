#include "engine/http_server.hpp"

#include <Poco/Logger.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/HTTPServerResponseImpl.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/StreamSocketImpl.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/Net/TCPServerDispatcher.h>
#include <Poco/Net/TCPServerParams.h>
#include <Poco/ThreadPool.h>
#include <Poco/Timestamp.h>
#include <Poco/URI.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <unordered_map>

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

std::string newRequestId() {
    static thread_local std::mt19937_64 generator{std::random_device{}()};
    char text[20];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(generator()));
    return text;
}

using Clock = std::chrono::steady_clock;

/// The most a request head may take (request line and headers); 431 beyond.
constexpr std::size_t kMaxHeadBytes = 64 * 1024;

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

/// A whole HTTP response written straight to a socket that no worker serves (refusals from the watching thread).
void refuseRaw(int fd, int status, const char* reason, const std::string& code, const std::string& message) {
    const HttpReply reply = errorReply(status, code, message);
    std::string text =
        "HTTP/1.1 " + std::to_string(status) + " " + reason +
        "\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\nX-Request-Id: " + newRequestId() +
        (status == 503 ? "\r\nRetry-After: 1" : "") + "\r\nContent-Length: " + std::to_string(reply.body.size()) +
        "\r\n\r\n" + reply.body;
    // Best effort: the socket is closed right after, whatever was written.
    [[maybe_unused]] const auto sent = ::send(fd, text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
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

/// Routes one request whose head has arrived: finds the handler, reads a body the handler does not stream (bounded
/// in size and time), answers, and writes the access log line.
class Router {
  public:
    Router(std::vector<Route> routes, const HttpServerSettings& settings) : settings_(settings) {
        for (auto& route : routes) {
            auto pattern = segments(route.pattern);
            routes_.push_back({std::move(route), std::move(pattern)});
        }
    }

    /// `streaming` is called before a route that streams its body runs and before a streamed answer is sent: the
    /// worker's turn gets the longer bound of large uploads and downloads (http.stream_timeout_ms).
    void handle(Poco::Net::HTTPServerRequestImpl& request, Poco::Net::HTTPServerResponse& response,
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
            log.information("request_id=%s method=%s path=%s status=%d ms=%d", requestId, request.getMethod(),
                            loggablePath(path), reply.status,
                            static_cast<int>(
                                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()));
        }
    }

    /// An answer for a request whose head Poco could not read (and so no route saw).
    static void sendBadHead(Poco::Net::HTTPServerSession& session, const std::string& message) {
        Poco::Net::HTTPServerResponseImpl response(session);
        response.setVersion(Poco::Net::HTTPMessage::HTTP_1_1);
        response.setKeepAlive(false);
        HttpReply reply = errorReply(400, "bad_request", message);
        reply.headers["X-Request-Id"] = newRequestId();
        send(response, reply);
    }

  private:
    /// The body, at most maxBodyBytes (413 beyond, announced or not) and within bodyTimeoutMs (408 beyond).
    std::string readBody(Poco::Net::HTTPServerRequestImpl& request) const {
        const std::string tooLarge = "the body is larger than " + std::to_string(settings_.maxBodyBytes) + " bytes";
        if (request.hasContentLength() &&
            request.getContentLength64() > static_cast<Poco::Int64>(settings_.maxBodyBytes)) {
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

    static void send(Poco::Net::HTTPServerResponse& response, const HttpReply& reply) {
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

    struct CompiledRoute {
        Route route;
        std::vector<std::string> pattern;
    };
    std::vector<CompiledRoute> routes_;
    HttpServerSettings settings_;
};

/// The listening socket, the thread that watches connections until their request head is whole, and the workers.
class HttpServer::Impl {
  public:
    Impl(const HttpServerSettings& settings, std::vector<Route> routes);
    ~Impl();
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    [[nodiscard]] int port() const { return listener_.address().port(); }

    /// What the watcher knows of a connection a worker serves.
    struct Handed {
        std::string peer;
        int requests = 0;
    };
    Handed take(int fd);
    /// A worker is done with a kept-alive connection: watch it for the next request.
    void giveBack(Poco::Net::StreamSocket socket, Handed handed);
    /// A worker closed a connection.
    void release(const std::string& peer);
    /// A worker reads or writes `fd` until `deadline`: past it the watcher shuts the socket down, which ends the
    /// worker's blocked read or write. Disarmed before the worker lets the socket go (see DeadlineGuard).
    void arm(int fd, Clock::time_point deadline);
    void disarm(int fd);

    const Router& router() const { return router_; }
    const HttpServerSettings& settings() const { return settings_; }
    /// A counted reference (a raw pointer turned into an AutoPtr would be released by its taker).
    Poco::Net::HTTPServerParams::Ptr params() { return params_; }

  private:
    struct Waiting {
        Poco::Net::StreamSocket socket;
        std::string peer;
        Clock::time_point deadline;
        bool idle = false;  ///< kept alive, no byte of the next request yet
        int requests = 0;
    };

    void watch();
    void accept();
    void adoptReturned();
    void check(int fd);
    void close(int fd, int status, const char* reason, const std::string& message);
    void hand(int fd, bool health);
    void add(Poco::Net::StreamSocket socket, std::string peer, bool idle, int requests);
    /// Shuts down the sockets whose worker deadline passed.
    void enforceDeadlines();
    /// accept() failed for want of a file descriptor: take the connection with the spare one, refuse it, and keep a
    /// spare again; without a spare, stop accepting for a moment rather than spin on a listener that stays readable.
    /// Returns whether it refused a connection (more may wait).
    bool shedForWantOfDescriptors();

    HttpServerSettings settings_;
    Router router_;
    Poco::Net::HTTPServerParams::Ptr params_;
    Poco::Net::ServerSocket listener_;
    Poco::ThreadPool workers_;
    Poco::ThreadPool healthWorkers_;
    Poco::Net::TCPServerDispatcher* dispatcher_ = nullptr;
    Poco::Net::TCPServerDispatcher* healthDispatcher_ = nullptr;
    int epoll_ = -1;
    int wake_ = -1;
    std::atomic<bool> stopping_{false};
    std::thread watcher_;

    std::unordered_map<int, Waiting> waiting_;  // the watcher's own

    int spare_ = -1;                       // a descriptor kept for refusing a connection when none is left (EMFILE)
    Clock::time_point acceptPausedUntil_;  // the watcher's own: accepting paused (no descriptor, no spare)
    bool acceptPaused_ = false;

    std::mutex mutex_;  // guards what follows
    int open_ = 0;      // connections open, all clients
    std::unordered_map<int, Clock::time_point> deadlines_;
    std::unordered_map<std::string, int> perClient_;
    std::unordered_map<int, Handed> handed_;
    std::vector<std::pair<Poco::Net::StreamSocket, Handed>> returned_;
};

namespace {

/// A request head is whole: serve it (and any the client pipelined behind it), then give the connection back to the
/// watcher to wait for the next one, or close it.
class Connection final : public Poco::Net::TCPServerConnection {
  public:
    Connection(const Poco::Net::StreamSocket& socket, HttpServer::Impl& server)
        : Poco::Net::TCPServerConnection(socket), server_(server) {}

    void run() override {
        // Exposes how many bytes the session read ahead: a pipelined request that a hand-back would lose.
        class Session : public Poco::Net::HTTPServerSession {
          public:
            using Poco::Net::HTTPServerSession::HTTPServerSession;
            using Poco::Net::HTTPSession::buffered;
        };
        const int fd = socket().impl()->sockfd();
        auto handed = server_.take(fd);
        Session session(socket(), server_.params());
        // Disarmed whichever way this ends, before the socket is given back or closed: once given back, the fd may
        // already be another worker's, whose deadline a late disarm would clear.
        struct DeadlineGuard {
            HttpServer::Impl& server;
            int fd;
            bool armed = true;
            void disarm() {
                if (armed) server.disarm(fd);
                armed = false;
            }
            ~DeadlineGuard() { disarm(); }
        } guard{server_, fd};
        // One turn on a worker (this request and any pipelined behind it) gets http.request_timeout_ms; a pipelined
        // head may still be arriving, and gets only the head's time: never a worker's patience.
        const auto& settings = server_.settings();
        const auto turnDeadline = Clock::now() + std::chrono::milliseconds(settings.requestTimeoutMs);
        server_.arm(fd, turnDeadline);
        bool keep = false;
        for (bool first = true;; first = false) {
            keep = false;
            if (!first)
                server_.arm(fd,
                            std::min(turnDeadline, Clock::now() + std::chrono::milliseconds(settings.headerTimeoutMs)));
            try {
                Poco::Net::HTTPServerResponseImpl response(session);
                auto params = server_.params();
                Poco::Net::HTTPServerRequestImpl request(response, session, params.get());
                if (!first) server_.arm(fd, turnDeadline);
                ++handed.requests;
                response.setDate(Poco::Timestamp());
                response.setVersion(request.getVersion());
                response.setKeepAlive(request.getKeepAlive() && handed.requests < server_.settings().keepAliveRequests);
                if (request.getExpectContinue() && response.getStatus() == Poco::Net::HTTPResponse::HTTP_OK)
                    response.sendContinue();
                server_.router().handle(request, response, [&] {
                    server_.arm(
                        fd, std::max(turnDeadline, Clock::now() + std::chrono::milliseconds(settings.streamTimeoutMs)));
                });
                keep = response.sent() && response.getKeepAlive();
            } catch (const Poco::Net::NoMessageException&) {
            } catch (const Poco::Net::MessageException& error) {
                try {
                    Router::sendBadHead(session, "the request head is malformed: " + error.message());
                } catch (...) {
                }
            } catch (const std::exception&) {
                // The client went away or stopped sending: nothing to answer.
            }
            if (!keep || session.buffered() == 0) break;
        }
        guard.disarm();
        if (keep) {
            server_.giveBack(session.detachSocket(), std::move(handed));
        } else {
            server_.release(handed.peer);
        }
    }

  private:
    HttpServer::Impl& server_;
};

class ConnectionFactory final : public Poco::Net::TCPServerConnectionFactory {
  public:
    explicit ConnectionFactory(HttpServer::Impl& server) : server_(server) {}
    Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
        return new Connection(socket, server_);
    }

  private:
    HttpServer::Impl& server_;
};

Poco::Net::TCPServerParams::Ptr dispatcherParams(int threads, int queued) {
    Poco::Net::TCPServerParams::Ptr params = new Poco::Net::TCPServerParams;
    params->setMaxThreads(threads);
    params->setMaxQueued(queued);
    return params;
}

bool isHealthProbe(std::string_view head) {
    for (const std::string_view probe : {"GET /healthz", "GET /readyz", "HEAD /healthz", "HEAD /readyz"}) {
        if (head.substr(0, probe.size()) != probe || head.size() <= probe.size()) continue;
        const char next = head[probe.size()];
        if (next == ' ' || next == '?') return true;
    }
    return false;
}

}  // namespace

HttpServer::Impl::Impl(const HttpServerSettings& settings, std::vector<Route> routes)
    : settings_(settings),
      router_(std::move(routes), settings),
      params_(new Poco::Net::HTTPServerParams),
      listener_(Poco::Net::SocketAddress(settings.host, static_cast<Poco::UInt16>(settings.port)), 1024),
      workers_(1, std::max(settings.threads, 1) + 1),
      healthWorkers_(1, 3) {
    params_->setKeepAlive(true);
    params_->setTimeout(Poco::Timespan(settings_.readTimeoutMs * Poco::Timespan::MILLISECONDS));
    // Each connection is a descriptor: take what the hard limit allows, and never promise more connections than fit.
    rlimit files{};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
        if (files.rlim_cur < files.rlim_max) {
            files.rlim_cur = files.rlim_max;
            ::setrlimit(RLIMIT_NOFILE, &files);
            ::getrlimit(RLIMIT_NOFILE, &files);
        }
        constexpr rlim_t kReserved = 256;  // the store, Kafka, Redis, logs, the connectors
        const rlim_t fit = files.rlim_cur > kReserved * 2 ? files.rlim_cur - kReserved : files.rlim_cur / 2;
        if (files.rlim_cur != RLIM_INFINITY && static_cast<rlim_t>(settings_.maxConnections) > fit) {
            Poco::Logger::get("http").warning(
                "http.max_connections %d is more than the open-file limit (%lu) allows: %lu connections at most",
                settings_.maxConnections, static_cast<unsigned long>(files.rlim_cur), static_cast<unsigned long>(fit));
            settings_.maxConnections = static_cast<int>(fit);
        }
    }
    spare_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    listener_.setBlocking(false);
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_ < 0 || wake_ < 0) throw Poco::Net::NetException("cannot create the HTTP server's poll set");
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = listener_.impl()->sockfd();
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, event.data.fd, &event);
    event.data.fd = wake_;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &event);
    dispatcher_ = new Poco::Net::TCPServerDispatcher(new ConnectionFactory(*this), workers_,
                                                     dispatcherParams(settings_.threads, settings_.maxQueued));
    healthDispatcher_ =
        new Poco::Net::TCPServerDispatcher(new ConnectionFactory(*this), healthWorkers_, dispatcherParams(2, 64));
    watcher_ = std::thread([this] { watch(); });
}

HttpServer::Impl::~Impl() {
    stopping_ = true;
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(wake_, &one, sizeof one);
    if (watcher_.joinable()) watcher_.join();
    dispatcher_->stop();
    healthDispatcher_->stop();
    workers_.joinAll();
    healthWorkers_.joinAll();
    dispatcher_->release();
    healthDispatcher_->release();
    waiting_.clear();
    ::close(wake_);
    ::close(epoll_);
    if (spare_ >= 0) ::close(spare_);
}

HttpServer::Impl::Handed HttpServer::Impl::take(int fd) {
    std::lock_guard lock(mutex_);
    const auto it = handed_.find(fd);
    if (it == handed_.end()) return {};
    Handed handed = std::move(it->second);
    handed_.erase(it);
    return handed;
}

void HttpServer::Impl::giveBack(Poco::Net::StreamSocket socket, Handed handed) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            returned_.emplace_back(std::move(socket), std::move(handed));
        } else {
            auto& count = perClient_[handed.peer];
            if (--count <= 0) perClient_.erase(handed.peer);
            --open_;
        }
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(wake_, &one, sizeof one);
}

void HttpServer::Impl::release(const std::string& peer) {
    std::lock_guard lock(mutex_);
    const auto it = perClient_.find(peer);
    if (it != perClient_.end() && --it->second <= 0) perClient_.erase(it);
    --open_;
}

void HttpServer::Impl::arm(int fd, Clock::time_point deadline) {
    std::lock_guard lock(mutex_);
    deadlines_[fd] = deadline;
}

void HttpServer::Impl::disarm(int fd) {
    std::lock_guard lock(mutex_);
    deadlines_.erase(fd);
}

void HttpServer::Impl::enforceDeadlines() {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);  // the worker disarms under it before its socket can close: the fd is still its
    for (auto it = deadlines_.begin(); it != deadlines_.end();) {
        if (it->second > now) {
            ++it;
            continue;
        }
        ::shutdown(it->first, SHUT_RDWR);  // its worker's read or write ends at once; the worker then closes it
        Poco::Logger::get("http").notice(
            "a request took longer than http.request_timeout_ms (or its pipelined "
            "head longer than http.header_timeout_ms): connection cut");
        it = deadlines_.erase(it);
    }
}

bool HttpServer::Impl::shedForWantOfDescriptors() {
    const int listener = listener_.impl()->sockfd();
    // accept() says EMFILE before it looks at the queue: whether a connection waits is known only with a descriptor.
    bool refused = false;
    bool pause = spare_ < 0;
    if (spare_ >= 0) {
        ::close(spare_);
        const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        const int error = errno;
        if (fd >= 0) {
            refuseRaw(fd, 503, "Service Unavailable", "too_many_connections",
                      "the server has no room for more connections; try again");
            ::close(fd);
            refused = true;
        }
        spare_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        // Without the spare again, or short of memory or buffers (ENOMEM, ENOBUFS) rather than descriptors: the
        // listener stays readable, so look again shortly rather than spin on it.
        pause = spare_ < 0 || (fd < 0 && error != EAGAIN && error != EWOULDBLOCK && error != EINTR);
    }
    if (pause) {
        acceptPaused_ = true;
        acceptPausedUntil_ = Clock::now() + std::chrono::milliseconds(100);
        ::epoll_ctl(epoll_, EPOLL_CTL_DEL, listener, nullptr);
        if (spare_ < 0) spare_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    static std::atomic<long> lastWarning{0};
    const long second = static_cast<long>(std::time(nullptr));
    if (refused && lastWarning.exchange(second) != second)
        Poco::Logger::get("http").warning("out of file descriptors: connections refused with 503");
    return refused && !acceptPaused_;
}

void HttpServer::Impl::watch() {
    std::vector<epoll_event> events(512);
    while (!stopping_) {
        const int ready = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 100);
        for (int i = 0; i < ready; ++i) {
            const int fd = events[static_cast<std::size_t>(i)].data.fd;
            try {
                if (fd == listener_.impl()->sockfd()) {
                    accept();
                } else if (fd == wake_) {
                    std::uint64_t count = 0;
                    [[maybe_unused]] const auto got = ::read(wake_, &count, sizeof count);
                    adoptReturned();
                } else {
                    check(fd);
                }
            } catch (const std::exception& error) {
                Poco::Logger::get("http").warning("connection watcher: %s", std::string(error.what()));
            }
        }
        enforceDeadlines();
        const auto now = Clock::now();
        if (acceptPaused_ && now >= acceptPausedUntil_) {
            acceptPaused_ = false;
            epoll_event event{};
            event.events = EPOLLIN;
            event.data.fd = listener_.impl()->sockfd();
            ::epoll_ctl(epoll_, EPOLL_CTL_ADD, event.data.fd, &event);
        }
        std::vector<int> expired;
        for (const auto& [fd, waiting] : waiting_)
            if (waiting.deadline <= now) expired.push_back(fd);
        for (const int fd : expired) {
            const bool idle = waiting_.at(fd).idle;
            if (idle) {
                close(fd, 0, "", "");
            } else {
                close(fd, 408, "Request Timeout", "the request head did not arrive in time");
            }
        }
    }
    for (const auto& [fd, waiting] : waiting_) release(waiting.peer);
}

void HttpServer::Impl::accept() {
    for (;;) {
        const int fd = ::accept4(listener_.impl()->sockfd(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                if (shedForWantOfDescriptors()) continue;  // refused one: more may wait
                return;
            }
            return;  // nothing more to accept now (EAGAIN)
        }
        Poco::Net::StreamSocket socket(new Poco::Net::StreamSocketImpl(fd));  // owns fd from here
        std::string peer;
        try {
            peer = socket.peerAddress().host().toString();
        } catch (const Poco::Exception&) {
            continue;
        }
        const char* over = nullptr;
        {
            std::lock_guard lock(mutex_);
            auto& count = perClient_[peer];
            if (open_ >= settings_.maxConnections) {
                over = "the server has too many open connections; try again";
                if (count == 0) perClient_.erase(peer);
            } else if (count >= settings_.maxConnectionsPerClient) {
                over = "too many open connections from this address";
            } else {
                ++count;
                ++open_;
            }
        }
        if (over != nullptr) {
            refuseRaw(fd, 503, "Service Unavailable", "too_many_connections", over);
            continue;  // closed as `socket` goes
        }
        add(std::move(socket), std::move(peer), false, 0);
    }
}

void HttpServer::Impl::add(Poco::Net::StreamSocket socket, std::string peer, bool idle, int requests) {
    const int fd = socket.impl()->sockfd();
    const auto wait = idle ? settings_.keepAliveTimeoutMs : settings_.headerTimeoutMs;
    waiting_[fd] =
        Waiting{std::move(socket), std::move(peer), Clock::now() + std::chrono::milliseconds(wait), idle, requests};
    // Edge-triggered: a head that is not whole yet wakes the watcher again only when more of it arrives.
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0) {
        close(fd, 503, "Service Unavailable", "cannot watch the connection");
        return;
    }
    check(fd);  // the head may be here already (a kept-alive client that sent at once)
}

void HttpServer::Impl::adoptReturned() {
    std::vector<std::pair<Poco::Net::StreamSocket, Handed>> returned;
    {
        std::lock_guard lock(mutex_);
        returned.swap(returned_);
    }
    for (auto& [socket, handed] : returned) add(std::move(socket), std::move(handed.peer), true, handed.requests);
}

void HttpServer::Impl::check(int fd) {
    const auto it = waiting_.find(fd);
    if (it == waiting_.end()) return;
    static thread_local std::vector<char> peek(kMaxHeadBytes);
    const auto got = ::recv(fd, peek.data(), peek.size(), MSG_PEEK | MSG_DONTWAIT);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        close(fd, 0, "", "");
        return;
    }
    if (got < 0) return;
    if (it->second.idle) {
        it->second.idle = false;
        it->second.deadline = Clock::now() + std::chrono::milliseconds(settings_.headerTimeoutMs);
    }
    const std::string_view head(peek.data(), static_cast<std::size_t>(got));
    if (head.find("\r\n\r\n") != std::string_view::npos || head.find("\n\n") != std::string_view::npos) {
        hand(fd, isHealthProbe(head));
    } else if (static_cast<std::size_t>(got) >= kMaxHeadBytes) {
        close(fd, 431, "Request Header Fields Too Large", "the request head is larger than 64 KiB");
    }
}

void HttpServer::Impl::close(int fd, int status, const char* reason, const std::string& message) {
    const auto it = waiting_.find(fd);
    if (it == waiting_.end()) return;
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    if (status != 0) refuseRaw(fd, status, reason, status == 408 ? "timeout" : "too_large", message);
    release(it->second.peer);
    waiting_.erase(it);  // the last reference: the socket closes
}

void HttpServer::Impl::hand(int fd, bool health) {
    auto it = waiting_.find(fd);
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    auto& dispatcher = health ? *healthDispatcher_ : *dispatcher_;
    if (dispatcher.queuedConnections() >= dispatcher.params().getMaxQueued()) {
        refuseRaw(fd, 503, "Service Unavailable", "busy", "the server is busy; try again");
        release(it->second.peer);
        waiting_.erase(it);
        return;
    }
    Poco::Net::StreamSocket socket = std::move(it->second.socket);
    {
        std::lock_guard lock(mutex_);
        handed_[fd] = Handed{std::move(it->second.peer), it->second.requests};
    }
    waiting_.erase(it);
    socket.setBlocking(true);
    dispatcher.enqueue(socket);
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

HttpServer::HttpServer(const HttpServerSettings& settings, std::vector<Route> routes)
    : impl_(std::make_unique<Impl>(settings, std::move(routes))) {}

HttpServer::HttpServer(const std::string& host, int port, int threads, std::vector<Route> routes)
    : HttpServer(HttpServerSettings{host, port, threads}, std::move(routes)) {}

HttpServer::~HttpServer() = default;

int HttpServer::port() const {
    return impl_->port();
}

}  // namespace taxdesk::engine
