#pragma once
// Fixed ports for librdkafka's mock cluster (`taxdesk broker --set broker.port=N`).
//
// librdkafka 2.0.2 binds each mock broker to 127.0.0.1 port 0 (rd_kafka_mock_broker_new_listener) and has no option
// for a port: a restarted broker came back on new ports, and every client that had read the old bootstrap list was
// stuck. Of the two ways round it — a TCP forwarder from fixed ports to the mock's, or taking over the mock's bind()
// — this takes over bind(): with a forwarder the metadata would still advertise the ephemeral ports, which change on
// every restart, so clients would have to fall back on the bootstrap address to find the broker again; with the bind
// taken over, the broker itself listens on, and advertises, the fixed port, and a client that reconnects to the
// address it knows finds it.
//
// How: this file defines `bind()`. Linked into an executable (it is, with MockCluster, which uses it), the dynamic
// linker resolves librdkafka's bind() calls to it; it forwards every call to the C library's bind (dlsym RTLD_NEXT)
// except, while a ListenPorts lives on the calling thread, an AF_INET bind to 127.0.0.1 port 0: that one gets the
// next socket ListenPorts bound beforehand (dup3 onto the caller's descriptor). Binding first, in our own code, means
// a port in use is a clear KafkaError before librdkafka is involved (its own failure path on a bind error is an
// assertion), with no window between a check and the bind.
#include <deque>

namespace taxdesk::connectors::kafka::detail {

/// Listening-to-be sockets on 127.0.0.1:first … first+count-1 (SO_REUSEADDR, like librdkafka's, so that a broker
/// restarted at once is not refused by its old connections in TIME_WAIT), handed in order to this thread's next
/// loopback binds to port 0 while this object lives. Throws KafkaError (not retryable) naming a port in use.
class ListenPorts {
  public:
    ListenPorts(int first, int count);
    ~ListenPorts();
    ListenPorts(const ListenPorts&) = delete;
    ListenPorts& operator=(const ListenPorts&) = delete;

    /// Sockets not taken yet.
    [[nodiscard]] std::size_t remaining() const { return sockets_.size(); }

  private:
    std::deque<int> sockets_;
    std::deque<int>* previous_ = nullptr;
};

}  // namespace taxdesk::connectors::kafka::detail
