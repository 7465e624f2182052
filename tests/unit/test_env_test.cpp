// tests/fixtures/test_env: the free-port probe every engine a test starts is placed with. No servers needed.
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <gtest/gtest.h>

#include "connectors/http/listener.hpp"
#include "fixtures/test_env.hpp"

namespace {

TEST(TestPorts, APortAServerSharingItsPortListensOnIsNotFree) {
    // Poco's ServerSocket(address) sets SO_REUSEPORT, and the old probe did too: it bound beside a live listener, so
    // freePort could hand a running engine's port to the next one (CI: one test's request reached another's engine).
    const Poco::Net::ServerSocket shared(Poco::Net::SocketAddress("127.0.0.1", 0));
    EXPECT_FALSE(taxdesk::testing::portFree(shared.address().port()));
}

TEST(TestPorts, APortAnExclusiveListenerHoldsIsNotFreeAndIsOnceItCloses) {
    int port = 0;
    {
        const auto exclusive = taxdesk::connectors::listenExclusively(Poco::Net::SocketAddress("127.0.0.1", 0));
        port = exclusive.address().port();
        EXPECT_FALSE(taxdesk::testing::portFree(port));
    }
    EXPECT_TRUE(taxdesk::testing::portFree(port));
}

TEST(TestPorts, FreePortsAreFree) {
    for (int i = 0; i < 20; ++i) {
        const int port = taxdesk::testing::freePort();
        EXPECT_GE(port, 20000);
        EXPECT_LE(port, 31999);
        EXPECT_TRUE(taxdesk::testing::portFree(port));
    }
}

}  // namespace
