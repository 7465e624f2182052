#include "engine/http/http_server.hpp"

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

#include "connectors/http/listener.hpp"
#include "jobs/common/json.hpp"
#include "jobs/identity/identifiers.hpp"

#include "engine/http/http_router.hpp"

namespace taxdesk::engine {
namespace {

using Clock = std::chrono::steady_clock;

/// The most a request head may take (request line and headers); 431 beyond.
constexpr std::size_t kMaxHeadBytes = 64 * 1024;

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

}  // namespace

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
      listener_(connectors::listenExclusively(
          Poco::Net::SocketAddress(settings.host, static_cast<Poco::UInt16>(settings.port)), 1024)),
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
    // A destructor must not throw: Poco's stop and join may (a thread that cannot be joined, a lock error). What is
    // left then is logged; the descriptors are closed either way.
    try {
        if (watcher_.joinable()) watcher_.join();
        dispatcher_->stop();
        healthDispatcher_->stop();
        workers_.joinAll();
        healthWorkers_.joinAll();
        dispatcher_->release();
        healthDispatcher_->release();
        waiting_.clear();
    } catch (const std::exception& error) {
        try {
            Poco::Logger::get("http").error("stopping the HTTP server failed: %s", std::string(error.what()));
        } catch (...) {
        }
    }
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

HttpServer::HttpServer(const HttpServerSettings& settings, std::vector<Route> routes)
    : impl_(std::make_unique<Impl>(settings, std::move(routes))) {}

HttpServer::HttpServer(const std::string& host, int port, int threads, std::vector<Route> routes)
    : HttpServer(HttpServerSettings{host, port, threads}, std::move(routes)) {}

HttpServer::~HttpServer() = default;

int HttpServer::port() const {
    return impl_->port();
}

}  // namespace taxdesk::engine
