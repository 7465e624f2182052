// The embedded broker on a fixed address (broker.port): the mock cluster really listens on, and advertises, the port
// asked for; a port in use is a clear error; other sockets of the process still bind where they asked. In-process
// (librdkafka's mock cluster), no servers needed.
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>
#include <gtest/gtest.h>

#include <string>

#include "connectors/kafka/kafka.hpp"
#include "fixtures/test_env.hpp"

using taxdesk::connectors::kafka::KafkaError;
using taxdesk::connectors::kafka::KafkaSettings;
using taxdesk::connectors::kafka::MockCluster;
using taxdesk::connectors::kafka::Producer;

namespace {

/// Two consecutive free ports (port, port+1), as far as one can tell.
int freePair() {
    for (int attempt = 0; attempt < 50; ++attempt) {
        const int port = taxdesk::testing::freePort();
        if (port >= 65535) continue;
        try {
            Poco::Net::ServerSocket next(Poco::Net::SocketAddress("127.0.0.1", static_cast<Poco::UInt16>(port + 1)));
            return port;
        } catch (const std::exception&) {
        }
    }
    throw std::runtime_error("no two consecutive free ports");
}

}  // namespace

TEST(MockBrokerPort, ListensOnAndAdvertisesTheFixedPort) {
    const int port = taxdesk::testing::freePort();
    MockCluster cluster(1, port);
    EXPECT_EQ(cluster.bootstraps(), "127.0.0.1:" + std::to_string(port));
    EXPECT_TRUE(taxdesk::testing::accepts(port));
    // A client that knows only the fixed address gets an answer from the broker there.
    KafkaSettings settings;
    settings.bootstrap = "127.0.0.1:" + std::to_string(port);
    Producer producer(settings, nullptr);
    EXPECT_NO_THROW(producer.checkReachable(5000));
}

TEST(MockBrokerPort, BrokerIListensOnPortPlusIMinusOne) {
    const int port = freePair();
    MockCluster cluster(2, port);
    EXPECT_EQ(cluster.bootstraps(), "127.0.0.1:" + std::to_string(port) + ",127.0.0.1:" + std::to_string(port + 1));
    EXPECT_TRUE(taxdesk::testing::accepts(port));
    EXPECT_TRUE(taxdesk::testing::accepts(port + 1));
}

TEST(MockBrokerPort, APortInUseIsAClearErrorNotACrash) {
    Poco::Net::ServerSocket taken(Poco::Net::SocketAddress("127.0.0.1", 0));
    const int port = taken.address().port();
    try {
        MockCluster cluster(1, port);
        FAIL() << "a second listener on a port in use";
    } catch (const KafkaError& error) {
        EXPECT_NE(std::string(error.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos)
            << error.what();
        EXPECT_FALSE(error.isRetryable());
    }
    // Nothing was left armed: a cluster without a fixed port still gets free ports.
    MockCluster any(1);
    EXPECT_NE(any.bootstraps(), "127.0.0.1:" + std::to_string(port));
    EXPECT_NE(any.bootstraps(), "127.0.0.1:0");
}

TEST(MockBrokerPort, ARestartedClusterComesBackOnTheSamePort) {
    const int port = taxdesk::testing::freePort();
    {
        MockCluster first(1, port);
        // A client connected when the broker goes: its side of the connection is left to close.
        ASSERT_TRUE(taxdesk::testing::accepts(port));
    }
    MockCluster second(1, port);
    EXPECT_EQ(second.bootstraps(), "127.0.0.1:" + std::to_string(port));
    EXPECT_TRUE(taxdesk::testing::accepts(port));
}

TEST(MockBrokerPort, OtherBindsAreLeftAlone) {
    // The interposed bind() forwards everything outside a fixed-port cluster's construction to the C library.
    const int port = taxdesk::testing::freePort();
    MockCluster cluster(1, port);
    Poco::Net::ServerSocket any(Poco::Net::SocketAddress("127.0.0.1", 0));
    EXPECT_NE(any.address().port(), 0);
    EXPECT_NE(any.address().port(), port);
    const int chosen = taxdesk::testing::freePort();
    Poco::Net::ServerSocket fixed(Poco::Net::SocketAddress("127.0.0.1", static_cast<Poco::UInt16>(chosen)));
    EXPECT_EQ(fixed.address().port(), chosen);
}
