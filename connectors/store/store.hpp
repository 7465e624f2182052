#pragma once
// The SQL store, the record of work: Poco::Data over SQLite (default) or PostgreSQL, one code path.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connectors/api/errors.hpp"

namespace Poco::Data {
class SessionPool;
}

namespace taxdesk::connectors {

struct StoreSettings {
    std::string backend = "sqlite";     ///< sqlite | postgresql
    std::string sqlitePath = "var/taxdesk.db";
    std::string postgresql;             ///< libpq connection string, e.g. "host=127.0.0.1 port=5433 dbname=taxdesk user=taxdesk"
    int poolSize = 8;
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
    std::string tokenHash;  ///< hex SHA-256 of the token; the token itself is never stored
    std::string role;       ///< creditor | gateway | counter | ops
    std::string creditorId; ///< set for role creditor
    std::string createdAt;
};

/// Thread-safe: each call takes a session from a pool.
class Store {
public:
    /// Opens the store (creating the SQLite file and its folder when needed) and applies every migration not yet
    /// applied, each in its own transaction. Throws StoreError.
    explicit Store(const StoreSettings& settings);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    /// The highest migration applied.
    int schemaVersion();
    /// A trivial query; throws StoreError when the store is unreachable.
    void ping();

    /// Inserts or replaces results by (batch_id, row), all in one transaction.
    void upsertResults(const std::vector<StoredResult>& results);
    std::optional<StoredResult> findResult(const std::string& batchId, int row);
    /// Results of one batch in row order.
    std::vector<StoredResult> resultsOfBatch(const std::string& batchId);

    void insertToken(const TokenRecord& token);
    std::optional<TokenRecord> findToken(const std::string& tokenHash);

    [[nodiscard]] const std::string& backend() const { return backend_; }

private:
    std::string backend_;
    std::unique_ptr<Poco::Data::SessionPool> pool_;
};

}  // namespace taxdesk::connectors
