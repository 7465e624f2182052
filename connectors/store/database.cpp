#include "connectors/store/database.hpp"

#include <Poco/Data/PostgreSQL/Connector.h>
#include <Poco/Data/PostgreSQL/SessionImpl.h>
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/SQLiteException.h>
#include <Poco/Data/SQLite/Utility.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>
#include <libpq-fe.h>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "connectors/store/migrations.hpp"
#include "connectors/store/store_internal.hpp"

namespace taxdesk::connectors {
namespace {

using namespace Poco::Data::Keywords;
using detail::kSessionWait;
using detail::oneLine;
using detail::SqlBackend;

constexpr const char* kSqlite = "sqlite";
constexpr const char* kPostgresql = "postgresql";
constexpr int kSessionIdleSeconds = 60;

/// True once SQLite runs in multi-thread mode (configureSqlite succeeded).
std::atomic<bool> sqliteMultiThreadOn{false};

/// Issue 11: SQLite in multi-thread mode, without memory statistics. In its default (serialized) mode every API call
/// on a connection takes that connection's mutex, and with memory statistics every allocation takes a global one:
/// about 18 mutex enters a statement step, 10% of the result upserts' instructions (BENCHMARKS.md, ### SQLite).
/// Multi-thread mode drops the connection mutex and requires that no connection is used by two threads at once,
/// which is how this store uses them; the reasoning, each place a connection crosses threads:
/// - A session (its connection) is used only by the thread that leased it from the pool (withSession,
///   StoreTransaction, BatchWriter's lease) until it gives it back; the pool hands sessions over under its own mutex,
///   which orders one holder's last use before the next holder's first.
/// - The statement cache (detail::StatementCache) is per connection: a statement is acquired, stepped, reset and
///   released by the thread holding the connection's session. Its own maps are under its mutex. It finalizes
///   statements on another thread only when the Database goes (no session leased then) and in clear() (tests, with
///   no session leased), and never by idle time: SQLite's pool never closes an idle connection (ConfiguredPool keeps
///   every SQLite session it opened, minSessions = maxSessions), so no pool janitor thread touches a connection.
/// - The pool's janitor thread only reads Poco's own flags of an idle SQLite session (isConnected), not SQLite.
/// sqlite3_config works only before SQLite is initialised (the first connection opened in the process, by anyone):
/// when it is refused (SQLITE_MISUSE: a connection was opened earlier, e.g. by a tool or a test), SQLite stays
/// serialized, which is always safe. The global core mutexes (memory allocator, page cache, opening files) stay.
void configureSqlite() {
    if (sqlite3_config(SQLITE_CONFIG_MULTITHREAD) != SQLITE_OK) return;
    // Refused only in the same case as the above, which then already failed.
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqliteMultiThreadOn = true;
}

void registerConnectors() {
    static std::once_flag once;
    std::call_once(once, [] {
        configureSqlite();
        Poco::Data::SQLite::Connector::registerConnector();
        Poco::Data::PostgreSQL::Connector::registerConnector();
    });
}

/// Switching a fresh database to WAL needs it to itself for a moment, and SQLite reports another opener's lock at once
/// instead of waiting out the busy timeout (several stores opening one new file raced here): try again for a while.
void enableWriteAheadLog(Poco::Data::Session& session) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
        try {
            session << "PRAGMA journal_mode=WAL", now;
            return;
        } catch (const Poco::Data::SQLite::DBLockedException&) {
            if (std::chrono::steady_clock::now() >= deadline) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
}

/// The statement that gives a PostgreSQL session its statement_timeout (0: none).
std::string statementTimeout(int milliseconds) {
    return "SET statement_timeout = " + std::to_string(std::max(milliseconds, 0));
}

/// Applies the per-connection settings to every session the pool creates (the pool calls this once per session).
class ConfiguredPool : public Poco::Data::SessionPool {
  public:
    /// SQLite: every session opened is kept (minSessions = maxSessions: the janitor never closes an idle one), so that
    /// no other thread closes a connection whose statements the cache keeps (configureSqlite). At most maxSessions
    /// connections to a local file; each keeps its page cache (SQLite's default, 2 MiB at most).
    ConfiguredPool(const std::string& connector, const std::string& connection, int maxSessions, int statementTimeoutMs)
        : SessionPool(connector, connection, connector == kSqlite ? maxSessions : 1, maxSessions, kSessionIdleSeconds),
          sqlite_(connector == kSqlite),
          statementTimeoutMs_(statementTimeoutMs) {}

  protected:
    void customizeSession(Poco::Data::Session& session) override {
        if (!sqlite_) {
            // libpq prints NOTICEs ("relation … already exists, skipping") straight to stderr; they are not errors.
            session << "SET client_min_messages = warning", now;
            // Issue 12: a statement that runs longer is cancelled by the server (SQLSTATE 57014, retryable), instead
            // of holding this session, and whatever waits on it (a dispatcher, an engine's shutdown), for ever.
            session << statementTimeout(statementTimeoutMs_), now;
            // Error messages carry their SQLSTATE, which classifies them (isPermanentStoreFailure) in any language.
            if (auto* postgresql = dynamic_cast<Poco::Data::PostgreSQL::SessionImpl*>(session.impl()))
                PQsetErrorVerbosity(static_cast<PGconn*>(postgresql->handle()), PQERRORS_VERBOSE);
            return;
        }
        // WAL lets readers run while one writer commits; NORMAL is durable across process crashes in WAL mode (only
        // an OS crash can lose the last commits, and never a payment's: detail::DurableCommits syncs those); the busy
        // timeout makes concurrent writers wait instead of failing.
        session << "PRAGMA busy_timeout=5000", now;
        // Issue 11: a new database gets pages of 8 KiB instead of SQLite's 4 KiB: a batch's results are written in half
        // the WAL frames (two write() calls each) and checkpointed in half the copies: the store's CPU a new row 3.4 ->
        // 3.0 us. 16 KiB cut it to 2.7 us but cost the SMS path (a few rows a transaction, each written as whole
        // pages): p99 23 -> 35 ms at 2,000/s; 8 KiB 27 ms (BENCHMARKS.md, issue 11, "Session 7"). It must come before
        // the switch to WAL, which fixes the size in the file; a database that exists keeps its size.
        session << "PRAGMA page_size=" + std::to_string(kSqlitePageSize), now;
        enableWriteAheadLog(session);
        session << "PRAGMA synchronous=NORMAL", now;
        // Issue 11: pages read through a memory map instead of a read() call each. Every commit by another session
        // (the API, the SMS stage and the sender each write) makes a session drop its page cache; reading the pages
        // back by system calls was a quarter of the SMS stage's time. Writes still go through the WAL as before.
        // 64 MiB, not more: mapped pages count in the engine's resident memory (a 1,000,000-row batch peaked at
        // 290 MiB with 256 MiB mapped, 126 MiB with 64).
        session << "PRAGMA mmap_size=67108864", now;
    }

  private:
    bool sqlite_;
    int statementTimeoutMs_;
};

SqlBackend sqlBackend(const std::string& backend) {
    return backend == kPostgresql ? SqlBackend::postgresql : SqlBackend::sqlite;
}

/// libpq waits for an unanswered TCP connect as long as the kernel does (minutes); a store call should fail sooner.
std::string withConnectTimeout(const std::string& connection) {
    if (connection.find("connect_timeout") != std::string::npos || connection.find("://") != std::string::npos) {
        return connection;
    }
    return connection + (connection.empty() ? "" : " ") + "connect_timeout=5";
}

void createParentFolder(const std::string& sqlitePath) {
    const std::filesystem::path parent = std::filesystem::path(sqlitePath).parent_path();
    if (parent.empty()) return;
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) {
        throw StoreError(std::string(kSqlite) + ": creating the folder " + parent.string() + ": " + error.message());
    }
}

}  // namespace

namespace detail {

bool sqliteMultiThread() {
    return sqliteMultiThreadOn.load();
}

std::string oneLine(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    bool pendingSpace = false;
    for (const char c : text) {
        if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
            pendingSpace = !out.empty();
            continue;
        }
        if (pendingSpace) out += ' ';
        pendingSpace = false;
        out += c;
    }
    return out;
}

std::string sessionsBusy(const std::string& backend, const char* purpose, int poolSize) {
    return backend + ": " + purpose + ": all " + std::to_string(poolSize) + " sessions stayed busy for " +
           std::to_string(kSessionWait.count()) + " s (hint: raise store.pool_size)";
}

void requireField(const std::string& value, const char* what, const char* call) {
    if (value.empty()) throw std::invalid_argument(std::string("store: ") + call + ": " + what + " is empty");
}

std::string placeholderList(std::size_t count) {
    std::string out;
    out.reserve(count * 3);
    for (std::size_t i = 0; i < count; ++i) out += i == 0 ? "?" : ", ?";
    return out;
}

// --- CachedStatement, StatementCache -----------------------------------------------------------------------------

void CachedStatement::fail(const char* what, int code) const {
    sqlite3* connection = sqlite3_db_handle(statement_);
    std::string text = connection != nullptr ? sqlite3_errmsg(connection) : sqlite3_errstr(code);
    text = std::string(kSqlite) + ": " + purpose_ + ": " + what + ": " + oneLine(text);
    const int primary = code & 0xff;
    const bool permanent = primary == SQLITE_CONSTRAINT || primary == SQLITE_MISMATCH || primary == SQLITE_RANGE ||
                           primary == SQLITE_TOOBIG || isPermanentStoreFailure(text);
    throw StoreError(text, !permanent);
}

void CachedStatement::check(int code, const char* what) const {
    if (code != SQLITE_OK) fail(what, code);
}

CachedStatement& CachedStatement::bind(int position, std::string_view text) {
    // An empty view may have no data pointer, which SQLite would bind as NULL: it is the empty text.
    const char* data = text.data() != nullptr ? text.data() : "";
    check(sqlite3_bind_text64(statement_, position, data, text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
          "binding a text");
    return *this;
}

CachedStatement& CachedStatement::bind(int position, std::int64_t value) {
    check(sqlite3_bind_int64(statement_, position, value), "binding an integer");
    return *this;
}

CachedStatement& CachedStatement::bind(int position, double value) {
    check(sqlite3_bind_double(statement_, position, value), "binding a number");
    return *this;
}

CachedStatement& CachedStatement::bindNull(int position) {
    check(sqlite3_bind_null(statement_, position), "binding a null");
    return *this;
}

bool CachedStatement::step() {
    const int code = sqlite3_step(statement_);
    if (code == SQLITE_ROW) return true;
    if (code == SQLITE_DONE) return false;
    fail("running the statement", code);
}

int CachedStatement::execute() {
    while (step()) {
    }
    return sqlite3_changes(sqlite3_db_handle(statement_));
}

void CachedStatement::reset() {
    sqlite3_reset(statement_);  // the last step's error, if any, was reported by step() already
}

int CachedStatement::columns() const {
    return sqlite3_column_count(statement_);
}

bool CachedStatement::isNull(int column) const {
    return sqlite3_column_type(statement_, column) == SQLITE_NULL;
}

std::string_view CachedStatement::view(int column) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
    if (text == nullptr) return {};
    return {text, static_cast<std::size_t>(sqlite3_column_bytes(statement_, column))};
}

std::string CachedStatement::text(int column) const {
    return std::string(view(column));
}

std::int64_t CachedStatement::int64(int column) const {
    return sqlite3_column_int64(statement_, column);
}

double CachedStatement::real(int column) const {
    return sqlite3_column_double(statement_, column);
}

StatementCache::StatementCache(std::chrono::steady_clock::duration idle)
    : idle_(idle), lastPrune_(std::chrono::steady_clock::now()) {}

StatementCache::~StatementCache() {
    const std::lock_guard lock(mutex_);
    for (auto& [connection, kept] : connections_) {
        for (auto& [sql, entry] : kept.statements) sqlite3_finalize(entry.statement);
    }
}

sqlite3_stmt* StatementCache::acquire(sqlite3* connection, const std::string& sql, const char* purpose, bool& kept) {
    const auto now = std::chrono::steady_clock::now();
    Connection* slot = nullptr;
    {
        const std::lock_guard lock(mutex_);
        if (now - lastPrune_ > idle_ / 2) pruneLocked(now);
        slot = &connections_[connection];
        ++slot->inUse;
        slot->lastUsed = now;
        auto found = slot->statements.find(sql);
        if (found != slot->statements.end() && !found->second.lent) {
            found->second.lent = true;
            kept = true;
            return found->second.statement;
        }
        kept = found == slot->statements.end() && slot->statements.size() < kPerConnection;
        ++compiled_;
    }
    // Compiled outside the lock; the connection is this thread's (its session is leased), and inUse keeps the slot.
    sqlite3_stmt* statement = nullptr;
    const unsigned flags = kept ? SQLITE_PREPARE_PERSISTENT : 0;
    const int code =
        sqlite3_prepare_v3(connection, sql.c_str(), static_cast<int>(sql.size() + 1), flags, &statement, nullptr);
    const std::lock_guard lock(mutex_);
    if (code != SQLITE_OK || statement == nullptr) {
        sqlite3_finalize(statement);
        --slot->inUse;
        const std::string text = std::string(kSqlite) + ": " + purpose + ": preparing a statement: " +
                                 oneLine(code != SQLITE_OK ? sqlite3_errmsg(connection) : "empty statement");
        throw StoreError(text, false);
    }
    if (kept) slot->statements.emplace(sql, Entry{statement, true});
    return statement;
}

void StatementCache::release(sqlite3* connection, const std::string& sql, sqlite3_stmt* statement, bool kept) noexcept {
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
    if (!kept) sqlite3_finalize(statement);
    const std::lock_guard lock(mutex_);
    auto slot = connections_.find(connection);
    if (slot == connections_.end()) return;
    --slot->second.inUse;
    if (!kept) return;
    auto entry = slot->second.statements.find(sql);
    if (entry != slot->second.statements.end() && entry->second.statement == statement) entry->second.lent = false;
}

void StatementCache::pruneLocked(std::chrono::steady_clock::time_point now) noexcept {
    lastPrune_ = now;
    for (auto it = connections_.begin(); it != connections_.end();) {
        Connection& kept = it->second;
        if (kept.inUse == 0 && now - kept.lastUsed > idle_) {
            for (auto& [sql, entry] : kept.statements) sqlite3_finalize(entry.statement);
            it = connections_.erase(it);
        } else {
            ++it;
        }
    }
}

void StatementCache::clear() noexcept {
    const std::lock_guard lock(mutex_);
    for (auto it = connections_.begin(); it != connections_.end();) {
        if (it->second.inUse == 0) {
            for (auto& [sql, entry] : it->second.statements) sqlite3_finalize(entry.statement);
            it = connections_.erase(it);
        } else {
            ++it;
        }
    }
}

std::size_t StatementCache::kept() const {
    const std::lock_guard lock(mutex_);
    std::size_t count = 0;
    for (const auto& [connection, kept] : connections_) count += kept.statements.size();
    return count;
}

std::size_t StatementCache::compiled() const {
    const std::lock_guard lock(mutex_);
    return compiled_;
}

}  // namespace detail

bool isPermanentStoreFailure(std::string_view backendMessage) {
    // PostgreSQL's SQLSTATE, which every session asks libpq to put in its messages (PQERRORS_VERBOSE: "ERROR:  23505:
    // duplicate key …"), whatever the server's lc_messages: a Chinese or German server words them otherwise.
    // Classes 22 (data exception), 23 (integrity constraint), 42 (syntax or access rule) and 0A (not supported)
    // repeat; everything else (08 connection, 40 serialization/deadlock, 53 resources, 57 shutdown …) may pass.
    if (const auto at = backendMessage.find("ERROR:"); at != std::string_view::npos) {
        std::string_view rest = backendMessage.substr(at + 6);
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        const bool coded = rest.size() > 5 && rest[5] == ':' && std::all_of(rest.begin(), rest.begin() + 5, [](char c) {
                               return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
                           });
        if (coded) {
            const std::string_view code = rest.substr(0, 2);
            return code == "22" || code == "23" || code == "42" || code == "0A";
        }
    }
    std::string text(backendMessage);
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    // SQLite: "constraint failed", "datatype mismatch"; PostgreSQL: "violates … constraint", "invalid input syntax
    // for type", "value too long for type", "out of range". Locks, busy databases and lost connections pass.
    // A row whose state or status this engine does not know (the store's row handlers: "… is not a known value")
    // reads the same however often it is read.
    for (const char* permanent : {"constraint", "datatype mismatch", "invalid input syntax", "value too long",
                                  "out of range for type", "is not a known value"})
        if (text.find(permanent) != std::string::npos) return true;
    return false;
}
std::string Database::sql(std::string_view text) const {
    return detail::placeholders(sqlBackend(backend_), text);
}

Database::Database(const StoreSettings& settings) : backend_(settings.backend), poolSize_(settings.poolSize) {
    if (backend_ != kSqlite && backend_ != kPostgresql) {
        throw std::invalid_argument("store: unknown backend '" + backend_ + "' (expected sqlite or postgresql)");
    }
    if (poolSize_ < 1) throw std::invalid_argument("store: poolSize must be at least 1");
    registerConnectors();

    std::string connection;
    if (backend_ == kSqlite) {
        createParentFolder(settings.sqlitePath);
        connection = settings.sqlitePath;
    } else {
        connection = withConnectTimeout(settings.postgresql);
    }
    try {
        pool_ = std::make_unique<ConfiguredPool>(backend_, connection, poolSize_, settings.statementTimeoutMs);
    } catch (const Poco::Exception& error) {
        throw StoreError(backend_ + ": creating the session pool: " + oneLine(error.displayText()));
    }
    permits_ = std::make_unique<std::counting_semaphore<>>(poolSize_);
    // Never pruned by idle time: SQLite's pool keeps every connection it opened (ConfiguredPool), and pruning a
    // connection another thread may hold is not allowed in multi-thread mode (configureSqlite). At most kPerConnection
    // statements a connection, pool size connections.
    statements_ = std::make_unique<detail::StatementCache>(std::chrono::steady_clock::duration::max());

    // A migration may rewrite a large table: it runs without the statement timeout, which is restored after.
    withSession("applying migrations", [&](Poco::Data::Session& session) {
        if (isSqlite()) {
            detail::applyMigrations(session, SqlBackend::sqlite);
            return;
        }
        session << statementTimeout(0), now;
        try {
            detail::applyMigrations(session, SqlBackend::postgresql);
        } catch (...) {
            try {
                session << statementTimeout(settings.statementTimeoutMs), now;
            } catch (...) {  // NOLINT(bugprone-empty-catch): the migration's own error is the one to report
            }
            throw;
        }
        session << statementTimeout(settings.statementTimeoutMs), now;
    });
}

Database::~Database() = default;

void Database::onOutboxCommitted(std::function<void(const std::vector<NotificationRecord>&)> listener) {
    auto shared =
        listener
            ? std::make_shared<const std::function<void(const std::vector<NotificationRecord>&)>>(std::move(listener))
            : nullptr;
    const std::lock_guard lock(outboxMutex_);
    outboxListener_ = std::move(shared);
}

void Database::outboxCommitted(const std::vector<NotificationRecord>& recorded) const {
    // Inside this thread's StoreTransaction the store call's "commit" was a savepoint: the outer transaction may still
    // roll back, so nothing is told (the scheduler's sweep produces what it committed). No caller does that today.
    if (recorded.empty() || boundSession() != nullptr) return;
    std::shared_ptr<const std::function<void(const std::vector<NotificationRecord>&)>> listener;
    {
        const std::lock_guard lock(outboxMutex_);
        listener = outboxListener_;
    }
    if (listener) (*listener)(recorded);
}

namespace {

/// This thread's open StoreTransaction: the database and the session it holds.
struct Binding {
    const Database* db = nullptr;
    Poco::Data::Session* session = nullptr;
};
thread_local Binding binding;

}  // namespace

Poco::Data::Session* Database::boundSession() const {
    return binding.db == this ? binding.session : nullptr;
}

bool detail::inStoreTransaction(const Poco::Data::Session& session) {
    return binding.session == &session;
}

std::unique_lock<std::timed_mutex> detail::lockWriter(std::timed_mutex& writer, const char* what) {
    std::unique_lock lock(writer, std::defer_lock);
    if (!lock.try_lock_for(kWriterWait)) {
        throw StoreError("sqlite: " + std::string(what) + ": another write held the database for " +
                         std::to_string(kWriterWait.count()) + " ms (busy; retry)");
    }
    return lock;
}

namespace {

bool isSqliteSession(Poco::Data::Session& session) {
    return session.connector() == Poco::Data::SQLite::Connector::KEY;
}

/// A transaction statement (BEGIN, COMMIT, ROLLBACK, savepoints: no bindings, no rows). On SQLite straight through
/// sqlite3_exec (issue 11: through Poco::Data each was compiled and run as a Statement; an SMS makes six of them, its
/// inbox row's BEGIN and COMMIT, its outcome's savepoint and release, and its notification's, and every batch of the
/// SMS stage and the sender a StoreTransaction's BEGIN IMMEDIATE and COMMIT). Throws StoreError on SQLite.
void transactionStatement(Poco::Data::Session& session, const char* sql) {
    if (isSqliteSession(session)) {
        char* error = nullptr;
        const int code = sqlite3_exec(Poco::Data::SQLite::Utility::dbHandle(session), sql, nullptr, nullptr, &error);
        if (code != SQLITE_OK) {
            // Retryable (busy, I/O) unless SQLite or its text says it cannot pass, as CachedStatement::fail decides.
            std::string text = error != nullptr ? error : sqlite3_errstr(code);
            sqlite3_free(error);
            text = std::string(kSqlite) + ": " + sql + ": " + oneLine(text);
            throw StoreError(text, !isPermanentStoreFailure(text));
        }
        return;
    }
    session << sql, now;
}

}  // namespace

detail::DurableCommits::DurableCommits(Poco::Data::Session& session, bool sqlite) {
    if (!sqlite || inStoreTransaction(session)) return;
    session << "PRAGMA synchronous=FULL", now;
    session_ = &session;
}

detail::DurableCommits::~DurableCommits() {
    if (session_ == nullptr) return;
    try {
        *session_ << "PRAGMA synchronous=NORMAL", now;
    } catch (...) {
        // The session stays FULL: its commits are synced, which is slower, never less safe.
    }
}

detail::WriteTransaction::WriteTransaction(Poco::Data::Session& session, std::timed_mutex* writer)
    : session_(session), nested_(inStoreTransaction(session)) {
    if (nested_) {
        transactionStatement(session_, "SAVEPOINT td_write");
    } else {
        if (writer != nullptr) writer_ = lockWriter(*writer, "beginning a write");
        if (isSqliteSession(session_)) {
            transactionStatement(session_, "BEGIN");  // Poco's default (deferred), without its Statement
            plain_ = true;
        } else {
            session_.begin();
        }
    }
}

detail::WriteTransaction::~WriteTransaction() {
    if (done_) return;
    try {
        if (nested_) {
            transactionStatement(session_, "ROLLBACK TO SAVEPOINT td_write");
            transactionStatement(session_, "RELEASE SAVEPOINT td_write");
        } else if (plain_) {
            if (sqlite3_get_autocommit(Poco::Data::SQLite::Utility::dbHandle(session_)) == 0)
                transactionStatement(session_, "ROLLBACK");
        } else if (session_.isTransaction()) {
            session_.rollback();
        }
    } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor; the outer transaction or the pool cleans up
    }
}

void detail::WriteTransaction::commit() {
    if (nested_) {
        transactionStatement(session_, "RELEASE SAVEPOINT td_write");
    } else {
        if (plain_) {
            transactionStatement(session_, "COMMIT");
        } else {
            session_.commit();
        }
        if (writer_.owns_lock()) writer_.unlock();
    }
    done_ = true;
}

struct StoreTransaction::State {
    explicit State(Database& database) : db(database) {}
    Database& db;
    std::optional<detail::PermitRelease> permit;
    std::unique_lock<std::timed_mutex> writer;  ///< SQLite: held from BEGIN to COMMIT or ROLLBACK
    std::optional<Poco::Data::Session> session;
    bool open = false;
};

StoreTransaction::StoreTransaction(Database& db) : state_(std::make_unique<State>(db)) {
    if (binding.session != nullptr) throw std::logic_error("store: a StoreTransaction is open on this thread already");
    if (!db.permits().try_acquire_for(kSessionWait)) {
        throw StoreError(detail::sessionsBusy(db.backend(), "opening a transaction", db.poolSize()));
    }
    state_->permit.emplace(db.permits());
    try {
        state_->session.emplace(db.pool().get());
        if (db.isSqlite()) {
            // Woken when free, not a busy handler's sleep.
            state_->writer = detail::lockWriter(*db.sqliteWriter(), "opening a transaction");
            transactionStatement(*state_->session, "BEGIN IMMEDIATE");
        } else {
            state_->session->begin();
        }
    } catch (const Poco::Exception& error) {
        const std::string text = oneLine(error.displayText());
        throw StoreError(db.backend() + ": opening a transaction: " + text, !isPermanentStoreFailure(text));
    }
    state_->open = true;
    binding = {&db, &*state_->session};
}

StoreTransaction::~StoreTransaction() {
    binding = {};
    if (!state_->open) return;
    try {
        if (state_->db.isSqlite()) {
            transactionStatement(*state_->session, "ROLLBACK");
        } else {
            state_->session->rollback();
        }
    } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor: nothing more can be done here
    }
}

void StoreTransaction::commit() {
    binding = {};
    try {
        if (state_->db.isSqlite()) {
            transactionStatement(*state_->session, "COMMIT");
        } else {
            state_->session->commit();
        }
        state_->open = false;
        if (state_->writer.owns_lock()) state_->writer.unlock();
    } catch (const Poco::Exception& error) {
        const std::string text = oneLine(error.displayText());
        throw StoreError(state_->db.backend() + ": committing a transaction: " + text, !isPermanentStoreFailure(text));
    }
}

bool Database::isSqlite() const {
    return backend_ == kSqlite;
}

int Database::schemaVersion() {
    return withSession("reading the schema version",
                       [](Poco::Data::Session& session) { return detail::appliedSchemaVersion(session); });
}

void Database::ping() {
    withSession("ping", [](Poco::Data::Session& session) {
        int one = 0;
        session << "SELECT 1", into(one), now;
    });
}

}  // namespace taxdesk::connectors
