#pragma once
// The fixture of the store area tests (store_batches_test, store_results_test, store_payments_test): batches, their
// rows, results and payments in the SQL store, on both backends: SQLite in a temporary folder, and the PostgreSQL
// server that scripts/test started (TAXDESK_TEST_POSTGRESQL). Ids, tokens, creditors and idempotency keys are unique
// per run, so a shared database is fine; queries that see the whole database are filtered to this run's.
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
inline void PrintTo(const BatchRowRecord& row, std::ostream* out) {
    *out << "{" << row.batchId << " row " << row.row << " " << row.debtorId << " " << row.debtorName << " "
         << row.titleRef << " " << row.scope << " " << row.incomeYears << (row.accepted ? " accepted" : " rejected ")
         << row.reason << " " << row.column << " NT$" << row.fee << "}";
}

inline void PrintTo(const BatchRecord& batch, std::ostream* out) {
    *out << "{" << batch.batchId << " of " << batch.creditorId << " " << jobs::inquiry::toString(batch.state) << " '"
         << batch.failureReason << "' " << batch.filename << " " << batch.charset << " rows " << batch.rowsTotal << "/"
         << batch.rowsAccepted << "/" << batch.rowsRejected << " done " << batch.rowsDone << " NT$" << batch.feeTotal
         << (batch.paid ? " paid " : " unpaid ") << batch.receiptToken << " " << batch.createdAt << " "
         << batch.queuedAt << " " << batch.completedAt << "}";
}

inline void PrintTo(const PaymentRecord& payment, std::ostream* out) {
    *out << "{" << payment.paymentId << " key " << payment.idempotencyKey << " " << payment.batchId << " of "
         << payment.creditorId << " NT$" << payment.amount << " " << payment.method << " " << payment.card << " "
         << payment.providerTxnId << " " << jobs::payment::toString(payment.status) << " '" << payment.error << "' "
         << payment.createdAt << " " << payment.updatedAt << (payment.published ? " published" : " unpublished") << "}";
}

namespace store_areas {

using namespace Poco::Data::Keywords;

inline constexpr long long kRowFee = 500;

/// A rejected row's result as the upload hands it to the writer (the store writes it as given).
inline std::string rejectedPayload(const std::string& batchId, int row, const std::string& reason) {
    return R"({"batch_id":")" + batchId + R"(","row":)" + std::to_string(row) + R"(,"status":"rejected","reason":")" +
           reason + R"(","income":[],"property":[]})";
}

/// Rows 1..count of a batch; every `rejectEvery`-th row (0: none) is rejected as an invalid id.
inline std::vector<BatchRowRecord> makeRows(const std::string& batchId, int count, int rejectEvery, int first = 1) {
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

inline StoredResult foundResult(const std::string& batchId, int row) {
    std::string payload = R"({"row":)" + std::to_string(row) + R"(,"status":"found"})";
    return {batchId, row, "A1" + std::to_string(23456780 + row), "found", "", std::move(payload)};
}

struct Totals {
    int total = 0;
    int accepted = 0;
    int rejected = 0;
    long long fee = 0;
};

inline Totals totalsOf(const std::vector<BatchRowRecord>& rows) {
    Totals totals;
    for (const BatchRowRecord& row : rows) {
        ++totals.total;
        (row.accepted ? totals.accepted : totals.rejected) += 1;
        totals.fee += row.fee;
    }
    return totals;
}

/// A store on the test's backend (the parameter: sqlite or postgresql) and a creditor unique to the test.
class StoreAreaTest : public ::testing::TestWithParam<std::string> {
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
        batch.state = jobs::inquiry::BatchState::awaiting_payment;
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

    /// A session of its own on the store's database, behind the store's back.
    [[nodiscard]] Poco::Data::Session rawSession() const {
        return settings_.backend == "sqlite" ? Poco::Data::Session("sqlite", settings_.sqlitePath)
                                             : Poco::Data::Session("postgresql", settings_.postgresql);
    }
    /// `statement` (with `?` placeholders) for this backend.
    [[nodiscard]] std::string sqlFor(const std::string& statement) const {
        return detail::placeholders(
            settings_.backend == "sqlite" ? detail::SqlBackend::sqlite : detail::SqlBackend::postgresql, statement);
    }

    /// Rows of `table` with this batch id, counted behind the store's back.
    [[nodiscard]] long long countOf(const std::string& table, const std::string& batchId) const {
        Poco::Data::Session session = rawSession();
        Poco::Int64 count = 0;
        session << sqlFor("SELECT COUNT(*) FROM " + table + " WHERE batch_id = ?"), into(count), bind(batchId), now;
        return count;
    }

    StoreSettings settings_;
    std::unique_ptr<testing::StoreBackend> backend_;
    std::string creditor_;
};

}  // namespace store_areas
}  // namespace taxdesk::connectors
