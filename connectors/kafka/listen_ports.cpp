#include "connectors/kafka/listen_ports.hpp"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "connectors/kafka/kafka.hpp"

namespace taxdesk::connectors::kafka::detail {
namespace {

// The sockets the current thread's ListenPorts holds; null when none is active on this thread. Constant-initialised:
// safe to read from bind() at any time, even before main().
thread_local std::deque<int>* tlsSockets = nullptr;

using BindFunction = int (*)(int, const sockaddr*, socklen_t);

BindFunction realBind() {
    static const BindFunction next = reinterpret_cast<BindFunction>(dlsym(RTLD_NEXT, "bind"));
    return next;
}

bool isLoopbackAnyPort(const sockaddr* address, socklen_t length) {
    if (address == nullptr || length < static_cast<socklen_t>(sizeof(sockaddr_in)) || address->sa_family != AF_INET)
        return false;
    sockaddr_in in{};
    std::memcpy(&in, address, sizeof in);
    return in.sin_port == 0 && in.sin_addr.s_addr == htonl(INADDR_LOOPBACK);
}

}  // namespace

ListenPorts::ListenPorts(int first, int count) {
    if (first < 1 || count < 1 || first + count - 1 > 65535)
        throw KafkaError("broker.port " + std::to_string(first) + ": brokers 1 to " + std::to_string(count) +
                             " would listen on ports beyond 65535",
                         false);
    auto closeAll = [this] {
        for (const int fd : sockets_) ::close(fd);
        sockets_.clear();
    };
    for (int i = 0; i < count; ++i) {
        const int port = first + i;
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
        if (fd < 0) {
            const std::string reason = std::strerror(errno);
            closeAll();
            throw KafkaError("cannot create a socket for 127.0.0.1:" + std::to_string(port) + ": " + reason, false);
        }
        const int on = 1;
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<std::uint16_t>(port));
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sockaddr generic{};
        std::memcpy(&generic, &address, sizeof address);
        if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 || realBind() == nullptr ||
            realBind()(fd, &generic, sizeof address) != 0) {
            const std::string reason = realBind() == nullptr ? "bind() not found" : std::strerror(errno);
            ::close(fd);
            closeAll();
            throw KafkaError("cannot listen on 127.0.0.1:" + std::to_string(port) + " (broker " +
                                 std::to_string(i + 1) + "): " + reason,
                             false);
        }
        sockets_.push_back(fd);
    }
    previous_ = tlsSockets;
    tlsSockets = &sockets_;
}

ListenPorts::~ListenPorts() {
    tlsSockets = previous_;
    for (const int fd : sockets_) ::close(fd);  // not taken: librdkafka bound fewer sockets than expected
}

}  // namespace taxdesk::connectors::kafka::detail

// The interposer (see listen_ports.hpp). C linkage, the C library's signature.
extern "C" int bind(int fd, const sockaddr* address, socklen_t length) {
    using namespace taxdesk::connectors::kafka::detail;
    std::deque<int>* sockets = tlsSockets;
    if (sockets != nullptr && !sockets->empty() && isLoopbackAnyPort(address, length)) {
        const int bound = sockets->front();
        // The caller's descriptor now refers to our bound socket; its own (unbound) socket is closed by dup3.
        if (::dup3(bound, fd, O_CLOEXEC) < 0) return -1;
        sockets->pop_front();
        ::close(bound);
        return 0;
    }
    const BindFunction next = realBind();
    if (next == nullptr) {
        errno = ENOSYS;
        return -1;
    }
    return next(fd, address, length);
}
