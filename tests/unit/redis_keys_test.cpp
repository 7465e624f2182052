// Redis Cluster safety of the engine's keys: the slot function against values Redis itself gives (CLUSTER KEYSLOT on
// a redis-server in cluster mode, written down by hand), and every multi-key command or script of the engine using
// keys of one slot, with the default and another key prefix.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "connectors/redis/cluster_slot.hpp"
#include "engine/flow/redis_keys.hpp"

using taxdesk::connectors::clusterSlot;
using taxdesk::connectors::crc16Xmodem;
namespace keys = taxdesk::engine::redis_keys;

namespace {

/// The slots of the keys as the client sends them (prefix added).
std::vector<int> slotsOf(const std::string& prefix, const std::vector<std::string>& names) {
    std::vector<int> slots;
    for (const auto& name : names) slots.push_back(clusterSlot(prefix + name));
    return slots;
}

void expectOneSlot(const std::vector<int>& slots, const std::string& what) {
    ASSERT_FALSE(slots.empty());
    for (const int slot : slots) EXPECT_EQ(slot, slots.front()) << what;
}

}  // namespace

TEST(ClusterSlot, MatchesRedis) {
    EXPECT_EQ(crc16Xmodem("123456789"), 0x31C3);  // the CRC16-XMODEM check value, as in the Redis Cluster spec
    EXPECT_EQ(clusterSlot("123456789"), 12739);
    EXPECT_EQ(clusterSlot("foo"), 12182);
    EXPECT_EQ(clusterSlot("bar"), 5061);
    EXPECT_EQ(clusterSlot("{user1000}.following"), 3443);
    EXPECT_EQ(clusterSlot("{user1000}.followers"), 3443);
    EXPECT_EQ(clusterSlot("foo{}{bar}"), 8363);     // an empty tag: the whole key
    EXPECT_EQ(clusterSlot("foo{{bar}}zap"), 4015);  // the tag is "{bar"
    EXPECT_EQ(clusterSlot("{bar"), 4015);           // no closing brace: the whole key
    EXPECT_EQ(clusterSlot("taxdesk:sms:daily:{0912345678:20261202}"), 777);
    EXPECT_EQ(clusterSlot("taxdesk:sms:{sms-strikes}:fail:id:A123456789"), 5656);
}

TEST(RedisKeys, TheDailyLimitsCounterAndMarkerShareASlot) {
    // RedisClient::countOnce and uncount: one EVAL over both keys.
    EXPECT_EQ(keys::smsDaily("0912345678", "20261202"), "sms:daily:{0912345678:20261202}");
    EXPECT_EQ(keys::smsCounted("0912345678", "20261202", "gw-1"), "sms:counted:{0912345678:20261202}:gw-1");
    for (const std::string prefix : {"taxdesk:", "", "api-1."}) {
        expectOneSlot(slotsOf(prefix, {keys::smsDaily("0912345678", "20261202"),
                                       keys::smsCounted("0912345678", "20261202", "gw-1"),
                                       keys::smsCounted("0912345678", "20261202", "gw-2")}),
                      "daily counter, prefix " + prefix);
    }
    // Different msisdns and days spread over the cluster.
    EXPECT_NE(clusterSlot(keys::smsDaily("0912345678", "20261202")),
              clusterSlot(keys::smsDaily("0987654321", "20261202")));
}

TEST(RedisKeys, TheStrikeScriptsAndTheLockLookUpUseOneSlot) {
    // RedisClient::recordStrike: one EVALSHA over the ID's and the msisdn's three keys; lockSecondsLeft: one MGET of
    // both locks.
    const auto id = keys::smsStrikes("id", "A123456789");
    const auto msisdn = keys::smsStrikes("msisdn", "0912345678");
    EXPECT_EQ(id.strikesKey, "sms:{sms-strikes}:fail:id:A123456789");
    EXPECT_EQ(id.lockKey, "sms:{sms-strikes}:lock:id:A123456789");
    EXPECT_EQ(id.locksKey, "sms:{sms-strikes}:locks:id:A123456789");
    EXPECT_EQ(msisdn.lockKey, keys::smsLock("msisdn", "0912345678"));
    const auto other = keys::smsStrikes("id", "B223456789");
    for (const std::string prefix : {"taxdesk:", ""}) {
        expectOneSlot(slotsOf(prefix, {id.strikesKey, id.lockKey, id.locksKey, msisdn.strikesKey, msisdn.lockKey,
                                       msisdn.locksKey, other.strikesKey, other.lockKey}),
                      "strikes, prefix " + prefix);
        expectOneSlot(slotsOf(prefix, {keys::smsLock("id", "A123456789"), keys::smsLock("msisdn", "0912345678")}),
                      "lock look-up, prefix " + prefix);
    }
}

TEST(RedisKeys, APrefixWithItsOwnTagPutsEveryKeyInOneSlot) {
    // redis.key_prefix = "{taxdesk}:": the prefix's tag comes first and wins, so every key (the inquiry cache's too)
    // shares one slot: also safe, but not spread.
    expectOneSlot(slotsOf("{taxdesk}:", {keys::smsDaily("0912345678", "20261202"), keys::smsLock("id", "A1"),
                                         "v2:q:A123456789:ip:2024", "lease:dispatch"}),
                  "tagged prefix");
}
