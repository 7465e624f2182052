// A failover behind one address: the Redis server a client is connected to becomes a replica (REPLICAOF, as a
// Sentinel or a manual failover does to the old primary). Its writes are answered READONLY: the call fails retryably
// (the pipeline retries it with back-off) and the client drops that connection, so that its next call connects
// afresh through the failover address instead of asking the replica for ever. A redis-server of its own (REPLICAOF
// would disturb the shared one).
#include <gtest/gtest.h>

#include <string>

#include "connectors/redis/redis_client.hpp"
#include "fixtures/fault_report.hpp"
#include "fixtures/test_env.hpp"

using taxdesk::connectors::RedisClient;
using taxdesk::connectors::RedisError;

namespace {

/// INFO stats' total_connections_received (this redis-cli call's own connection included).
long long connectionsReceived(const taxdesk::testing::RedisServer& server) {
    const std::string info = server.command("info stats");
    const std::string field = "total_connections_received:";
    const auto at = info.find(field);
    if (at == std::string::npos) return -1;
    return std::stoll(info.substr(at + field.size()));
}

}  // namespace

TEST(RedisFailover, AReadOnlyAnswerIsRetryableAndTheNextCallConnectsAfresh) {
    taxdesk::testing::RedisServer server;
    RedisClient client({"127.0.0.1", server.port(), 1000, "failover:"});
    EXPECT_EQ(client.incrWithExpiry("counter", 60), 1);

    // The server becomes a replica of a primary that is not there: it answers writes READONLY.
    ASSERT_NE(server.command("replicaof 127.0.0.1 1").find("OK"), std::string::npos);
    try {
        (void)client.incrWithExpiry("counter", 60);
        FAIL() << "a replica took a write";
    } catch (const RedisError& error) {
        EXPECT_NE(std::string(error.what()).find("READONLY"), std::string::npos) << error.what();
        EXPECT_TRUE(error.isRetryable());
    }

    // The failover completes (here: the same server promoted again). Connections counted by hand: the first
    // redis-cli (1), REPLICAOF NO ONE (1), the client's new connection (1), the second redis-cli (1): 3 after the
    // first count. Without the reconnect the client would keep its old connection: 2.
    const long long before = connectionsReceived(server);
    ASSERT_NE(server.command("replicaof no one").find("OK"), std::string::npos);
    EXPECT_EQ(client.incrWithExpiry("counter", 60), 2);
    EXPECT_EQ(connectionsReceived(server) - before, 3);
}

TEST(RedisFailover, DeferredWritesAnsweredReadOnlyAreCountedAndTheNextCallConnectsAfresh) {
    // The inquiry cache writes without waiting (setManyDeferred): the answers are read before the next command. When
    // they are READONLY, that command must go out on a new connection, or the writes would go to the replica for ever.
    taxdesk::testing::RedisServer server;
    RedisClient client({"127.0.0.1", server.port(), 1000, "failover:"});
    client.setManyDeferred({{"a", "1"}}, 60);
    EXPECT_EQ(client.get("a"), "1");
    EXPECT_EQ(client.deferredErrors(), 0u);

    ASSERT_NE(server.command("replicaof 127.0.0.1 1").find("OK"), std::string::npos);
    client.setManyDeferred({{"b", "2"}, {"c", "3"}, {"d", "4"}}, 60);
    // Counted by hand: this redis-cli (1), the client's new connection (1), the second redis-cli (1): 2 after the
    // first count. Without the reconnect the client would keep its old connection: 1.
    const long long before = connectionsReceived(server);
    EXPECT_EQ(client.get("b"), std::nullopt);  // a read: the replica answers it
    EXPECT_EQ(client.deferredErrors(), 3u);
    EXPECT_EQ(connectionsReceived(server) - before, 2);

    // Promoted again: the writes land.
    ASSERT_NE(server.command("replicaof no one").find("OK"), std::string::npos);
    client.setManyDeferred({{"e", "5"}}, 60);
    EXPECT_EQ(client.get("e"), "5");
    EXPECT_EQ(client.deferredErrors(), 3u);
}
