#include "connectors/store/migrations.hpp"

#include <Poco/Data/Session.h>
#include <Poco/Data/Transaction.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Timestamp.h>

#include <chrono>
#include <set>
#include <thread>

namespace taxdesk::connectors::detail {
namespace {

using namespace Poco::Data::Keywords;

// Plain types only (TEXT, INTEGER) and ON CONFLICT upserts: the subset SQLite and PostgreSQL share. Timestamps are
// ISO 8601 text (utcNow()) so that both sort and compare them the same way.
const std::vector<Migration> kMigrations = {
    {1,
     "inquiry results by (batch, row); API tokens by hash",
     {
         "CREATE TABLE inquiry_results ("
         " batch_id TEXT NOT NULL,"
         " row_no INTEGER NOT NULL,"
         " debtor_id TEXT NOT NULL,"
         " status TEXT NOT NULL,"
         " reason TEXT NOT NULL DEFAULT '',"
         " payload TEXT NOT NULL,"
         " updated_at TEXT NOT NULL,"
         " PRIMARY KEY (batch_id, row_no))",
         "CREATE TABLE api_tokens ("
         " token_hash TEXT PRIMARY KEY,"
         " role TEXT NOT NULL,"
         " creditor_id TEXT NOT NULL DEFAULT '',"
         " created_at TEXT NOT NULL)",
     }},
};

std::set<int> appliedVersions(Poco::Data::Session& session) {
    std::vector<int> versions;
    session << "SELECT version FROM schema_migrations", into(versions), now;
    return {versions.begin(), versions.end()};
}

void createMigrationTable(Poco::Data::Session& session) {
    constexpr const char* kCreate =
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)";
    try {
        session << kCreate, now;
    } catch (const Poco::Exception&) {
        // PostgreSQL's IF NOT EXISTS is not atomic: a process creating the table at the same moment makes ours fail
        // on pg_type's unique index. By now that table exists; a real failure repeats.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        session << kCreate, now;
    }
}

}  // namespace

const std::vector<Migration>& migrations() {
    return kMigrations;
}

int latestSchemaVersion() {
    return kMigrations.back().version;
}

std::string placeholders(SqlBackend backend, std::string_view sql) {
    if (backend != SqlBackend::postgresql) return std::string(sql);
    std::string out;
    out.reserve(sql.size() + 16);
    int next = 1;
    char quote = '\0';  // inside '…' or "…" when set; a doubled quote inside just toggles twice, which is right
    for (const char c : sql) {
        if (quote != '\0') {
            if (c == quote) quote = '\0';
            out += c;
        } else if (c == '\'' || c == '"') {
            quote = c;
            out += c;
        } else if (c == '?') {
            out += '$';
            out += std::to_string(next++);
        } else {
            out += c;
        }
    }
    return out;
}

void applyMigrations(Poco::Data::Session& session, SqlBackend backend) {
    createMigrationTable(session);
    const std::string record =
        placeholders(backend, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)");
    std::set<int> applied = appliedVersions(session);
    for (const Migration& migration : kMigrations) {
        if (applied.count(migration.version) != 0) continue;
        Poco::Data::Transaction transaction(session);  // rolls back unless committed
        try {
            // The record goes first: it takes the write lock, so a concurrent opener waits here and then fails on
            // the primary key instead of failing half-way through the DDL.
            session << record, bind(migration.version), bind(utcNow()), now;
        } catch (const Poco::Exception&) {
            transaction.rollback();
            applied = appliedVersions(session);
            if (applied.count(migration.version) != 0) continue;  // another process applied it meanwhile
            throw;
        }
        for (const std::string_view statement : migration.statements) session << std::string(statement), now;
        transaction.commit();
        applied.insert(migration.version);
    }
}

int appliedSchemaVersion(Poco::Data::Session& session) {
    int version = 0;
    session << "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", into(version), now;
    return version;
}

std::string utcNow() {
    return Poco::DateTimeFormatter::format(Poco::Timestamp(), "%Y-%m-%dT%H:%M:%S.%iZ");
}

}  // namespace taxdesk::connectors::detail
