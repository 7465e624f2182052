#include "connectors/redis/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <pthread.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <ctime>
#include <span>
#include <stdexcept>

namespace taxdesk::connectors {
namespace {

struct ReplyDeleter {
    void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

/// The connection is unusable: hiredis sets context->err and never clears it, so the only cure is a new context.
/// Internal: withReconnect() turns it into a reconnect, or into RedisError on the second time.
class ConnectionLost : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Atomic, unlike INCR followed by EXPIRE: a crash between the two would leave a counter that never resets. Checking
// TTL rather than `n == 1` also repairs a key that somehow lost its expiry. Works on every Redis since 2.6.
constexpr const char* kIncrWithExpiryScript =
    "local n = redis.call('INCR', KEYS[1]) "
    "if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
    "return n";

// A sliding-window strike counter, atomic: Redis runs one script at a time, so of two engines recording the third
// strike at once, the second sees the first's strike. KEYS: per subject (strikes, lock, locks). ARGV: 1 the strike's
// instant (ms), 2 the window's cut-off (instant − window, dropped inclusive), 3 the window (ms, the strikes' expiry),
// 4 the limit, 5 the member, 6 the history's cut-off, 7 the history (ms), 8… the lock lengths (s) by earlier locks.
// The cut-offs come from the client as exact integers (Lua numbers would print large ones in exponent form).
constexpr const char* kStrikeScript = R"lua(
local subjects = #KEYS / 3
local limit = tonumber(ARGV[4])
local counts = {}
local reached = false
for i = 0, subjects - 1 do
  local key = KEYS[3 * i + 1]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[2])
  redis.call('ZADD', key, ARGV[1], ARGV[5])
  redis.call('PEXPIRE', key, ARGV[3])
  counts[#counts + 1] = redis.call('ZCARD', key)
  if counts[#counts] >= limit then reached = true end
end
local seconds = 0
if reached then
  local previous = 0
  for i = 0, subjects - 1 do
    local key = KEYS[3 * i + 3]
    redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[6])
    local n = redis.call('ZCARD', key)
    if n > previous then previous = n end
  end
  local index = math.min(8 + previous, #ARGV)
  -- Every subject not locked yet is locked now (a lock already held is left as it is): a phone that reached its
  -- third strike on an ID that another phone got locked a moment earlier is locked too.
  for i = 0, subjects - 1 do
    if redis.call('EXISTS', KEYS[3 * i + 2]) == 0 then
      seconds = tonumber(ARGV[index])
      redis.call('SET', KEYS[3 * i + 2], ARGV[index], 'EX', ARGV[index])
      redis.call('ZADD', KEYS[3 * i + 3], ARGV[1], ARGV[5])
      redis.call('PEXPIRE', KEYS[3 * i + 3], ARGV[7])
    end
  end
end
counts[#counts + 1] = seconds
return counts
)lua";

timeval toTimeval(int milliseconds) {
    timeval tv{};
    tv.tv_sec = milliseconds / 1000;
    tv.tv_usec = static_cast<suseconds_t>(milliseconds % 1000) * 1000;
    return tv;
}

std::string describeError(const redisContext& context, int timeoutMs) {
    std::string reason = context.errstr[0] != '\0' ? context.errstr : "unknown hiredis error";
    // A read timeout reaches hiredis as EAGAIN, whose text ("Resource temporarily unavailable") misleads.
    if (context.err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        reason += " (no answer within " + std::to_string(timeoutMs) + " ms)";
    }
    return reason;
}

/// hiredis writes with plain write(): a peer that closed the socket raises SIGPIPE, whose default action ends the
/// process. Block it on this thread for the duration of a call and swallow one we caused (libpq does the same).
class SigpipeGuard {
  public:
    SigpipeGuard() {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &previous_) == 0;
        pendingBefore_ = isPending();
    }
    ~SigpipeGuard() {
        if (!blocked_) return;
        if (!pendingBefore_ && isPending()) {
            const timespec zero{};
            sigtimedwait(&pipe_, nullptr, &zero);
        }
        pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
    }
    SigpipeGuard(const SigpipeGuard&) = delete;
    SigpipeGuard& operator=(const SigpipeGuard&) = delete;

  private:
    [[nodiscard]] bool isPending() const {
        sigset_t pending;
        sigemptyset(&pending);
        return sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    }

    sigset_t pipe_{};
    sigset_t previous_{};
    bool blocked_ = false;
    bool pendingBefore_ = false;
};

/// The argv form keeps binary-safe values (no format string, no escaping).
class Argv {
  public:
    explicit Argv(const std::vector<std::string>& args) {
        pointers_.reserve(args.size());
        lengths_.reserve(args.size());
        for (const auto& arg : args) {
            pointers_.push_back(arg.data());
            lengths_.push_back(arg.size());
        }
    }
    [[nodiscard]] int argc() const { return static_cast<int>(pointers_.size()); }
    [[nodiscard]] const char** argv() { return pointers_.data(); }
    [[nodiscard]] const size_t* lengths() const { return lengths_.data(); }

  private:
    std::vector<const char*> pointers_;
    std::vector<size_t> lengths_;
};

/// Commands in the Redis protocol (RESP), written into one buffer: binary-safe like the argv form, without a
/// std::string per argument, and a whole pipeline handed to hiredis in one append.
class RespWriter {
  public:
    explicit RespWriter(std::size_t reserve) { out_.reserve(reserve); }
    void command(std::size_t arguments) {
        out_.push_back('*');
        number(arguments);
    }
    /// One argument: the concatenation of `head` and `tail` (a key prefix and a key), without building it first.
    void argument(std::string_view head, std::string_view tail = {}) {
        out_.push_back('$');
        number(head.size() + tail.size());
        out_.append(head);
        out_.append(tail);
        out_.append("\r\n");
    }
    [[nodiscard]] const std::string& text() const { return out_; }

  private:
    void number(std::size_t value) {
        char digits[24];
        const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
        out_.append(digits, end);
        out_.append("\r\n");
    }
    std::string out_;
};

class Connection {
  public:
    Connection(redisContext* context, int timeoutMs) : context_(context), timeoutMs_(timeoutMs) {}

    ReplyPtr command(const std::vector<std::string>& args) {
        Argv argv(args);
        ReplyPtr reply(static_cast<redisReply*>(redisCommandArgv(context_, argv.argc(), argv.argv(), argv.lengths())));
        if (!reply) throw ConnectionLost(describeError(*context_, timeoutMs_));
        return reply;
    }

    void append(const std::vector<std::string>& args) {
        Argv argv(args);
        if (redisAppendCommandArgv(context_, argv.argc(), argv.argv(), argv.lengths()) != REDIS_OK) {
            throw ConnectionLost(describeError(*context_, timeoutMs_));
        }
    }

    /// Appends commands already in the protocol (RespWriter), any number of them.
    void appendFormatted(const std::string& commands) {
        if (redisAppendFormattedCommand(context_, commands.data(), commands.size()) != REDIS_OK) {
            throw ConnectionLost(describeError(*context_, timeoutMs_));
        }
    }

    /// The first call flushes everything appended, then each call reads one reply in order.
    ReplyPtr nextReply() {
        void* raw = nullptr;
        if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
            throw ConnectionLost(describeError(*context_, timeoutMs_));
        }
        return ReplyPtr(static_cast<redisReply*>(raw));
    }

  private:
    redisContext* context_;
    int timeoutMs_;
};

}  // namespace

bool isTransientRedisAnswer(std::string_view answer) {
    for (const std::string_view passing :
         {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "OOM", "CLUSTERDOWN", "READONLY", "NOSCRIPT"})
        if (answer.starts_with(passing)) return true;
    return false;
}

namespace {

std::string replyText(const redisReply& reply) {
    return {reply.str, reply.len};
}

/// A server error (WRONGTYPE, OOM, a script error) is an answer, not a lost connection: no reconnect.
void expectType(const redisReply& reply, int type, const char* what) {
    if (reply.type == REDIS_REPLY_ERROR) {
        const std::string answer = replyText(reply);
        throw RedisError(std::string(what) + ": server answered: " + answer, isTransientRedisAnswer(answer));
    }
    if (reply.type != type) {
        throw RedisError(std::string(what) + ": unexpected reply type " + std::to_string(reply.type), false);
    }
}

std::optional<std::string> optionalString(const redisReply& reply, const char* what) {
    if (reply.type == REDIS_REPLY_NIL) return std::nullopt;
    expectType(reply, REDIS_REPLY_STRING, what);
    return replyText(reply);
}

void requirePositiveTtl(int ttlSeconds, const char* what) {
    if (ttlSeconds <= 0) {
        throw std::invalid_argument(std::string("redis ") + what + ": ttlSeconds must be positive, got " +
                                    std::to_string(ttlSeconds));
    }
}

}  // namespace

void RedisClient::ContextDeleter::operator()(redisContext* context) const noexcept {
    redisFree(context);
}

RedisClient::RedisClient(RedisSettings settings) : settings_(std::move(settings)) {}

RedisClient::~RedisClient() = default;

std::string RedisClient::endpoint() const {
    return settings_.host + ":" + std::to_string(settings_.port);
}

void RedisClient::connect() {
    context_.reset();
    const timeval timeout = toTimeval(settings_.timeoutMs);
    std::unique_ptr<redisContext, ContextDeleter> context(
        redisConnectWithTimeout(settings_.host.c_str(), settings_.port, timeout));
    if (!context) throw ConnectionLost("cannot allocate a hiredis context");
    if (context->err != 0) throw ConnectionLost("cannot connect: " + describeError(*context, settings_.timeoutMs));
    // The connect timeout does not cover reads and writes: without this a stalled server blocks a call forever.
    if (redisSetTimeout(context.get(), timeout) != REDIS_OK) {
        throw ConnectionLost("cannot set the read/write timeout: " + describeError(*context, settings_.timeoutMs));
    }
    // Detects a silently dropped connection (NAT, failover) on an idle client; failing here is harmless.
    redisEnableKeepAlive(context.get());
    context_ = std::move(context);
}

void RedisClient::ensureConnected() {
    if (!context_) connect();
}

void RedisClient::withReconnect(const char* what, const std::function<void(redisContext*)>& call) {
    const SigpipeGuard sigpipeGuard;
    for (int attempt = 1;; ++attempt) {
        try {
            ensureConnected();
            drainDeferred();
            call(context_.get());
            return;
        } catch (const ConnectionLost& lost) {
            // Replies of a half-finished pipeline may still be in flight: a new connection is the only clean state.
            context_.reset();
            deferredReplies_ = 0;
            if (attempt == 2) {
                throw RedisError(std::string(what) + " failed on " + endpoint() + ": " + lost.what() +
                                 " (after one reconnect)");
            }
        } catch (const RedisError& error) {
            // READONLY: the server this connection reached is a replica now (a failover demoted it, and the failover
            // address points elsewhere). The error stands (retryable); the next call connects afresh.
            if (std::string_view(error.what()).find("server answered: READONLY") != std::string_view::npos) {
                context_.reset();
                deferredReplies_ = 0;
            }
            throw;
        }
    }
}

void RedisClient::ping() {
    withReconnect("PING", [&](redisContext* context) {
        Connection connection(context, settings_.timeoutMs);
        const ReplyPtr reply = connection.command({"PING"});
        expectType(*reply, REDIS_REPLY_STATUS, "PING");
    });
}

std::vector<std::optional<std::string>> RedisClient::mget(const std::vector<std::string>& keys) {
    std::vector<std::string_view> views(keys.begin(), keys.end());
    return mgetViews(views);
}

std::vector<std::optional<std::string>> RedisClient::mgetViews(std::span<const std::string_view> keys) {
    std::vector<std::optional<std::string>> values;
    if (keys.empty()) return values;
    std::size_t bytes = 32;
    for (const auto key : keys) bytes += key.size() + settings_.keyPrefix.size() + 16;
    RespWriter command(bytes);
    command.command(keys.size() + 1);
    command.argument("MGET");
    for (const auto key : keys) command.argument(settings_.keyPrefix, key);

    withReconnect("MGET", [&](redisContext* context) {
        Connection connection(context, settings_.timeoutMs);
        connection.appendFormatted(command.text());
        const ReplyPtr reply = connection.nextReply();
        expectType(*reply, REDIS_REPLY_ARRAY, "MGET");
        if (reply->elements != keys.size()) {
            throw RedisError("MGET: " + std::to_string(reply->elements) + " answers for " +
                             std::to_string(keys.size()) + " keys");
        }
        values.clear();
        values.reserve(keys.size());
        for (const redisReply* element : std::span(reply->element, reply->elements)) {
            values.push_back(optionalString(*element, "MGET"));
        }
    });
    return values;
}

void RedisClient::setMany(const std::vector<std::pair<std::string, std::string>>& pairs, int ttlSeconds) {
    requirePositiveTtl(ttlSeconds, "setMany");
    if (pairs.empty()) return;
    const std::string ttl = std::to_string(ttlSeconds);

    withReconnect("pipelined SET", [&](redisContext* context) {
        Connection connection(context, settings_.timeoutMs);
        for (const auto& [key, value] : pairs) connection.append({"SET", prefixed(key), value, "EX", ttl});
        // Read every reply even after an error answer, or the next command would read a stale one.
        std::string firstError;
        bool transient = true;
        for (const auto& pair : pairs) {
            const ReplyPtr reply = connection.nextReply();
            if (reply->type == REDIS_REPLY_ERROR && firstError.empty()) {
                firstError = "SET " + pair.first + ": server answered: " + replyText(*reply);
                transient = isTransientRedisAnswer(replyText(*reply));
            }
        }
        if (!firstError.empty()) throw RedisError(firstError, transient);
    });
}

void RedisClient::setManyDeferred(const std::vector<std::pair<std::string, std::string>>& pairs, int ttlSeconds) {
    std::vector<std::pair<std::string_view, std::string_view>> views(pairs.begin(), pairs.end());
    setManyDeferredViews(views, ttlSeconds);
}

void RedisClient::setManyDeferredViews(std::span<const std::pair<std::string_view, std::string_view>> pairs,
                                       int ttlSeconds) {
    requirePositiveTtl(ttlSeconds, "setManyDeferred");
    sendDeferredSets(pairs, std::to_string(ttlSeconds), {});
}

void RedisClient::replaceManyDeferredViews(std::span<const std::pair<std::string_view, std::string_view>> pairs) {
    sendDeferredSets({}, {}, pairs);
}

void RedisClient::setAndReplaceManyDeferredViews(std::span<const std::pair<std::string_view, std::string_view>> fresh,
                                                 int ttlSeconds,
                                                 std::span<const std::pair<std::string_view, std::string_view>> kept) {
    requirePositiveTtl(ttlSeconds, "setAndReplaceManyDeferred");
    sendDeferredSets(fresh, std::to_string(ttlSeconds), kept);
}

void RedisClient::sendDeferredSets(std::span<const std::pair<std::string_view, std::string_view>> fresh,
                                   std::string_view ttl,
                                   std::span<const std::pair<std::string_view, std::string_view>> kept) {
    if (fresh.empty() && kept.empty()) return;
    std::size_t bytes = 0;
    for (const auto& [key, value] : fresh) bytes += key.size() + value.size() + settings_.keyPrefix.size() + 64;
    for (const auto& [key, value] : kept) bytes += key.size() + value.size() + settings_.keyPrefix.size() + 64;
    RespWriter commands(bytes);
    for (const auto& [key, value] : fresh) {
        commands.command(5);
        commands.argument("SET");
        commands.argument(settings_.keyPrefix, key);
        commands.argument(value);
        commands.argument("EX");
        commands.argument(ttl);
    }
    for (const auto& [key, value] : kept) {
        commands.command(5);
        commands.argument("SET");
        commands.argument(settings_.keyPrefix, key);
        commands.argument(value);
        commands.argument("XX");
        commands.argument("KEEPTTL");
    }
    withReconnect("deferred SET", [&](redisContext* context) {
        Connection connection(context, settings_.timeoutMs);
        connection.appendFormatted(commands.text());
        // Send now; the server works on them while we go on, and the replies are read before the next command.
        for (int done = 0; !done;)
            if (redisBufferWrite(context, &done) != REDIS_OK)
                throw ConnectionLost(describeError(*context, settings_.timeoutMs));
        deferredReplies_ += fresh.size() + kept.size();
    });
}

void RedisClient::drainDeferred() {
    if (deferredReplies_ == 0) return;
    bool readOnly = false;
    {
        Connection connection(context_.get(), settings_.timeoutMs);
        for (; deferredReplies_ > 0; --deferredReplies_) {
            const ReplyPtr reply = connection.nextReply();
            if (reply->type != REDIS_REPLY_ERROR) continue;
            ++deferredErrors_;
            readOnly = readOnly || std::string_view(reply->str, reply->len).starts_with("READONLY");
        }
    }
    // A replica answered them (a failover demoted the server this connection reached): connect afresh through the
    // failover address, as withReconnect does for a command answered READONLY, rather than write to it for ever.
    if (readOnly) connect();
}

long long RedisClient::incrWithExpiry(const std::string& key, int ttlSeconds) {
    requirePositiveTtl(ttlSeconds, "incrWithExpiry");
    return evalInteger("INCR with expiry", kIncrWithExpiryScript, {key}, {std::to_string(ttlSeconds)});
}

long long RedisClient::evalInteger(const char* what, const char* script, const std::vector<std::string>& keys,
                                   const std::vector<std::string>& args) {
    std::vector<std::string> command{"EVAL", script, std::to_string(keys.size())};
    for (const auto& key : keys) command.push_back(prefixed(key));
    command.insert(command.end(), args.begin(), args.end());
    long long value = 0;
    withReconnect(what, [&](redisContext* context) {
        Connection connection(context, settings_.timeoutMs);
        const ReplyPtr reply = connection.command(command);
        expectType(*reply, REDIS_REPLY_INTEGER, what);
        value = reply->integer;
    });
    return value;
}

long long RedisClient::countOnce(const std::string& counterKey, const std::string& markerKey, int ttlSeconds) {
    requirePositiveTtl(ttlSeconds, "countOnce");
    // The marker keeps the count this member got, so that its replay answers the same whatever came after it.
    static constexpr const char* kCountOnceScript =
        "local seen = redis.call('GET', KEYS[2]) "
        "if seen then return tonumber(seen) end "
        "local n = redis.call('INCR', KEYS[1]) "
        "if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
        "redis.call('SET', KEYS[2], n, 'EX', ARGV[1]) "
        "return n";
    return evalInteger("count once", kCountOnceScript, {counterKey, markerKey}, {std::to_string(ttlSeconds)});
}

std::vector<RedisClient::LockedCountAnswer> RedisClient::lockedCounts(const std::vector<LockedCount>& items,
                                                                      int ttlSeconds) {
    requirePositiveTtl(ttlSeconds, "lockedCounts");
    // Two pipelined rounds, each command over keys of one Redis Cluster slot (the two locks share theirs, the counter
    // and its marker theirs): every item's locks first (the longer TTL, at least 0, or -1 when neither exists), then
    // countOnce's script for the items found unlocked ({n, fresh}).
    static constexpr const char* kLockScript =
        "local a = redis.call('TTL', KEYS[1]) local b = redis.call('TTL', KEYS[2]) "
        "if a ~= -2 or b ~= -2 then return math.max(0, a, b) end return -1";
    static constexpr const char* kCountScript =
        "local seen = redis.call('GET', KEYS[2]) "
        "if seen then return {tonumber(seen), 0} end "
        "local n = redis.call('INCR', KEYS[1]) "
        "if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
        "redis.call('SET', KEYS[2], n, 'EX', ARGV[1]) "
        "return {n, 1}";
    std::vector<LockedCountAnswer> answers;
    if (items.empty()) return answers;
    const std::string ttl = std::to_string(ttlSeconds);
    withReconnect("lock check and count", [&](redisContext* context) {
        Connection connection(context, settings_.timeoutMs);
        answers.assign(items.size(), {});
        // Every reply is read even after an error answer, or the next command would read a stale one.
        std::string firstError;
        const auto noteError = [&firstError](const redisReply& reply) {
            if (firstError.empty())
                firstError =
                    reply.type == REDIS_REPLY_ERROR ? "server answered: " + replyText(reply) : "unexpected answer";
        };
        for (const auto& item : items)
            connection.append({"EVAL", kLockScript, "2", prefixed(item.locks[0]), prefixed(item.locks[1])});
        for (auto& answer : answers) {
            const ReplyPtr reply = connection.nextReply();
            if (reply->type != REDIS_REPLY_INTEGER) {
                noteError(*reply);
                continue;
            }
            answer.locked = reply->integer >= 0;
            if (answer.locked) answer.lockSecondsLeft = reply->integer;
        }
        if (!firstError.empty()) throw RedisError("lock check and count: " + firstError);
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (answers[i].locked) continue;
            connection.append(
                {"EVAL", kCountScript, "2", prefixed(items[i].counterKey), prefixed(items[i].markerKey), ttl});
        }
        for (auto& answer : answers) {
            if (answer.locked) continue;
            const ReplyPtr reply = connection.nextReply();
            if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
                reply->element[0]->type != REDIS_REPLY_INTEGER || reply->element[1]->type != REDIS_REPLY_INTEGER) {
                noteError(*reply);
                continue;
            }
            answer.count = reply->element[0]->integer;
            answer.fresh = reply->element[1]->integer == 1;
        }
        if (!firstError.empty()) throw RedisError("lock check and count: " + firstError);
    });
    return answers;
}

void RedisClient::uncount(const std::string& counterKey, const std::string& markerKey) {
    static constexpr const char* kUncountScript =
        "if redis.call('DEL', KEYS[2]) == 1 then redis.call('DECR', KEYS[1]) end return 0";
    evalInteger("uncount", kUncountScript, {counterKey, markerKey}, {});
}

bool RedisClient::acquireLease(const std::string& key, const std::string& owner, int ttlSeconds) {
    requirePositiveTtl(ttlSeconds, "acquireLease");
    // Renew when ours, take when free; atomic, so two owners never both hold it.
    static constexpr const char* kLeaseScript =
        "local holder = redis.call('GET', KEYS[1]) "
        "if holder == ARGV[1] then redis.call('EXPIRE', KEYS[1], ARGV[2]) return 1 end "
        "if holder then return 0 end "
        "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1";
    return evalInteger("lease", kLeaseScript, {key}, {owner, std::to_string(ttlSeconds)}) == 1;
}

StrikeOutcome RedisClient::recordStrike(const std::vector<StrikeSubject>& subjects, const std::string& member,
                                        long long atMs, const StrikePolicy& policy) {
    if (subjects.empty() || member.empty() || policy.lockSeconds.empty() || policy.windowMs <= 0 || policy.limit <= 0 ||
        policy.historyMs <= 0) {
        throw std::invalid_argument(
            "redis recordStrike: subjects, member and lockSeconds must not be empty, and "
            "window, limit and history must be positive");
    }
    for (const int seconds : policy.lockSeconds) requirePositiveTtl(seconds, "recordStrike");
    std::vector<std::string> args{"EVALSHA", "", std::to_string(subjects.size() * 3)};
    for (const auto& subject : subjects) {
        args.push_back(prefixed(subject.strikesKey));
        args.push_back(prefixed(subject.lockKey));
        args.push_back(prefixed(subject.locksKey));
    }
    for (const long long value : {atMs, atMs - policy.windowMs, policy.windowMs, static_cast<long long>(policy.limit)})
        args.push_back(std::to_string(value));
    args.push_back(member);
    args.push_back(std::to_string(atMs - policy.historyMs));
    args.push_back(std::to_string(policy.historyMs));
    for (const int seconds : policy.lockSeconds) args.push_back(std::to_string(seconds));

    StrikeOutcome outcome;
    withReconnect("strike script", [&](redisContext* context) {
        Connection connection(context, settings_.timeoutMs);
        auto load = [&] {
            const ReplyPtr loaded = connection.command({"SCRIPT", "LOAD", kStrikeScript});
            expectType(*loaded, REDIS_REPLY_STRING, "SCRIPT LOAD");
            strikeScriptSha_ = replyText(*loaded);
        };
        if (strikeScriptSha_.empty()) load();
        args[1] = strikeScriptSha_;
        ReplyPtr reply = connection.command(args);
        // The server forgot the script (a restart, SCRIPT FLUSH, a failover): load it again, once.
        if (reply->type == REDIS_REPLY_ERROR && replyText(*reply).starts_with("NOSCRIPT")) {
            load();
            args[1] = strikeScriptSha_;
            reply = connection.command(args);
        }
        expectType(*reply, REDIS_REPLY_ARRAY, "strike script");
        if (reply->elements != subjects.size() + 1) {
            throw RedisError("strike script: " + std::to_string(reply->elements) + " answers for " +
                             std::to_string(subjects.size()) + " subjects");
        }
        outcome.strikes.clear();
        for (const redisReply* element : std::span(reply->element, reply->elements)) {
            expectType(*element, REDIS_REPLY_INTEGER, "strike script");
            outcome.strikes.push_back(element->integer);
        }
        outcome.lockedSeconds = static_cast<int>(outcome.strikes.back());
        outcome.strikes.pop_back();
    });
    return outcome;
}

std::optional<std::string> RedisClient::get(const std::string& key) {
    std::optional<std::string> value;
    withReconnect("GET", [&](redisContext* context) {
        Connection connection(context, settings_.timeoutMs);
        const ReplyPtr reply = connection.command({"GET", prefixed(key)});
        value = optionalString(*reply, "GET");
    });
    return value;
}

long long RedisClient::ttl(const std::string& key) {
    long long seconds = 0;
    withReconnect("TTL", [&](redisContext* context) {
        Connection connection(context, settings_.timeoutMs);
        const ReplyPtr reply = connection.command({"TTL", prefixed(key)});
        expectType(*reply, REDIS_REPLY_INTEGER, "TTL");
        seconds = reply->integer;
    });
    return seconds;
}

long long RedisClient::del(const std::vector<std::string>& keys) {
    if (keys.empty()) return 0;
    std::vector<std::string> args;
    args.reserve(keys.size() + 1);
    args.emplace_back("DEL");
    for (const auto& key : keys) args.push_back(prefixed(key));

    long long deleted = 0;
    withReconnect("DEL", [&](redisContext* context) {
        Connection connection(context, settings_.timeoutMs);
        const ReplyPtr reply = connection.command(args);
        expectType(*reply, REDIS_REPLY_INTEGER, "DEL");
        deleted = reply->integer;
    });
    return deleted;
}

}  // namespace taxdesk::connectors
