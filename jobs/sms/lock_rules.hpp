#pragma once
// SPEC 4.1: three failed identity checks for one ID or from one msisdn within 10 minutes lock both. The counting
// itself is atomic in Redis (connectors/redis: RedisClient::recordStrike); what is decided here is how long a lock
// lasts. Pure functions, thread-safe.
#include <vector>

namespace taxdesk::jobs::sms {

/// How far back earlier locks of the same ID or msisdn count towards lengthening a new one: 24 hours.
inline constexpr int kLockHistorySeconds = 24 * 3600;

/// The duration of a lock, given how many locks the same ID or msisdn had in the last kLockHistorySeconds before
/// it (`previousLocks`, the larger of the two counts): `baseSeconds` (SPEC: 10 minutes) for the first, doubled for
/// each earlier one, never more than `maxSeconds` (sms.lock_max_seconds) — and never less than `baseSeconds`, so
/// that a maximum configured below the base cannot weaken SPEC's 10 minutes. A negative previousLocks counts as 0.
/// Throws std::invalid_argument when baseSeconds is not positive.
int lockSeconds(int baseSeconds, int previousLocks, int maxSeconds);

/// lockSeconds(baseSeconds, k, maxSeconds) for k = 0, 1, … up to the first k at which it stops growing (at most 32
/// entries): the durations the Redis script chooses from, its last entry for any further lock. Throws as
/// lockSeconds.
std::vector<int> lockLadder(int baseSeconds, int maxSeconds);

}  // namespace taxdesk::jobs::sms
