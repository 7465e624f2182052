#pragma once
// The SQL store, the record of work: Poco::Data over SQLite (default) or PostgreSQL, one code path.
#include <memory>
#include <optional>
#include <semaphore>
#include <string>
#include <vector>

#include "connectors/api/errors.hpp"

namespace Poco::Data {
class SessionPool;
}

namespace taxdesk::connectors {

struct StoreSettings {
    std::string backend = "sqlite";  ///< sqlite | postgresql
    std::string sqlitePath = "var/taxdesk.db";
    std::string postgresql;  ///< libpq connection string, e.g. "host=127.0.0.1 port=5433 dbname=taxdesk user=taxdesk"
                             ///< (connect_timeout=5 is added when it names none)
    int poolSize = 8;        ///< sessions at most; a call waits up to 30 s for a free one
};

/// The store cannot be reached or a statement failed for a reason that may pass (locked, connection lost).
class StoreError : public TransientError {
  public:
    explicit StoreError(const std::string& what) : TransientError("store: " + what) {}
};

/// One inquiry result as the store keeps it; `payload` is its JSON form (SPEC 3.3).
struct StoredResult {
    std::string batchId;
    int row = 0;
    std::string debtorId;
    std::string status;
    std::string reason;
    std::string payload;

    bool operator==(const StoredResult&) const = default;
};

struct TokenRecord {
    std::string tokenHash;   ///< hex SHA-256 of the token; the token itself is never stored
    std::string role;        ///< creditor | gateway | counter | ops
    std::string creditorId;  ///< set for role creditor
    std::string createdAt;
};

/// Thread-safe: each call takes a session from a pool. Every call throws StoreError when the store fails; the message
/// names the backend and what the call was doing.
class Store {
  public:
    /// Opens the store (creating the SQLite file and its folder when needed) and applies every migration not yet
    /// applied, each in its own transaction. Throws StoreError, and std::invalid_argument for an unknown backend or a
    /// pool size below 1.
    explicit Store(const StoreSettings& settings);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    /// The highest migration applied.
    int schemaVersion();
    /// A trivial query; throws StoreError when the store is unreachable.
    void ping();

    /// Inserts or replaces results by (batch_id, row), all in one transaction (one prepared statement executed per
    /// result), so a replayed batch changes nothing. Stamps updated_at.
    void upsertResults(const std::vector<StoredResult>& results);
    std::optional<StoredResult> findResult(const std::string& batchId, int row);
    /// Results of one batch in row order.
    std::vector<StoredResult> resultsOfBatch(const std::string& batchId);

    /// Throws StoreError when the hash is already stored. An empty createdAt is stamped with the current time.
    void insertToken(const TokenRecord& token);
    std::optional<TokenRecord> findToken(const std::string& tokenHash);

    [[nodiscard]] const std::string& backend() const { return backend_; }

  private:
    /// Leases a pooled session (waiting while all are in use), runs `work` with it and turns Poco's exceptions into
    /// StoreError naming the backend and `purpose`. Defined and used in store.cpp only.
    template <typename Work>
    auto withSession(const char* purpose, Work&& work);
    /// The statement text for this backend (`?` placeholders become `$n` on PostgreSQL).
    [[nodiscard]] std::string sql(const char* text) const;

    std::string backend_;
    int poolSize_ = 0;
    std::unique_ptr<Poco::Data::SessionPool> pool_;
    /// Poco's SessionPool throws at once when exhausted; callers should wait for a session instead.
    std::unique_ptr<std::counting_semaphore<>> permits_;
};

}  // namespace taxdesk::connectors
