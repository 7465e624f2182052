#pragma once
// A small Redis client over hiredis: one connection, batched round trips (MGET, pipelines).
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/api/errors.hpp"

struct redisContext;  // hiredis stays in the .cpp

namespace taxdesk::connectors {

struct RedisSettings {
    std::string host = "127.0.0.1";
    int port = 6390;
    int timeoutMs = 1000;
    std::string keyPrefix = "taxdesk:";  ///< prepended to every key this client touches
};

/// Redis unreachable, timed out, or answered with an error. Retryable (the default) when the server may be back or
/// able soon: unreachable, timed out, or an answer that says so (isTransientRedisAnswer). Not retryable for an
/// answer that the same command would get again (WRONGTYPE, a script error, an unexpected reply type).
class RedisError : public ConnectorError {
  public:
    explicit RedisError(const std::string& what, bool retryable = true) : ConnectorError("redis: " + what, retryable) {}
};

/// True for a server error answer that may pass: LOADING, BUSY, MASTERDOWN, TRYAGAIN, OOM, CLUSTERDOWN, READONLY
/// (a failover), NOSCRIPT (a restarted server, the script is loaded again).
bool isTransientRedisAnswer(std::string_view answer);

/// One subject of a strike counter (an ID, an msisdn): its keys, without the prefix.
struct StrikeSubject {
    std::string strikesKey;  ///< sorted set: one member per strike, scored by its instant (ms)
    std::string lockKey;     ///< set while the subject is locked, value = the lock's seconds
    std::string locksKey;    ///< sorted set: one member per lock, scored by its instant (ms)
};

/// How strikes are counted and locks set (RedisClient::recordStrike).
struct StrikePolicy {
    long long windowMs = 600'000;       ///< strikes within this long before a strike count with it
    int limit = 3;                      ///< strikes within the window that lock
    long long historyMs = 86'400'000;   ///< earlier locks within this long count towards the next one's length
    std::vector<int> lockSeconds{600};  ///< [k] = the lock's length after k earlier locks; the last for more
};

/// What recordStrike counted and did.
struct StrikeOutcome {
    std::vector<long long> strikes;  ///< per subject, in order: its strikes within the window, this one included
    int lockedSeconds = 0;           ///< the lock this call set on every subject; 0 when it set none
};

/// One connection to one Redis server. Not thread-safe: give each thread its own client.
/// Every call reconnects once if the connection was lost, then throws RedisError.
/// Calls block SIGPIPE on the calling thread while they write, so a server that went away cannot kill the process.
class RedisClient {
  public:
    /// Does not connect: the first call does, so that a process can start while Redis is away.
    explicit RedisClient(RedisSettings settings);
    ~RedisClient();
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    /// PING. Throws RedisError.
    void ping();
    /// One MGET for all keys (prefix added); the i-th answer belongs to the i-th key. Empty keys: no round trip.
    std::vector<std::optional<std::string>> mget(const std::vector<std::string>& keys);
    /// As mget, over views of keys the caller owns: the command is written straight into one buffer, with no copy
    /// of a key (the hot path of the inquiry stage, thousands of keys a call).
    std::vector<std::optional<std::string>> mgetViews(std::span<const std::string_view> keys);
    /// SET key value EX ttl for every pair, pipelined: one round trip however many pairs. Throws RedisError, and
    /// std::invalid_argument when ttlSeconds is not positive (here and in incrWithExpiry).
    void setMany(const std::vector<std::pair<std::string, std::string>>& pairs, int ttlSeconds);
    /// As setMany, but sends the commands without waiting for their answers: they are read (and an error answer only
    /// counted, see deferredErrors()) before the next command on this client. For cache writes, where the server's
    /// work should overlap ours and a lost write only costs a later miss.
    void setManyDeferred(const std::vector<std::pair<std::string, std::string>>& pairs, int ttlSeconds);
    /// As setManyDeferred, over views the caller owns: every SET of the pipeline is written into one buffer and
    /// handed to hiredis at once (no per-argument copies).
    void setManyDeferredViews(std::span<const std::pair<std::string_view, std::string_view>> pairs, int ttlSeconds);
    /// As setManyDeferredViews, but `SET key value XX KEEPTTL`: only a key that still exists is replaced, and it keeps
    /// the expiry it has (Redis 6.0 or later). A value rewritten this way never lives longer than the key it replaces;
    /// a key that expired in the meantime stays gone (a later miss), never written without an expiry.
    void replaceManyDeferredViews(std::span<const std::pair<std::string_view, std::string_view>> pairs);
    /// setManyDeferredViews(fresh, ttlSeconds) and replaceManyDeferredViews(kept) in one pipeline, in that order: one
    /// wait for the answers of the deferred commands before, not a second one for the first half's.
    void setAndReplaceManyDeferredViews(std::span<const std::pair<std::string_view, std::string_view>> fresh,
                                        int ttlSeconds,
                                        std::span<const std::pair<std::string_view, std::string_view>> kept);
    /// Error answers to deferred commands so far, read before the next command (whose connection is a new one when
    /// one of them was READONLY: a failover demoted the server).
    [[nodiscard]] std::size_t deferredErrors() const { return deferredErrors_; }
    /// INCR key, and EXPIRE it when it has no expiry yet (so when the INCR created it); returns the new value. One
    /// round trip, atomic (one Lua EVAL): a counter never stays without an expiry. A retry after a lost connection may
    /// count twice, which errs on the safe side for limits.
    long long incrWithExpiry(const std::string& key, int ttlSeconds);
    /// Counts `markerKey`'s owner (e.g. one message) once in `counterKey`: the first call INCRs the counter (setting
    /// its expiry when it has none) and stores the new value in the marker; a later call with the same marker, while
    /// the marker lives, changes nothing and returns that same value. Both keys expire after ttlSeconds. One atomic
    /// round trip (EVAL). Throws RedisError, and std::invalid_argument when ttlSeconds is not positive.
    long long countOnce(const std::string& counterKey, const std::string& markerKey, int ttlSeconds);
    /// One lock check and count (issue 11: a batch's in one round trip, pipelined, in order).
    struct LockedCount {
        std::string locks[2];    ///< lock keys: locked when either exists
        std::string counterKey;  ///< else countOnce(counterKey, markerKey)
        std::string markerKey;
    };
    struct LockedCountAnswer {
        bool locked = false;
        long long lockSecondsLeft = 0;  ///< locked: the longer TTL of the two locks, 0 when neither has one
        long long count = 0;            ///< not locked: countOnce's answer
        bool fresh = false;             ///< not locked: counted by this call (false: the marker was there)
    };
    /// For each item: when a lock key exists, the lock and its seconds left; else countOnce. Two pipelined rounds for
    /// the whole list (every item's locks, then the unlocked items' counts), each command on the keys of one Redis
    /// Cluster slot (the two locks share one, the counter and its marker one): like lockSecondsLeft() then countOnce()
    /// an item at a time, which are not atomic together either. Throws RedisError; a retry after a lost connection
    /// answers `fresh` false for what the first attempt counted.
    std::vector<LockedCountAnswer> lockedCounts(const std::vector<LockedCount>& items, int ttlSeconds);
    /// Takes back what countOnce counted for this marker (DECR, marker deleted); nothing when the marker is gone.
    void uncount(const std::string& counterKey, const std::string& markerKey);
    std::optional<std::string> get(const std::string& key);
    /// A lease: true when `key` is now held by `owner` for ttlSeconds (newly taken, or renewed because `owner`
    /// already held it); false when another owner holds it. One atomic round trip.
    bool acquireLease(const std::string& key, const std::string& owner, int ttlSeconds);
    /// Records one strike (a failed identity check) against every subject, over a true sliding window, in one atomic
    /// script (EVALSHA; loaded again after a server restart): per subject, strikes at or before atMs − windowMs are
    /// dropped, this one is added under `member` (a redelivered message with the same member counts once), and the
    /// rest counted. When any subject reaches policy.limit and no subject is locked yet, every subject is locked for
    /// policy.lockSeconds[k] (k = the most locks a subject had within policy.historyMs before atMs, the last entry for
    /// larger k) and the lock recorded in its history. Two engines cannot both miss the limit: Redis runs one script
    /// at a time. `atMs` is the strike's instant in ms; the keys' expiry runs on the server's clock. Throws
    /// RedisError, and std::invalid_argument for no subjects, an empty member or lockSeconds, or a non-positive
    /// window, limit, history or lock length.
    StrikeOutcome recordStrike(const std::vector<StrikeSubject>& subjects, const std::string& member, long long atMs,
                               const StrikePolicy& policy);
    /// TTL key: seconds left, -1 when the key has no expiry, -2 when it does not exist.
    long long ttl(const std::string& key);
    /// Deletes the keys (prefix added); returns how many existed.
    long long del(const std::vector<std::string>& keys);

    [[nodiscard]] const RedisSettings& settings() const { return settings_; }

  private:
    /// The deferred SETs of `fresh` (`EX ttl`) then of `kept` (`XX KEEPTTL`), in one pipeline.
    void sendDeferredSets(std::span<const std::pair<std::string_view, std::string_view>> fresh, std::string_view ttl,
                          std::span<const std::pair<std::string_view, std::string_view>> kept);
    struct ContextDeleter {
        void operator()(redisContext* context) const noexcept;
    };
    void connect();
    void ensureConnected();
    /// Runs `call` on a live connection; on a lost connection reconnects once and runs it again, then throws
    /// RedisError naming `what`, host:port and hiredis' reason.
    void withReconnect(const char* what, const std::function<void(redisContext*)>& call);
    void drainDeferred();
    /// EVAL of `script` with `keys` (prefixed here) and `args`, whose answer must be an integer; `what` names it in
    /// errors.
    long long evalInteger(const char* what, const char* script, const std::vector<std::string>& keys,
                          const std::vector<std::string>& args);
    [[nodiscard]] std::string prefixed(const std::string& key) const { return settings_.keyPrefix + key; }
    [[nodiscard]] std::string endpoint() const;

    RedisSettings settings_;
    std::unique_ptr<redisContext, ContextDeleter> context_;
    std::size_t deferredReplies_ = 0;  // answers of deferred commands not read yet
    std::size_t deferredErrors_ = 0;
    std::string strikeScriptSha_;  // SCRIPT LOAD's answer, kept for EVALSHA
};

}  // namespace taxdesk::connectors
