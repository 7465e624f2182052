#include "connectors/store/store.hpp"

#include <Poco/Data/PostgreSQL/Connector.h>
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>
#include <Poco/Data/Transaction.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#include "connectors/store/migrations.hpp"

namespace taxdesk::connectors {
namespace {

using namespace Poco::Data::Keywords;
using detail::SqlBackend;

constexpr const char* kSqlite = "sqlite";
constexpr const char* kPostgresql = "postgresql";
constexpr auto kSessionWait = std::chrono::seconds(30);
constexpr int kSessionIdleSeconds = 60;

void registerConnectors() {
    static std::once_flag once;
    std::call_once(once, [] {
        Poco::Data::SQLite::Connector::registerConnector();
        Poco::Data::PostgreSQL::Connector::registerConnector();
    });
}

/// Applies the per-connection settings to every session the pool creates (the pool calls this once per session).
class ConfiguredPool : public Poco::Data::SessionPool {
  public:
    ConfiguredPool(const std::string& connector, const std::string& connection, int maxSessions)
        : SessionPool(connector, connection, 1, maxSessions, kSessionIdleSeconds), sqlite_(connector == kSqlite) {}

  protected:
    void customizeSession(Poco::Data::Session& session) override {
        if (!sqlite_) {
            // libpq prints NOTICEs ("relation … already exists, skipping") straight to stderr; they are not errors.
            session << "SET client_min_messages = warning", now;
            return;
        }
        // WAL lets readers run while one writer commits; NORMAL is durable across process crashes in WAL mode (only
        // an OS crash can lose the last commits); the busy timeout makes concurrent writers wait instead of failing.
        session << "PRAGMA journal_mode=WAL", now;
        session << "PRAGMA synchronous=NORMAL", now;
        session << "PRAGMA busy_timeout=5000", now;
    }

  private:
    bool sqlite_;
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

/// libpq's messages span several indented lines; a log line should not.
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

class PermitRelease {
  public:
    explicit PermitRelease(std::counting_semaphore<>& permits) : permits_(permits) {}
    ~PermitRelease() { permits_.release(); }
    PermitRelease(const PermitRelease&) = delete;
    PermitRelease& operator=(const PermitRelease&) = delete;

  private:
    std::counting_semaphore<>& permits_;
};

/// Column-wise copies of results: Poco binds one vector per placeholder and executes the statement once per element.
struct ResultColumns {
    std::vector<std::string> batchIds;
    std::vector<int> rows;
    std::vector<std::string> debtorIds;
    std::vector<std::string> statuses;
    std::vector<std::string> reasons;
    std::vector<std::string> payloads;

    [[nodiscard]] std::vector<StoredResult> toResults() const {
        std::vector<StoredResult> results;
        results.reserve(batchIds.size());
        for (size_t i = 0; i < batchIds.size(); ++i) {
            results.push_back({batchIds[i], rows[i], debtorIds[i], statuses[i], reasons[i], payloads[i]});
        }
        return results;
    }
};

}  // namespace

template <typename Work>
auto Store::withSession(const char* purpose, Work&& work) {
    for (int attempt = 1;; ++attempt) {
        try {
            if (!permits_->try_acquire_for(kSessionWait)) {
                throw StoreError(backend_ + ": " + purpose + ": all " + std::to_string(poolSize_) +
                                 " sessions stayed busy for " + std::to_string(kSessionWait.count()) +
                                 " s (hint: raise store.pool_size)");
            }
            const PermitRelease release(*permits_);
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
            throw StoreError(backend_ + ": " + purpose + ": " + oneLine(error.displayText()));
        }
    }
}

std::string Store::sql(const char* text) const {
    return detail::placeholders(sqlBackend(backend_), text);
}

Store::Store(const StoreSettings& settings) : backend_(settings.backend), poolSize_(settings.poolSize) {
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
        pool_ = std::make_unique<ConfiguredPool>(backend_, connection, poolSize_);
    } catch (const Poco::Exception& error) {
        throw StoreError(backend_ + ": creating the session pool: " + oneLine(error.displayText()));
    }
    permits_ = std::make_unique<std::counting_semaphore<>>(poolSize_);

    withSession("applying migrations",
                [&](Poco::Data::Session& session) { detail::applyMigrations(session, sqlBackend(backend_)); });
}

Store::~Store() = default;

int Store::schemaVersion() {
    return withSession("reading the schema version",
                       [](Poco::Data::Session& session) { return detail::appliedSchemaVersion(session); });
}

void Store::ping() {
    withSession("ping", [](Poco::Data::Session& session) {
        int one = 0;
        session << "SELECT 1", into(one), now;
    });
}

void Store::upsertResults(const std::vector<StoredResult>& results) {
    if (results.empty()) return;  // Poco refuses to bind empty vectors
    ResultColumns columns;
    for (const StoredResult& result : results) {
        columns.batchIds.push_back(result.batchId);
        columns.rows.push_back(result.row);
        columns.debtorIds.push_back(result.debtorId);
        columns.statuses.push_back(result.status);
        columns.reasons.push_back(result.reason);
        columns.payloads.push_back(result.payload);
    }
    std::vector<std::string> updatedAts(results.size(), detail::utcNow());
    const std::string statement =
        sql("INSERT INTO inquiry_results (batch_id, row_no, debtor_id, status, reason, payload, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (batch_id, row_no) DO UPDATE SET debtor_id = excluded.debtor_id, status = excluded.status,"
            " reason = excluded.reason, payload = excluded.payload, updated_at = excluded.updated_at");

    withSession("upserting results", [&](Poco::Data::Session& session) {
        Poco::Data::Transaction transaction(session);  // rolls back unless committed
        // One prepared statement, executed once per vector element: the statement is parsed and planned once.
        Poco::Data::Statement upsert(session);
        upsert << statement, use(columns.batchIds), use(columns.rows), use(columns.debtorIds), use(columns.statuses),
            use(columns.reasons), use(columns.payloads), use(updatedAts);
        upsert.execute();
        transaction.commit();
    });
}

std::optional<StoredResult> Store::findResult(const std::string& batchId, int row) {
    const std::string statement =
        sql("SELECT batch_id, row_no, debtor_id, status, reason, payload FROM inquiry_results"
            " WHERE batch_id = ? AND row_no = ?");
    return withSession("finding a result", [&](Poco::Data::Session& session) -> std::optional<StoredResult> {
        ResultColumns columns;
        session << statement, into(columns.batchIds), into(columns.rows), into(columns.debtorIds),
            into(columns.statuses), into(columns.reasons), into(columns.payloads), bind(batchId), bind(row), now;
        if (columns.batchIds.empty()) return std::nullopt;
        return columns.toResults().front();
    });
}

std::vector<StoredResult> Store::resultsOfBatch(const std::string& batchId) {
    const std::string statement =
        sql("SELECT batch_id, row_no, debtor_id, status, reason, payload FROM inquiry_results"
            " WHERE batch_id = ? ORDER BY row_no");
    return withSession("reading a batch's results", [&](Poco::Data::Session& session) {
        ResultColumns columns;
        session << statement, into(columns.batchIds), into(columns.rows), into(columns.debtorIds),
            into(columns.statuses), into(columns.reasons), into(columns.payloads), bind(batchId), now;
        return columns.toResults();
    });
}

void Store::insertToken(const TokenRecord& token) {
    const std::string statement =
        sql("INSERT INTO api_tokens (token_hash, role, creditor_id, created_at) VALUES (?, ?, ?, ?)");
    const std::string createdAt = token.createdAt.empty() ? detail::utcNow() : token.createdAt;
    withSession("inserting a token", [&](Poco::Data::Session& session) {
        session << statement, bind(token.tokenHash), bind(token.role), bind(token.creditorId), bind(createdAt), now;
    });
}

std::optional<TokenRecord> Store::findToken(const std::string& tokenHash) {
    const std::string statement =
        sql("SELECT token_hash, role, creditor_id, created_at FROM api_tokens WHERE token_hash = ?");
    return withSession("finding a token", [&](Poco::Data::Session& session) -> std::optional<TokenRecord> {
        std::vector<std::string> hashes;
        std::vector<std::string> roles;
        std::vector<std::string> creditorIds;
        std::vector<std::string> createdAts;
        session << statement, into(hashes), into(roles), into(creditorIds), into(createdAts), bind(tokenHash), now;
        if (hashes.empty()) return std::nullopt;
        return TokenRecord{hashes.front(), roles.front(), creditorIds.front(), createdAts.front()};
    });
}

}  // namespace taxdesk::connectors
