#pragma once
// Every Redis key of the SMS counters and locks, named in one place (without the client's redis.key_prefix). Keys
// that one command or script uses together share a hash tag ({…}), so that they hash to one Redis Cluster slot:
//   - the daily limit (RedisClient::countOnce / uncount, and lockedCounts' second round: one EVAL):
//     `sms:daily:{<msisdn>:<day>}` and its marker `sms:counted:{<msisdn>:<day>}:<gateway_msg_id>`, tagged by the
//     msisdn and day;
//   - the failed identity checks (RedisClient::recordStrike, one EVALSHA over the ID's and the msisdn's window, lock
//     and lock history) and the lock look-up (one MGET of both locks, or lockedCounts' first round: one EVAL):
//     `sms:{sms-strikes}:fail|lock|locks:id|msisdn:…`, all under one constant tag, because an ID and an msisdn are
//     locked together atomically, and each may come with any other (a strike against an ID counts whatever phone
//     sent it). They are few (failed checks only).
// The other keys are used one at a time: the inquiry cache's entries (engine/runtime/lookup_cache.hpp: GET in an
// MGET, SET pipelined) and the dispatcher's leases (`lease:<what>`, one EVAL of one key).
#include <string>

#include "connectors/redis/redis_client.hpp"

namespace taxdesk::engine::redis_keys {

/// The daily application counter of an msisdn (`day` is YYYYMMDD in Taipei).
std::string smsDaily(const std::string& msisdn, const std::string& day);
/// The marker that one inbound SMS was counted in smsDaily(msisdn, day): same slot.
std::string smsCounted(const std::string& msisdn, const std::string& day, const std::string& gatewayMsgId);
/// The lock of an ID (`kind` "id") or msisdn (`kind` "msisdn"): set while locked.
std::string smsLock(const std::string& kind, const std::string& subject);
/// The strike window, the lock and the lock history of an ID or msisdn (recordStrike's subject).
connectors::StrikeSubject smsStrikes(const std::string& kind, const std::string& subject);

}  // namespace taxdesk::engine::redis_keys
