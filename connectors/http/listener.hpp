#pragma once
// The one way taxdesk listens on a TCP port (the engine's HTTP server, `taxdesk stubs`).
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>

namespace taxdesk::connectors {

/// A socket listening on `address` alone. Poco's ServerSocket(address) binds with SO_REUSEPORT, so a second server on
/// a taken port started and the kernel shared the first one's connections between the two; here the port is bound
/// with SO_REUSEADDR only (a restarted server binds again while old connections sit in TIME_WAIT). Throws
/// Poco::Net::NetException (e.g. Poco::Net::NetException "Address already in use") when the address is taken.
Poco::Net::ServerSocket listenExclusively(const Poco::Net::SocketAddress& address, int backlog = 64);

}  // namespace taxdesk::connectors
