// Batches and their rows in the SQL store (BatchStore, BatchWriter), on both backends (store_area_fixture.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <thread>

#include "fixtures/sqlite_schema.hpp"
#include "store_area_fixture.hpp"

namespace taxdesk::connectors {
namespace {

using namespace store_areas;

class StoreBatchesTest : public StoreAreaTest {};

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

TEST_P(StoreBatchesTest, ARejectedRowWithoutItsResultIsRefusedAndTheWriterStaysOpen) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    auto rows = makeRows(batch.batchId, 3, 3);  // row 3 rejected
    auto withoutResult = rows;
    withoutResult[2].resultPayload.clear();

    auto writer = store.batches().beginBatch(batch);
    EXPECT_THROW(writer->addRows(withoutResult), std::invalid_argument);
    writer->addRows(rows);
    writer->commit(3, 2, 1, 2 * kRowFee);
    EXPECT_EQ(store.results().findResult(batch.batchId, 3)->payload, rows[2].resultPayload);
    EXPECT_EQ(countOf("batch_rows", batch.batchId), 3);
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

TEST_P(StoreBatchesTest, AStateThisEngineDoesNotKnowIsAPermanentErrorNotAnOutage) {
    // Another engine version's state, or a hand edit: reading it again cannot help, so callers must not retry forever.
    Store store(settings_);
    const BatchRecord batch = newBatch();
    writeBatch(store, batch, makeRows(batch.batchId, 2, 0));
    std::string id = batch.batchId;
    rawSession() << sqlFor("UPDATE batches SET state = 'archived' WHERE batch_id = ?"), bind(id), now;
    try {
        (void)store.batches().findBatch(batch.batchId);
        FAIL() << "a batch in an unknown state was read";
    } catch (const StoreError& error) {
        EXPECT_FALSE(error.isRetryable()) << error.what();
        EXPECT_NE(std::string(error.what()).find("state 'archived' is not a known value"), std::string::npos)
            << error.what();
    }
}

TEST_P(StoreBatchesTest, BeginningABatchChecksItsRecord) {
    Store store(settings_);
    BatchRecord batch = newBatch();
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

// Issue 12: on PostgreSQL the rows go by binary COPY; every column reads back as written, texts with the bytes a text
// COPY would have to escape (tab, line break, backslash, quotes) and a fee beyond 32 bits (BIGINT).
TEST_P(StoreBatchesTest, RowsReadBackAsWrittenWhateverBytesTheirTextsHold) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    auto rows = makeRows(batch.batchId, 3, 0);
    rows[0].debtorName = "王\\t小\t明\\n\\\\ \"O'Neil\"\\.";
    rows[0].titleRef = "line one\\nline two\r\nline three\\";
    rows[0].incomeYears = "2023;2024\\N";
    rows[1].fee = 5'000'000'123LL;
    rows[2].debtorName = "";
    rows[2].titleRef = "";
    writeBatch(store, batch, rows);
    EXPECT_EQ(store.batches().pendingRows(batch.batchId, 0, 10), rows);
    const auto requests = store.batches().pendingRequests(batch.batchId, 0, 1);
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests.front(), (PendingRequest{1, rows[0].debtorId, rows[0].debtorName, rows[0].scope,
                                                rows[0].incomeYears, rows[0].titleRef}));
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

// Issue 11: the dispatcher's lean read gives the same rows, pages and request columns as pendingRows.
TEST_P(StoreBatchesTest, PendingRequestsAreThePendingRowsWithTheColumnsARequestCarries) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const auto rows = makeRows(batch.batchId, 10, 3);  // 3, 6 and 9 rejected
    writeBatch(store, batch, rows);
    store.results().upsertResults({foundResult(batch.batchId, 2)});
    const auto numbers = [](const std::vector<PendingRequest>& page) {
        std::vector<int> out;
        for (const auto& request : page) out.push_back(request.row);
        return out;
    };
    EXPECT_EQ(numbers(store.batches().pendingRequests(batch.batchId, 0, 3)), (std::vector<int>{1, 4, 5}));
    EXPECT_EQ(numbers(store.batches().pendingRequests(batch.batchId, 5, 3)), (std::vector<int>{7, 8, 10}));
    EXPECT_TRUE(store.batches().pendingRequests(batch.batchId, 10, 3).empty());
    EXPECT_TRUE(store.batches().pendingRequests(batch.batchId, 0, 0).empty());
    const auto all = store.batches().pendingRequests(batch.batchId, 0, 100);
    const auto full = store.batches().pendingRows(batch.batchId, 0, 100);
    ASSERT_EQ(all.size(), full.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(all[i], (PendingRequest{full[i].row, full[i].debtorId, full[i].debtorName, full[i].scope,
                                          full[i].incomeYears, full[i].titleRef}));
    }
    // And as written: row 1 is the first row made.
    EXPECT_EQ(all.front(), (PendingRequest{1, rows[0].debtorId, rows[0].debtorName, rows[0].scope, rows[0].incomeYears,
                                           rows[0].titleRef}));
}

// Issue 12: each pending-rows statement reads a window of the batch (4,096 rows, or the limit when larger), not the
// whole batch; a call goes on to the next windows until it has its limit or passed the batch's last row, so the pages
// are the same as one unbounded read's: pending rows far apart, across windows, with empty windows between them.
TEST_P(StoreBatchesTest, PendingRowsAcrossWindowsComeAsFromOneReadOfTheWholeBatch) {
    Store store(settings_);
    const BatchRecord batch = newBatch();
    const auto rows = makeRows(batch.batchId, 9000, 0);
    writeBatch(store, batch, rows);
    // Every row stored but 3, 4096, 4097, 8193 and 9000: windows (0, 4096], (4096, 8192], (8192, 9000] from row 0.
    std::vector<StoredResult> done;
    for (int row = 1; row <= 9000; ++row) {
        if (row != 3 && row != 4096 && row != 4097 && row != 8193 && row != 9000)
            done.push_back(foundResult(batch.batchId, row));
    }
    store.results().upsertResults(done);
    const auto numbers = [](const auto& page) {
        std::vector<int> out;
        for (const auto& entry : page) out.push_back(entry.row);
        return out;
    };
    EXPECT_EQ(numbers(store.batches().pendingRequests(batch.batchId, 0, 2)), (std::vector<int>{3, 4096}));
    EXPECT_EQ(numbers(store.batches().pendingRequests(batch.batchId, 4096, 2)), (std::vector<int>{4097, 8193}));
    EXPECT_EQ(numbers(store.batches().pendingRequests(batch.batchId, 3, 100)),
              (std::vector<int>{4096, 4097, 8193, 9000}));
    EXPECT_EQ(numbers(store.batches().pendingRequests(batch.batchId, 8193, 100)), (std::vector<int>{9000}));
    EXPECT_TRUE(store.batches().pendingRequests(batch.batchId, 9000, 100).empty());
    EXPECT_EQ(numbers(store.batches().pendingRows(batch.batchId, 0, 3)), (std::vector<int>{3, 4096, 4097}));
    EXPECT_EQ(numbers(store.batches().pendingRows(batch.batchId, 4097, 100)), (std::vector<int>{8193, 9000}));
    EXPECT_EQ(store.batches().pendingRows(batch.batchId, 8193, 1), (std::vector<BatchRowRecord>{rows[8999]}));

    // A limit larger than the window: one window of the limit's size.
    const BatchRecord whole = newBatch();
    writeBatch(store, whole, makeRows(whole.batchId, 6000, 0));
    const auto all = store.batches().pendingRequests(whole.batchId, 0, 5000);
    ASSERT_EQ(all.size(), 5000U);
    EXPECT_EQ(all.front().row, 1);
    EXPECT_EQ(all.back().row, 5000);
    EXPECT_EQ(store.batches().pendingRows(whole.batchId, 10, 6000).size(), 5990U);
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

    EXPECT_TRUE(store.batches().setBatchState(batch.batchId, jobs::inquiry::BatchState::awaiting_payment,
                                              jobs::inquiry::BatchState::queued));
    EXPECT_FALSE(store.batches().setBatchState(batch.batchId, jobs::inquiry::BatchState::awaiting_payment,
                                               jobs::inquiry::BatchState::queued));
    const std::string queuedAt = store.batches().findBatch(batch.batchId)->queuedAt;
    EXPECT_EQ(queuedAt.size(), 24U) << queuedAt;
    EXPECT_TRUE(store.batches().setBatchState(batch.batchId, jobs::inquiry::BatchState::queued,
                                              jobs::inquiry::BatchState::failed, "publishing kept failing"));
    const auto failed = store.batches().findBatch(batch.batchId).value();
    EXPECT_EQ(failed.state, jobs::inquiry::BatchState::failed);
    EXPECT_EQ(failed.failureReason, "publishing kept failing");
    EXPECT_EQ(failed.queuedAt, queuedAt);
    EXPECT_EQ(failed.completedAt, "");
    EXPECT_FALSE(store.batches().setBatchState(testing::uniqueName("batch"), jobs::inquiry::BatchState::queued,
                                               jobs::inquiry::BatchState::processing));
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
    // Under SQLite's 5 s busy timeout: a wait for the writer's lock would reach it (or fail); a busy disk would not.
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(4500));
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

INSTANTIATE_TEST_SUITE_P(Backends, StoreBatchesTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

TEST(StoreMigrations, VersionTwoAddsBatchesRowsAndPayments) {
    using testing::columnsOf;
    using testing::indexesOf;
    using testing::missingFrom;
    using Names = std::vector<std::string>;
    const std::string dir = testing::tempDir("migration2");
    StoreSettings settings;
    settings.sqlitePath = dir + "/taxdesk.db";
    { Store registersTheConnector(StoreSettings{"sqlite", dir + "/other.db", "", 1}); }
    {
        // A database as version 1 left it, with a result and a token in it.
        Poco::Data::Session session("sqlite", settings.sqlitePath);
        testing::migrateByHandTo(session, 1);
        ASSERT_EQ(columnsOf(session, "batches"), Names{}) << "version 1 has no batches: the test would prove nothing";
        session << "INSERT INTO inquiry_results VALUES ('B-1', 1, 'A123456789', 'found', '', '{}',"
                   " '2026-01-01T00:00:00.000Z')",
            now;
        session << "INSERT INTO api_tokens VALUES ('hash-1', 'creditor', 'C1', '2026-01-01T00:00:00.000Z')", now;
    }
    { Store store(settings); }  // applies version 2 and every later one

    Poco::Data::Session session("sqlite", settings.sqlitePath);
    int recorded = 0;
    session << "SELECT COUNT(*) FROM schema_migrations WHERE version = 2", into(recorded), now;
    EXPECT_EQ(recorded, 1);
    EXPECT_EQ(missingFrom(columnsOf(session, "batches"),
                          {"batch_id", "creditor_id", "state", "failure_reason", "filename", "charset", "rows_total",
                           "rows_accepted", "rows_rejected", "rows_done", "fee_total", "paid", "receipt_token",
                           "created_at", "queued_at", "completed_at"}),
              Names{});
    EXPECT_EQ(missingFrom(columnsOf(session, "batch_rows"),
                          {"batch_id", "row_no", "debtor_id", "debtor_name", "title_ref", "scope", "income_years",
                           "accepted", "reason", "column_name", "fee"}),
              Names{});
    EXPECT_EQ(missingFrom(columnsOf(session, "payments"),
                          {"payment_id", "idempotency_key", "batch_id", "creditor_id", "amount", "method", "card",
                           "provider_txn_id", "status", "error", "created_at", "updated_at", "published"}),
              Names{});
    EXPECT_EQ(missingFrom(indexesOf(session, "batches"), {"batches_by_creditor"}), Names{});
    EXPECT_EQ(
        missingFrom(indexesOf(session, "payments"), {"payments_by_batch", "payments_by_status", "payments_outbox"}),
        Names{});
    // A receipt token names one batch, and a row number one row of its batch.
    session << "INSERT INTO batches (batch_id, creditor_id, state, receipt_token, created_at)"
               " VALUES ('B-1', 'C1', 'received', 'R-1', '2026-01-01T00:00:00.000Z')",
        now;
    EXPECT_NE(testing::refusal(session,
                               "INSERT INTO batches (batch_id, creditor_id, state, receipt_token, created_at)"
                               " VALUES ('B-2', 'C1', 'received', 'R-1', '2026-01-01T00:00:00.000Z')")
                  .find("UNIQUE constraint failed: batches.receipt_token"),
              std::string::npos);
    session << "INSERT INTO batch_rows (batch_id, row_no, accepted) VALUES ('B-1', 1, 1)", now;
    EXPECT_NE(testing::refusal(session, "INSERT INTO batch_rows (batch_id, row_no, accepted) VALUES ('B-1', 1, 0)")
                  .find("UNIQUE constraint failed: batch_rows.batch_id, batch_rows.row_no"),
              std::string::npos);
    // Version 1's rows are still there.
    std::string debtor;
    std::string status;
    session << "SELECT debtor_id, status FROM inquiry_results WHERE batch_id = 'B-1' AND row_no = 1", into(debtor),
        into(status), now;
    EXPECT_EQ(debtor, "A123456789");
    EXPECT_EQ(status, "found");
    std::string creditor;
    session << "SELECT creditor_id FROM api_tokens WHERE token_hash = 'hash-1'", into(creditor), now;
    EXPECT_EQ(creditor, "C1");
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace taxdesk::connectors
