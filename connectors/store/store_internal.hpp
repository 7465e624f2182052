#pragma once
// Internal to connectors/store: what the store's source files share — leasing a pooled
// session (Database::withSession), error texts, column-wise selects, the SQLite statement cache (withPrepared). Not for
// use outside this folder.
#include <Poco/Data/SQLite/Utility.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>
#include <Poco/Data/Statement.h>

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "connectors/store/database.hpp"

namespace taxdesk::connectors::detail {

/// How long a call waits for a free pooled session.
inline constexpr auto kSessionWait = std::chrono::seconds(30);

/// libpq's messages span several indented lines; a log line should not.
std::string oneLine(const std::string& text);

/// The StoreError text for a call that found every pooled session busy for kSessionWait.
std::string sessionsBusy(const std::string& backend, const char* purpose, int poolSize);

/// std::invalid_argument naming `call` when `value` is empty.
void requireField(const std::string& value, const char* what, const char* call);

/// Gives a permit back to the semaphore when it goes out of scope.
class PermitRelease {
  public:
    explicit PermitRelease(std::counting_semaphore<>& permits) : permits_(permits) {}
    ~PermitRelease() { permits_.release(); }
    PermitRelease(const PermitRelease&) = delete;
    PermitRelease& operator=(const PermitRelease&) = delete;

  private:
    std::counting_semaphore<>& permits_;
};

/// How long a SQLite write waits for Database::sqliteWriter(): SQLite's busy timeout (PRAGMA busy_timeout=5000).
inline constexpr auto kWriterWait = std::chrono::milliseconds(5000);

/// Takes `writer` (Database::sqliteWriter()), waiting at most kWriterWait; throws a retryable StoreError naming `what`
/// when another write holds it longer.
std::unique_lock<std::timed_mutex> lockWriter(std::timed_mutex& writer, const char* what);

/// "?, ?, …" with `count` placeholders, for an IN list whose values are bound (never spliced into the SQL: an id
/// holding a quote, a `?` or a `$1` would change the statement; Database::sql() turns each `?` into PostgreSQL's `$n`).
std::string placeholderList(std::size_t count);
/// Values in one IN list, at most: a chunk's ids are looked up this many a statement.
inline constexpr std::size_t kInListMax = 500;

/// True when `session` is the session of this thread's open StoreTransaction.
bool inStoreTransaction(const Poco::Data::Session& session);

/// A write that must be all or nothing: its own transaction (as Poco::Data::Transaction), or a savepoint when it runs
/// inside a StoreTransaction. Rolls back unless committed. Given `writer` (Database::sqliteWriter()), a transaction of
/// its own holds it from begin to end (a savepoint does not: its StoreTransaction holds it).
class WriteTransaction {
  public:
    explicit WriteTransaction(Poco::Data::Session& session, std::timed_mutex* writer = nullptr);
    ~WriteTransaction();
    WriteTransaction(const WriteTransaction&) = delete;
    WriteTransaction& operator=(const WriteTransaction&) = delete;
    void commit();

  private:
    Poco::Data::Session& session_;
    bool nested_;
    bool plain_ = false;  ///< SQLite: begun with sqlite3_exec, not Poco's Statement (issue 11)
    bool done_ = false;
    std::unique_lock<std::timed_mutex> writer_;
};

/// SQLite only: while it lives, the commits of `session` are synced to disk (PRAGMA synchronous=FULL: the WAL is synced
/// at each commit), not only at checkpoints as every session's NORMAL does (which a process crash cannot hurt, but an
/// OS crash or a power loss can: it may lose the last commits). For the commits no crash of any kind may lose: a
/// payment recorded before the provider is asked to charge, and its outcome (SqlPaymentLedger). Syncing the WAL also
/// makes every commit before it durable. Back to NORMAL when it ends (if that fails, the session stays FULL: slower,
/// never less safe). Inside a StoreTransaction it does nothing (that session is the transaction's). A no-op on
/// PostgreSQL, whose synchronous_commit is on (README "PostgreSQL").
class DurableCommits {
  public:
    DurableCommits(Poco::Data::Session& session, bool sqlite);
    ~DurableCommits();
    DurableCommits(const DurableCommits&) = delete;
    DurableCommits& operator=(const DurableCommits&) = delete;

  private:
    Poco::Data::Session* session_ = nullptr;  ///< null: nothing to restore
};

/// The rows of a SELECT of `Record`'s columns (in its Poco::Data::TypeHandler's order) with `values` bound to its
/// placeholders in order.
template <typename Record, typename... Values>
std::vector<Record> selectRows(Poco::Data::Session& session, const std::string& statement, const Values&... values) {
    using Poco::Data::Keywords::bind;
    using Poco::Data::Keywords::into;
    std::vector<Record> records;
    Poco::Data::Statement query(session);
    query << statement, into(records);
    (query, ..., bind(values));
    query.execute();
    return records;
}

/// One SQLite prepared statement lent by withPrepared: bind its `?` parameters (1-based), step through its rows, read
/// their columns (0-based). Reset, with its bindings cleared, when the lease ends. Errors throw StoreError naming the
/// backend and the purpose (retryable unless isPermanentStoreFailure). Texts are bound by copy (SQLITE_TRANSIENT).
class CachedStatement {
  public:
    CachedStatement(sqlite3_stmt* statement, const char* purpose) : statement_(statement), purpose_(purpose) {}

    CachedStatement& bind(int position, std::string_view text);
    CachedStatement& bind(int position, const char* text) { return bind(position, std::string_view(text)); }
    CachedStatement& bind(int position, std::int64_t value);
    CachedStatement& bind(int position, int value) { return bind(position, static_cast<std::int64_t>(value)); }
    CachedStatement& bind(int position, double value);
    CachedStatement& bindNull(int position);

    /// Steps once: true when a row is there to read, false when the statement is done.
    bool step();
    /// Steps to the end (a statement that returns no rows); the rows it inserted, updated or deleted.
    int execute();
    /// Makes the statement ready to run again (its bindings stay until bound anew): for one statement run once per row.
    void reset();

    [[nodiscard]] int columns() const;
    [[nodiscard]] bool isNull(int column) const;
    /// The column as text ("" for NULL).
    [[nodiscard]] std::string text(int column) const;
    /// The column as text without a copy, valid until the next step or the lease's end.
    [[nodiscard]] std::string_view view(int column) const;
    [[nodiscard]] std::int64_t int64(int column) const;
    [[nodiscard]] double real(int column) const;
    [[nodiscard]] sqlite3_stmt* handle() const { return statement_; }

  private:
    [[noreturn]] void fail(const char* what, int code) const;
    void check(int code, const char* what) const;

    sqlite3_stmt* statement_;
    const char* purpose_;
};

/// True when this process's SQLite runs in multi-thread mode without memory statistics (the Database configured it
/// before SQLite's first connection; false when something opened one earlier: then it stays serialized).
bool sqliteMultiThread();

/// Prepared statements kept per pooled SQLite connection, keyed by the connection and the SQL text (issue 11:
/// Poco::Data compiles every statement on every call, sqlite3_prepare_v2 was a fifth of the SMS engine's CPU). Each is
/// compiled once (sqlite3_prepare_v3, SQLITE_PREPARE_PERSISTENT), reset and its bindings cleared after each use. A
/// schema change is safe: SQLite recompiles such a statement on its next step. A connection's statements can be
/// finalized when it has been idle for `idle` (a closed connection stays a zombie under SQLite's close_v2 until its
/// statements are finalized, so its address is never reused while they are kept), and all of them when the Database
/// goes. The Database gives an unbounded `idle`: its SQLite pool never closes a connection, and in multi-thread mode
/// (sqliteMultiThread) no thread may finalize a statement of a connection another thread may hold.
/// Thread-safe; a connection is used by the one thread that leased its session.
class StatementCache {
  public:
    /// `idle`: how long a connection's statements stay unused before they are finalized.
    explicit StatementCache(std::chrono::steady_clock::duration idle);
    ~StatementCache();
    StatementCache(const StatementCache&) = delete;
    StatementCache& operator=(const StatementCache&) = delete;

    /// The statement for `sql` on `connection`, compiled if not kept yet; a statement already lent (the same SQL
    /// nested in a lease of it) or one past the per-connection limit is compiled afresh and not kept (`kept` false).
    /// Throws StoreError when SQLite refuses the SQL.
    sqlite3_stmt* acquire(sqlite3* connection, const std::string& sql, const char* purpose, bool& kept);
    /// Resets the statement and clears its bindings (finalizes it when not kept).
    void release(sqlite3* connection, const std::string& sql, sqlite3_stmt* statement, bool kept) noexcept;

    /// For tests: statements kept, and statements compiled since the start.
    [[nodiscard]] std::size_t kept() const;
    [[nodiscard]] std::size_t compiled() const;
    /// Finalizes every kept statement of connections not in use now (tests, with no session leased).
    void clear() noexcept;

    /// Statements kept per connection at most.
    static constexpr std::size_t kPerConnection = 256;

  private:
    struct Entry {
        sqlite3_stmt* statement = nullptr;
        bool lent = false;
    };
    struct Connection {
        std::unordered_map<std::string, Entry> statements;
        int inUse = 0;
        std::chrono::steady_clock::time_point lastUsed;
    };
    void pruneLocked(std::chrono::steady_clock::time_point now) noexcept;

    std::chrono::steady_clock::duration idle_;
    mutable std::mutex mutex_;
    std::unordered_map<sqlite3*, Connection> connections_;
    std::chrono::steady_clock::time_point lastPrune_;
    std::size_t compiled_ = 0;
};

/// SQLite only. Runs `work(CachedStatement&)` with `sql` (SQLite's `?` placeholders, as written) prepared on the
/// connection of `session` (a session from Database::withSession), compiled once per connection and kept
/// (StatementCache). The statement is reset and its bindings cleared when `work` returns or throws. Use it inside
/// withSession; on PostgreSQL keep the Poco::Data path. Example:
///   db.withSession("finding a token", [&](Poco::Data::Session& session) {
///       return detail::withPrepared(db, session, "finding a token", kSql, [&](detail::CachedStatement& s) {
///           s.bind(1, hash);
///           return s.step() ? std::optional(s.text(0)) : std::nullopt;
///       });
///   });
template <typename Work>
auto withPrepared(Database& db, Poco::Data::Session& session, const char* purpose, const std::string& sql,
                  Work&& work) {
    sqlite3* connection = Poco::Data::SQLite::Utility::dbHandle(session);
    StatementCache& cache = db.statements();
    bool kept = false;
    sqlite3_stmt* statement = cache.acquire(connection, sql, purpose, kept);
    struct Release {
        StatementCache& cache;
        sqlite3* connection;
        const std::string& sql;
        sqlite3_stmt* statement;
        bool kept;
        ~Release() { cache.release(connection, sql, statement, kept); }
    } const release{cache, connection, sql, statement, kept};
    CachedStatement lent(statement, purpose);
    return work(lent);
}

/// Binds `value` to the 1-based `position`: integers as integers, the rest (strings) as text.
template <typename Value>
void bindValue(CachedStatement& statement, int position, const Value& value) {
    if constexpr (std::is_integral_v<Value>) {
        statement.bind(position, static_cast<std::int64_t>(value));
    } else {
        statement.bind(position, std::string_view(value));
    }
}

/// Runs an INSERT, UPDATE or DELETE (`sql` as Database::sql gives it) with `values` bound to its placeholders in order;
/// the rows it changed. On SQLite through the statement cache (withPrepared), on PostgreSQL through Poco::Data.
template <typename... Values>
std::size_t executeCached(Database& db, Poco::Data::Session& session, const char* purpose, const std::string& sql,
                          const Values&... values) {
    if (db.isSqlite()) {
        return static_cast<std::size_t>(withPrepared(db, session, purpose, sql, [&](CachedStatement& statement) {
            int position = 1;
            (bindValue(statement, position++, values), ...);
            return statement.execute();
        }));
    }
    using Poco::Data::Keywords::bind;
    Poco::Data::Statement statement(session);
    statement << sql;
    (statement, ..., bind(values));
    return statement.execute();
}

/// The first of `records`, if any.
template <typename Record>
std::optional<Record> first(std::vector<Record>&& records) {
    if (records.empty()) return std::nullopt;
    return std::move(records.front());
}

}  // namespace taxdesk::connectors::detail

namespace taxdesk::connectors {

template <typename Work>
auto Database::withSession(const char* purpose, Work&& work) {
    if (Poco::Data::Session* bound = boundSession()) {
        // Inside this thread's StoreTransaction: its session, no retry (the transaction as a whole fails).
        try {
            return work(*bound);
        } catch (const Poco::Exception& error) {
            const std::string text = detail::oneLine(error.displayText());
            throw StoreError(backend_ + ": " + purpose + ": " + text, !isPermanentStoreFailure(text));
        }
    }
    for (int attempt = 1;; ++attempt) {
        try {
            if (!permits_->try_acquire_for(detail::kSessionWait)) {
                throw StoreError(detail::sessionsBusy(backend_, purpose, poolSize_));
            }
            const detail::PermitRelease release(*permits_);
            Poco::Data::Session session = pool_->get();  // back to the pool when it goes out of scope
            try {
                return work(session);
            } catch (const Poco::Exception&) {
                // A pooled connection the server dropped (restart, idle timeout) fails once, then reports itself
                // disconnected and the pool discards it. One retry on a fresh session is safe: upserts are
                // idempotent and reads harmless (only an insertToken whose commit reply was lost would then report a
                // duplicate).
                if (attempt == 1 && !session.isConnected()) continue;
                throw;
            }
        } catch (const Poco::Exception& error) {
            const std::string text = detail::oneLine(error.displayText());
            throw StoreError(backend_ + ": " + purpose + ": " + text, !isPermanentStoreFailure(text));
        }
    }
}

}  // namespace taxdesk::connectors
