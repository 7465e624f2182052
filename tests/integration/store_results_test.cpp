// Results in the SQL store (ResultStore) and what they do to their batches, on both backends (store_area_fixture.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <thread>

#include "store_area_fixture.hpp"

namespace taxdesk::connectors {
namespace {

using namespace store_areas;

class StoreResultsTest : public StoreAreaTest {
  protected:
    /// Writes `batch` with `rows` and moves it from awaiting_payment to queued, as its payment does; false when the
    /// state did not move.
    static bool writeQueuedBatch(Store& store, const BatchRecord& batch, const std::vector<BatchRowRecord>& rows) {
        writeBatch(store, batch, rows);
        return store.batches().setBatchState(batch.batchId, jobs::inquiry::BatchState::awaiting_payment,
                                             jobs::inquiry::BatchState::queued);
    }
};

TEST_P(StoreResultsTest, ResultsMoveAPaidBatchFromQueuedThroughProcessingToCompleted) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    writeBatch(store, batch, makeRows(batch.batchId, 4, 3));  // row 3 rejected: done from the start

    store.results().upsertResults({foundResult(batch.batchId, 1)});
    auto stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.state, jobs::inquiry::BatchState::awaiting_payment)
        << "only a queued or processing batch changes state";
    EXPECT_EQ(stored.rowsDone, 2);

    ASSERT_TRUE(store.batches().setBatchState(batch.batchId, jobs::inquiry::BatchState::awaiting_payment,
                                              jobs::inquiry::BatchState::queued));
    store.results().upsertResults({foundResult(batch.batchId, 2)});
    stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.state, jobs::inquiry::BatchState::processing);
    EXPECT_EQ(stored.rowsDone, 3);
    EXPECT_EQ(stored.completedAt, "");

    store.results().upsertResults({foundResult(batch.batchId, 1), foundResult(batch.batchId, 2)});  // a replay
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->rowsDone, 3);
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->state, jobs::inquiry::BatchState::processing);

    // Results of batches the store does not know (fed to Kafka by a demo) in the same call change nothing else.
    store.results().upsertResults({foundResult(testing::uniqueName("demo"), 1), foundResult(batch.batchId, 4)});
    stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.state, jobs::inquiry::BatchState::completed);
    EXPECT_EQ(stored.rowsDone, 4);
    EXPECT_EQ(stored.completedAt.size(), 24U) << stored.completedAt;
    EXPECT_GE(stored.completedAt, stored.queuedAt);

    store.results().upsertResults({foundResult(batch.batchId, 4)});
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->completedAt, stored.completedAt)
        << "completed_at is stamped once";
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->state, jobs::inquiry::BatchState::completed);
}

/// A result whose payload holds what a PostgreSQL array literal or a COPY line must escape: quotes, backslashes,
/// braces, commas, tabs, line breaks, and Chinese.
StoredResult awkwardResult(const std::string& batchId, int row, const std::string& status, const std::string& note) {
    std::string payload = R"({"row":)" + std::to_string(row) + R"(,"status":")" + status + R"(","note":")" + note +
                          R"(","odd":"a\"b\\c {x,y}	tab
line 臺北 NULL"})";
    return {batchId,
            row,
            "A1" + std::to_string(23456780 + row),
            status,
            status == "error" ? "registry_unavailable" : "",
            std::move(payload)};
}

TEST_P(StoreResultsTest, ManyResultsInOneCallEndAsTheSameResultsOneAtATimeDoDuplicatesAndReplaysIncluded) {
    // The same sequence of results, with a row given twice in it and a replay, written once result by result and
    // once as one call: the rows and the batch's counters must be the same. Hand-computed: rows 1–5 accepted,
    // row 6 rejected (its result stored at upload); the sequence gives rows 1, 2, 2 again (a newer result), 4 and 5;
    // so rows 1, 2, 4, 5 and 6 are done (5 of 6), row 2 holds the newer result, the batch is processing.
    Store store(settings_);
    const BatchRecord oneByOne = newBatch();
    const BatchRecord together = newBatch();
    for (const BatchRecord& batch : {oneByOne, together}) {
        ASSERT_TRUE(writeQueuedBatch(store, batch, makeRows(batch.batchId, 6, 6)));
    }
    const auto sequence = [](const std::string& batchId) {
        return std::vector<StoredResult>{
            awkwardResult(batchId, 1, "found", "first"),      awkwardResult(batchId, 2, "error", "first"),
            awkwardResult(batchId, 4, "found", "first"),      awkwardResult(batchId, 2, "found", "second"),
            awkwardResult(batchId, 5, "no_records", "first"),
        };
    };
    for (const StoredResult& result : sequence(oneByOne.batchId)) store.results().upsertResults({result});
    store.results().upsertResults(sequence(together.batchId));

    for (const BatchRecord& batch : {oneByOne, together}) {
        SCOPED_TRACE(batch.batchId);
        const BatchRecord stored = store.batches().findBatch(batch.batchId).value();
        EXPECT_EQ(stored.rowsDone, 5);
        EXPECT_EQ(stored.state, jobs::inquiry::BatchState::processing);
        EXPECT_EQ(countOf("inquiry_results", batch.batchId), 5);
        const auto row2 = store.results().findResult(batch.batchId, 2).value();
        EXPECT_EQ(row2, awkwardResult(batch.batchId, 2, "found", "second")) << "the last given of a row wins";
        EXPECT_EQ(store.results().findResult(batch.batchId, 5).value(),
                  awkwardResult(batch.batchId, 5, "no_records", "first"))
            << "quotes, backslashes, braces, a tab, a line break and Chinese arrive unchanged";
        EXPECT_FALSE(store.results().findResult(batch.batchId, 3).has_value());
        EXPECT_EQ(store.results().findResult(batch.batchId, 6)->status, "rejected");
    }
    // Replayed whole, after a change of mind on row 1: nothing is counted twice.
    auto replay = sequence(together.batchId);
    replay.push_back(awkwardResult(together.batchId, 1, "error", "replayed"));
    store.results().upsertResults(replay);
    for (const StoredResult& result : sequence(oneByOne.batchId)) store.results().upsertResults({result});
    store.results().upsertResults({awkwardResult(oneByOne.batchId, 1, "error", "replayed")});
    for (const BatchRecord& batch : {oneByOne, together}) {
        SCOPED_TRACE(batch.batchId);
        EXPECT_EQ(store.batches().findBatch(batch.batchId)->rowsDone, 5);
        EXPECT_EQ(store.results().findResult(batch.batchId, 1).value(),
                  awkwardResult(batch.batchId, 1, "error", "replayed"));
        EXPECT_EQ(store.results().countResultsWithStatus(batch.batchId, "error"), 1);
    }
    EXPECT_EQ(store.results().resultsOfBatch(oneByOne.batchId).size(),
              store.results().resultsOfBatch(together.batchId).size());

    // The last row, given twice in one call with a result of a batch the store does not know: the batch completes
    // with every row counted once.
    for (const BatchRecord& batch : {oneByOne, together}) {
        store.results().upsertResults({awkwardResult(batch.batchId, 3, "error", "a"),
                                       awkwardResult(testing::uniqueName("demo"), 3, "found", "b"),
                                       awkwardResult(batch.batchId, 3, "found", "c")});
        const BatchRecord stored = store.batches().findBatch(batch.batchId).value();
        EXPECT_EQ(stored.rowsDone, 6);
        EXPECT_EQ(stored.state, jobs::inquiry::BatchState::completed);
        EXPECT_EQ(store.results().findResult(batch.batchId, 3)->status, "found");
    }
}

TEST_P(StoreResultsTest, ARunningCountThatWentWrongIsCountedAgainBeforeTheBatchCompletes) {
    // rows_done grows by the results each call adds; where that figure reaches rows_total, the batch is counted
    // exactly before it completes. A figure set too high behind the store's back (4 of 4 with one result stored)
    // must not complete the batch.
    Store store(settings_);
    const BatchRecord batch = newBatch();
    ASSERT_TRUE(writeQueuedBatch(store, batch, makeRows(batch.batchId, 4, 0)));
    store.results().upsertResults({foundResult(batch.batchId, 1)});
    {
        Poco::Data::Session session = rawSession();
        session << sqlFor("UPDATE batches SET rows_done = 3 WHERE batch_id = ?"), bind(batch.batchId), now;
    }
    store.results().upsertResults({foundResult(batch.batchId, 2)});
    BatchRecord stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.rowsDone, 2) << "counted again: rows 1 and 2";
    EXPECT_EQ(stored.state, jobs::inquiry::BatchState::processing);
    store.results().upsertResults({foundResult(batch.batchId, 3), foundResult(batch.batchId, 4)});
    stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.rowsDone, 4);
    EXPECT_EQ(stored.state, jobs::inquiry::BatchState::completed);
}

TEST_P(StoreResultsTest, ConcurrentResultsOfOneBatchCountEveryRow) {
    // Small chunks from many writers: on PostgreSQL a count that does not wait for the batch's lock misses results
    // committed meanwhile, and the batch then never completes.
    constexpr int kWriters = 8;
    constexpr int kRowsPerWriter = 60;
    constexpr int kChunk = 2;
    settings_.poolSize = kWriters;
    Store store(settings_);
    const BatchRecord batch = newBatch();
    ASSERT_TRUE(writeQueuedBatch(store, batch, makeRows(batch.batchId, kWriters * kRowsPerWriter, 0)));

    const auto errors = testing::atOnce(kWriters, [&](int w, std::latch& start) {
        start.arrive_and_wait();
        for (int first = w * kRowsPerWriter + 1; first <= (w + 1) * kRowsPerWriter; first += kChunk) {
            std::vector<StoredResult> results;
            for (int row = first; row < first + kChunk; ++row) results.push_back(foundResult(batch.batchId, row));
            store.results().upsertResults(results);
        }
    });

    for (const auto& error : errors) EXPECT_EQ(error, "");
    const auto stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.rowsDone, kWriters * kRowsPerWriter);
    EXPECT_EQ(stored.state, jobs::inquiry::BatchState::completed);
}

StoredResult errorResult(const std::string& batchId, int row, const std::string& reason = "registry_unavailable") {
    std::string payload = R"({"row":)" + std::to_string(row) + R"(,"status":"error","reason":")" + reason + R"("})";
    return {batchId, row, "A1" + std::to_string(23456780 + row), "error", reason, std::move(payload)};
}

TEST_P(StoreResultsTest, ErrorRowsOfACompletedBatchGoBackToWorkOnceAndAreCountedOnce) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    ASSERT_TRUE(writeQueuedBatch(store, batch, makeRows(batch.batchId, 5, 3)));  // rows 1, 2, 4, 5 accepted; 3 rejected
    store.results().upsertResults({foundResult(batch.batchId, 1), errorResult(batch.batchId, 2),
                                   foundResult(batch.batchId, 4),
                                   errorResult(batch.batchId, 5, "tax_data_unavailable")});
    auto stored = store.batches().findBatch(batch.batchId).value();
    ASSERT_EQ(stored.state, jobs::inquiry::BatchState::completed);
    ASSERT_EQ(stored.rowsDone, 5);
    EXPECT_EQ(store.results().countResultsWithStatus(batch.batchId, "error"), 2);
    EXPECT_EQ(store.results().countResultsWithStatus(batch.batchId, "found"), 2);
    EXPECT_EQ(store.results().countResultsWithStatus(batch.batchId, "rejected"), 1);

    EXPECT_EQ(store.results().retryErrorRows(batch.batchId), 2);
    stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.state, jobs::inquiry::BatchState::processing);
    EXPECT_EQ(stored.completedAt, "");
    EXPECT_EQ(stored.rowsDone, 3) << "rows 1, 3 and 4 keep their results";
    std::vector<int> pending;
    for (const auto& row : store.batches().pendingRows(batch.batchId, 0, 10)) pending.push_back(row.row);
    EXPECT_EQ(pending, (std::vector<int>{2, 5}));
    EXPECT_EQ(store.results().findResult(batch.batchId, 1)->status, "found");
    EXPECT_EQ(store.results().findResult(batch.batchId, 3)->status, "rejected");
    EXPECT_FALSE(store.results().findResult(batch.batchId, 2).has_value());
    EXPECT_EQ(countOf("payments", batch.batchId), 0) << "a retry never touches the ledger";

    EXPECT_EQ(store.results().retryErrorRows(batch.batchId), 0) << "asked again while it runs: nothing retried twice";
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->rowsDone, 3);

    store.results().upsertResults({foundResult(batch.batchId, 2)});
    stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.state, jobs::inquiry::BatchState::processing);
    EXPECT_EQ(stored.rowsDone, 4);
    store.results().upsertResults({foundResult(batch.batchId, 5)});
    stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.state, jobs::inquiry::BatchState::completed);
    EXPECT_EQ(stored.rowsDone, 5) << "a retried row is counted once";
    EXPECT_EQ(stored.completedAt.size(), 24U) << stored.completedAt;
    EXPECT_EQ(countOf("inquiry_results", batch.batchId), 5);
    EXPECT_EQ(store.results().countResultsWithStatus(batch.batchId, "error"), 0);
    EXPECT_EQ(store.results().retryErrorRows(batch.batchId), 0) << "no error rows: nothing to retry";
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->state, jobs::inquiry::BatchState::completed);
}

TEST_P(StoreResultsTest, ConcurrentRetriesPutTheErrorRowsBackExactlyOnce) {
    constexpr int kCallers = 8;
    settings_.poolSize = kCallers;
    Store store(settings_);
    const BatchRecord batch = newBatch();
    ASSERT_TRUE(writeQueuedBatch(store, batch, makeRows(batch.batchId, 20, 0)));
    std::vector<StoredResult> results;
    for (int row = 1; row <= 20; ++row)
        results.push_back(row % 4 == 0 ? errorResult(batch.batchId, row) : foundResult(batch.batchId, row));
    store.results().upsertResults(results);
    ASSERT_EQ(store.batches().findBatch(batch.batchId)->state, jobs::inquiry::BatchState::completed);

    std::atomic<int> retried{0};
    std::atomic<int> winners{0};
    const auto errors = testing::atOnce(kCallers, [&](int, std::latch& start) {
        start.arrive_and_wait();
        const int rows = store.results().retryErrorRows(batch.batchId);
        retried += rows;
        winners += rows > 0 ? 1 : 0;
    });
    for (const auto& error : errors) EXPECT_EQ(error, "");
    EXPECT_EQ(retried.load(), 5);
    EXPECT_EQ(winners.load(), 1);
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->rowsDone, 15);
    EXPECT_EQ(store.batches().pendingRows(batch.batchId, 0, 100).size(), 5U);
}

TEST_P(StoreResultsTest, PagesOfResultsComeInRowOrderAfterTheRowGivenAtMostTheLimit) {
    // The download reads a batch's results a page at a time (resultsPage): rows after `afterRow`, in row order, at
    // most `limit`, whatever else the table holds; a row without a result is skipped, not a page's end.
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const BatchRecord other = newBatch();
    ASSERT_TRUE(writeQueuedBatch(store, batch, makeRows(batch.batchId, 2500, 0)));
    ASSERT_TRUE(writeQueuedBatch(store, other, makeRows(other.batchId, 30, 0)));
    std::vector<StoredResult> results;
    for (int row = 2500; row >= 1; --row)  // stored out of order, row 7 without a result
        if (row != 7) results.push_back(foundResult(batch.batchId, row));
    store.results().upsertResults(results);
    std::vector<StoredResult> others;
    for (int row = 1; row <= 30; ++row) others.push_back(foundResult(other.batchId, row));
    store.results().upsertResults(others);

    std::vector<int> rows;
    int after = 0;
    int pages = 0;
    while (pages < 10) {  // three are needed: more means a page that does not move on
        const auto page = store.results().resultsPage(batch.batchId, after, 1000);
        ++pages;
        ASSERT_LE(page.size(), 1000U);
        if (!page.empty()) {
            ASSERT_GT(page.front().row, after);
        }
        for (const auto& result : page) {
            EXPECT_EQ(result.batchId, batch.batchId);
            EXPECT_EQ(result, foundResult(batch.batchId, result.row));
            rows.push_back(result.row);
        }
        if (page.size() < 1000U) break;
        after = page.back().row;
    }
    EXPECT_EQ(pages, 3);
    std::vector<int> expected;
    for (int row = 1; row <= 2500; ++row)
        if (row != 7) expected.push_back(row);
    EXPECT_EQ(rows, expected);
    const auto middle = store.results().resultsPage(batch.batchId, 5, 3);
    ASSERT_EQ(middle.size(), 3U);
    EXPECT_EQ(middle[0].row, 6);
    EXPECT_EQ(middle[1].row, 8) << "row 7 has no result";
    EXPECT_EQ(middle[2].row, 9);
    EXPECT_TRUE(store.results().resultsPage(batch.batchId, 2500, 10).empty());
    EXPECT_TRUE(store.results().resultsPage(batch.batchId, 0, 0).empty());
}

TEST_P(StoreResultsTest, RetriesOfErrorRowsRacingNewResultsOfThoseRowsLeaveTheCountExact) {
    // A retry deletes a batch's error results while engines store those rows' new results: a result found stored by
    // an upsert may be gone by the time it is written, and is then new. However they interleave, the batch completes
    // with every row counted once.
    constexpr int kRows = 40;
    constexpr int kWriters = 4;
    settings_.poolSize = kWriters + 2;
    Store store(settings_);
    const BatchRecord batch = newBatch();
    ASSERT_TRUE(writeQueuedBatch(store, batch, makeRows(batch.batchId, kRows, 0)));
    for (int round = 0; round < 5; ++round) {
        std::vector<StoredResult> errors;
        for (int row = 1; row <= kRows; ++row) errors.push_back(errorResult(batch.batchId, row));
        store.results().upsertResults(errors);
        ASSERT_EQ(store.batches().findBatch(batch.batchId)->state, jobs::inquiry::BatchState::completed);

        const auto failures = testing::atOnce(kWriters + 1, [&](int t, std::latch& start) {
            start.arrive_and_wait();
            if (t == kWriters) {
                for (int tries = 0; tries < 20; ++tries) (void)store.results().retryErrorRows(batch.batchId);
                return;
            }
            for (int first = 1 + t; first <= kRows; first += kWriters * 2) {
                std::vector<StoredResult> chunk;
                for (int row = first; row < first + kWriters * 2 && row <= kRows; ++row)
                    chunk.push_back(row % 2 == 0 ? foundResult(batch.batchId, row) : errorResult(batch.batchId, row));
                store.results().upsertResults(chunk);
            }
        });
        for (const auto& failure : failures) EXPECT_EQ(failure, "");
        // Whatever is left to do (rows the retry took back after the writers stored them) is stored again.
        std::vector<StoredResult> rest;
        for (const auto& row : store.batches().pendingRows(batch.batchId, 0, kRows))
            rest.push_back(foundResult(batch.batchId, row.row));
        store.results().upsertResults(rest);
        const auto stored = store.batches().findBatch(batch.batchId).value();
        EXPECT_EQ(stored.rowsDone, kRows) << "round " << round;
        EXPECT_EQ(countOf("inquiry_results", batch.batchId), kRows) << "round " << round;
        EXPECT_EQ(stored.state, jobs::inquiry::BatchState::completed) << "round " << round;
        // The rows left as errors go back to work, each once (the next round's first upsert then makes every row an
        // error again).
        const int errorRows = store.results().countResultsWithStatus(batch.batchId, "error");
        EXPECT_EQ(store.results().retryErrorRows(batch.batchId), errorRows) << "round " << round;
    }
}

TEST_P(StoreResultsTest, MissingResultsAreInsertedButNeverOverwriteOneAndCompleteTheBatch) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    ASSERT_TRUE(writeQueuedBatch(store, batch, makeRows(batch.batchId, 4, 4)));  // row 4 rejected
    store.results().upsertResults({foundResult(batch.batchId, 1)});

    const std::string unknownBatch = testing::uniqueName("unknown");
    // Row 1 has its real result; row 4 is rejected (has its result); row 9 and the unknown batch do not exist.
    EXPECT_EQ(
        store.results().insertMissingResults(
            {errorResult(batch.batchId, 1, "processing_failed"), errorResult(batch.batchId, 2, "processing_failed"),
             errorResult(batch.batchId, 4, "processing_failed"), errorResult(batch.batchId, 9, "processing_failed"),
             errorResult(unknownBatch, 1, "processing_failed")}),
        1);
    EXPECT_EQ(store.results().findResult(batch.batchId, 1)->status, "found");
    EXPECT_EQ(store.results().findResult(batch.batchId, 2)->status, "error");
    EXPECT_EQ(store.results().findResult(batch.batchId, 2)->reason, "processing_failed");
    EXPECT_EQ(store.results().findResult(batch.batchId, 4)->status, "rejected");
    EXPECT_FALSE(store.results().findResult(batch.batchId, 9).has_value());
    EXPECT_FALSE(store.results().findResult(unknownBatch, 1).has_value());
    auto stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.state, jobs::inquiry::BatchState::processing);
    EXPECT_EQ(stored.rowsDone, 3);

    EXPECT_EQ(store.results().insertMissingResults({errorResult(batch.batchId, 3, "processing_failed")}), 1);
    stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.state, jobs::inquiry::BatchState::completed);
    EXPECT_EQ(stored.rowsDone, 4);
    EXPECT_EQ(store.results().insertMissingResults({errorResult(batch.batchId, 3, "other")}), 0) << "idempotent";
    EXPECT_EQ(store.results().findResult(batch.batchId, 3)->reason, "processing_failed");
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->rowsDone, 4);
}

/// The accepted rows of `first`..`last` (every 7th row is rejected in the batch below), each an awkward result.
std::vector<StoredResult> acceptedResults(const std::string& batchId, int first, int last, const std::string& note) {
    std::vector<StoredResult> results;
    for (int row = first; row <= last; ++row) {
        if (row % 7 != 0) results.push_back(awkwardResult(batchId, row, row % 5 == 0 ? "error" : "found", note));
    }
    return results;
}

std::vector<StoredResult> operator+(std::vector<StoredResult> a, const std::vector<StoredResult>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

TEST_P(StoreResultsTest, EachBackendEndsAsSQLiteDoesWithNewRowsDuplicatesReplaysMixesAndUnknownBatchesInOneCall) {
    // The same calls on this backend and on a SQLite twin (the one-result-at-a-time semantics, unchanged by issue 11):
    // after each, the batch's counters and every stored result must agree, and rows_done must be the hand-computed
    // figure. Rows 1–300, every 7th rejected at upload (42 rows, their results stored then: done from the start).
    Store store(settings_);
    testing::StoreBackend twinBackend("sqlite", "store-results-twin", "twin.db");
    Store twin(twinBackend.settings());
    const BatchRecord batch = newBatch();
    const std::string stranger = testing::uniqueName("demo");  // a batch neither store knows
    for (Store* each : {&store, &twin}) {
        writeBatch(*each, batch, makeRows(batch.batchId, 300, 7));
        ASSERT_TRUE(each->batches().setBatchState(batch.batchId, jobs::inquiry::BatchState::awaiting_payment,
                                                  jobs::inquiry::BatchState::queued));
    }
    const std::string& id = batch.batchId;
    std::string twinCompletedAt;
    const auto call = [&](const std::vector<StoredResult>& results, int rowsDone, jobs::inquiry::BatchState state) {
        store.results().upsertResults(results);
        twin.results().upsertResults(results);
        const BatchRecord stored = store.batches().findBatch(id).value();
        const BatchRecord reference = twin.batches().findBatch(id).value();
        EXPECT_EQ(stored.rowsDone, rowsDone);
        EXPECT_EQ(reference.rowsDone, rowsDone);
        EXPECT_EQ(stored.state, state);
        EXPECT_EQ(reference.state, state);
        EXPECT_EQ(stored.completedAt.empty(), reference.completedAt.empty());
        EXPECT_EQ(store.results().resultsOfBatch(id), twin.results().resultsOfBatch(id));
        EXPECT_EQ(store.results().resultsOfBatch(stranger), twin.results().resultsOfBatch(stranger));
        return stored;
    };
    using jobs::inquiry::BatchState;

    // New rows, row 5 given twice (the last wins): the accepted rows of 1–100 are 86, so 42 + 86.
    SCOPED_TRACE("new rows");
    call(acceptedResults(id, 1, 100, "one") + std::vector<StoredResult>{awkwardResult(id, 5, "no_records", "again")},
         128, BatchState::processing);
    EXPECT_EQ(store.results().findResult(id, 5)->status, "no_records");
    // A mix: 50–100 stored, 101–150 new (43 accepted): 171.
    call(acceptedResults(id, 50, 150, "two"), 171, BatchState::processing);
    // Blocks far apart (200–210 and 280–290: 9 accepted each), a stored row, a rejected row given a result, and an
    // unknown batch's results, in one call: 171 + 18.
    call(acceptedResults(id, 200, 210, "three") + acceptedResults(id, 280, 290, "three") +
             std::vector<StoredResult>{awkwardResult(id, 10, "found", "three"), awkwardResult(id, 14, "found", "three"),
                                       awkwardResult(stranger, 1, "found", "three"),
                                       awkwardResult(stranger, 2, "error", "three")},
         189, BatchState::processing);
    EXPECT_EQ(store.results().findResult(id, 14)->status, "found");
    EXPECT_EQ(store.results().resultsOfBatch(stranger).size(), 2U);
    // The first call replayed: nothing new.
    call(acceptedResults(id, 1, 100, "one"), 189, BatchState::processing);
    // Every accepted row: the 111 not stored yet complete the batch.
    const BatchRecord completed = call(acceptedResults(id, 1, 300, "four"), 300, BatchState::completed);
    EXPECT_FALSE(completed.completedAt.empty());
    // A final result replayed, with a change of mind on one row: still 300, completed once.
    EXPECT_EQ(call(acceptedResults(id, 1, 300, "four") + std::vector<StoredResult>{awkwardResult(id, 3, "error", "5")},
                   300, BatchState::completed)
                  .completedAt,
              completed.completedAt);
    EXPECT_EQ(store.results().findResult(id, 3).value(), awkwardResult(id, 3, "error", "5"));
}

TEST_P(StoreResultsTest, ResultsOfTwoBatchesInterleavedInOneCallKeepTheirOwnBatchRowsAndCounts) {
    // One call alternating two batches' results with the same row numbers, stored and new keys mixed, and a stored
    // row far from the others (its own stretch of rows): every result lands under its own batch with its own content
    // (SQLite binds a batch id only when it changes from one result to the next), and each batch counts its new keys.
    Store store(settings_);
    const BatchRecord a = newBatch();
    const BatchRecord b = newBatch();
    for (const BatchRecord* batch : {&a, &b}) {
        writeBatch(store, *batch, makeRows(batch->batchId, 200, 0));
        ASSERT_TRUE(store.batches().setBatchState(batch->batchId, jobs::inquiry::BatchState::awaiting_payment,
                                                  jobs::inquiry::BatchState::queued));
    }
    const auto result = [](const std::string& batchId, int row, const std::string& status) {
        return StoredResult{
            batchId,
            row,
            "A1" + std::to_string(23456780 + row),
            status,
            "",
            R"({"batch":")" + batchId + R"(","row":)" + std::to_string(row) + R"(,"status":")" + status + R"("})"};
    };
    store.results().upsertResults({result(a.batchId, 1, "found"), result(a.batchId, 2, "found"),
                                   result(a.batchId, 150, "found"), result(b.batchId, 2, "found")});
    EXPECT_EQ(store.batches().findBatch(a.batchId)->rowsDone, 3);
    EXPECT_EQ(store.batches().findBatch(b.batchId)->rowsDone, 1);

    std::vector<StoredResult> call;
    for (int row = 1; row <= 4; ++row) {
        call.push_back(result(a.batchId, row, "no_records"));
        call.push_back(result(b.batchId, row, "no_records"));
    }
    call.push_back(result(a.batchId, 150, "no_records"));  // stored, 146 rows after the others
    call.push_back(result(a.batchId, 151, "no_records"));  // new, next to it
    store.results().upsertResults(call);

    // New keys: a's 3, 4, 151 (3 + 3 = 6); b's 1, 3, 4 (1 + 3 = 4).
    const BatchRecord storedA = store.batches().findBatch(a.batchId).value();
    const BatchRecord storedB = store.batches().findBatch(b.batchId).value();
    EXPECT_EQ(storedA.rowsDone, 6);
    EXPECT_EQ(storedB.rowsDone, 4);
    EXPECT_EQ(storedA.state, jobs::inquiry::BatchState::processing);
    EXPECT_EQ(storedB.state, jobs::inquiry::BatchState::processing);
    EXPECT_EQ(store.results().resultsOfBatch(a.batchId),
              (std::vector<StoredResult>{result(a.batchId, 1, "no_records"), result(a.batchId, 2, "no_records"),
                                         result(a.batchId, 3, "no_records"), result(a.batchId, 4, "no_records"),
                                         result(a.batchId, 150, "no_records"), result(a.batchId, 151, "no_records")}));
    EXPECT_EQ(store.results().resultsOfBatch(b.batchId),
              (std::vector<StoredResult>{result(b.batchId, 1, "no_records"), result(b.batchId, 2, "no_records"),
                                         result(b.batchId, 3, "no_records"), result(b.batchId, 4, "no_records")}));
}

TEST_P(StoreResultsTest, EveryByteOfAResultArrivesAsGivenWhetherNewReplacedOrOfAnUnknownBatch) {
    // What a COPY line (tab, line feed, carriage return, backslash, `\.`, `\N`) or an array literal (quotes, braces,
    // commas) would have to escape, every other ASCII control character, Chinese and a 4-byte character, in every
    // text column, through each way a result is written: a new key of a known batch, a key stored already (replaced),
    // and a batch the store does not know.
    std::string awkward = "\\.\n\\N\t\"{a,b}\" NULL \r\n臺北市信義區 😀 end\\";
    for (int c = 1; c < 0x80; ++c) awkward += static_cast<char>(c);
    Store store(settings_);
    const BatchRecord batch = newBatch();
    ASSERT_TRUE(writeQueuedBatch(store, batch, makeRows(batch.batchId, 3, 0)));
    const std::string stranger = testing::uniqueName("demo");
    const auto result = [&](const std::string& batchId, int row, const std::string& note) {
        return StoredResult{batchId, row, "A1" + awkward, "found" + awkward, note + awkward, note + awkward + note};
    };
    store.results().upsertResults({result(batch.batchId, 1, "new"), result(stranger, 1, "new")});
    EXPECT_EQ(store.results().findResult(batch.batchId, 1).value(), result(batch.batchId, 1, "new"));
    EXPECT_EQ(store.results().findResult(stranger, 1).value(), result(stranger, 1, "new"));
    store.results().upsertResults(
        {result(batch.batchId, 1, "replaced"), result(batch.batchId, 2, "new"), result(stranger, 1, "replaced")});
    EXPECT_EQ(store.results().findResult(batch.batchId, 1).value(), result(batch.batchId, 1, "replaced"));
    EXPECT_EQ(store.results().findResult(batch.batchId, 2).value(), result(batch.batchId, 2, "new"));
    EXPECT_EQ(store.results().findResult(stranger, 1).value(), result(stranger, 1, "replaced"));
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->rowsDone, 2);
}

// Issue 11: a redelivered chunk's results, as stored already, are not written again (no new row version on
// PostgreSQL, no page on SQLite): their updated_at stays. A result that differs in any column is replaced and
// restamped, in the same call; a batch not in the table is treated alike.
TEST_P(StoreResultsTest, AResultReplayedAsStoredIsNotWrittenAgainWhileAChangedOneIsReplaced) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    ASSERT_TRUE(writeQueuedBatch(store, batch, makeRows(batch.batchId, 6, 0)));
    const std::string stranger = testing::uniqueName("demo");
    std::vector<StoredResult> first;
    for (int row = 1; row <= 5; ++row) first.push_back(foundResult(batch.batchId, row));
    first.push_back(foundResult(stranger, 1));
    store.results().upsertResults(first);
    const auto stampOf = [&](const std::string& batchId, int row) {
        Poco::Data::Session session = rawSession();
        std::string stamp;
        session << sqlFor("SELECT updated_at FROM inquiry_results WHERE batch_id = ? AND row_no = ?"), into(stamp),
            bind(batchId), bind(row), now;
        return stamp;
    };
    std::vector<std::string> before;
    for (int row = 1; row <= 5; ++row) before.push_back(stampOf(batch.batchId, row));
    const std::string strangerBefore = stampOf(stranger, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // stamps have milliseconds: a new one differs

    std::vector<StoredResult> again = first;  // rows 1-5 and the stranger as stored …
    again[1].debtorId = "B123456789";         // … but row 2's debtor,
    again[2].status = "no_records";           // row 3's status,
    again[3].reason = "why";                  // row 4's reason
    again[4].payload += " ";                  // and row 5's payload differ
    again.push_back(foundResult(batch.batchId, 6));
    store.results().upsertResults(again);
    EXPECT_EQ(stampOf(batch.batchId, 1), before[0]) << "replayed as stored: not written";
    EXPECT_EQ(stampOf(stranger, 1), strangerBefore) << "replayed as stored: not written";
    for (int row = 2; row <= 5; ++row) {
        EXPECT_GT(stampOf(batch.batchId, row), before[static_cast<std::size_t>(row - 1)]) << "row " << row;
        EXPECT_EQ(store.results().findResult(batch.batchId, row).value(), again[static_cast<std::size_t>(row - 1)]);
    }
    EXPECT_EQ(store.results().findResult(batch.batchId, 1).value(), first[0]);
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->rowsDone, 6);
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->state, jobs::inquiry::BatchState::completed);
}

TEST_P(StoreResultsTest, AResultThePostgreSQLServerRefusesFailsTheWholeCallAsPermanentAndTheSessionWorksOn) {
    // Bytes that are not UTF-8: SQLite stores text as given; PostgreSQL refuses them (SQLSTATE 22021) whether they
    // come by the COPY into inquiry_results (a new key of a known batch) or by the COPY into the staging table (a
    // batch the store does not know). The call then changes nothing, its error says a retry cannot help, and the one
    // pooled session (left out of COPY mode, its transaction rolled back) serves the next call.
    settings_.poolSize = 1;
    Store store(settings_);
    const BatchRecord batch = newBatch();
    ASSERT_TRUE(writeQueuedBatch(store, batch, makeRows(batch.batchId, 3, 0)));
    const std::string stranger = testing::uniqueName("demo");
    StoredResult notUtf8 = foundResult(batch.batchId, 2);
    notUtf8.payload += "\xff\xfe";
    StoredResult strangerNotUtf8 = foundResult(stranger, 1);
    strangerNotUtf8.reason = "\xc3(";
    for (const std::vector<StoredResult>& call :
         {std::vector<StoredResult>{foundResult(batch.batchId, 1), notUtf8},
          std::vector<StoredResult>{foundResult(batch.batchId, 1), strangerNotUtf8}}) {
        if (GetParam() == "sqlite") {
            store.results().upsertResults(call);
            EXPECT_EQ(store.results().findResult(call[1].batchId, call[1].row).value(), call[1]);
            continue;
        }
        try {
            store.results().upsertResults(call);
            ADD_FAILURE() << "PostgreSQL took bytes that are not UTF-8";
        } catch (const StoreError& error) {
            EXPECT_FALSE(error.isRetryable()) << error.what();
            EXPECT_NE(std::string(error.what()).find("22021"), std::string::npos) << error.what();
        }
        EXPECT_FALSE(store.results().findResult(batch.batchId, 1).has_value()) << "all or nothing";
        EXPECT_EQ(store.batches().findBatch(batch.batchId)->rowsDone, 0);
    }
    store.results().upsertResults({foundResult(batch.batchId, 3), foundResult(stranger, 2)});
    EXPECT_EQ(store.results().findResult(batch.batchId, 3).value(), foundResult(batch.batchId, 3));
    EXPECT_EQ(store.results().findResult(stranger, 2).value(), foundResult(stranger, 2));
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->rowsDone, GetParam() == "sqlite" ? 3 : 1);
}

TEST_P(StoreResultsTest, AKeyStoredMeanwhileByAWriterWithoutTheBatchLockMakesTheCallRetryableNotPermanent) {
    // PostgreSQL writes the new keys of a locked batch by a COPY with no ON CONFLICT, since every writer of a batch's
    // results holds its batch row. Should a key be stored meanwhile by one that does not (here: a trigger that stores
    // row 2 just before the COPY does), the call fails as retryable and changes nothing, and the retry stores every
    // row. SQLite (one writer at a time) takes the same calls as they come.
    Store store(settings_);
    const BatchRecord batch = newBatch();
    ASSERT_TRUE(writeQueuedBatch(store, batch, makeRows(batch.batchId, 3, 0)));
    const std::vector<StoredResult> call{foundResult(batch.batchId, 1), foundResult(batch.batchId, 2),
                                         foundResult(batch.batchId, 3)};
    if (GetParam() == "postgresql") {
        std::string function = "td_collide_" + testing::uniqueName("f");
        std::replace(function.begin(), function.end(), '-', '_');
        Poco::Data::Session session = rawSession();
        session << "CREATE FUNCTION " + function +
                       "() RETURNS trigger AS $$ BEGIN"
                       " IF pg_trigger_depth() = 1 AND NEW.batch_id = '" +
                       batch.batchId +
                       "' AND NEW.row_no = 2 THEN"
                       " INSERT INTO inquiry_results (batch_id, row_no, debtor_id, status, reason, payload, updated_at)"
                       " VALUES (NEW.batch_id, NEW.row_no, NEW.debtor_id, 'error', 'meanwhile', '{}', NEW.updated_at);"
                       " END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            now;
        session << "CREATE TRIGGER " + function + " BEFORE INSERT ON inquiry_results FOR EACH ROW EXECUTE FUNCTION " +
                       function + "()",
            now;
        try {
            store.results().upsertResults(call);
            ADD_FAILURE() << "the COPY met a stored key and the call went through";
        } catch (const StoreError& error) {
            EXPECT_TRUE(error.isRetryable()) << error.what();
            EXPECT_NE(std::string(error.what()).find("23505"), std::string::npos) << error.what();
        }
        session << "DROP TRIGGER " + function + " ON inquiry_results", now;
        session << "DROP FUNCTION " + function + "()", now;
        EXPECT_FALSE(store.results().findResult(batch.batchId, 1).has_value()) << "all or nothing";
        EXPECT_FALSE(store.results().findResult(batch.batchId, 2).has_value()) << "all or nothing";
        EXPECT_EQ(store.batches().findBatch(batch.batchId)->rowsDone, 0);
    }
    store.results().upsertResults(call);  // the retry
    for (const StoredResult& result : call)
        EXPECT_EQ(store.results().findResult(batch.batchId, result.row).value(), result) << result.row;
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->rowsDone, 3);
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->state, jobs::inquiry::BatchState::completed);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreResultsTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

}  // namespace
}  // namespace taxdesk::connectors
