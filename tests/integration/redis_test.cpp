// RedisClient against the real redis-server that scripts/test started (TAXDESK_TEST_REDIS_PORT).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "connectors/redis/redis_client.hpp"
#include "fixtures/test_env.hpp"

namespace taxdesk::connectors {
namespace {

/// Deletes the keys a test wrote, whatever way the test ends.
class KeyCleaner {
  public:
    explicit KeyCleaner(RedisSettings settings) : client_(std::move(settings)) {}
    ~KeyCleaner() {
        try {
            client_.del(keys_);
        } catch (const std::exception&) {
            // The server is away: the keys expire or die with it.
        }
    }
    KeyCleaner(const KeyCleaner&) = delete;
    KeyCleaner& operator=(const KeyCleaner&) = delete;

    void track(const std::string& key) { keys_.push_back(key); }

  private:
    RedisClient client_;
    std::vector<std::string> keys_;
};

/// A loopback TCP socket owned by the test: listening (accepts connections into its backlog but never answers) or
/// merely bound and then closed (a port nobody listens on).
class LocalSocket {
  public:
    explicit LocalSocket(bool listening) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        if (fd_ < 0) throw std::runtime_error("socket() failed");
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = 0;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            throw std::runtime_error("bind() failed");
        }
        socklen_t length = sizeof address;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
        port_ = ntohs(address.sin_port);
        if (listening && ::listen(fd_, 16) != 0) throw std::runtime_error("listen() failed");
    }
    ~LocalSocket() { close(); }
    LocalSocket(const LocalSocket&) = delete;
    LocalSocket& operator=(const LocalSocket&) = delete;

    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    [[nodiscard]] int port() const { return port_; }

  private:
    int fd_;
    int port_ = 0;
};

/// Poco's Foundation blocks SIGPIPE in the main thread from a static initialiser (and threads inherit it), which
/// would hide a SIGPIPE raised by hiredis; a thread started by some other library may not have it blocked. This
/// unblocks it for one test, so that a SIGPIPE the client failed to contain ends the test process.
class SigpipeUnblocked {
  public:
    SigpipeUnblocked() {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        // One left pending by an earlier test would be delivered the moment it is unblocked.
        const timespec zero{};
        while (sigtimedwait(&pipe_, nullptr, &zero) > 0) {
        }
        pthread_sigmask(SIG_UNBLOCK, &pipe_, &previous_);
    }
    ~SigpipeUnblocked() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
    SigpipeUnblocked(const SigpipeUnblocked&) = delete;
    SigpipeUnblocked& operator=(const SigpipeUnblocked&) = delete;

  private:
    sigset_t pipe_{};
    sigset_t previous_{};
};

/// The local ports of this process's TCP connections to `remotePort`, found through /proc: the client hides its
/// socket, and the test must kill exactly its own connection on a server other tests may share.
std::vector<int> ownLocalPortsConnectedTo(int remotePort) {
    std::set<std::string> inodes;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code error;
        const std::string target = std::filesystem::read_symlink(entry.path(), error).string();
        if (!error && target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
    }
    std::vector<int> ports;
    for (const char* table : {"/proc/self/net/tcp", "/proc/self/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
            fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
            const auto localPort = std::stoi(local.substr(local.find(':') + 1), nullptr, 16);
            const auto peerPort = std::stoi(remote.substr(remote.find(':') + 1), nullptr, 16);
            if (peerPort == remotePort && state == "01" && inodes.count(inode) != 0) ports.push_back(localPort);
        }
    }
    return ports;
}

class RedisTest : public ::testing::Test {
  protected:
    void SetUp() override {
        settings_.host = "127.0.0.1";
        settings_.port = testing::redisPort();
        settings_.timeoutMs = 2000;
        settings_.keyPrefix = testing::uniqueName("taxdesk-test") + ":";
        cleaner_ = std::make_unique<KeyCleaner>(settings_);
        client_ = std::make_unique<RedisClient>(settings_);
    }

    /// A key of this test, deleted at its end.
    std::string key(const std::string& name) {
        cleaner_->track(name);
        return name;
    }

    void killOwnConnections() {
        const auto ports = ownLocalPortsConnectedTo(settings_.port);
        ASSERT_FALSE(ports.empty()) << "no connection of this process to port " << settings_.port;
        for (const int port : ports) {
            const std::string command = "redis-cli -p " + std::to_string(settings_.port) +
                                        " CLIENT KILL ADDR 127.0.0.1:" + std::to_string(port) + " >/dev/null";
            ASSERT_EQ(std::system(command.c_str()), 0) << command;
        }
    }

    RedisSettings settings_;
    std::unique_ptr<KeyCleaner> cleaner_;
    std::unique_ptr<RedisClient> client_;
};

TEST_F(RedisTest, PingAnswers) {
    EXPECT_NO_THROW(client_->ping());
}

TEST_F(RedisTest, MgetReturnsHitsAndMissesInKeyOrder) {
    client_->setMany({{key("a"), "alpha"}, {key("c"), "gamma"}}, 60);

    const auto values = client_->mget({"a", key("b"), "c", key("d"), "a"});

    ASSERT_EQ(values.size(), 5U);
    EXPECT_EQ(values[0], "alpha");
    EXPECT_EQ(values[1], std::nullopt);
    EXPECT_EQ(values[2], "gamma");
    EXPECT_EQ(values[3], std::nullopt);
    EXPECT_EQ(values[4], "alpha");
}

TEST_F(RedisTest, EveryKeyCarriesThePrefix) {
    client_->setMany({{key("k"), "v"}}, 60);

    RedisSettings bare = settings_;
    bare.keyPrefix = "";
    RedisClient unprefixed(bare);
    EXPECT_EQ(unprefixed.get(settings_.keyPrefix + "k"), "v");
    EXPECT_EQ(unprefixed.get("k"), std::nullopt);
}

TEST_F(RedisTest, SetManyStoresEveryPairWithItsTtl) {
    std::vector<std::pair<std::string, std::string>> pairs;
    std::vector<std::string> keys;
    for (int i = 0; i < 500; ++i) {
        keys.push_back(key("row-" + std::to_string(i)));
        pairs.emplace_back(keys.back(), "value " + std::to_string(i));
    }
    // Values are binary-safe: the argv form sends lengths, not C strings.
    pairs[7].second = std::string("nul\0inside", 10);

    client_->setMany(pairs, 120);

    const auto values = client_->mget(keys);
    ASSERT_EQ(values.size(), pairs.size());
    for (size_t i = 0; i < pairs.size(); ++i) EXPECT_EQ(values[i], pairs[i].second) << "key " << keys[i];
    for (const auto* name : {"row-0", "row-250", "row-499"}) {
        const long long ttl = client_->ttl(name);
        EXPECT_GT(ttl, 100) << name;
        EXPECT_LE(ttl, 120) << name;
    }
}

TEST_F(RedisTest, DeferredSetsAreVisibleToTheNextCommandAndTheirAnswersAreNotMixedUp) {
    std::vector<std::pair<std::string, std::string>> pairs;
    std::vector<std::string> keys;
    for (int i = 0; i < 3000; ++i) {
        keys.push_back(key("deferred-" + std::to_string(i)));
        pairs.emplace_back(keys.back(), std::string(300, static_cast<char>('a' + i % 26)));
    }
    client_->setManyDeferred(pairs, 60);
    client_->setManyDeferred({{key("second"), "2"}}, 60);
    // The next command first reads the 3,001 pending answers, so its own answer is its own.
    EXPECT_EQ(client_->get("second"), "2");
    const auto values = client_->mget(keys);
    ASSERT_EQ(values.size(), pairs.size());
    for (size_t i = 0; i < pairs.size(); ++i) ASSERT_EQ(values[i], pairs[i].second) << keys[i];
    EXPECT_GT(client_->ttl("deferred-0"), 0);
    EXPECT_EQ(client_->deferredErrors(), 0u);
}

TEST_F(RedisTest, AReplacedValueKeepsItsKeysExpiryAndAMissingKeyIsNotCreated) {
    client_->setMany({{key("kept"), "old"}}, 50);
    const std::string kept = key("kept");
    const std::string gone = key("gone");
    const std::vector<std::pair<std::string_view, std::string_view>> pairs{{kept, "new"}, {gone, "new"}};
    client_->replaceManyDeferredViews(pairs);
    EXPECT_EQ(client_->get("kept"), "new");
    const long long ttl = client_->ttl("kept");
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, 50) << "the expiry it had";
    EXPECT_EQ(client_->get("gone"), std::nullopt) << "only a key that exists is replaced";
    EXPECT_EQ(client_->ttl("gone"), -2);
    EXPECT_EQ(client_->deferredErrors(), 0u);
}

TEST_F(RedisTest, OnePipelineSetsFreshEntriesWithTheTtlAndReplacesKeptOnesKeepingTheirs) {
    // The inquiry cache's write of a batch: new entries with a full TTL, then entries that only learnt tax data,
    // replaced in place with the expiry they had; one pipeline, its answers read before the next command.
    client_->setMany({{key("kept"), "old"}}, 50);
    const std::string fresh = key("fresh");
    const std::string kept = key("kept");
    const std::string gone = key("gone");
    const std::vector<std::pair<std::string_view, std::string_view>> fresh_{{fresh, "1"}};
    const std::vector<std::pair<std::string_view, std::string_view>> kept_{{kept, "new"}, {gone, "new"}};
    client_->setAndReplaceManyDeferredViews(fresh_, 600, kept_);
    EXPECT_EQ(client_->get("fresh"), "1");
    EXPECT_GT(client_->ttl("fresh"), 50);
    EXPECT_LE(client_->ttl("fresh"), 600);
    EXPECT_EQ(client_->get("kept"), "new");
    EXPECT_GT(client_->ttl("kept"), 0);
    EXPECT_LE(client_->ttl("kept"), 50) << "the expiry it had";
    EXPECT_EQ(client_->get("gone"), std::nullopt) << "only a key that exists is replaced";
    EXPECT_EQ(client_->deferredErrors(), 0u);
    EXPECT_THROW(client_->setAndReplaceManyDeferredViews(fresh_, 0, kept_), std::invalid_argument);
}

TEST_F(RedisTest, ALeaseHasOneOwnerAtATimeAndIsRenewedByIt) {
    const std::string lease = key("lease");
    // 30 s: long enough that a busy machine does not let it expire before engine-b asks.
    EXPECT_TRUE(client_->acquireLease(lease, "engine-a", 30));
    RedisClient other(settings_);
    EXPECT_FALSE(other.acquireLease(lease, "engine-b", 30)) << "held by engine-a";
    EXPECT_TRUE(client_->acquireLease(lease, "engine-a", 60)) << "renewed by its owner";
    EXPECT_GT(client_->ttl(lease), 30);
    EXPECT_EQ(client_->del({lease}), 1);
    EXPECT_TRUE(other.acquireLease(lease, "engine-b", 2)) << "free again";
}

TEST_F(RedisTest, SetManyRejectsANonPositiveTtl) {
    EXPECT_THROW(client_->setMany({{"k", "v"}}, 0), std::invalid_argument);
}

TEST_F(RedisTest, TtlTellsMissingKeys) {
    EXPECT_EQ(client_->ttl(key("never-written")), -2);
}

TEST_F(RedisTest, IncrWithExpiryCountsAndSetsTheExpiryOnce) {
    const std::string counter = key("counter");

    EXPECT_EQ(client_->incrWithExpiry(counter, 30), 1);
    EXPECT_EQ(client_->incrWithExpiry(counter, 30), 2);
    EXPECT_EQ(client_->incrWithExpiry(counter, 9999), 3);

    const long long ttl = client_->ttl(counter);
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, 30) << "a later call must not extend the window";
    EXPECT_EQ(client_->get(counter), "3");
}

TEST_F(RedisTest, CountOnceCountsEachMarkerOnceAndAnswersItsOwnCountAgain) {
    const std::string counter = key("daily");
    EXPECT_EQ(client_->countOnce(counter, key("m1"), 30), 1);
    EXPECT_EQ(client_->countOnce(counter, key("m2"), 30), 2);
    EXPECT_EQ(client_->countOnce(counter, key("m1"), 30), 1) << "m1 again: its own count, nothing added";
    EXPECT_EQ(client_->countOnce(counter, key("m3"), 30), 3);
    EXPECT_EQ(client_->countOnce(counter, key("m2"), 30), 2) << "not the counter's value now";
    EXPECT_EQ(client_->get(counter), "3");
    const long long ttl = client_->ttl(counter);
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, 30);
    EXPECT_GT(client_->ttl(key("m1")), 0) << "markers expire too";

    client_->uncount(counter, key("m3"));
    EXPECT_EQ(client_->get(counter), "2");
    client_->uncount(counter, key("m3"));
    EXPECT_EQ(client_->get(counter), "2") << "taken back once";
    EXPECT_EQ(client_->countOnce(counter, key("m3"), 30), 3) << "counted again after it was taken back";
    EXPECT_THROW(client_->countOnce(counter, key("m4"), 0), std::invalid_argument);
}

TEST_F(RedisTest, LockedCountsChecksTheLocksThenCountsOnceEachInOrderInOneCall) {
    // Issue 11 (the SMS stage's batch): per item, locked when either lock key exists (no count), else countOnce.
    const std::string counter = key("daily");
    client_->setMany({{key("lock-a"), "1"}}, 40);
    client_->countOnce(counter, key("before"), 30);  // counted earlier: 1
    using Item = RedisClient::LockedCount;
    const auto answers = client_->lockedCounts({Item{{key("lock-x"), key("lock-y")}, counter, key("m1")},
                                                Item{{key("lock-x"), key("lock-a")}, counter, key("m2")},
                                                Item{{key("lock-x"), key("lock-y")}, counter, key("before")},
                                                Item{{key("lock-x"), key("lock-y")}, counter, key("m3")},
                                                Item{{key("lock-x"), key("lock-y")}, counter, key("m1")}},
                                               30);
    ASSERT_EQ(answers.size(), 5U);
    EXPECT_FALSE(answers[0].locked);
    EXPECT_EQ(answers[0].count, 2);
    EXPECT_TRUE(answers[0].fresh);
    EXPECT_TRUE(answers[1].locked);
    EXPECT_GT(answers[1].lockSecondsLeft, 30);
    EXPECT_LE(answers[1].lockSecondsLeft, 40);
    EXPECT_FALSE(answers[1].fresh);
    EXPECT_FALSE(client_->get(key("m2"))) << "a locked item is not counted";
    EXPECT_EQ(answers[2].count, 1);
    EXPECT_FALSE(answers[2].fresh) << "counted before: its own count again";
    EXPECT_EQ(answers[3].count, 3);
    EXPECT_TRUE(answers[3].fresh);
    EXPECT_EQ(answers[4].count, 2);
    EXPECT_FALSE(answers[4].fresh) << "m1 again in the same call";
    EXPECT_EQ(client_->get(counter), "3");
    EXPECT_GT(client_->ttl(key("m3")), 0);
    EXPECT_TRUE(client_->lockedCounts({}, 30).empty());
    EXPECT_THROW(client_->lockedCounts({Item{{key("lock-x"), key("lock-y")}, counter, key("m4")}}, 0),
                 std::invalid_argument);
}

TEST_F(RedisTest, AnAnswerTheSameCommandWouldGetAgainIsNotRetryable) {
    const std::string text = key("text");
    client_->setMany({{text, "not a number"}}, 30);
    try {
        client_->incrWithExpiry(text, 30);
        ADD_FAILURE() << "INCR of a text succeeded";
    } catch (const RedisError& error) {
        EXPECT_FALSE(error.isRetryable()) << error.what();
    }
    EXPECT_TRUE(isTransientRedisAnswer("LOADING Redis is loading the dataset in memory"));
    EXPECT_TRUE(isTransientRedisAnswer("BUSY Redis is busy running a script"));
    EXPECT_TRUE(isTransientRedisAnswer("OOM command not allowed when used memory > 'maxmemory'"));
    EXPECT_FALSE(isTransientRedisAnswer("WRONGTYPE Operation against a key holding the wrong kind of value"));
    EXPECT_FALSE(isTransientRedisAnswer("ERR value is not an integer or out of range"));
}

// ---- the sliding-window strike counter (SPEC 4.1: three failed checks within 10 minutes lock) ------------------

class StrikeTest : public RedisTest {
  protected:
    /// The ID and msisdn subjects of the SMS stage, under this test's prefix.
    std::vector<StrikeSubject> subjects(const std::string& id = "A", const std::string& msisdn = "0912") {
        return {{key("fail:id:" + id), key("lock:id:" + id), key("locks:id:" + id)},
                {key("fail:msisdn:" + msisdn), key("lock:msisdn:" + msisdn), key("locks:msisdn:" + msisdn)}};
    }
    static StrikePolicy policy() {
        StrikePolicy p;
        p.windowMs = 600'000;
        p.limit = 3;
        p.historyMs = 86'400'000;
        p.lockSeconds = {600, 1200, 2400};
        return p;
    }
    StrikeOutcome strike(const std::string& member, long long atMs, const std::string& id = "A",
                         const std::string& msisdn = "0912") {
        return client_->recordStrike(subjects(id, msisdn), member, atMs, policy());
    }
    bool locked(const std::string& id = "A", const std::string& msisdn = "0912") {
        const auto values = client_->mget({"lock:id:" + id, "lock:msisdn:" + msisdn});
        return values[0].has_value() && values[1].has_value();
    }
    void unlock(const std::string& id = "A", const std::string& msisdn = "0912") {
        client_->del({"lock:id:" + id, "lock:msisdn:" + msisdn});
    }

    // An arbitrary instant (ms), so that the test's timestamps are explicit and no test sleeps.
    static constexpr long long kT = 1'795'795'170'000;
};

TEST_F(StrikeTest, ThreeStrikesWithinSecondsLockEvenAcrossAFixedWindowsEnd) {
    // The fixed-window counter-example: a failure 599 s after the first (just before a fixed window opened by the
    // first would end) and two more right after — three within 2 seconds. A fixed window counted 2 then restarted.
    EXPECT_EQ(strike("g-1", kT).strikes, (std::vector<long long>{1, 1}));
    EXPECT_EQ(strike("g-2", kT + 599'000).strikes, (std::vector<long long>{2, 2}));
    EXPECT_FALSE(locked());
    const auto third = strike("g-3", kT + 600'500);  // g-1 is now out of the window: 2 …
    EXPECT_EQ(third.strikes, (std::vector<long long>{2, 2}));
    EXPECT_EQ(third.lockedSeconds, 0);
    const auto fourth = strike("g-4", kT + 601'000);  // … and g-2, g-3, g-4 are three within 2 s: locked.
    EXPECT_EQ(fourth.strikes, (std::vector<long long>{3, 3}));
    EXPECT_EQ(fourth.lockedSeconds, 600);
    EXPECT_TRUE(locked());
    const long long ttl = client_->ttl("lock:id:A");
    EXPECT_GT(ttl, 590);
    EXPECT_LE(ttl, 600);
    EXPECT_EQ(client_->get("lock:msisdn:0912"), "600");
}

TEST_F(StrikeTest, StrikesOlderThanTheWindowDoNotCount) {
    EXPECT_EQ(strike("g-1", kT).strikes, (std::vector<long long>{1, 1}));
    EXPECT_EQ(strike("g-2", kT + 300'000).strikes, (std::vector<long long>{2, 2}));
    // 600 s after the first: the first is out (the window is the 10 minutes before, exclusive of its start).
    const auto third = strike("g-3", kT + 600'000);
    EXPECT_EQ(third.strikes, (std::vector<long long>{2, 2}));
    EXPECT_EQ(third.lockedSeconds, 0);
    EXPECT_FALSE(locked());
    // 599.999 s after the second: still in.
    EXPECT_EQ(strike("g-4", kT + 899'999).strikes, (std::vector<long long>{3, 3}));
    EXPECT_TRUE(locked());
}

TEST_F(StrikeTest, ARedeliveredMessageCountsOnce) {
    EXPECT_EQ(strike("g-1", kT).strikes, (std::vector<long long>{1, 1}));
    EXPECT_EQ(strike("g-1", kT).strikes, (std::vector<long long>{1, 1}));
    EXPECT_EQ(strike("g-2", kT + 1000).strikes, (std::vector<long long>{2, 2}));
    EXPECT_EQ(strike("g-2", kT + 1000).strikes, (std::vector<long long>{2, 2}));
    EXPECT_FALSE(locked());
    EXPECT_EQ(strike("g-3", kT + 2000).lockedSeconds, 600);
    // The third message redelivered while the lock holds: counted once, and the lock is not set again.
    const auto again = strike("g-3", kT + 2000);
    EXPECT_EQ(again.strikes, (std::vector<long long>{3, 3}));
    EXPECT_EQ(again.lockedSeconds, 0);
}

TEST_F(StrikeTest, OneIdFromThreePhonesLocksTheIdAndTheThirdPhone) {
    EXPECT_EQ(strike("g-1", kT, "A", "0911").strikes, (std::vector<long long>{1, 1}));
    EXPECT_EQ(strike("g-2", kT + 1000, "A", "0922").strikes, (std::vector<long long>{2, 1}));
    const auto third = strike("g-3", kT + 2000, "A", "0933");
    EXPECT_EQ(third.strikes, (std::vector<long long>{3, 1}));
    EXPECT_EQ(third.lockedSeconds, 600);
    EXPECT_TRUE(locked("A", "0933"));
    EXPECT_FALSE(client_->get("lock:msisdn:0911").has_value());
}

TEST_F(StrikeTest, APhoneReachingItsThirdStrikeOnAnIdLockedMeanwhileIsLockedToo) {
    // Phone 0944 fails twice with other IDs; its third failure is on ID A, which three other phones got locked a
    // moment earlier (another engine checked A's lock before that): the phone is locked, A's lock is left as it is.
    strike("p-1", kT, "B", "0944");
    strike("p-2", kT + 1000, "C", "0944");
    for (int i = 0; i < 3; ++i)
        strike("a-" + std::to_string(i), kT + 2000 + i * 1000, "A", "09" + std::to_string(11 * (i + 1)));
    const long long idTtl = client_->ttl("lock:id:A");
    ASSERT_GT(idTtl, 0);
    const auto third = strike("p-3", kT + 6000, "A", "0944");
    EXPECT_EQ(third.strikes, (std::vector<long long>{4, 3}));
    // A's lock a moment ago is an earlier lock of one of the subjects: this one is the second, 1200 s.
    EXPECT_EQ(third.lockedSeconds, 1200);
    EXPECT_EQ(client_->get("lock:msisdn:0944"), "1200");
    EXPECT_LE(client_->ttl("lock:id:A"), idTtl) << "a lock already held is not set again";
}

TEST_F(StrikeTest, EachFurtherLockWithin24HoursIsLonger) {
    // First lock: 600 s.
    for (int i = 0; i < 3; ++i) strike("a-" + std::to_string(i), kT + i * 1000);
    EXPECT_EQ(client_->get("lock:id:A"), "600");
    const long long first = client_->ttl("lock:id:A");
    // An hour later (the lock has run out; removed here instead of waiting), three more: the second lock, 1200 s.
    unlock();
    const long long hour = 3'600'000;
    strike("b-0", kT + hour);
    strike("b-1", kT + hour + 1000);
    const auto second = strike("b-2", kT + hour + 2000);
    EXPECT_EQ(second.lockedSeconds, 1200);
    const long long secondTtl = client_->ttl("lock:id:A");
    EXPECT_GT(secondTtl, first);
    EXPECT_GT(secondTtl, 1190);
    // The third: 2400 s; a fourth stays at the last length given (the cap).
    unlock();
    for (int i = 0; i < 3; ++i) strike("c-" + std::to_string(i), kT + 2 * hour + i * 1000);
    EXPECT_EQ(client_->get("lock:id:A"), "2400");
    unlock();
    for (int i = 0; i < 3; ++i) strike("d-" + std::to_string(i), kT + 3 * hour + i * 1000);
    EXPECT_EQ(client_->get("lock:id:A"), "2400");
    // More than 24 h after all of them: a first lock again.
    unlock();
    const long long day = 24 * hour;
    for (int i = 0; i < 3; ++i) strike("e-" + std::to_string(i), kT + 3 * hour + day + 1 + i * 1000);
    EXPECT_EQ(client_->get("lock:id:A"), "600");
}

TEST_F(StrikeTest, AnotherMsisdnsLockHistoryLengthensTheLockToo) {
    for (int i = 0; i < 3; ++i) strike("a-" + std::to_string(i), kT + i * 1000, "A", "0911");
    unlock("A", "0911");
    // From the same phone, three failures with another ID: the phone's earlier lock counts.
    for (int i = 0; i < 3; ++i) strike("b-" + std::to_string(i), kT + 3'600'000 + i * 1000, "B", "0911");
    EXPECT_EQ(client_->get("lock:id:B"), "1200");
    EXPECT_EQ(client_->get("lock:msisdn:0911"), "1200");
}

TEST_F(StrikeTest, TheScriptIsLoadedAgainAfterTheServerForgotIt) {
    EXPECT_EQ(strike("g-1", kT).strikes, (std::vector<long long>{1, 1}));
    const std::string flush = "redis-cli -p " + std::to_string(settings_.port) + " SCRIPT FLUSH >/dev/null";
    ASSERT_EQ(std::system(flush.c_str()), 0);
    EXPECT_EQ(strike("g-2", kT + 1000).strikes, (std::vector<long long>{2, 2}));
}

TEST_F(StrikeTest, RejectsAnEmptyPolicy) {
    StrikePolicy empty = policy();
    empty.lockSeconds.clear();
    EXPECT_THROW(client_->recordStrike(subjects(), "g", kT, empty), std::invalid_argument);
    EXPECT_THROW(client_->recordStrike({}, "g", kT, policy()), std::invalid_argument);
    EXPECT_THROW(client_->recordStrike(subjects(), "", kT, policy()), std::invalid_argument);
}

TEST_F(RedisTest, DelReturnsHowManyExisted) {
    client_->setMany({{key("x"), "1"}, {key("y"), "2"}}, 60);

    EXPECT_EQ(client_->del({"x", "y", key("z")}), 2);
    EXPECT_EQ(client_->get("x"), std::nullopt);
    EXPECT_EQ(client_->del({}), 0);
}

TEST_F(RedisTest, ReconnectsOnceWhenTheServerDroppedTheConnection) {
    client_->setMany({{key("survivor"), "still here"}}, 60);
    killOwnConnections();

    EXPECT_EQ(client_->get("survivor"), "still here");
}

TEST_F(RedisTest, ALargePipelineOnADroppedConnectionIsRetriedWithoutSigpipe) {
    const SigpipeUnblocked sigpipeUnblocked;
    client_->ping();
    killOwnConnections();

    // Several megabytes: hiredis needs many write() calls, and the ones after the peer's reset raise SIGPIPE.
    std::vector<std::pair<std::string, std::string>> pairs;
    pairs.reserve(2000);
    for (int i = 0; i < 2000; ++i) pairs.emplace_back(key("big-" + std::to_string(i)), std::string(4096, 'x'));
    client_->setMany(pairs, 60);

    EXPECT_EQ(client_->get("big-1999"), std::string(4096, 'x'));
}

TEST(RedisClientErrors, AClosedPortThrowsARetryableRedisError) {
    LocalSocket socket(false);
    const int port = socket.port();
    socket.close();

    RedisClient client(RedisSettings{"127.0.0.1", port, 500, "taxdesk-test:"});
    std::string message;
    bool retryable = false;
    try {
        client.ping();
    } catch (const RedisError& error) {
        message = error.what();
        retryable = error.isRetryable();
    }
    ASSERT_FALSE(message.empty()) << "ping on a closed port succeeded";
    EXPECT_TRUE(retryable);
    EXPECT_NE(message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << message;
    EXPECT_NE(message.find("refused"), std::string::npos) << message;
}

TEST(RedisClientErrors, AServerThatNeverAnswersTimesOut) {
    LocalSocket silent(true);
    RedisClient client(RedisSettings{"127.0.0.1", silent.port(), 200, "taxdesk-test:"});

    const auto start = std::chrono::steady_clock::now();
    std::string message;
    try {
        client.get("anything");
    } catch (const RedisError& error) {
        message = error.what();
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;

    ASSERT_FALSE(message.empty()) << "get from a silent server succeeded";
    EXPECT_NE(message.find("no answer within 200 ms"), std::string::npos) << message;
    // One try and one retry, each bounded by the timeout.
    EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST(RedisClientErrors, EmptyBatchesMakeNoRoundTrip) {
    LocalSocket socket(false);
    const int port = socket.port();
    socket.close();

    RedisClient client(RedisSettings{"127.0.0.1", port, 200, "taxdesk-test:"});
    EXPECT_TRUE(client.mget({}).empty());
    EXPECT_NO_THROW(client.setMany({}, 60));
    EXPECT_EQ(client.del({}), 0);
}

}  // namespace
}  // namespace taxdesk::connectors
