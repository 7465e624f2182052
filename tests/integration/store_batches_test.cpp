// Batches, their rows and payments in the SQL store, on both backends: SQLite in a temporary folder, and the
// PostgreSQL server that scripts/test started (TAXDESK_TEST_POSTGRESQL). Ids, tokens, creditors and idempotency keys
// are unique per run, so a shared database is fine; queries that see the whole database are filtered to this run's.
#include <Poco/Data/Session.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <latch>
#include <thread>

#include "connectors/store/migrations.hpp"
#include "connectors/store/store.hpp"
#include "fixtures/at_once.hpp"
#include "fixtures/store_backend.hpp"
#include "fixtures/test_env.hpp"

namespace taxdesk::connectors {

// Readable failures (found by argument-dependent lookup, so outside the anonymous namespace).
void PrintTo(const BatchRowRecord& row, std::ostream* out) {
    *out << "{" << row.batchId << " row " << row.row << " " << row.debtorId << " " << row.debtorName << " "
         << row.titleRef << " " << row.scope << " " << row.incomeYears << (row.accepted ? " accepted" : " rejected ")
         << row.reason << " " << row.column << " NT$" << row.fee << "}";
}

void PrintTo(const BatchRecord& batch, std::ostream* out) {
    *out << "{" << batch.batchId << " of " << batch.creditorId << " " << batch.state << " '" << batch.failureReason
         << "' " << batch.filename << " " << batch.charset << " rows " << batch.rowsTotal << "/" << batch.rowsAccepted
         << "/" << batch.rowsRejected << " done " << batch.rowsDone << " NT$" << batch.feeTotal
         << (batch.paid ? " paid " : " unpaid ") << batch.receiptToken << " " << batch.createdAt << " "
         << batch.queuedAt << " " << batch.completedAt << "}";
}

void PrintTo(const PaymentRecord& payment, std::ostream* out) {
    *out << "{" << payment.paymentId << " key " << payment.idempotencyKey << " " << payment.batchId << " of "
         << payment.creditorId << " NT$" << payment.amount << " " << payment.method << " " << payment.card << " "
         << payment.providerTxnId << " " << payment.status << " '" << payment.error << "' " << payment.createdAt << " "
         << payment.updatedAt << (payment.published ? " published" : " unpublished") << "}";
}

namespace {

using namespace Poco::Data::Keywords;

constexpr long long kRowFee = 500;

/// A rejected row's result as the upload hands it to the writer (the store writes it as given).
std::string rejectedPayload(const std::string& batchId, int row, const std::string& reason) {
    return R"({"batch_id":")" + batchId + R"(","row":)" + std::to_string(row) + R"(,"status":"rejected","reason":")" +
           reason + R"(","income":[],"property":[]})";
}

/// Rows 1..count of a batch; every `rejectEvery`-th row (0: none) is rejected as an invalid id.
std::vector<BatchRowRecord> makeRows(const std::string& batchId, int count, int rejectEvery, int first = 1) {
    std::vector<BatchRowRecord> rows;
    rows.reserve(static_cast<size_t>(count));
    for (int row = first; row < first + count; ++row) {
        const bool accepted = rejectEvery == 0 || row % rejectEvery != 0;
        rows.push_back({batchId, row, "A1" + std::to_string(23456780 + row), "王小明",
                        "112年度司執字第" + std::to_string(row) + "號", accepted ? "both" : "",
                        accepted ? "2023;2024" : "", accepted, accepted ? "" : "invalid_id",
                        accepted ? "" : "debtor_id", accepted ? kRowFee : 0});
        if (!accepted) rows.back().resultPayload = rejectedPayload(batchId, row, "invalid_id");
    }
    return rows;
}

StoredResult foundResult(const std::string& batchId, int row) {
    std::string payload = R"({"row":)" + std::to_string(row) + R"(,"status":"found"})";
    return {batchId, row, "A1" + std::to_string(23456780 + row), "found", "", std::move(payload)};
}

struct Totals {
    int total = 0;
    int accepted = 0;
    int rejected = 0;
    long long fee = 0;
};

Totals totalsOf(const std::vector<BatchRowRecord>& rows) {
    Totals totals;
    for (const BatchRowRecord& row : rows) {
        ++totals.total;
        (row.accepted ? totals.accepted : totals.rejected) += 1;
        totals.fee += row.fee;
    }
    return totals;
}

class StoreBatchesTest : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        backend_ = std::make_unique<testing::StoreBackend>(GetParam(), "store-batches", "taxdesk.db");
        settings_ = backend_->settings();
        creditor_ = testing::uniqueName("C");
    }

    /// A batch of this test's creditor awaiting payment, with a unique id and receipt token.
    [[nodiscard]] BatchRecord newBatch(const std::string& creditor = "") const {
        BatchRecord batch;
        batch.batchId = testing::uniqueName("batch");
        batch.creditorId = creditor.empty() ? creditor_ : creditor;
        batch.state = "awaiting_payment";
        batch.filename = "debtors.csv";
        batch.charset = "utf-8";
        batch.receiptToken = testing::uniqueName("receipt");
        return batch;
    }

    /// Writes a whole batch in chunks of `chunk` rows and commits it; returns the record as stored.
    static BatchRecord writeBatch(Store& store, const BatchRecord& batch, const std::vector<BatchRowRecord>& rows,
                                  size_t chunk = 1000) {
        auto writer = store.batches().beginBatch(batch);
        for (size_t first = 0; first < rows.size(); first += chunk) {
            writer->addRows({rows.begin() + static_cast<std::ptrdiff_t>(first),
                             rows.begin() + static_cast<std::ptrdiff_t>(std::min(rows.size(), first + chunk))});
        }
        const Totals totals = totalsOf(rows);
        writer->commit(totals.total, totals.accepted, totals.rejected, totals.fee);
        return store.batches().findBatch(batch.batchId).value();
    }

    [[nodiscard]] PaymentRecord newPayment(const std::string& batchId, long long amount) const {
        PaymentRecord payment;
        payment.paymentId = testing::uniqueName("pay");
        payment.idempotencyKey = testing::uniqueName("key");
        payment.batchId = batchId;
        payment.creditorId = creditor_;
        payment.amount = amount;
        payment.method = "easycard";
        payment.card = "****-****-****-1234";
        return payment;
    }

    /// Rows of `table` with this batch id, counted behind the store's back.
    [[nodiscard]] long long countOf(const std::string& table, const std::string& batchId) const {
        Poco::Data::Session session = settings_.backend == "sqlite"
                                          ? Poco::Data::Session("sqlite", settings_.sqlitePath)
                                          : Poco::Data::Session("postgresql", settings_.postgresql);
        const auto backend =
            settings_.backend == "sqlite" ? detail::SqlBackend::sqlite : detail::SqlBackend::postgresql;
        Poco::Int64 count = 0;
        session << detail::placeholders(backend, "SELECT COUNT(*) FROM " + table + " WHERE batch_id = ?"), into(count),
            bind(batchId), now;
        return count;
    }

    StoreSettings settings_;
    std::unique_ptr<testing::StoreBackend> backend_;
    std::string creditor_;
};

TEST_P(StoreBatchesTest, ACommittedBatchKeepsItsRecordRowsAndTheRejectedRowsResults) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    auto rows = makeRows(batch.batchId, 5, 0);
    rows[1].accepted = false;
    rows[1].debtorId = "A1\"2\\3\n王\x01";  // whatever the file held: the payload is the caller's
    rows[1].reason = "invalid_id";
    rows[1].column = "debtor_id";
    rows[1].fee = 0;
    rows[1].resultPayload = R"({"batch_id":")" + batch.batchId +
                            R"(","row":2,"debtor_id":"A1\"2\\3\n王\u0001","status":"rejected",)"
                            R"("reason":"invalid_id","income":[],"property":[]})";
    rows[3].accepted = false;
    rows[3].reason = "duplicate";
    rows[3].fee = 0;
    rows[3].resultPayload = rejectedPayload(batch.batchId, 4, "duplicate");

    auto writer = store.batches().beginBatch(batch);
    EXPECT_EQ(writer->batchId(), batch.batchId);
    writer->addRows({rows.begin(), rows.begin() + 2});
    writer->addRows({});
    writer->addRows({rows.begin() + 2, rows.end()});
    writer->commit(5, 3, 2, 3 * kRowFee);

    const auto stored = store.batches().findBatch(batch.batchId);
    ASSERT_TRUE(stored.has_value());
    BatchRecord expected = batch;
    expected.rowsTotal = 5;
    expected.rowsAccepted = 3;
    expected.rowsRejected = 2;
    expected.rowsDone = 2;
    expected.feeTotal = 3 * kRowFee;
    expected.createdAt = stored->createdAt;
    EXPECT_EQ(*stored, expected);
    EXPECT_EQ(stored->createdAt.size(), 24U) << stored->createdAt;
    EXPECT_EQ(stored->queuedAt, "");
    EXPECT_EQ(stored->completedAt, "");

    const auto results = store.results().resultsOfBatch(batch.batchId);
    ASSERT_EQ(results.size(), 2U);
    EXPECT_EQ(results[0],
              (StoredResult{batch.batchId, 2, rows[1].debtorId, "rejected", "invalid_id", rows[1].resultPayload}));
    EXPECT_EQ(results[1], (StoredResult{batch.batchId, 4, rows[3].debtorId, "rejected", "duplicate",
                                        rejectedPayload(batch.batchId, 4, "duplicate")}));

    EXPECT_EQ(store.batches().pendingRows(batch.batchId, 0, 100),
              (std::vector<BatchRowRecord>{rows[0], rows[2], rows[4]}));
    EXPECT_EQ(countOf("batch_rows", batch.batchId), 5);
}

TEST_P(StoreBatchesTest, RowsWithoutABatchIdTakeTheWritersAndRowsOfAnotherBatchAreRefused) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    auto rows = makeRows("", 2, 0);

    auto writer = store.batches().beginBatch(batch);
    EXPECT_THROW(writer->addRows(makeRows("other", 1, 0)), std::invalid_argument);
    writer->addRows(rows);
    writer->commit(2, 2, 0, 2 * kRowFee);

    for (auto& row : rows) row.batchId = batch.batchId;
    EXPECT_EQ(store.batches().pendingRows(batch.batchId, 0, 10), rows);
}

TEST_P(StoreBatchesTest, DestroyingAnUncommittedWriterLeavesNothingBehind) {
    settings_.poolSize = 1;  // the next writer gets the same session: nothing staged may be left in it either
    Store store(settings_);
    const BatchRecord batch = newBatch();
    {
        auto writer = store.batches().beginBatch(batch);
        writer->addRows(makeRows(batch.batchId, 500, 3));
        writer->addRows(makeRows(batch.batchId, 500, 3, 501));
        // A whole-file error found late: the upload gives up without committing.
    }

    EXPECT_EQ(store.batches().findBatch(batch.batchId), std::nullopt);
    EXPECT_EQ(store.batches().findBatchByReceiptToken(batch.receiptToken), std::nullopt);
    EXPECT_EQ(countOf("batches", batch.batchId), 0);
    EXPECT_EQ(countOf("batch_rows", batch.batchId), 0);
    EXPECT_EQ(countOf("inquiry_results", batch.batchId), 0) << "rejected rows' results were left behind";

    const BatchRecord next = newBatch();
    const BatchRecord stored = writeBatch(store, next, makeRows(next.batchId, 10, 5));
    EXPECT_EQ(stored.rowsTotal, 10);
    EXPECT_EQ(countOf("batch_rows", next.batchId), 10);
    EXPECT_EQ(countOf("inquiry_results", next.batchId), 2);
    EXPECT_EQ(countOf("batch_rows", batch.batchId), 0);

    // The same batch id can be written after all.
    const BatchRecord again = writeBatch(store, batch, makeRows(batch.batchId, 3, 0));
    EXPECT_EQ(again.rowsTotal, 3);
    EXPECT_EQ(countOf("inquiry_results", batch.batchId), 0);
}

TEST_P(StoreBatchesTest, AWriterThatFailedRefusesMoreWorkAndRollsBack) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    {
        auto writer = store.batches().beginBatch(batch);
        writer->addRows(makeRows(batch.batchId, 10, 2));
        try {
            writer->addRows(makeRows(batch.batchId, 1, 0, 5));
            ADD_FAILURE() << "row 5 twice was accepted";
        } catch (const StoreError& error) {
            EXPECT_FALSE(error.isRetryable())
                << "a unique constraint violation fails again on a retry: " << error.what();
        }
        EXPECT_THROW(writer->addRows(makeRows(batch.batchId, 1, 0, 11)), std::logic_error);
        EXPECT_THROW(writer->commit(10, 5, 5, 5 * kRowFee), std::logic_error);
    }
    EXPECT_EQ(store.batches().findBatch(batch.batchId), std::nullopt);
    EXPECT_EQ(countOf("batch_rows", batch.batchId), 0);
    EXPECT_EQ(countOf("inquiry_results", batch.batchId), 0);
    EXPECT_NO_THROW(store.ping());
}

TEST_P(StoreBatchesTest, TotalsThatDoNotMatchTheRowsAreRefusedBeforeAnythingIsWritten) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    auto writer = store.batches().beginBatch(batch);
    writer->addRows(makeRows(batch.batchId, 10, 5));

    EXPECT_THROW(writer->commit(11, 8, 3, 8 * kRowFee), std::invalid_argument);
    EXPECT_THROW(writer->commit(10, 9, 1, 9 * kRowFee), std::invalid_argument);
    EXPECT_EQ(store.batches().findBatch(batch.batchId), std::nullopt);
    writer->commit(10, 8, 2, 8 * kRowFee);
    EXPECT_THROW(writer->commit(10, 8, 2, 8 * kRowFee), std::logic_error);

    EXPECT_EQ(store.batches().findBatch(batch.batchId)->rowsAccepted, 8);
}

TEST_P(StoreBatchesTest, BeginningABatchChecksItsRecord) {
    Store store(settings_);
    BatchRecord batch = newBatch();
    batch.state = "lost";
    EXPECT_THROW(store.batches().beginBatch(batch), std::invalid_argument);
    batch = newBatch();
    batch.receiptToken.clear();
    EXPECT_THROW(store.batches().beginBatch(batch), std::invalid_argument);
    batch = newBatch();
    batch.creditorId.clear();
    EXPECT_THROW(store.batches().beginBatch(batch), std::invalid_argument);
}

TEST_P(StoreBatchesTest, TenThousandRowsInChunksWithTheirRejectedResults) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const auto rows = makeRows(batch.batchId, 10000, 7);
    const Totals totals = totalsOf(rows);

    const auto started = std::chrono::steady_clock::now();
    const BatchRecord stored = writeBatch(store, batch, rows, 1500);
    const auto elapsed = std::chrono::steady_clock::now() - started;
    std::cout << "[          ] " << GetParam() << ": 10,000 rows written in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms\n";

    EXPECT_EQ(totals.rejected, 1428);
    EXPECT_EQ(stored.rowsTotal, 10000);
    EXPECT_EQ(stored.rowsAccepted, 10000 - 1428);
    EXPECT_EQ(stored.rowsRejected, 1428);
    EXPECT_EQ(stored.rowsDone, 1428);
    EXPECT_EQ(stored.feeTotal, (10000 - 1428) * kRowFee);
    EXPECT_EQ(countOf("batch_rows", batch.batchId), 10000);
    const auto results = store.results().resultsOfBatch(batch.batchId);
    ASSERT_EQ(results.size(), 1428U);
    EXPECT_TRUE(std::all_of(results.begin(), results.end(), [](const StoredResult& result) {
        return result.status == "rejected" && result.reason == "invalid_id" && result.row % 7 == 0;
    }));
    const auto pending = store.batches().pendingRows(batch.batchId, 9990, 100);
    // Rows 9991 to 10000 but 9996, a multiple of 7.
    EXPECT_EQ(pending, (std::vector<BatchRowRecord>{rows[9990], rows[9991], rows[9992], rows[9993], rows[9994],
                                                    rows[9996], rows[9997], rows[9998], rows[9999]}));
}

TEST_P(StoreBatchesTest, PendingRowsComePagedInRowOrderAndShrinkAsResultsArrive) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const auto rows = makeRows(batch.batchId, 10, 3);  // 3, 6 and 9 rejected
    writeBatch(store, batch, rows);
    const auto rowNumbers = [](const std::vector<BatchRowRecord>& page) {
        std::vector<int> numbers;
        for (const auto& row : page) numbers.push_back(row.row);
        return numbers;
    };

    EXPECT_EQ(rowNumbers(store.batches().pendingRows(batch.batchId, 0, 3)), (std::vector<int>{1, 2, 4}));
    EXPECT_EQ(rowNumbers(store.batches().pendingRows(batch.batchId, 4, 3)), (std::vector<int>{5, 7, 8}));
    EXPECT_EQ(rowNumbers(store.batches().pendingRows(batch.batchId, 8, 3)), (std::vector<int>{10}));
    EXPECT_EQ(rowNumbers(store.batches().pendingRows(batch.batchId, 10, 3)), (std::vector<int>{}));
    EXPECT_EQ(store.batches().pendingRows(batch.batchId, 0, 3).front(), rows[0]);

    store.results().upsertResults(
        {foundResult(batch.batchId, 1), foundResult(batch.batchId, 2), foundResult(batch.batchId, 5)});
    EXPECT_EQ(rowNumbers(store.batches().pendingRows(batch.batchId, 0, 3)), (std::vector<int>{4, 7, 8}));

    std::vector<StoredResult> rest;
    for (const int row : {4, 7, 8, 10}) rest.push_back(foundResult(batch.batchId, row));
    store.results().upsertResults(rest);
    EXPECT_TRUE(store.batches().pendingRows(batch.batchId, 0, 100).empty());
    EXPECT_TRUE(store.batches().pendingRows(testing::uniqueName("unknown"), 0, 100).empty());
    EXPECT_TRUE(store.batches().pendingRows(batch.batchId, 0, 0).empty());
}

TEST_P(StoreBatchesTest, ResultsMoveAPaidBatchFromQueuedThroughProcessingToCompleted) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    writeBatch(store, batch, makeRows(batch.batchId, 4, 3));  // row 3 rejected: done from the start

    store.results().upsertResults({foundResult(batch.batchId, 1)});
    auto stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.state, "awaiting_payment") << "only a queued or processing batch changes state";
    EXPECT_EQ(stored.rowsDone, 2);

    ASSERT_TRUE(store.batches().setBatchState(batch.batchId, "awaiting_payment", "queued"));
    store.results().upsertResults({foundResult(batch.batchId, 2)});
    stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.state, "processing");
    EXPECT_EQ(stored.rowsDone, 3);
    EXPECT_EQ(stored.completedAt, "");

    store.results().upsertResults({foundResult(batch.batchId, 1), foundResult(batch.batchId, 2)});  // a replay
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->rowsDone, 3);
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->state, "processing");

    // Results of batches the store does not know (fed to Kafka by a demo) in the same call change nothing else.
    store.results().upsertResults({foundResult(testing::uniqueName("demo"), 1), foundResult(batch.batchId, 4)});
    stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.state, "completed");
    EXPECT_EQ(stored.rowsDone, 4);
    EXPECT_EQ(stored.completedAt.size(), 24U) << stored.completedAt;
    EXPECT_GE(stored.completedAt, stored.queuedAt);

    store.results().upsertResults({foundResult(batch.batchId, 4)});
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->completedAt, stored.completedAt)
        << "completed_at is stamped once";
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->state, "completed");
}

TEST_P(StoreBatchesTest, ConcurrentResultsOfOneBatchCountEveryRow) {
    // Small chunks from many writers: on PostgreSQL a count that does not wait for the batch's lock misses results
    // committed meanwhile, and the batch then never completes.
    constexpr int kWriters = 8;
    constexpr int kRowsPerWriter = 60;
    constexpr int kChunk = 2;
    settings_.poolSize = kWriters;
    Store store(settings_);
    const BatchRecord batch = newBatch();
    writeBatch(store, batch, makeRows(batch.batchId, kWriters * kRowsPerWriter, 0));
    ASSERT_TRUE(store.batches().setBatchState(batch.batchId, "awaiting_payment", "queued"));

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
    EXPECT_EQ(stored.state, "completed");
}

StoredResult errorResult(const std::string& batchId, int row, const std::string& reason = "registry_unavailable") {
    std::string payload = R"({"row":)" + std::to_string(row) + R"(,"status":"error","reason":")" + reason + R"("})";
    return {batchId, row, "A1" + std::to_string(23456780 + row), "error", reason, std::move(payload)};
}

TEST_P(StoreBatchesTest, ErrorRowsOfACompletedBatchGoBackToWorkOnceAndAreCountedOnce) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    writeBatch(store, batch, makeRows(batch.batchId, 5, 3));  // rows 1, 2, 4, 5 accepted; 3 rejected
    ASSERT_TRUE(store.batches().setBatchState(batch.batchId, "awaiting_payment", "queued"));
    store.results().upsertResults({foundResult(batch.batchId, 1), errorResult(batch.batchId, 2),
                                   foundResult(batch.batchId, 4),
                                   errorResult(batch.batchId, 5, "tax_data_unavailable")});
    auto stored = store.batches().findBatch(batch.batchId).value();
    ASSERT_EQ(stored.state, "completed");
    ASSERT_EQ(stored.rowsDone, 5);
    EXPECT_EQ(store.results().countResultsWithStatus(batch.batchId, "error"), 2);
    EXPECT_EQ(store.results().countResultsWithStatus(batch.batchId, "found"), 2);
    EXPECT_EQ(store.results().countResultsWithStatus(batch.batchId, "rejected"), 1);

    EXPECT_EQ(store.results().retryErrorRows(batch.batchId), 2);
    stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.state, "processing");
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
    EXPECT_EQ(stored.state, "processing");
    EXPECT_EQ(stored.rowsDone, 4);
    store.results().upsertResults({foundResult(batch.batchId, 5)});
    stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.state, "completed");
    EXPECT_EQ(stored.rowsDone, 5) << "a retried row is counted once";
    EXPECT_EQ(stored.completedAt.size(), 24U) << stored.completedAt;
    EXPECT_EQ(countOf("inquiry_results", batch.batchId), 5);
    EXPECT_EQ(store.results().countResultsWithStatus(batch.batchId, "error"), 0);
    EXPECT_EQ(store.results().retryErrorRows(batch.batchId), 0) << "no error rows: nothing to retry";
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->state, "completed");
}

TEST_P(StoreBatchesTest, ConcurrentRetriesPutTheErrorRowsBackExactlyOnce) {
    constexpr int kCallers = 8;
    settings_.poolSize = kCallers;
    Store store(settings_);
    const BatchRecord batch = newBatch();
    writeBatch(store, batch, makeRows(batch.batchId, 20, 0));
    ASSERT_TRUE(store.batches().setBatchState(batch.batchId, "awaiting_payment", "queued"));
    std::vector<StoredResult> results;
    for (int row = 1; row <= 20; ++row)
        results.push_back(row % 4 == 0 ? errorResult(batch.batchId, row) : foundResult(batch.batchId, row));
    store.results().upsertResults(results);
    ASSERT_EQ(store.batches().findBatch(batch.batchId)->state, "completed");

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

TEST_P(StoreBatchesTest, MissingResultsAreInsertedButNeverOverwriteOneAndCompleteTheBatch) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    writeBatch(store, batch, makeRows(batch.batchId, 4, 4));  // row 4 rejected
    ASSERT_TRUE(store.batches().setBatchState(batch.batchId, "awaiting_payment", "queued"));
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
    EXPECT_EQ(stored.state, "processing");
    EXPECT_EQ(stored.rowsDone, 3);

    EXPECT_EQ(store.results().insertMissingResults({errorResult(batch.batchId, 3, "processing_failed")}), 1);
    stored = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(stored.state, "completed");
    EXPECT_EQ(stored.rowsDone, 4);
    EXPECT_EQ(store.results().insertMissingResults({errorResult(batch.batchId, 3, "other")}), 0) << "idempotent";
    EXPECT_EQ(store.results().findResult(batch.batchId, 3)->reason, "processing_failed");
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->rowsDone, 4);
}

TEST_P(StoreBatchesTest, BatchesAreListedNewestFirstPagedAndPerCreditor) {
    Store store(settings_);
    std::vector<std::string> ids;
    for (int day = 1; day <= 5; ++day) {
        BatchRecord batch = newBatch();
        batch.createdAt = "2024-05-0" + std::to_string(day) + "T08:00:00.000Z";
        writeBatch(store, batch, makeRows(batch.batchId, 1, 0));
        ids.push_back(batch.batchId);
    }
    const std::string otherCreditor = testing::uniqueName("C");
    const BatchRecord other = newBatch(otherCreditor);
    writeBatch(store, other, makeRows(other.batchId, 1, 0));
    const auto idsOf = [](const std::vector<BatchRecord>& batches) {
        std::vector<std::string> out;
        for (const auto& batch : batches) out.push_back(batch.batchId);
        return out;
    };

    EXPECT_EQ(idsOf(store.batches().listBatches(creditor_, 2, 0)), (std::vector<std::string>{ids[4], ids[3]}));
    EXPECT_EQ(idsOf(store.batches().listBatches(creditor_, 2, 2)), (std::vector<std::string>{ids[2], ids[1]}));
    EXPECT_EQ(idsOf(store.batches().listBatches(creditor_, 2, 4)), (std::vector<std::string>{ids[0]}));
    EXPECT_TRUE(store.batches().listBatches(creditor_, 2, 6).empty());
    EXPECT_TRUE(store.batches().listBatches(creditor_, 0, 0).empty());
    const auto all = store.batches().listBatches(creditor_, 100, 0);
    ASSERT_EQ(all.size(), 5U);
    EXPECT_EQ(all.front(), store.batches().findBatch(ids[4]).value());
    EXPECT_EQ(idsOf(store.batches().listBatches(otherCreditor, 100, 0)), (std::vector<std::string>{other.batchId}));
    EXPECT_TRUE(store.batches().listBatches(testing::uniqueName("C"), 100, 0).empty());
}

TEST_P(StoreBatchesTest, TheReceiptTokenFindsItsBatchAndIsUnique) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const BatchRecord stored = writeBatch(store, batch, makeRows(batch.batchId, 2, 0));

    EXPECT_EQ(store.batches().findBatchByReceiptToken(batch.receiptToken), stored);
    EXPECT_EQ(store.batches().findBatchByReceiptToken(testing::uniqueName("receipt")), std::nullopt);
    EXPECT_EQ(store.batches().findBatch(testing::uniqueName("batch")), std::nullopt);

    BatchRecord clash = newBatch();
    clash.receiptToken = batch.receiptToken;
    EXPECT_THROW(writeBatch(store, clash, makeRows(clash.batchId, 2, 1)), StoreError);
    EXPECT_EQ(countOf("batch_rows", clash.batchId), 0);
    EXPECT_EQ(countOf("inquiry_results", clash.batchId), 0);
}

TEST_P(StoreBatchesTest, SettingABatchsStateIsConditional) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    writeBatch(store, batch, makeRows(batch.batchId, 2, 0));

    EXPECT_TRUE(store.batches().setBatchState(batch.batchId, "awaiting_payment", "queued"));
    EXPECT_FALSE(store.batches().setBatchState(batch.batchId, "awaiting_payment", "queued"));
    const std::string queuedAt = store.batches().findBatch(batch.batchId)->queuedAt;
    EXPECT_EQ(queuedAt.size(), 24U) << queuedAt;
    EXPECT_TRUE(store.batches().setBatchState(batch.batchId, "queued", "failed", "publishing kept failing"));
    const auto failed = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(failed.state, "failed");
    EXPECT_EQ(failed.failureReason, "publishing kept failing");
    EXPECT_EQ(failed.queuedAt, queuedAt);
    EXPECT_EQ(failed.completedAt, "");
    EXPECT_FALSE(store.batches().setBatchState(testing::uniqueName("batch"), "queued", "processing"));
    EXPECT_THROW(store.batches().setBatchState(batch.batchId, "failed", "done"), std::invalid_argument);
}

TEST_P(StoreBatchesTest, AnOpenWriterDoesNotHoldUpOtherWriters) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    auto writer = store.batches().beginBatch(batch);
    writer->addRows(makeRows(batch.batchId, 1000, 4));

    // SQLite would make these wait for the writer's lock (and fail after its busy timeout) if it held one.
    const auto started = std::chrono::steady_clock::now();
    const std::string elsewhere = testing::uniqueName("batch");
    store.results().upsertResults({foundResult(elsewhere, 1)});
    const PaymentIntent payment = store.payments().beginPayment(newPayment(elsewhere, 250));
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
    EXPECT_TRUE(payment.created);

    writer->addRows(makeRows(batch.batchId, 1000, 4, 1001));
    writer->commit(2000, 1500, 500, 1500 * kRowFee);  // after others committed meanwhile
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->rowsDone, 500);
}

TEST_P(StoreBatchesTest, WritersCommitWhileResultsAndPaymentsAreWrittenAllAlong) {
    Store store(settings_);
    std::atomic<bool> stop = false;
    std::string backgroundError;
    int rounds = 0;
    std::thread background([&] {
        try {
            const std::string elsewhere = testing::uniqueName("batch");
            for (int row = 1; !stop; ++row, ++rounds) {
                store.results().upsertResults({foundResult(elsewhere, row)});
                // A batch has one live payment at most (migration 3): each round pays another.
                store.payments().beginPayment(newPayment(testing::uniqueName("batch"), 250));
            }
        } catch (const std::exception& error) {
            backgroundError = error.what();
        }
    });

    std::vector<std::string> errors;
    for (int b = 0; b < 8; ++b) {
        const BatchRecord batch = newBatch();
        try {
            EXPECT_EQ(writeBatch(store, batch, makeRows(batch.batchId, 300, 4), 50).rowsDone, 75);
        } catch (const std::exception& error) {
            errors.emplace_back(error.what());
        }
    }
    stop = true;
    background.join();

    EXPECT_EQ(errors, std::vector<std::string>{});
    EXPECT_EQ(backgroundError, "");
    EXPECT_GT(rounds, 0);
}

TEST_P(StoreBatchesTest, APaymentKeyAlwaysGivesTheSameRecordAndIsCreatedOnce) {
    Store store(settings_);
    const PaymentRecord pending = newPayment(testing::uniqueName("batch"), 1250);

    const PaymentIntent first = store.payments().beginPayment(pending);
    EXPECT_TRUE(first.created);
    EXPECT_EQ(first.payment.paymentId, pending.paymentId);
    EXPECT_EQ(first.payment.idempotencyKey, pending.idempotencyKey);
    EXPECT_EQ(first.payment.amount, 1250);
    EXPECT_EQ(first.payment.status, "pending");
    EXPECT_EQ(first.payment.card, "****-****-****-1234");
    EXPECT_FALSE(first.payment.published);
    EXPECT_EQ(first.payment.createdAt.size(), 24U);
    EXPECT_EQ(first.payment.updatedAt, first.payment.createdAt);
    EXPECT_EQ(first.payment.providerKey, pending.paymentId) << "the provider sees the ledger's key, not the client's";

    PaymentRecord retry = pending;
    retry.paymentId = testing::uniqueName("pay");  // the engine proposes a fresh id for every request
    const PaymentIntent second = store.payments().beginPayment(retry);
    EXPECT_FALSE(second.created);
    EXPECT_EQ(second.payment, first.payment);
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, pending.idempotencyKey), first.payment);
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, testing::uniqueName("key")), std::nullopt);
}

TEST_P(StoreBatchesTest, AKeyReusedForAnotherBatchOrAmountIsAConflict) {
    Store store(settings_);
    const PaymentRecord pending = newPayment(testing::uniqueName("batch"), 1250);
    store.payments().beginPayment(pending);

    PaymentRecord otherAmount = pending;
    otherAmount.paymentId = testing::uniqueName("pay");
    otherAmount.amount = 1500;
    PaymentRecord otherBatch = pending;
    otherBatch.paymentId = testing::uniqueName("pay");
    otherBatch.batchId = testing::uniqueName("batch");
    EXPECT_THROW(store.payments().beginPayment(otherAmount), IdempotencyConflict);
    try {
        store.payments().beginPayment(otherBatch);
        FAIL() << "a key reused for another batch was accepted";
    } catch (const PermanentError& error) {
        EXPECT_NE(dynamic_cast<const IdempotencyConflict*>(&error), nullptr);
        EXPECT_FALSE(error.isRetryable());
        EXPECT_NE(std::string(error.what()).find(pending.idempotencyKey), std::string::npos) << error.what();
    }
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, pending.idempotencyKey)->amount, 1250);
    EXPECT_EQ(store.payments().paidTotal(otherBatch.batchId), 0);
}

TEST_P(StoreBatchesTest, ASucceededPaymentMarksItsBatchPaidAndQueued) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const BatchRecord written = writeBatch(store, batch, makeRows(batch.batchId, 3, 0));
    const PaymentIntent intent = store.payments().beginPayment(newPayment(batch.batchId, written.feeTotal));
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), 0) << "a pending payment is not paid";

    store.payments().completePayment(intent.payment.paymentId, "succeeded", "EZ-000123");

    const auto payment = store.payments().findPaymentByKey(creditor_, intent.payment.idempotencyKey).value();
    EXPECT_EQ(payment.status, "succeeded");
    EXPECT_EQ(payment.providerTxnId, "EZ-000123");
    EXPECT_GE(payment.updatedAt, payment.createdAt);
    const auto paid = store.batches().findBatch(batch.batchId).value();
    EXPECT_TRUE(paid.paid);
    EXPECT_EQ(paid.state, "queued");
    EXPECT_EQ(paid.queuedAt.size(), 24U) << paid.queuedAt;
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), written.feeTotal);

    // Resolving it again (another engine, a start-up) changes nothing.
    store.payments().completePayment(intent.payment.paymentId, "failed", "", "timeout");
    store.payments().completePayment(intent.payment.paymentId, "succeeded", "EZ-000123");
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, intent.payment.idempotencyKey), payment);
    EXPECT_EQ(store.batches().findBatch(batch.batchId), paid);
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), written.feeTotal);

    EXPECT_THROW(store.payments().completePayment(testing::uniqueName("pay"), "succeeded", "x"), PermanentError);
    EXPECT_THROW(store.payments().completePayment(intent.payment.paymentId, "pending", "x"), std::invalid_argument);
}

TEST_P(StoreBatchesTest, AFailedPaymentLeavesItsBatchAwaitingPayment) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const BatchRecord written = writeBatch(store, batch, makeRows(batch.batchId, 3, 0));
    const PaymentIntent intent = store.payments().beginPayment(newPayment(batch.batchId, written.feeTotal));

    store.payments().completePayment(intent.payment.paymentId, "failed", "", "insufficient_balance");

    const auto payment = store.payments().findPaymentByKey(creditor_, intent.payment.idempotencyKey).value();
    EXPECT_EQ(payment.status, "failed");
    EXPECT_EQ(payment.error, "insufficient_balance");
    EXPECT_EQ(store.batches().findBatch(batch.batchId), written);
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), 0);

    // A second attempt with a new key pays it; the ledger's total is that one charge.
    const PaymentIntent retry = store.payments().beginPayment(newPayment(batch.batchId, written.feeTotal));
    ASSERT_TRUE(retry.created);
    store.payments().completePayment(retry.payment.paymentId, "succeeded", "EZ-7");
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), written.feeTotal);
    EXPECT_EQ(store.batches().findBatch(batch.batchId)->state, "queued");
}

TEST_P(StoreBatchesTest, PendingAndUnpublishedPaymentsFeedStartUpAndTheOutbox) {
    Store store(settings_);
    std::vector<PaymentRecord> payments;
    for (int i = 0; i < 4; ++i) {
        PaymentRecord payment = newPayment(testing::uniqueName("batch"), 250);
        payment.createdAt = "2024-05-01T08:00:0" + std::to_string(i) + ".000Z";
        payments.push_back(store.payments().beginPayment(payment).payment);
    }
    store.payments().completePayment(payments[1].paymentId, "failed", "", "card_blocked");
    store.payments().completePayment(payments[2].paymentId, "succeeded", "EZ-2");
    store.payments().completePayment(payments[3].paymentId, "succeeded", "EZ-3");
    const auto ours = [&](const std::vector<PaymentRecord>& found) {
        std::vector<std::string> ids;
        for (const auto& payment : found) {
            if (payment.creditorId == creditor_) ids.push_back(payment.paymentId);
        }
        return ids;
    };

    EXPECT_EQ(ours(store.payments().pendingPayments()), (std::vector<std::string>{payments[0].paymentId}));
    EXPECT_EQ(ours(store.payments().unpublishedPayments(1000)),
              (std::vector<std::string>{payments[1].paymentId, payments[2].paymentId, payments[3].paymentId}));

    store.payments().markPublished({payments[1].paymentId, payments[3].paymentId, testing::uniqueName("pay")});
    store.payments().markPublished({});
    EXPECT_EQ(ours(store.payments().unpublishedPayments(1000)), (std::vector<std::string>{payments[2].paymentId}));
    EXPECT_TRUE(store.payments().findPaymentByKey(creditor_, payments[3].idempotencyKey)->published);
    EXPECT_TRUE(store.payments().unpublishedPayments(0).empty());

    store.payments().completePayment(payments[0].paymentId, "succeeded", "EZ-0");
    EXPECT_TRUE(ours(store.payments().pendingPayments()).empty());
    store.payments().markPublished({payments[0].paymentId, payments[2].paymentId});
    EXPECT_TRUE(ours(store.payments().unpublishedPayments(1000)).empty());
}

TEST_P(StoreBatchesTest, ConcurrentPaymentsWithOneKeyCreateExactlyOneRecord) {
    settings_.poolSize = 8;
    Store store(settings_);
    const PaymentRecord pending = newPayment(testing::uniqueName("batch"), 750);
    constexpr int kThreads = 8;

    std::vector<PaymentIntent> intents(kThreads);
    const auto errors = testing::atOnce(kThreads, [&](int t, std::latch& start) {
        PaymentRecord mine = pending;
        mine.paymentId = testing::uniqueName("pay");
        start.arrive_and_wait();
        intents[t] = store.payments().beginPayment(mine);
    });

    int created = 0;
    for (int t = 0; t < kThreads; ++t) {
        EXPECT_EQ(errors[t], "") << "thread " << t;
        created += intents[t].created ? 1 : 0;
        EXPECT_EQ(intents[t].payment, intents[0].payment) << "thread " << t;
    }
    EXPECT_EQ(created, 1);
    EXPECT_EQ(countOf("payments", pending.batchId), 1);
}

TEST_P(StoreBatchesTest, ABatchWithALivePaymentRefusesAnotherKey) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const BatchRecord written = writeBatch(store, batch, makeRows(batch.batchId, 2, 0));
    const PaymentIntent first = store.payments().beginPayment(newPayment(batch.batchId, written.feeTotal));
    ASSERT_TRUE(first.created);

    // Pending: another key is refused, naming the batch; the first key still gives its record.
    const PaymentRecord other = newPayment(batch.batchId, written.feeTotal);
    try {
        store.payments().beginPayment(other);
        FAIL() << "a second live payment for one batch was accepted";
    } catch (const IdempotencyConflict& error) {
        EXPECT_FALSE(error.isRetryable());
        EXPECT_NE(std::string(error.what()).find("batch " + batch.batchId + " already has a payment"),
                  std::string::npos)
            << error.what();
    }
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, other.idempotencyKey), std::nullopt);
    EXPECT_FALSE(store.payments().beginPayment(first.payment).created);

    // Failed: the batch is free for a new key, which is then the live one.
    store.payments().completePayment(first.payment.paymentId, "failed", "", "card_blocked");
    const PaymentIntent second = store.payments().beginPayment(other);
    EXPECT_TRUE(second.created);
    EXPECT_THROW(store.payments().beginPayment(newPayment(batch.batchId, written.feeTotal)), IdempotencyConflict);

    // Succeeded: still refused (the engine checks the batch's state before; this is the store's guarantee).
    store.payments().completePayment(second.payment.paymentId, "succeeded", "EZ-9");
    EXPECT_THROW(store.payments().beginPayment(newPayment(batch.batchId, written.feeTotal)), IdempotencyConflict);
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), written.feeTotal);
    EXPECT_EQ(countOf("payments", batch.batchId), 2);
}

TEST_P(StoreBatchesTest, ConcurrentPaymentsWithDifferentKeysForOneBatchLetExactlyOneThrough) {
    constexpr int kThreads = 8;
    settings_.poolSize = kThreads;
    Store store(settings_);
    const std::string batchId = testing::uniqueName("batch");

    std::vector<PaymentIntent> intents(kThreads);
    std::vector<std::string> conflicts(kThreads);
    const auto errors = testing::atOnce(kThreads, [&](int t, std::latch& start) {
        const PaymentRecord mine = newPayment(batchId, 750);  // a key of its own
        start.arrive_and_wait();
        try {
            intents[t] = store.payments().beginPayment(mine);
        } catch (const IdempotencyConflict& error) {
            conflicts[t] = error.what();
        }
    });

    int created = 0;
    int refused = 0;
    for (int t = 0; t < kThreads; ++t) {
        EXPECT_EQ(errors[t], "") << "thread " << t;
        created += intents[t].created ? 1 : 0;
        if (!conflicts[t].empty()) {
            ++refused;
            EXPECT_NE(conflicts[t].find("already has a payment"), std::string::npos) << conflicts[t];
        }
    }
    EXPECT_EQ(created, 1);
    EXPECT_EQ(refused, kThreads - 1);
    EXPECT_EQ(countOf("payments", batchId), 1);
}

TEST_P(StoreBatchesTest, IdempotencyKeysArePerCreditorAndConflictsNameOnlyTheCreditorsOwnData) {
    Store store(settings_);
    const std::string key = testing::uniqueName("key");
    PaymentRecord first = newPayment(testing::uniqueName("batch"), 1250);
    first.idempotencyKey = key;
    first.creditorId = testing::uniqueName("C1-");
    PaymentRecord second = newPayment(testing::uniqueName("batch"), 500);
    second.idempotencyKey = key;
    second.creditorId = testing::uniqueName("C2-");

    const PaymentIntent one = store.payments().beginPayment(first);
    const PaymentIntent two = store.payments().beginPayment(second);
    EXPECT_TRUE(one.created);
    EXPECT_TRUE(two.created) << "another creditor's equal key is another payment";
    EXPECT_NE(one.payment.providerKey, two.payment.providerKey) << "and another charge at the provider";
    EXPECT_EQ(store.payments().findPaymentByKey(first.creditorId, key)->batchId, first.batchId);
    EXPECT_EQ(store.payments().findPaymentByKey(second.creditorId, key)->batchId, second.batchId);
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, key), std::nullopt);

    PaymentRecord reused = second;
    reused.paymentId = testing::uniqueName("pay");
    reused.batchId = testing::uniqueName("batch");
    try {
        store.payments().beginPayment(reused);
        FAIL() << "C2's key reused with another of its batches was accepted";
    } catch (const IdempotencyConflict& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find(second.batchId), std::string::npos) << message;
        for (const std::string& secret : {first.batchId, first.creditorId, one.payment.paymentId, std::string("1250")})
            EXPECT_EQ(message.find(secret), std::string::npos) << secret << " in " << message;
    }
}

TEST_P(StoreBatchesTest, TheSameKeyWithAnotherCardIsAConflict) {
    Store store(settings_);
    PaymentRecord pending = newPayment(testing::uniqueName("batch"), 750);
    pending.cardHash = "hash-of-card-1";
    const PaymentIntent first = store.payments().beginPayment(pending);
    EXPECT_EQ(first.payment.cardHash, "hash-of-card-1");

    PaymentRecord sameCard = pending;
    sameCard.paymentId = testing::uniqueName("pay");
    EXPECT_EQ(store.payments().beginPayment(sameCard).payment, first.payment);
    PaymentRecord otherCard = sameCard;
    otherCard.cardHash = "hash-of-card-2";
    EXPECT_THROW(store.payments().beginPayment(otherCard), IdempotencyConflict);
}

TEST_P(StoreBatchesTest, OnePartyAtATimeHoldsAPendingPaymentsLease) {
    Store store(settings_);
    constexpr long long kNow = 1'000'000'000'000;
    PaymentRecord pending = newPayment(testing::uniqueName("batch"), 250);
    pending.leaseOwner = "request-a";
    pending.leaseUntilMs = kNow + 10'000;
    const PaymentRecord stored = store.payments().beginPayment(pending).payment;
    EXPECT_EQ(stored.leaseOwner, "request-a");
    EXPECT_EQ(stored.leaseUntilMs, kNow + 10'000);
    const auto abandoned = [&](long long now) {
        int found = 0;
        for (const auto& payment : store.payments().abandonedPayments(now))
            found += payment.paymentId == stored.paymentId;
        return found;
    };

    // Held: nobody else may take it, and recovery does not see it.
    EXPECT_FALSE(store.payments().claimPayment(stored.paymentId, "engine-b", kNow, 60'000));
    EXPECT_EQ(abandoned(kNow), 0);
    EXPECT_EQ(abandoned(kNow + 10'000), 0) << "the lease lasts until its end";
    // The lease ended: exactly one of two claimants takes it, until its own lease ends.
    EXPECT_EQ(abandoned(kNow + 10'001), 1);
    EXPECT_TRUE(store.payments().claimPayment(stored.paymentId, "engine-b", kNow + 10'001, 60'000));
    EXPECT_FALSE(store.payments().claimPayment(stored.paymentId, "engine-c", kNow + 10'001, 60'000));
    auto now = store.payments().findPaymentByKey(creditor_, pending.idempotencyKey).value();
    EXPECT_EQ(now.leaseOwner, "engine-b");
    EXPECT_EQ(now.leaseUntilMs, kNow + 70'001);
    // Released by a party that does not hold it: nothing changes.
    store.payments().releasePayment(stored.paymentId, "request-a");
    EXPECT_FALSE(store.payments().claimPayment(stored.paymentId, "request-d", kNow + 10'001, 5'000));
    // By its holder (the provider did not answer): a retrying request may take it over at once, but recovery does
    // not see it until the lease's end: a charge that timed out may still land until then.
    store.payments().releasePayment(stored.paymentId, "engine-b");
    EXPECT_EQ(abandoned(kNow + 10'001), 0);
    EXPECT_EQ(abandoned(kNow + 70'001), 0);
    EXPECT_EQ(abandoned(kNow + 70'002), 1);
    EXPECT_TRUE(store.payments().claimPayment(stored.paymentId, "request-d", kNow + 10'001, 5'000));
    EXPECT_FALSE(store.payments().claimPayment(stored.paymentId, "request-e", kNow + 10'001, 5'000)) << "held again";
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, pending.idempotencyKey)->leaseUntilMs, kNow + 70'001)
        << "a new holder never shortens the lease a timed-out charge may still land in";
    // Completed: no longer anybody's to claim.
    EXPECT_TRUE(store.payments().completePayment(stored.paymentId, "failed", "", "card_blocked"));
    EXPECT_FALSE(store.payments().claimPayment(stored.paymentId, "engine-b", kNow + 100'000, 60'000));
    EXPECT_EQ(abandoned(kNow + 100'000), 0);
    EXPECT_THROW(store.payments().claimPayment(stored.paymentId, "", kNow, 1), std::invalid_argument);
    EXPECT_THROW(store.payments().claimPayment(stored.paymentId, "x", kNow, 0), std::invalid_argument);
}

TEST_P(StoreBatchesTest, APaymentChangesOnceAndARefusalNeverOverwritesASuccess) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const BatchRecord written = writeBatch(store, batch, makeRows(batch.batchId, 2, 0));
    const PaymentIntent intent = store.payments().beginPayment(newPayment(batch.batchId, written.feeTotal));

    EXPECT_TRUE(store.payments().completePayment(intent.payment.paymentId, "succeeded", "EZ-1"))
        << "a ledger transition";
    EXPECT_FALSE(store.payments().completePayment(intent.payment.paymentId, "succeeded", "EZ-1")) << "counted once";
    EXPECT_FALSE(
        store.payments().completePayment(intent.payment.paymentId, "failed", "", "key reused with another card"));
    const auto payment = store.payments().findPaymentByKey(creditor_, intent.payment.idempotencyKey).value();
    EXPECT_EQ(payment.status, "succeeded");
    EXPECT_EQ(payment.providerTxnId, "EZ-1");
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), written.feeTotal);

    // Marked failed (e.g. recovery that found no charge yet) and then the provider's charge arrives: the charge wins.
    const BatchRecord late = newBatch();
    const BatchRecord lateWritten = writeBatch(store, late, makeRows(late.batchId, 3, 0));
    const PaymentIntent lateIntent = store.payments().beginPayment(newPayment(late.batchId, lateWritten.feeTotal));
    EXPECT_TRUE(store.payments().completePayment(lateIntent.payment.paymentId, "failed", "", "not charged"));
    EXPECT_TRUE(store.payments().completePayment(lateIntent.payment.paymentId, "succeeded", "EZ-2"));
    const auto charged = store.payments().findPaymentByKey(creditor_, lateIntent.payment.idempotencyKey).value();
    EXPECT_EQ(charged.status, "succeeded");
    EXPECT_EQ(charged.error, "");
    EXPECT_FALSE(charged.published) << "published again with its new status";
    EXPECT_EQ(store.payments().paidTotal(late.batchId), lateWritten.feeTotal);
    EXPECT_TRUE(store.batches().findBatch(late.batchId)->paid);
}

TEST_P(StoreBatchesTest, ALateChargeForABatchPaidUnderAnotherKeyIsInTheLedgerAsRefundDue) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const BatchRecord written = writeBatch(store, batch, makeRows(batch.batchId, 2, 0));
    const long long fee = written.feeTotal;
    // Recovery found no charge for the first payment and marked it failed, to be asked about again.
    const PaymentIntent first = store.payments().beginPayment(newPayment(batch.batchId, fee));
    constexpr long long kNow = 4'000'000'000'000;  // later than any other test's payments, so that ours come first
    EXPECT_TRUE(store.payments().completePayment(first.payment.paymentId, "failed", "", "not charged", kNow + 1'000));
    auto toRecheck = store.payments().paymentsToRecheck(kNow, 1'000'000, kNow + 100);
    const auto ours = [&](const std::vector<PaymentRecord>& payments) {
        return std::count_if(payments.begin(), payments.end(),
                             [&](const PaymentRecord& p) { return p.paymentId == first.payment.paymentId; });
    };
    EXPECT_EQ(ours(toRecheck), 1);
    EXPECT_EQ(ours(store.payments().paymentsToRecheck(kNow + 50, 1'000'000, kNow + 200)), 0)
        << "its next turn is at kNow + 100";
    EXPECT_EQ(ours(store.payments().paymentsToRecheck(kNow + 100, 1'000'000, kNow + 300)), 1) << "its turn again";
    EXPECT_EQ(ours(store.payments().paymentsToRecheck(kNow + 1'000, 1'000'000, kNow + 2'000)), 0)
        << "not after its window";
    // The creditor paid again, with a new key.
    const PaymentIntent second = store.payments().beginPayment(newPayment(batch.batchId, fee));
    ASSERT_TRUE(second.created);
    EXPECT_TRUE(store.payments().completePayment(second.payment.paymentId, "succeeded", "EZ-2"));
    // Then the provider's late charge for the first turns up: both charges are in the ledger, one of them owed back.
    const PaymentChange late = store.payments().completePayment(first.payment.paymentId, "succeeded", "EZ-1");
    EXPECT_TRUE(late.changed);
    EXPECT_TRUE(late.refundDue);
    const auto owed = store.payments().findPaymentByKey(creditor_, first.payment.idempotencyKey).value();
    EXPECT_EQ(owed.status, "refund_due");
    EXPECT_EQ(owed.providerTxnId, "EZ-1");
    EXPECT_FALSE(owed.published) << "published again with its new status";
    EXPECT_EQ(store.payments().findPaymentByKey(creditor_, second.payment.idempotencyKey)->status, "succeeded");
    EXPECT_EQ(store.payments().paidTotal(batch.batchId), 2 * fee) << "the ledger equals what the card was charged";
    EXPECT_EQ(ours(store.payments().paymentsToRecheck(kNow + 300, 1'000'000, kNow + 400)), 0) << "settled";
    EXPECT_FALSE(store.payments().completePayment(first.payment.paymentId, "succeeded", "EZ-1")) << "counted once";
    // A refund_due payment is not live: the batch's one live payment is still the second.
    EXPECT_THROW(store.payments().beginPayment(newPayment(batch.batchId, fee)), IdempotencyConflict);

    // Without another payment, a late charge makes the payment succeeded and the batch paid, as before.
    const BatchRecord other = newBatch();
    const BatchRecord otherWritten = writeBatch(store, other, makeRows(other.batchId, 1, 0));
    const PaymentIntent alone = store.payments().beginPayment(newPayment(other.batchId, otherWritten.feeTotal));
    store.payments().completePayment(alone.payment.paymentId, "failed", "", "not charged");
    const PaymentChange charged = store.payments().completePayment(alone.payment.paymentId, "succeeded", "EZ-3");
    EXPECT_TRUE(charged.changed);
    EXPECT_FALSE(charged.refundDue);
    EXPECT_TRUE(store.batches().findBatch(other.batchId)->paid);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreBatchesTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

TEST(StoreMigrations, VersionTwoAddsBatchesRowsAndPayments) {
    EXPECT_GE(detail::latestSchemaVersion(), 2);
    const auto& migrations = detail::migrations();
    ASSERT_GE(migrations.size(), 2U);
    EXPECT_EQ(migrations[1].version, 2);
}

TEST(StoreMigrations, VersionFiveKeepsThePaymentsMadeBeforeWithTheirKeyAsTheProvidersKey) {
    const std::string dir = testing::tempDir("migration5");
    StoreSettings settings;
    settings.sqlitePath = dir + "/taxdesk.db";
    { Store registersTheConnector(StoreSettings{"sqlite", dir + "/other.db", "", 1}); }
    {
        // A database as version 4 left it, with a payment pending when the engine stopped and one that succeeded.
        Poco::Data::Session session("sqlite", settings.sqlitePath);
        session << "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)", now;
        for (const auto& migration : detail::migrations()) {
            if (migration.version > 4) break;
            for (const auto statement : migration.statements) session << std::string(statement), now;
            session << "INSERT INTO schema_migrations VALUES (" + std::to_string(migration.version) + ", 'then')", now;
        }
        session << "INSERT INTO payments (payment_id, idempotency_key, batch_id, creditor_id, amount, status,"
                   " created_at, updated_at) VALUES ('P-old', 'client-key-1', 'B-old', 'C1', 500, 'pending',"
                   " '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'),"
                   " ('P-paid', 'client-key-2', 'B-paid', 'C1', 750, 'succeeded',"
                   " '2026-01-01T00:00:01.000Z', '2026-01-01T00:00:01.000Z')",
            now;
    }
    Store store(settings);
    EXPECT_EQ(store.schemaVersion(), detail::latestSchemaVersion());
    const auto old = store.payments().findPaymentByKey("C1", "client-key-1").value();
    EXPECT_EQ(old.providerKey, "client-key-1") << "recovery asks the provider by the key it was charged under";
    EXPECT_EQ(old.leaseUntilMs, 0);
    ASSERT_EQ(store.payments().abandonedPayments(1).size(), 1U);
    EXPECT_EQ(store.payments().abandonedPayments(1).front().paymentId, "P-old");
    EXPECT_EQ(store.payments().paidTotal("B-paid"), 750);
    // Keys are per creditor now: C2 may use C1's key.
    PaymentRecord theirs;
    theirs.paymentId = "P-c2";
    theirs.idempotencyKey = "client-key-1";
    theirs.batchId = "B-c2";
    theirs.creditorId = "C2";
    theirs.amount = 250;
    EXPECT_TRUE(store.payments().beginPayment(theirs).created);
}

}  // namespace
}  // namespace taxdesk::connectors
