// The SQLite statement cache of connectors/store (detail::StatementCache, detail::withPrepared): a statement compiled
// once per pooled connection and reused gives the same results as a fresh one, its bindings do not leak into the next
// use, a schema change and a closed connection are safe, errors are StoreErrors. SQLite in a temporary folder only.
#include <Poco/Data/Session.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "connectors/store/database.hpp"
#include "connectors/store/sql_result_store.hpp"
#include "connectors/store/store_internal.hpp"

namespace taxdesk::connectors {
namespace {

using namespace Poco::Data::Keywords;

class StatementCacheTest : public ::testing::Test {
  protected:
    void SetUp() override {
        folder_ = std::filesystem::temp_directory_path() /
                  ("taxdesk-statement-cache-" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(folder_);
        StoreSettings settings;
        settings.sqlitePath = (folder_ / "taxdesk.db").string();
        settings.poolSize = 2;
        db_ = std::make_unique<Database>(settings);
        run("CREATE TABLE cache_probe (k TEXT PRIMARY KEY, v INTEGER NOT NULL)");
        run("INSERT INTO cache_probe (k, v) VALUES ('a', 1), ('b', 2), ('c', 3)");
    }
    void TearDown() override {
        db_.reset();
        std::filesystem::remove_all(folder_);
    }

    void run(const std::string& sql) {
        db_->withSession("test", [&](Poco::Data::Session& session) { session << sql, now; });
    }

    /// v of key k through the cached statement, or nullopt.
    std::optional<std::int64_t> valueOf(const std::string& k) {
        return db_->withSession("test", [&](Poco::Data::Session& session) {
            return detail::withPrepared(*db_, session, "test", kSelect,
                                        [&](detail::CachedStatement& statement) -> std::optional<std::int64_t> {
                                            statement.bind(1, k);
                                            if (!statement.step()) return std::nullopt;
                                            return statement.int64(0);
                                        });
        });
    }

    static constexpr const char* kSelect = "SELECT v FROM cache_probe WHERE k = ?";
    std::filesystem::path folder_;
    std::unique_ptr<Database> db_;
};

TEST_F(StatementCacheTest, ReusedStatementGivesTheSameResultsAsAFreshOne) {
    const std::size_t compiledBefore = db_->statements().compiled();
    EXPECT_EQ(valueOf("b"), 2);
    EXPECT_EQ(valueOf("c"), 3);
    EXPECT_EQ(valueOf("a"), 1);
    EXPECT_EQ(valueOf("zz"), std::nullopt);
    EXPECT_EQ(valueOf("b"), 2);
    // Every call ran on the same pooled connection here (one thread): one compilation for five executions.
    EXPECT_EQ(db_->statements().compiled() - compiledBefore, 1U);
    EXPECT_EQ(db_->statements().kept(), 1U);
}

TEST_F(StatementCacheTest, SeesRowsWrittenSinceItWasCompiled) {
    EXPECT_EQ(valueOf("d"), std::nullopt);
    run("INSERT INTO cache_probe (k, v) VALUES ('d', 40)");
    EXPECT_EQ(valueOf("d"), 40);
    run("UPDATE cache_probe SET v = 41 WHERE k = 'd'");
    EXPECT_EQ(valueOf("d"), 41);
}

TEST_F(StatementCacheTest, BindingsAreClearedAfterEachUse) {
    const std::string sql = "SELECT ? IS NULL";
    auto isNull = [&](bool bindIt) {
        return db_->withSession("test", [&](Poco::Data::Session& session) {
            return detail::withPrepared(*db_, session, "test", sql, [&](detail::CachedStatement& statement) {
                if (bindIt) statement.bind(1, "x");
                EXPECT_TRUE(statement.step());
                return statement.int64(0) == 1;
            });
        });
    };
    EXPECT_FALSE(isNull(true));
    EXPECT_TRUE(isNull(false));  // the 'x' of the last use is gone
}

TEST_F(StatementCacheTest, WritesThroughACachedStatementCountTheirRows) {
    const std::string sql = "UPDATE cache_probe SET v = v + ? WHERE k <> ?";
    const int changed = db_->withSession("test", [&](Poco::Data::Session& session) {
        return detail::withPrepared(*db_, session, "test", sql, [&](detail::CachedStatement& statement) {
            return statement.bind(1, 10).bind(2, "a").execute();
        });
    });
    EXPECT_EQ(changed, 2);
    EXPECT_EQ(valueOf("a"), 1);
    EXPECT_EQ(valueOf("b"), 12);
    EXPECT_EQ(valueOf("c"), 13);
}

TEST_F(StatementCacheTest, AnInsertThatDidNothingChangedNoRows) {
    const std::string sql = "INSERT INTO cache_probe (k, v) VALUES (?, ?) ON CONFLICT (k) DO NOTHING";
    auto insert = [&](const std::string& k, int v) {
        return db_->withSession("test", [&](Poco::Data::Session& session) {
            return detail::executeCached(*db_, session, "test", sql, k, v);
        });
    };
    EXPECT_EQ(insert("n", 9), 1U);
    EXPECT_EQ(insert("n", 10), 0U);  // a conflict: nothing inserted, not the last statement's count
    EXPECT_EQ(insert("a", 10), 0U);
    EXPECT_EQ(valueOf("n"), 9);
    EXPECT_EQ(valueOf("a"), 1);
}

TEST_F(StatementCacheTest, SchemaChangeIsSafe) {
    EXPECT_EQ(valueOf("a"), 1);
    run("DROP TABLE cache_probe");
    run("CREATE TABLE cache_probe (extra TEXT, k TEXT PRIMARY KEY, v INTEGER NOT NULL)");
    run("INSERT INTO cache_probe (extra, k, v) VALUES ('e', 'a', 7)");
    EXPECT_EQ(valueOf("a"), 7);  // recompiled by SQLite against the new table, not the dropped one's columns
    run("DROP TABLE cache_probe");
    EXPECT_THROW(valueOf("a"), StoreError);  // the table is gone: an error, not a crash
}

TEST_F(StatementCacheTest, AConstraintViolationIsAPermanentStoreErrorAndTheStatementStaysUsable) {
    const std::string sql = "INSERT INTO cache_probe (k, v) VALUES (?, ?)";
    auto insert = [&](const std::string& k, std::int64_t v) {
        db_->withSession("inserting a probe", [&](Poco::Data::Session& session) {
            detail::withPrepared(*db_, session, "inserting a probe", sql, [&](detail::CachedStatement& statement) {
                statement.bind(1, k).bind(2, v).execute();
            });
        });
    };
    try {
        insert("a", 5);
        FAIL() << "a duplicate key was inserted";
    } catch (const StoreError& error) {
        EXPECT_FALSE(error.isRetryable());
        EXPECT_NE(std::string(error.what()).find("inserting a probe"), std::string::npos) << error.what();
        EXPECT_NE(std::string(error.what()).find("UNIQUE"), std::string::npos) << error.what();
    }
    insert("e", 5);
    EXPECT_EQ(valueOf("e"), 5);
    EXPECT_EQ(valueOf("a"), 1);
}

TEST_F(StatementCacheTest, BadSqlIsAStoreError) {
    EXPECT_THROW(db_->withSession("test",
                                  [&](Poco::Data::Session& session) {
                                      detail::withPrepared(*db_, session, "test", "SELEC nonsense",
                                                           [](detail::CachedStatement&) {});
                                  }),
                 StoreError);
    EXPECT_EQ(valueOf("a"), 1);
}

TEST_F(StatementCacheTest, TheSameStatementNestedInItsOwnUseIsCompiledAfresh) {
    const std::vector<std::int64_t> pairs = db_->withSession("test", [&](Poco::Data::Session& session) {
        return detail::withPrepared(*db_, session, "test", kSelect, [&](detail::CachedStatement& outer) {
            outer.bind(1, "b");
            EXPECT_TRUE(outer.step());
            const std::int64_t inner =
                detail::withPrepared(*db_, session, "test", kSelect, [&](detail::CachedStatement& statement) {
                    statement.bind(1, "c");
                    EXPECT_TRUE(statement.step());
                    return statement.int64(0);
                });
            return std::vector<std::int64_t>{outer.int64(0), inner};
        });
    });
    EXPECT_EQ(pairs, (std::vector<std::int64_t>{2, 3}));
    EXPECT_EQ(db_->statements().kept(), 1U);
    EXPECT_EQ(valueOf("b"), 2);
}

TEST_F(StatementCacheTest, AClosedConnectionsStatementsAreFinalizedAndANewConnectionStartsAfresh) {
    // A session of its own (not the pool's), closed while its statement is kept: close_v2 leaves it a zombie until
    // clear() finalizes the statement; a new connection then compiles its own.
    {
        Poco::Data::Session own("sqlite", (folder_ / "taxdesk.db").string());
        const std::int64_t v = detail::withPrepared(*db_, own, "test", kSelect, [](detail::CachedStatement& s) {
            s.bind(1, "c");
            EXPECT_TRUE(s.step());
            return s.int64(0);
        });
        EXPECT_EQ(v, 3);
        EXPECT_EQ(db_->statements().kept(), 1U);
        own.close();
    }
    db_->statements().clear();
    EXPECT_EQ(db_->statements().kept(), 0U);
    const std::size_t compiledBefore = db_->statements().compiled();
    EXPECT_EQ(valueOf("c"), 3);
    EXPECT_EQ(db_->statements().compiled() - compiledBefore, 1U);
}

// Issue 11: SQLite runs in multi-thread mode (no per-connection mutex; database.cpp, configureSqlite), which is safe
// only if no connection is used by two threads at once. This binary opens no SQLite connection before its first
// Database, so the mode took; the connections the pool opens then carry no mutex of their own.
TEST_F(StatementCacheTest, SqliteRunsInMultiThreadModeAndPooledConnectionsHaveNoMutex) {
    ASSERT_TRUE(detail::sqliteMultiThread());
    db_->withSession("test", [&](Poco::Data::Session& session) {
        EXPECT_EQ(sqlite3_db_mutex(Poco::Data::SQLite::Utility::dbHandle(session)), nullptr);
    });
}

// Six threads share a pool of two sessions (so every connection passes from thread to thread many times), each
// writing through cached statements, reading them back, and upserting results of its own batch. Every write lands
// once, every read sees its thread's own last write, and each batch's results are all there: the store's use of its
// connections (one leasing thread at a time, the pool's mutex between holders) is what multi-thread mode needs.
TEST_F(StatementCacheTest, SeveralThreadsShareThePooledConnections) {
    run("CREATE TABLE shared_probe (thread INTEGER NOT NULL, step INTEGER NOT NULL, PRIMARY KEY (thread, step))");
    SqlResultStore results(*db_);
    constexpr int kThreads = 6;
    constexpr int kSteps = 60;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            try {
                const std::string batch = "b-" + std::to_string(t);
                for (int step = 0; step < kSteps; ++step) {
                    db_->withSession("test", [&](Poco::Data::Session& session) {
                        detail::executeCached(*db_, session, "test",
                                              "INSERT INTO shared_probe (thread, step) VALUES (?, ?)", t, step);
                    });
                    const std::int64_t last = db_->withSession("test", [&](Poco::Data::Session& session) {
                        return detail::withPrepared(*db_, session, "test",
                                                    "SELECT MAX(step) FROM shared_probe WHERE thread = ?",
                                                    [&](detail::CachedStatement& statement) {
                                                        statement.bind(1, std::int64_t{t});
                                                        return statement.step() ? statement.int64(0) : -1;
                                                    });
                    });
                    if (last != step) ++failures;
                    results.upsertResults(
                        {{batch, step, "A123456789", "ok", "", "{\"row\":" + std::to_string(step) + "}"}});
                }
            } catch (const std::exception&) {
                ++failures;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0);
    std::int64_t rows = 0;
    db_->withSession(
        "test", [&](Poco::Data::Session& session) { session << "SELECT COUNT(*) FROM shared_probe", into(rows), now; });
    EXPECT_EQ(rows, kThreads * kSteps);
    for (int t = 0; t < kThreads; ++t) {
        const auto stored = results.resultsOfBatch("b-" + std::to_string(t));
        ASSERT_EQ(stored.size(), static_cast<std::size_t>(kSteps));
        EXPECT_EQ(stored.back().payload, "{\"row\":" + std::to_string(kSteps - 1) + "}");
    }
}

}  // namespace
}  // namespace taxdesk::connectors
