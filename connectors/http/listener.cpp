#include "connectors/http/listener.hpp"

namespace taxdesk::connectors {

Poco::Net::ServerSocket listenExclusively(const Poco::Net::SocketAddress& address, int backlog) {
    Poco::Net::ServerSocket socket;
    socket.bind(address, /*reuseAddress=*/true, /*reusePort=*/false);
    socket.listen(backlog);
    return socket;
}

}  // namespace taxdesk::connectors
