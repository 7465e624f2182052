// The SQL store on both backends: SQLite in a temporary folder, and the PostgreSQL server that scripts/test started
// (TAXDESK_TEST_POSTGRESQL). Batch ids and token hashes are unique per run, so a shared database is fine.
#include <Poco/Data/Session.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "connectors/store/migrations.hpp"
#include "connectors/store/store.hpp"
#include "connectors/store/store_internal.hpp"
#include "fixtures/store_backend.hpp"
#include "fixtures/test_env.hpp"

namespace taxdesk::connectors {
namespace {

using namespace Poco::Data::Keywords;

std::vector<StoredResult> makeResults(const std::string& batchId, int count, const std::string& status) {
    std::vector<StoredResult> results;
    results.reserve(static_cast<size_t>(count));
    for (int row = 1; row <= count; ++row) {
        const std::string debtor = "A1" + std::to_string(23456780 + row);
        results.push_back({batchId, row, debtor, status, status == "ok" ? "" : "registry timeout",
                           R"({"row":)" + std::to_string(row) + R"(,"name":"王小明","status":")" + status + "\"}"});
    }
    return results;
}

class StoreTest : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        backend_ = std::make_unique<testing::StoreBackend>(GetParam(), "store", "nested/data/taxdesk.db");
        settings_ = backend_->settings();
        batchId_ = testing::uniqueName("batch");
    }

    /// A plain Poco session on the same database, to look behind the store's API.
    [[nodiscard]] Poco::Data::Session rawSession() const {
        return settings_.backend == "sqlite" ? Poco::Data::Session("sqlite", settings_.sqlitePath)
                                             : Poco::Data::Session("postgresql", settings_.postgresql);
    }

    [[nodiscard]] std::vector<std::pair<int, std::string>> migrationRecords() const {
        Poco::Data::Session session = rawSession();
        std::vector<int> versions;
        std::vector<std::string> appliedAts;
        session << "SELECT version, applied_at FROM schema_migrations ORDER BY version", into(versions),
            into(appliedAts), now;
        std::vector<std::pair<int, std::string>> records;
        for (size_t i = 0; i < versions.size(); ++i) records.emplace_back(versions[i], appliedAts[i]);
        return records;
    }

    StoreSettings settings_;
    std::unique_ptr<testing::StoreBackend> backend_;
    std::string batchId_;
};

TEST_P(StoreTest, OpeningAppliesEveryMigration) {
    Store store(settings_);

    EXPECT_EQ(store.backend(), GetParam());
    EXPECT_EQ(store.schemaVersion(), detail::latestSchemaVersion());
    EXPECT_NO_THROW(store.ping());
    const auto records = migrationRecords();
    ASSERT_EQ(records.size(), detail::migrations().size());
    for (size_t i = 0; i < records.size(); ++i) {
        EXPECT_EQ(records[i].first, detail::migrations()[i].version);
        EXPECT_FALSE(records[i].second.empty());
    }
}

TEST_P(StoreTest, ReopeningIsANoOpAndKeepsTheData) {
    {
        Store store(settings_);
        store.results().upsertResults(makeResults(batchId_, 3, "ok"));
    }
    const auto recordsBefore = migrationRecords();

    Store reopened(settings_);

    EXPECT_EQ(reopened.schemaVersion(), detail::latestSchemaVersion());
    EXPECT_EQ(migrationRecords(), recordsBefore) << "a migration was applied again";
    EXPECT_EQ(reopened.results().resultsOfBatch(batchId_), makeResults(batchId_, 3, "ok"));
}

TEST_P(StoreTest, UpsertingABatchTwiceKeepsOneRowPerResultWithTheLatestValues) {
    Store store(settings_);

    store.results().upsertResults(makeResults(batchId_, 1000, "ok"));
    ASSERT_EQ(store.results().resultsOfBatch(batchId_).size(), 1000U);
    const auto changed = makeResults(batchId_, 1000, "error");
    store.results().upsertResults(changed);

    const auto stored = store.results().resultsOfBatch(batchId_);
    ASSERT_EQ(stored.size(), 1000U);
    EXPECT_EQ(stored, changed);
}

TEST_P(StoreTest, FindResultFindsOneRowOrNothing) {
    Store store(settings_);
    store.results().upsertResults(makeResults(batchId_, 5, "ok"));

    const auto found = store.results().findResult(batchId_, 4);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(*found, makeResults(batchId_, 5, "ok")[3]);
    EXPECT_EQ(found->reason, "") << "an empty text must stay empty, not become NULL";
    EXPECT_EQ(store.results().findResult(batchId_, 6), std::nullopt);
    EXPECT_EQ(store.results().findResult(batchId_ + "-other", 4), std::nullopt);
}

TEST_P(StoreTest, ResultsOfABatchComeInRowOrderAndOnlyThatBatch) {
    Store store(settings_);
    auto results = makeResults(batchId_, 20, "ok");
    std::reverse(results.begin(), results.end());
    store.results().upsertResults(results);
    store.results().upsertResults(makeResults(batchId_ + "-neighbour", 3, "ok"));

    const auto stored = store.results().resultsOfBatch(batchId_);

    ASSERT_EQ(stored.size(), 20U);
    for (size_t i = 0; i < stored.size(); ++i) EXPECT_EQ(stored[i].row, static_cast<int>(i) + 1);
    EXPECT_TRUE(store.results().resultsOfBatch(testing::uniqueName("unknown")).empty());
    EXPECT_NO_THROW(store.results().upsertResults({}));
}

TEST_P(StoreTest, TokensAreStoredByHash) {
    Store store(settings_);
    const std::string hash = testing::uniqueName("hash");
    store.tokens().insertToken({hash, "creditor", "C042", "2024-05-01T08:00:00.000Z"});
    store.tokens().insertToken({hash + "-ops", "ops", "", ""});

    const auto token = store.tokens().findToken(hash);
    ASSERT_TRUE(token.has_value());
    EXPECT_EQ(token->tokenHash, hash);
    EXPECT_EQ(token->role, "creditor");
    EXPECT_EQ(token->creditorId, "C042");
    EXPECT_EQ(token->createdAt, "2024-05-01T08:00:00.000Z");
    const auto ops = store.tokens().findToken(hash + "-ops");
    ASSERT_TRUE(ops.has_value());
    EXPECT_EQ(ops->creditorId, "");
    EXPECT_FALSE(ops->createdAt.empty()) << "an empty createdAt is stamped";
    EXPECT_EQ(store.tokens().findToken(hash + "-missing"), std::nullopt);
    try {
        store.tokens().insertToken({hash, "ops", "", ""});
        ADD_FAILURE() << "a token hash stored twice";
    } catch (const StoreError& error) {
        EXPECT_FALSE(error.isRetryable()) << "a duplicate key fails again on every retry: " << error.what();
        if (GetParam() == "postgresql") {
            EXPECT_NE(std::string(error.what()).find("23505"), std::string::npos)
                << "PostgreSQL's messages carry their SQLSTATE, whatever the server's language: " << error.what();
        }
    }
}

TEST_P(StoreTest, TokensHaveAnIdAnExpiryAndCanBeRevokedOnce) {
    Store store(settings_);
    const std::string hash = testing::uniqueName("hash");
    const std::string id = testing::uniqueName("id");
    store.tokens().insertToken(
        {hash, "creditor", "C7", "2026-11-01T08:00:00.000Z", id, "2027-01-01T00:00:00.000Z", ""});
    store.tokens().insertToken({hash + "-gw", "gateway", "", "2026-11-02T08:00:00.000Z", id + "-gw", "", ""});

    const auto token = store.tokens().findToken(hash);
    ASSERT_TRUE(token.has_value());
    EXPECT_EQ(token->tokenId, id);
    EXPECT_EQ(token->expiresAt, "2027-01-01T00:00:00.000Z");
    EXPECT_EQ(token->revokedAt, "");
    const auto listed = store.tokens().listTokens();
    const auto creditor = std::find_if(listed.begin(), listed.end(), [&](const auto& t) { return t.tokenId == id; });
    const auto gateway =
        std::find_if(listed.begin(), listed.end(), [&](const auto& t) { return t.tokenId == id + "-gw"; });
    ASSERT_NE(creditor, listed.end());
    ASSERT_NE(gateway, listed.end());
    EXPECT_LT(creditor, gateway) << "oldest first";
    EXPECT_EQ(creditor->role, "creditor");
    EXPECT_EQ(creditor->creditorId, "C7");
    EXPECT_EQ(gateway->expiresAt, "") << "no expiry";

    EXPECT_EQ(store.tokens().revokeToken(id, "2026-12-01T09:00:00.000Z"), RevokeOutcome::revoked);
    EXPECT_EQ(store.tokens().findToken(hash)->revokedAt, "2026-12-01T09:00:00.000Z");
    EXPECT_EQ(store.tokens().revokeToken(id, "2026-12-01T10:00:00.000Z"), RevokeOutcome::alreadyRevoked);
    EXPECT_EQ(store.tokens().findToken(hash)->revokedAt, "2026-12-01T09:00:00.000Z") << "the first revocation stays";
    EXPECT_EQ(store.tokens().findToken(hash + "-gw")->revokedAt, "") << "only the token named";
    EXPECT_EQ(store.tokens().revokeToken(testing::uniqueName("no-such-id")), RevokeOutcome::unknown);
    EXPECT_EQ(store.tokens().revokeToken(id + "-gw"), RevokeOutcome::revoked);
    EXPECT_FALSE(store.tokens().findToken(hash + "-gw")->revokedAt.empty()) << "an empty revokedAt is stamped";
    try {
        store.tokens().insertToken({hash + "-other", "ops", "", "", id, "", ""});
        ADD_FAILURE() << "a token id stored twice";
    } catch (const StoreError& error) {
        EXPECT_FALSE(error.isRetryable()) << error.what();
    }
}

TEST(StoreMigrations, VersionSixGivesTheTokensMadeBeforeTheirHashPrefixAsIdAndNoExpiry) {
    const std::string dir = testing::tempDir("migration6");
    StoreSettings settings;
    settings.sqlitePath = dir + "/taxdesk.db";
    { Store registersTheConnector(StoreSettings{"sqlite", dir + "/other.db", "", 1}); }
    const std::string hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    {
        // A database as version 5 left it, with a token made then.
        Poco::Data::Session session("sqlite", settings.sqlitePath);
        session << "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)", now;
        for (const auto& migration : detail::migrations()) {
            if (migration.version > 5) break;
            for (const auto statement : migration.statements) session << std::string(statement), now;
            session << "INSERT INTO schema_migrations VALUES (" + std::to_string(migration.version) + ", 'then')", now;
        }
        session << "INSERT INTO api_tokens (token_hash, role, creditor_id, created_at)"
                   " VALUES ('" +
                       hash + "', 'ops', '', '2026-01-01T00:00:00.000Z')",
            now;
    }
    Store store(settings);
    const auto token = store.tokens().findToken(hash);
    ASSERT_TRUE(token.has_value());
    EXPECT_EQ(token->tokenId, "0123456789ab");
    EXPECT_EQ(token->expiresAt, "") << "a token made before never expires";
    EXPECT_EQ(token->revokedAt, "");
    EXPECT_EQ(store.tokens().revokeToken("0123456789ab"), RevokeOutcome::revoked);
    std::filesystem::remove_all(dir);
}

TEST(StoreErrors, ConstraintViolationsArePermanentWhileLocksAndLostConnectionsPass) {
    // The backends' own texts (SQLite through Poco, libpq).
    EXPECT_TRUE(isPermanentStoreFailure("Constraint violation: UNIQUE constraint failed: tokens.token_hash"));
    EXPECT_TRUE(isPermanentStoreFailure(
        "ERROR: duplicate key value violates unique constraint \"tokens_pkey\" DETAIL: Key (token_hash)=(x)"));
    EXPECT_TRUE(isPermanentStoreFailure("ERROR: null value in column \"msisdn\" violates not-null constraint"));
    EXPECT_TRUE(isPermanentStoreFailure("ERROR: invalid input syntax for type integer: \"x\""));
    EXPECT_TRUE(isPermanentStoreFailure("datatype mismatch"));
    EXPECT_TRUE(isPermanentStoreFailure("batch B1: state 'archived' is not a known value"));
    EXPECT_FALSE(isPermanentStoreFailure("database is locked"));
    EXPECT_FALSE(isPermanentStoreFailure("server closed the connection unexpectedly"));
    EXPECT_FALSE(isPermanentStoreFailure("could not connect to server: Connection refused"));
    // PostgreSQL's SQLSTATE decides, in any language the server speaks (a zh_TW server words them in Chinese).
    EXPECT_TRUE(isPermanentStoreFailure("postgresql: ERROR:  23505: 重複的鍵值違反唯一限制 \"tokens_pkey\""));
    EXPECT_TRUE(isPermanentStoreFailure("ERROR:  22P02: ungültige Eingabesyntax für Typ integer"));
    EXPECT_TRUE(isPermanentStoreFailure("ERROR:  42P01: relation \"nope\" does not exist"));
    EXPECT_FALSE(isPermanentStoreFailure("ERROR:  40P01: 偵測到死結"));
    EXPECT_FALSE(isPermanentStoreFailure("ERROR:  40001: could not serialize access due to concurrent update"));
    EXPECT_FALSE(isPermanentStoreFailure("FATAL:  57P01: terminating connection due to administrator command"));
    EXPECT_FALSE(isPermanentStoreFailure("ERROR:  53300: sorry, too many clients already"));
    EXPECT_TRUE(StoreError("x").isRetryable()) << "retryable unless said otherwise";
}

TEST_P(StoreTest, ConcurrentWritersShareASmallPool) {
    settings_.poolSize = 2;
    Store store(settings_);

    std::vector<std::string> errors(6);
    std::vector<std::thread> writers;
    writers.reserve(errors.size());
    for (size_t w = 0; w < errors.size(); ++w) {
        writers.emplace_back([&, w] {
            try {
                for (int round = 0; round < 5; ++round) {
                    store.results().upsertResults(makeResults(batchId_ + "-" + std::to_string(w), 50, "ok"));
                }
            } catch (const std::exception& error) {
                errors[w] = error.what();
            }
        });
    }
    for (auto& writer : writers) writer.join();

    for (size_t w = 0; w < errors.size(); ++w) {
        EXPECT_EQ(errors[w], "") << "writer " << w;
        EXPECT_EQ(store.results().resultsOfBatch(batchId_ + "-" + std::to_string(w)).size(), 50U);
    }
}

// Issue 12: on PostgreSQL every session of the store has the configured statement_timeout (60 s by default), so a
// query that runs on is cancelled by the server: a retryable StoreError carrying SQLSTATE 57014, the session usable
// after. SQLite has no such setting; there the key changes nothing.
TEST_P(StoreTest, AStatementRunningLongerThanTheStatementTimeoutIsCancelledAsARetryableError) {
    if (settings_.backend != "postgresql") {
        settings_.statementTimeoutMs = 1;
        Store store(settings_);
        store.results().upsertResults(makeResults(batchId_, 3, "ok"));
        EXPECT_EQ(store.results().resultsOfBatch(batchId_).size(), 3U);
        return;
    }
    const auto timeoutOf = [](Store& store) {
        return store.database().withSession("reading the statement timeout", [](Poco::Data::Session& session) {
            std::string value;
            session << "SHOW statement_timeout", into(value), now;
            return value;
        });
    };
    {
        Store store(settings_);  // the default
        EXPECT_EQ(timeoutOf(store), "1min");
    }
    {
        settings_.statementTimeoutMs = 0;
        Store store(settings_);
        EXPECT_EQ(timeoutOf(store), "0");
    }
    settings_.statementTimeoutMs = 200;
    Store store(settings_);
    EXPECT_EQ(timeoutOf(store), "200ms");
    try {
        store.database().withSession("sleeping", [](Poco::Data::Session& session) {
            session << "SELECT pg_sleep(60)", now;  // cancelled after 200 ms, long before it would end
        });
        ADD_FAILURE() << "pg_sleep(60) was not cancelled";
    } catch (const StoreError& error) {
        EXPECT_TRUE(error.isRetryable()) << error.what();
        EXPECT_NE(std::string(error.what()).find("57014"), std::string::npos) << error.what();
    }
    // The session went back to the pool in working order, and the store works on.
    EXPECT_EQ(timeoutOf(store), "200ms");
    store.results().upsertResults(makeResults(batchId_, 3, "ok"));
    EXPECT_EQ(store.results().resultsOfBatch(batchId_).size(), 3U);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

// SQLite only: a fresh database is cheap to make there, while the PostgreSQL test database is shared and migrated.
TEST(StoreSqlite, SeveralStoresOpeningAFreshDatabaseAtOnceAllSucceed) {
    testing::StoreBackend backend("sqlite", "store-race");
    const StoreSettings settings = backend.settings();

    std::vector<std::string> errors(4);
    std::vector<std::thread> openers;
    openers.reserve(errors.size());
    for (std::string& error : errors) {
        openers.emplace_back([&settings, &error] {
            try {
                Store store(settings);
            } catch (const std::exception& exception) {
                error = exception.what();
            }
        });
    }
    for (auto& opener : openers) opener.join();

    for (const auto& error : errors) EXPECT_EQ(error, "");
    EXPECT_EQ(Store(settings).schemaVersion(), detail::latestSchemaVersion());
}

TEST(StoreSqlite, SessionsUseWriteAheadLogging) {
    testing::StoreBackend backend("sqlite", "store-wal");
    const StoreSettings settings = backend.settings();
    Store store(settings);

    // journal_mode=WAL is recorded in the file, so a separate connection sees what the store's sessions set.
    Poco::Data::Session session("sqlite", settings.sqlitePath);
    std::string mode;
    session << "PRAGMA journal_mode", into(mode), now;
    EXPECT_EQ(mode, "wal");
}

TEST(StoreSqlite, ANewDatabaseGetsLargePagesAndOneThatExistsKeepsItsOwn) {
    // A new file: created with kSqlitePageSize (issue 11), recorded in the file, so a separate connection sees it.
    testing::StoreBackend fresh("sqlite", "store-pages-new");
    const StoreSettings settings = fresh.settings();
    {
        Store store(settings);
        store.ping();
    }
    int pageSize = 0;
    {
        Poco::Data::Session session("sqlite", settings.sqlitePath);
        session << "PRAGMA page_size", into(pageSize), now;
    }
    EXPECT_EQ(pageSize, kSqlitePageSize);
    static_assert(kSqlitePageSize != 4096, "the test would not tell the new size from SQLite's default");

    // A database made before (SQLite's default 4 KiB, already in WAL mode with a table in it): the store opens it,
    // migrates it and works in it, and its pages stay as they were.
    testing::StoreBackend old("sqlite", "store-pages-old");
    const StoreSettings oldSettings = old.settings();
    {
        Poco::Data::Session session("sqlite", oldSettings.sqlitePath);
        session << "PRAGMA page_size=4096", now;
        session << "PRAGMA journal_mode=WAL", now;
        session << "CREATE TABLE made_before (id INTEGER PRIMARY KEY)", now;
    }
    {
        Store store(oldSettings);
        EXPECT_EQ(store.schemaVersion(), detail::latestSchemaVersion());
        store.results().upsertResults({{"B-PAGES", 1, "A123456789", "found", "", "{}"}});
        EXPECT_EQ(store.results().resultsOfBatch("B-PAGES").size(), 1U);
    }
    {
        Poco::Data::Session session("sqlite", oldSettings.sqlitePath);
        session << "PRAGMA page_size", into(pageSize), now;
    }
    EXPECT_EQ(pageSize, 4096);
}

TEST(StorePostgresql, PooledConnectionsTheServerDroppedAreReplacedOnTheNextCall) {
    // application_name marks this test's connections, so that only they are terminated on the shared server.
    const std::string application = testing::uniqueName("store_test");
    StoreSettings settings;
    settings.backend = "postgresql";
    settings.postgresql = testing::postgresql() + " application_name=" + application;
    settings.poolSize = 2;
    Store store(settings);
    store.ping();

    Poco::Data::Session admin("postgresql", testing::postgresql());
    std::vector<bool> terminated;
    admin << "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" + application + "'",
        into(terminated), now;
    ASSERT_FALSE(terminated.empty()) << "no connection of the store found";

    EXPECT_NO_THROW(store.ping());
    EXPECT_NO_THROW(store.results().resultsOfBatch("none"));
}

TEST(StoreErrors, AnUnreachablePostgresqlThrowsStoreError) {
    // The configured server's address with a port nobody listens on (1 is reserved and closed on test machines).
    StoreSettings settings;
    settings.backend = "postgresql";
    settings.postgresql = "host=127.0.0.1 port=1 dbname=taxdesk user=postgres";
    try {
        Store store(settings);
        FAIL() << "opening an unreachable PostgreSQL succeeded";
    } catch (const StoreError& error) {
        EXPECT_TRUE(error.isRetryable());
        const std::string message = error.what();
        EXPECT_NE(message.find("postgresql"), std::string::npos) << message;
        EXPECT_NE(message.find("applying migrations"), std::string::npos) << message;
    }
}

TEST(StoreErrors, AnUnknownBackendIsRejected) {
    StoreSettings settings;
    settings.backend = "oracle";
    EXPECT_THROW(Store store(settings), std::invalid_argument);
}

TEST(StorePlaceholders, PostgresqlGetsNumberedMarkersOutsideQuotes) {
    using detail::placeholders;
    using detail::SqlBackend;
    EXPECT_EQ(placeholders(SqlBackend::postgresql, "SELECT a FROM t WHERE b = ? AND c = '?' AND \"d?\" = ?"),
              "SELECT a FROM t WHERE b = $1 AND c = '?' AND \"d?\" = $2");
    EXPECT_EQ(placeholders(SqlBackend::postgresql, "VALUES ('it''s ?', ?)"), "VALUES ('it''s ?', $1)");
    EXPECT_EQ(placeholders(SqlBackend::sqlite, "VALUES (?, ?)"), "VALUES (?, ?)");
}

}  // namespace
}  // namespace taxdesk::connectors
