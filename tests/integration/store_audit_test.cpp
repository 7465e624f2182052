// The audit trail in the SQL store (issue 13), on both backends (store_area_fixture.hpp): every new result of a paid
// batch has its entry, written with it (a replay adds none); a download adds a record; searches by creditor and by
// debtor (HMAC) page with a cursor; verify proves the chain and names the first broken record after an edit, a
// deletion or a swap; prune leaves a signed checkpoint that verify checks. The PostgreSQL database is shared by the
// tests of a run: tampering and pruning happen on days of their own (far in the past, unique to the test).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <random>

#include "connectors/store/sql_audit_store.hpp"
#include "jobs/audit/audit.hpp"
#include "store_area_fixture.hpp"

namespace taxdesk::connectors {
namespace {

using namespace store_areas;

constexpr const char* kKey = "test-audit-key";

/// A day of its own for this test: a year before 2000 picked from a unique name.
std::string dayOfItsOwn() {
    std::seed_seq seed{static_cast<unsigned>(std::hash<std::string>{}(testing::uniqueName("day")))};
    std::mt19937 random(seed);
    char text[11];
    std::snprintf(text, sizeof text, "%04d-%02d-%02d", 1000 + static_cast<int>(random() % 999),
                  1 + static_cast<int>(random() % 12), 1 + static_cast<int>(random() % 28));
    return text;
}

std::string today() {
    return jobs::audit::dayOf(detail::utcNow());
}

class StoreAuditTest : public StoreAreaTest {
  protected:
    void configure(Store& store) const { store.audit().configure({true, kKey}); }

    /// Writes `rows` as `batch` and moves it to queued (paid), as the dispatcher finds it. False when it did not move.
    static bool writeQueued(Store& store, const BatchRecord& batch, const std::vector<BatchRowRecord>& rows) {
        writeBatch(store, batch, rows);
        return store.batches().setBatchState(batch.batchId, jobs::inquiry::BatchState::awaiting_payment,
                                             jobs::inquiry::BatchState::queued);
    }

    /// `count` downloads recorded on `day`.
    static void downloadsOn(Store& store, const std::string& day, int count) {
        int second = 0;
        store.audit().setClock([&day, &second] {
            char text[32];
            std::snprintf(text, sizeof text, "%sT01:00:%02d.000Z", day.c_str(), second++ % 60);
            return std::string(text);
        });
        for (int i = 0; i < count; ++i) store.audit().recordDownload("C", "B", "csv", i, "req-" + std::to_string(i));
        store.audit().setClock({});
    }

    void exec(const std::string& statement, const std::string& day) const {
        Poco::Data::Session session = rawSession();
        session << sqlFor(statement), bind(day), now;
    }
};

TEST_P(StoreAuditTest, EveryNewResultOfAPaidBatchHasItsEntryAndAReplayAddsNone) {
    Store store(settings_);
    configure(store);
    const BatchRecord batch = newBatch();
    const auto rows = makeRows(batch.batchId, 5, 3);  // row 3 rejected at upload
    ASSERT_TRUE(writeQueued(store, batch, rows));
    store.results().upsertResults({foundResult(batch.batchId, 2), foundResult(batch.batchId, 1)}, {"req-2", "req-1"});
    store.results().upsertResults({foundResult(batch.batchId, 4), foundResult(batch.batchId, 5)}, {"req-4", "req-5"});
    store.results().upsertResults({foundResult(batch.batchId, 1)}, {"req-1"});  // a replay
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->state, jobs::inquiry::BatchState::completed);

    AuditQuery query;
    query.creditorId = creditor_;
    query.fromDay = today();
    AuditPage page = store.audit().search(query);
    ASSERT_EQ(page.hits.size(), 4U);
    EXPECT_TRUE(page.next.empty());
    const int expectedRows[] = {1, 2, 4, 5};
    for (std::size_t i = 0; i < 4; ++i) {
        const AuditHit& hit = page.hits[i];
        const int row = expectedRows[i];
        EXPECT_EQ(hit.row, row);
        EXPECT_EQ(hit.kind, "results");
        EXPECT_EQ(hit.batchId, batch.batchId);
        EXPECT_EQ(hit.creditorId, creditor_);
        EXPECT_EQ(hit.status, "found");
        EXPECT_EQ(hit.requestId, "req-" + std::to_string(row));
        EXPECT_EQ(hit.titleRef, "112年度司執字第" + std::to_string(row) + "號");
        EXPECT_EQ(hit.idHmac, jobs::audit::idHmac(kKey, "A1" + std::to_string(23456780 + row)));
    }
    // No whole ID in the trail.
    {
        Poco::Data::Session session = rawSession();
        Poco::Int64 withId = 0;
        session << sqlFor("SELECT COUNT(*) FROM audit_log WHERE batch_id = ? AND entries LIKE ?"), into(withId),
            bind(batch.batchId), bind(std::string("%A123456781%")), now;
        EXPECT_EQ(withId, 0);
    }

    // By debtor: the HMAC of row 4's ID finds row 4 only.
    AuditQuery byDebtor;
    byDebtor.idHmac = store.audit().idHmac("a123456784");
    byDebtor.creditorId = creditor_;
    page = store.audit().search(byDebtor);
    ASSERT_EQ(page.hits.size(), 1U);
    EXPECT_EQ(page.hits[0].row, 4);

    // A download adds one record; pages of one hit follow each other by cursor.
    store.audit().recordDownload(creditor_, batch.batchId, "csv", 5, "req-dl");
    query.limit = 1;
    std::vector<AuditHit> all;
    for (int i = 0; i < 10; ++i) {
        page = store.audit().search(query);
        all.insert(all.end(), page.hits.begin(), page.hits.end());
        if (page.next.empty()) break;
        query.cursor = page.next;
    }
    ASSERT_EQ(all.size(), 5U);
    EXPECT_EQ(all[2].row, 4);
    EXPECT_EQ(all[4].kind, "download");
    EXPECT_EQ(all[4].format, "csv");
    EXPECT_EQ(all[4].rowCount, 5);
    EXPECT_EQ(all[4].requestId, "req-dl");
    query.cursor = "not-a-cursor";
    EXPECT_THROW(store.audit().search(query), std::invalid_argument);

    const AuditVerifyReport report = store.audit().verify(today(), today());
    EXPECT_TRUE(report.ok) << report.brokenDay << " " << report.brokenSeq << " " << report.reason;
    EXPECT_GE(report.records, 3);
}

TEST_P(StoreAuditTest, TitleReferencesAreRightFromCachedBlocksAndFromScatteredRows) {
    // Titles are read in blocks of 4,096 rows of a batch, kept; a chunk whose rows of a batch touch more than 4 blocks
    // reads exactly those rows instead. Both ways, each entry holds its own row's title.
    Store store(settings_);
    configure(store);
    const BatchRecord batch = newBatch();
    ASSERT_TRUE(writeQueued(store, batch, makeRows(batch.batchId, 20500, 0)));
    const std::vector<std::vector<int>> chunks = {
        {1, 4097, 8193, 12289, 16385, 20481},  // six blocks: exactly these rows
        {4096, 2, 4098},                       // blocks 0 and 1 (4096 is block 1's first row)
        {3, 4099, 20500},                      // blocks 0 and 1 again (kept), and block 5
    };
    std::vector<int> expected;
    for (const auto& chunk : chunks) {
        std::vector<StoredResult> results;
        for (const int row : chunk) results.push_back(foundResult(batch.batchId, row));
        store.results().upsertResults(results, {});
        expected.insert(expected.end(), chunk.begin(), chunk.end());
    }
    AuditQuery query;
    query.creditorId = creditor_;
    query.fromDay = today();
    query.limit = 100;
    const AuditPage page = store.audit().search(query);
    std::vector<int> rows;
    for (const AuditHit& hit : page.hits) {
        if (hit.batchId != batch.batchId) continue;
        rows.push_back(hit.row);
        EXPECT_EQ(hit.titleRef, "112年度司執字第" + std::to_string(hit.row) + "號") << "row " << hit.row;
    }
    std::sort(rows.begin(), rows.end());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(rows, expected);
}

// The dispatcher's requests carry each row's title (inquiry.requests `title_ref`): the trail records the carried
// title and reads the store only for rows whose request carried none (older messages), both kinds in one chunk.
TEST_P(StoreAuditTest, ACarriedTitleIsRecordedAndARowWithoutOneGetsTheStoredTitle) {
    Store store(settings_);
    configure(store);
    const BatchRecord batch = newBatch();
    ASSERT_TRUE(writeQueued(store, batch, makeRows(batch.batchId, 6, 0)));
    // Carried titles unlike the stored ones (112年度…), so that the entry shows which one it holds.
    store.results().upsertResults(
        {foundResult(batch.batchId, 3), foundResult(batch.batchId, 1), foundResult(batch.batchId, 2)},
        {"req-3", "req-1", "req-2"}, {"carried 3", "", "carried\t2"});
    store.results().upsertResults({foundResult(batch.batchId, 4), foundResult(batch.batchId, 5)}, {"req-4"},
                                  {"carried 4"});                                       // row 5: both vectors shorter
    store.results().upsertResults({foundResult(batch.batchId, 6)}, {}, {"carried 6"});  // its batch's creditor cached
    AuditQuery query;
    query.creditorId = creditor_;
    query.fromDay = today();
    query.limit = 100;
    const AuditPage page = store.audit().search(query);
    std::map<int, std::pair<std::string, std::string>> seen;  // row → (title, request id)
    for (const AuditHit& hit : page.hits)
        if (hit.batchId == batch.batchId) seen[hit.row] = {hit.titleRef, hit.requestId};
    const std::map<int, std::pair<std::string, std::string>> expected = {
        {1, {"112年度司執字第1號", "req-1"}}, {2, {"carried\t2", "req-2"}},    {3, {"carried 3", "req-3"}},
        {4, {"carried 4", "req-4"}},          {5, {"112年度司執字第5號", ""}}, {6, {"carried 6", ""}}};
    EXPECT_EQ(seen, expected);
    EXPECT_TRUE(store.audit().verify(today(), today()).ok);
}

// A batch's creditor is kept once read; a batch the store did not hold when its results first came is asked again
// (and recorded) once it is written, not remembered as unknown.
TEST_P(StoreAuditTest, ABatchWrittenAfterItsFirstResultsIsRecordedOnceHeld) {
    Store store(settings_);
    configure(store);
    const BatchRecord batch = newBatch();
    store.results().upsertResults({foundResult(batch.batchId, 1)}, {"req-1"}, {"title 1"});  // not held: not recorded
    ASSERT_TRUE(writeQueued(store, batch, makeRows(batch.batchId, 3, 0)));
    store.results().upsertResults({foundResult(batch.batchId, 2)}, {"req-2"}, {"title 2"});
    store.results().upsertResults({foundResult(batch.batchId, 3)}, {"req-3"}, {"title 3"});
    AuditQuery query;
    query.creditorId = creditor_;
    query.fromDay = today();
    const AuditPage page = store.audit().search(query);
    std::vector<int> rows;
    for (const AuditHit& hit : page.hits)
        if (hit.batchId == batch.batchId) rows.push_back(hit.row);
    EXPECT_EQ(rows, (std::vector<int>{2, 3}));
}

TEST_P(StoreAuditTest, ChunksOfManyBatchesRecordEachNewResultOnceWithItsTitleByRow) {
    // As the bench's chunks: rows of 70 batches interleaved in one chunk (more batches than a chunk's title blocks were
    // once bounded by), then a chunk mixing replays and new rows of every batch, in no order: each batch's record holds
    // only its new rows, by row, each with its own title; the chain verifies.
    Store store(settings_);
    configure(store);
    constexpr int kBatches = 70;
    constexpr int kRows = 6;
    std::vector<std::string> batchIds;
    for (int b = 0; b < kBatches; ++b) {
        const BatchRecord batch = newBatch();
        ASSERT_TRUE(writeQueued(store, batch, makeRows(batch.batchId, kRows, 0)));
        batchIds.push_back(batch.batchId);
    }
    std::vector<StoredResult> first;
    for (const int row : {3, 1, 2})
        for (const std::string& batchId : batchIds) first.push_back(foundResult(batchId, row));
    store.results().upsertResults(first, {});
    std::vector<StoredResult> second;  // rows 2 and 3 again (replays), 4 to 6 new, rows given high to low
    for (int row = kRows; row >= 2; --row)
        for (const std::string& batchId : batchIds) second.push_back(foundResult(batchId, row));
    store.results().upsertResults(second, {});

    AuditQuery query;
    query.creditorId = creditor_;
    query.fromDay = today();
    query.limit = 1000;
    const AuditPage page = store.audit().search(query);
    for (const std::string& batchId : batchIds) {
        std::vector<std::pair<int, int>> seen;  // (seq, row) in the trail's order
        for (const AuditHit& hit : page.hits) {
            if (hit.batchId != batchId) continue;
            seen.emplace_back(hit.seq, hit.row);
            EXPECT_EQ(hit.titleRef, "112年度司執字第" + std::to_string(hit.row) + "號")
                << batchId << " row " << hit.row;
        }
        ASSERT_EQ(seen.size(), static_cast<std::size_t>(kRows)) << batchId;
        // Two records, one a chunk, of 3 new rows each.
        EXPECT_EQ(seen[0].first, seen[2].first) << batchId;
        EXPECT_EQ(seen[3].first, seen[5].first) << batchId;
        EXPECT_LT(seen[2].first, seen[3].first) << batchId;
        for (int i = 0; i < kRows; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)].second, i + 1) << batchId;
    }
    const AuditVerifyReport report = store.audit().verify(today(), today());
    EXPECT_TRUE(report.ok) << report.brokenDay << " " << report.brokenSeq << " " << report.reason;
}

TEST_P(StoreAuditTest, DisabledRecordsNothing) {
    Store store(settings_);
    store.audit().configure({false, kKey});
    const BatchRecord batch = newBatch();
    writeBatch(store, batch, makeRows(batch.batchId, 2, 0));
    store.results().upsertResults({foundResult(batch.batchId, 1)}, {"req-1"});
    store.audit().recordDownload(creditor_, batch.batchId, "json", 1, "r");
    EXPECT_EQ(countOf("audit_log", batch.batchId), 0);
}

TEST_P(StoreAuditTest, VerifyNamesTheFirstBrokenRecordAfterAnEdit) {
    Store store(settings_);
    configure(store);
    const std::string day = dayOfItsOwn();
    downloadsOn(store, day, 4);
    EXPECT_TRUE(store.audit().verify(day, day).ok);
    EXPECT_EQ(store.audit().verify(day, day).records, 4);
    exec("UPDATE audit_log SET row_count = 99 WHERE day = ? AND seq = 2", day);
    const AuditVerifyReport report = store.audit().verify(day, day);
    EXPECT_FALSE(report.ok);
    EXPECT_EQ(report.brokenDay, day);
    EXPECT_EQ(report.brokenSeq, 2);
}

TEST_P(StoreAuditTest, VerifyNamesTheFirstBrokenRecordAfterADeletion) {
    Store store(settings_);
    configure(store);
    const std::string day = dayOfItsOwn();
    downloadsOn(store, day, 4);
    exec("DELETE FROM audit_log WHERE day = ? AND seq = 3", day);
    AuditVerifyReport report = store.audit().verify(day, day);
    EXPECT_FALSE(report.ok);
    EXPECT_EQ(report.brokenSeq, 4);                                // the record after the gap
    exec("DELETE FROM audit_log WHERE day = ? AND seq = 4", day);  // the last ones: the head knows
    report = store.audit().verify(day, day);
    EXPECT_FALSE(report.ok);
    EXPECT_EQ(report.brokenSeq, 3);
}

TEST_P(StoreAuditTest, VerifyNamesTheFirstBrokenRecordAfterASwap) {
    Store store(settings_);
    configure(store);
    const std::string day = dayOfItsOwn();
    downloadsOn(store, day, 4);
    exec("UPDATE audit_log SET seq = -2 WHERE day = ? AND seq = 2", day);
    exec("UPDATE audit_log SET seq = 2 WHERE day = ? AND seq = 3", day);
    exec("UPDATE audit_log SET seq = 3 WHERE day = ? AND seq = -2", day);
    const AuditVerifyReport report = store.audit().verify(day, day);
    EXPECT_FALSE(report.ok);
    EXPECT_EQ(report.brokenSeq, 2);
}

TEST_P(StoreAuditTest, PruneLeavesASignedCheckpointThatVerifyChecks) {
    Store store(settings_);
    configure(store);
    const std::string day = dayOfItsOwn();
    downloadsOn(store, day, 3);
    const AuditPruneReport pruned = store.audit().prune(day + "~", day);  // '~' sorts after the day: only it
    EXPECT_EQ(pruned.days, 1);
    EXPECT_EQ(pruned.records, 3);
    AuditVerifyReport report = store.audit().verify(day, day);
    EXPECT_TRUE(report.ok) << report.reason;
    EXPECT_EQ(report.checkpoints, 1);
    EXPECT_EQ(report.records, 0);
    exec("UPDATE audit_checkpoints SET last_seq = 2 WHERE day = ?", day);
    report = store.audit().verify(day, day);
    EXPECT_FALSE(report.ok);
    EXPECT_EQ(report.brokenDay, day);
}

TEST_P(StoreAuditTest, PruneRefusesABrokenDay) {
    Store store(settings_);
    configure(store);
    const std::string day = dayOfItsOwn();
    downloadsOn(store, day, 3);
    exec("UPDATE audit_log SET format = 'json' WHERE day = ? AND seq = 1", day);
    const AuditPruneReport pruned = store.audit().prune(day + "~", day);
    EXPECT_EQ(pruned.days, 0);
    ASSERT_EQ(pruned.refused.size(), 1U);
    EXPECT_EQ(pruned.refused[0], day);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreAuditTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

}  // namespace
}  // namespace taxdesk::connectors
