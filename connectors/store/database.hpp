#pragma once
// The SQL database every store area shares: one pool of Poco::Data sessions over SQLite (default) or PostgreSQL, the
// migrations applied on open, and the errors a statement can end in. The areas (results, batches, payments, tokens,
// SMS) are narrow interfaces implemented over one Database.
#include <functional>
#include <memory>
#include <mutex>
#include <semaphore>
#include <string>
#include <string_view>

#include "connectors/api/errors.hpp"
#include "connectors/store/notification_store.hpp"

namespace Poco::Data {
class Session;
class SessionPool;
}  // namespace Poco::Data

namespace taxdesk::connectors {

namespace detail {
class StatementCache;
}  // namespace detail

/// The page size a new SQLite database is created with (issue 11: half the WAL frames of SQLite's 4 KiB for the same
/// rows). A database that exists keeps the size it was created with.
constexpr int kSqlitePageSize = 8192;

struct StoreSettings {
    std::string backend = "sqlite";  ///< sqlite | postgresql
    std::string sqlitePath = "var/taxdesk.db";
    std::string postgresql;  ///< libpq connection string, e.g. "host=127.0.0.1 port=5433 dbname=taxdesk user=taxdesk"
                             ///< (connect_timeout=5 is added when it names none)
    int poolSize = 8;        ///< sessions at most; a call waits up to 30 s for a free one
    /// PostgreSQL only: the server cancels any statement of the engine's sessions that runs longer (its
    /// statement_timeout; the error, SQLSTATE 57014, is a retryable StoreError), so that no stuck query holds a
    /// session, or an engine that waits on it, for ever (issue 12). 0: no limit. Migrations run without it.
    int statementTimeoutMs = 60000;
};

/// A statement failed. Retryable (the default) when the reason may pass: the store cannot be reached, is locked or
/// busy, the connection was lost. Not retryable when the same statement would fail again: a constraint violation
/// (unique, check, not null, foreign key) or a value the column refuses (isPermanentStoreFailure).
class StoreError : public ConnectorError {
  public:
    explicit StoreError(const std::string& what, bool retryable = true) : ConnectorError("store: " + what, retryable) {}
};

/// True when a backend's error text (SQLite's or PostgreSQL's) says the statement itself is refused, so that trying it
/// again cannot help: a constraint violation or a value of the wrong type or form.
bool isPermanentStoreFailure(std::string_view backendMessage);

/// Thread-safe: each call leases a session from the pool, waiting while all are in use.
class Database {
  public:
    /// Opens the database (creating the SQLite file and its folder when needed) and applies every migration not yet
    /// applied, each in its own transaction. Throws StoreError, and std::invalid_argument for an unknown backend or a
    /// pool size below 1.
    explicit Database(const StoreSettings& settings);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    /// The highest migration applied.
    int schemaVersion();
    /// A trivial query; throws StoreError when the store is unreachable.
    void ping();

    [[nodiscard]] const std::string& backend() const { return backend_; }
    [[nodiscard]] bool isSqlite() const;
    [[nodiscard]] int poolSize() const { return poolSize_; }

    /// The statement text for this backend (`?` placeholders become `$n` on PostgreSQL).
    [[nodiscard]] std::string sql(std::string_view text) const;

    /// Leases a pooled session (waiting while all are in use), runs `work` with it and turns Poco's exceptions into
    /// StoreError naming the backend and `purpose`. Defined in database_internal.hpp, for the store's own sources.
    template <typename Work>
    auto withSession(const char* purpose, Work&& work);

    /// For a writer that keeps one session across calls (BatchWriter): the pool and the permits that bound it.
    [[nodiscard]] Poco::Data::SessionPool& pool() { return *pool_; }
    [[nodiscard]] std::counting_semaphore<>& permits() { return *permits_; }

    /// The session of this thread's open StoreTransaction on this database, if any: withSession() then runs its work
    /// on it, inside that transaction.
    [[nodiscard]] Poco::Data::Session* boundSession() const;

    /// SQLite only (null on PostgreSQL): the one writer of this process at a time. SQLite lets one connection write;
    /// the others wait in its busy handler, which sleeps 1, 2, 5 … up to 100 ms between tries instead of being woken
    /// when the lock is free (issue 11: the SMS API's inbox writes and the SMS stage's batches queued behind each
    /// other for seconds that way). StoreTransaction takes it on SQLite; a WriteTransaction given it takes it too.
    /// Always after a pooled session (a permit), never the other way round, and waited for at most kWriterWait
    /// (store_internal.hpp), as long as SQLite's busy timeout: then a retryable StoreError, so that callers holding
    /// pooled sessions do not queue on it without limit.
    [[nodiscard]] std::timed_mutex* sqliteWriter() { return isSqlite() ? &sqliteWriter_ : nullptr; }

    /// SQLite only: the prepared statements kept per pooled connection (detail::withPrepared in store_internal.hpp).
    [[nodiscard]] detail::StatementCache& statements() { return *statements_; }

    /// Issue 13 (the completion's outbox): `listener` is told of the batch-done notifications a store call recorded,
    /// after the transaction that recorded them committed (never inside it, never for a rolled-back one), on the
    /// calling thread; it must not throw or block for long. The engine produces them to notifications.outbound at
    /// once; the scheduler's sweep of queued notifications stays the safety net (and is the only way for a call made
    /// inside a StoreTransaction, which is not told). Thread-safe; replaces any listener set before.
    void onOutboxCommitted(std::function<void(const std::vector<NotificationRecord>&)> listener);
    /// Tells the listener (if any) of `recorded` (nothing when empty). For the store's own sources.
    void outboxCommitted(const std::vector<NotificationRecord>& recorded) const;

  private:
    mutable std::mutex outboxMutex_;
    std::shared_ptr<const std::function<void(const std::vector<NotificationRecord>&)>> outboxListener_;
    std::string backend_;
    int poolSize_ = 0;
    std::unique_ptr<Poco::Data::SessionPool> pool_;
    /// Poco's SessionPool throws at once when exhausted; callers should wait for a session instead.
    std::unique_ptr<std::counting_semaphore<>> permits_;
    std::timed_mutex sqliteWriter_;
    /// Declared after pool_, so destroyed before it: every cached statement is finalized before the pool closes its
    /// connections.
    std::unique_ptr<detail::StatementCache> statements_;
};

/// One transaction, on one leased session, for every store call this thread makes on `db` while it is open (issue 11:
/// the SMS stage records a poll batch's outcomes, and the sender marks a batch's sends, in one commit instead of one
/// each). A call that opens a transaction of its own (detail::WriteTransaction) gets a savepoint in it instead, so its
/// all-or-nothing holds as before. On SQLite it begins IMMEDIATE: it takes the write lock at once (waiting out the busy
/// timeout), so its reads and writes never meet another writer's commit half-way. Keep it short and free of network
/// calls: on SQLite every other writer waits for it. Not copyable; one per thread at a time. Throws StoreError.
class StoreTransaction {
  public:
    explicit StoreTransaction(Database& db);
    /// Rolls back unless committed.
    ~StoreTransaction();
    StoreTransaction(const StoreTransaction&) = delete;
    StoreTransaction& operator=(const StoreTransaction&) = delete;

    /// Commits; the calls made since the start are durable together. Throws StoreError (then nothing is).
    void commit();

  private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace taxdesk::connectors
