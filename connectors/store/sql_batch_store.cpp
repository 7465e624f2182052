#include "connectors/store/sql_batch_store.hpp"

#include "connectors/store/sql_webhook_store.hpp"

#include <Poco/Data/DataException.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>
#include <Poco/Data/Transaction.h>
#include <Poco/Data/TypeHandler.h>

#include <algorithm>
#include <iterator>
#include <limits>
#include <stdexcept>

#include "connectors/store/migrations.hpp"
#include "connectors/store/pg_connection.hpp"
#include "connectors/store/sql_rows.hpp"
#include "connectors/store/store_internal.hpp"
#include "jobs/inquiry/batch_state.hpp"

namespace taxdesk::connectors {
namespace {

/// A batch row as batch_rows stores it: the record's fields in the column types Poco binds (accepted as 0/1, the fee
/// as Poco::Int64), so that a chunk binds as one vector (a TypeHandler binds references: they must be of these types).
struct StagedRow {
    std::string batchId;
    int row = 0;
    std::string debtorId;
    std::string debtorName;
    std::string titleRef;
    std::string scope;
    std::string incomeYears;
    int accepted = 0;
    std::string reason;
    std::string column;
    Poco::Int64 fee = 0;

    static StagedRow of(const BatchRowRecord& record, const std::string& batchId) {
        return {batchId,
                record.row,
                record.debtorId,
                record.debtorName,
                record.titleRef,
                record.scope,
                record.incomeYears,
                record.accepted ? 1 : 0,
                record.reason,
                record.column,
                static_cast<Poco::Int64>(record.fee)};
    }
};

}  // namespace
}  // namespace taxdesk::connectors

namespace Poco::Data {

/// StagedRow as the eleven columns of kRowColumns, bound for inserts.
template <>
class TypeHandler<taxdesk::connectors::StagedRow> {
  public:
    using Row = taxdesk::connectors::StagedRow;
    static std::size_t size() { return 11; }
    static void bind(std::size_t pos, const Row& row, const AbstractBinder::Ptr& binder,
                     AbstractBinder::Direction direction) {
        TypeHandler<std::string>::bind(pos++, row.batchId, binder, direction);
        TypeHandler<int>::bind(pos++, row.row, binder, direction);
        TypeHandler<std::string>::bind(pos++, row.debtorId, binder, direction);
        TypeHandler<std::string>::bind(pos++, row.debtorName, binder, direction);
        TypeHandler<std::string>::bind(pos++, row.titleRef, binder, direction);
        TypeHandler<std::string>::bind(pos++, row.scope, binder, direction);
        TypeHandler<std::string>::bind(pos++, row.incomeYears, binder, direction);
        TypeHandler<int>::bind(pos++, row.accepted, binder, direction);
        TypeHandler<std::string>::bind(pos++, row.reason, binder, direction);
        TypeHandler<std::string>::bind(pos++, row.column, binder, direction);
        TypeHandler<Poco::Int64>::bind(pos, row.fee, binder, direction);
    }
    static void prepare(std::size_t pos, const Row& row, const AbstractPreparator::Ptr& preparator) {
        TypeHandler<std::string>::prepare(pos++, row.batchId, preparator);
        TypeHandler<int>::prepare(pos++, row.row, preparator);
        TypeHandler<std::string>::prepare(pos++, row.debtorId, preparator);
        TypeHandler<std::string>::prepare(pos++, row.debtorName, preparator);
        TypeHandler<std::string>::prepare(pos++, row.titleRef, preparator);
        TypeHandler<std::string>::prepare(pos++, row.scope, preparator);
        TypeHandler<std::string>::prepare(pos++, row.incomeYears, preparator);
        TypeHandler<int>::prepare(pos++, row.accepted, preparator);
        TypeHandler<std::string>::prepare(pos++, row.reason, preparator);
        TypeHandler<std::string>::prepare(pos++, row.column, preparator);
        TypeHandler<Poco::Int64>::prepare(pos, row.fee, preparator);
    }
    static void extract(std::size_t pos, Row& row, const Row& fallback, const AbstractExtractor::Ptr& extractor) {
        TypeHandler<std::string>::extract(pos++, row.batchId, fallback.batchId, extractor);
        TypeHandler<int>::extract(pos++, row.row, fallback.row, extractor);
        TypeHandler<std::string>::extract(pos++, row.debtorId, fallback.debtorId, extractor);
        TypeHandler<std::string>::extract(pos++, row.debtorName, fallback.debtorName, extractor);
        TypeHandler<std::string>::extract(pos++, row.titleRef, fallback.titleRef, extractor);
        TypeHandler<std::string>::extract(pos++, row.scope, fallback.scope, extractor);
        TypeHandler<std::string>::extract(pos++, row.incomeYears, fallback.incomeYears, extractor);
        TypeHandler<int>::extract(pos++, row.accepted, fallback.accepted, extractor);
        TypeHandler<std::string>::extract(pos++, row.reason, fallback.reason, extractor);
        TypeHandler<std::string>::extract(pos++, row.column, fallback.column, extractor);
        TypeHandler<Poco::Int64>::extract(pos, row.fee, fallback.fee, extractor);
    }
};

/// BatchRowRecord read back (pendingRows): a StagedRow's columns, converted.
template <>
class TypeHandler<taxdesk::connectors::BatchRowRecord> {
  public:
    using Record = taxdesk::connectors::BatchRowRecord;
    using Row = taxdesk::connectors::StagedRow;
    static std::size_t size() { return TypeHandler<Row>::size(); }
    static void prepare(std::size_t pos, const Record& record, const AbstractPreparator::Ptr& preparator) {
        TypeHandler<Row>::prepare(pos, Row::of(record, record.batchId), preparator);
    }
    static void extract(std::size_t pos, Record& record, const Record& /*fallback*/,
                        const AbstractExtractor::Ptr& extractor) {
        Row row;
        TypeHandler<Row>::extract(pos, row, Row{}, extractor);
        record = {row.batchId,
                  row.row,
                  row.debtorId,
                  row.debtorName,
                  row.titleRef,
                  row.scope,
                  row.incomeYears,
                  row.accepted != 0,
                  row.reason,
                  row.column,
                  static_cast<long long>(row.fee)};
    }
};

/// BatchRecord as the sixteen columns of kBatchColumns (read only: the writer binds its values one by one).
template <>
class TypeHandler<taxdesk::connectors::BatchRecord> {
  public:
    using Batch = taxdesk::connectors::BatchRecord;
    static std::size_t size() { return 16; }
    static void prepare(std::size_t pos, const Batch& batch, const AbstractPreparator::Ptr& preparator) {
        const int number = 0;
        const Poco::Int64 fee = 0;
        TypeHandler<std::string>::prepare(pos++, batch.batchId, preparator);
        TypeHandler<std::string>::prepare(pos++, batch.creditorId, preparator);
        const std::string state;
        TypeHandler<std::string>::prepare(pos++, state, preparator);
        TypeHandler<std::string>::prepare(pos++, batch.failureReason, preparator);
        TypeHandler<std::string>::prepare(pos++, batch.filename, preparator);
        TypeHandler<std::string>::prepare(pos++, batch.charset, preparator);
        for (int i = 0; i < 4; ++i) TypeHandler<int>::prepare(pos++, number, preparator);
        TypeHandler<Poco::Int64>::prepare(pos++, fee, preparator);
        TypeHandler<int>::prepare(pos++, number, preparator);
        TypeHandler<std::string>::prepare(pos++, batch.receiptToken, preparator);
        TypeHandler<std::string>::prepare(pos++, batch.createdAt, preparator);
        TypeHandler<std::string>::prepare(pos++, batch.queuedAt, preparator);
        TypeHandler<std::string>::prepare(pos, batch.completedAt, preparator);
    }
    static void extract(std::size_t pos, Batch& batch, const Batch& fallback, const AbstractExtractor::Ptr& extractor) {
        Poco::Int64 fee = 0;
        int paid = 0;
        TypeHandler<std::string>::extract(pos++, batch.batchId, fallback.batchId, extractor);
        TypeHandler<std::string>::extract(pos++, batch.creditorId, fallback.creditorId, extractor);
        std::string state;
        TypeHandler<std::string>::extract(pos++, state, std::string(), extractor);
        const auto parsed = taxdesk::jobs::inquiry::parseBatchState(state);
        if (!parsed) throw DataException("batch " + batch.batchId + ": state '" + state + "' is not a known value");
        batch.state = *parsed;
        TypeHandler<std::string>::extract(pos++, batch.failureReason, fallback.failureReason, extractor);
        TypeHandler<std::string>::extract(pos++, batch.filename, fallback.filename, extractor);
        TypeHandler<std::string>::extract(pos++, batch.charset, fallback.charset, extractor);
        TypeHandler<int>::extract(pos++, batch.rowsTotal, fallback.rowsTotal, extractor);
        TypeHandler<int>::extract(pos++, batch.rowsAccepted, fallback.rowsAccepted, extractor);
        TypeHandler<int>::extract(pos++, batch.rowsRejected, fallback.rowsRejected, extractor);
        TypeHandler<int>::extract(pos++, batch.rowsDone, fallback.rowsDone, extractor);
        TypeHandler<Poco::Int64>::extract(pos++, fee, 0, extractor);
        TypeHandler<int>::extract(pos++, paid, 0, extractor);
        TypeHandler<std::string>::extract(pos++, batch.receiptToken, fallback.receiptToken, extractor);
        TypeHandler<std::string>::extract(pos++, batch.createdAt, fallback.createdAt, extractor);
        TypeHandler<std::string>::extract(pos++, batch.queuedAt, fallback.queuedAt, extractor);
        TypeHandler<std::string>::extract(pos, batch.completedAt, fallback.completedAt, extractor);
        batch.feeTotal = static_cast<long long>(fee);
        batch.paid = paid != 0;
    }
};

}  // namespace Poco::Data

namespace taxdesk::connectors {
namespace {

using namespace Poco::Data::Keywords;
using detail::kSessionWait;
using detail::oneLine;
using detail::PermitRelease;
using detail::requireField;
using detail::sessionsBusy;

constexpr const char* kRejected = "rejected";

using jobs::inquiry::BatchState;

constexpr const char* kBatchColumns =
    "batch_id, creditor_id, state, failure_reason, filename, charset, rows_total, rows_accepted, rows_rejected,"
    " rows_done, fee_total, paid, receipt_token, created_at, queued_at, completed_at";

constexpr const char* kRowColumns =
    "batch_id, row_no, debtor_id, debtor_name, title_ref, scope, income_years, accepted, reason, column_name, fee";

/// A writer's session, transaction and progress. The session and its permit are held from beginBatch until
/// commit, a failure or destruction, whichever comes first; whatever was not committed is rolled back then.
/// A BatchWriter's session, transaction and progress. The session and its permit are held from beginBatch until
/// commit, a failure or destruction, whichever comes first; whatever was not committed is rolled back then.
struct WriterState {
    enum class Phase { open, committed, failed };

    /// The permit is declared first so that it is released last, after the session went back to the pool.
    struct Lease {
        Lease(std::counting_semaphore<>& permits, Poco::Data::SessionPool& pool)
            : permit(permits), session(pool.get()) {}
        PermitRelease permit;
        Poco::Data::Session session;
    };

    WriterState() = default;
    ~WriterState() { release(); }
    WriterState(const WriterState&) = delete;
    WriterState& operator=(const WriterState&) = delete;

    [[nodiscard]] Poco::Data::Session& session() { return lease->session; }

    /// Rolls back what was not committed and gives the session and its permit back.
    void release() noexcept {
        if (!lease) return;
        if (phase != Phase::committed) {
            try {
                if (lease->session.isTransaction()) lease->session.rollback();
            } catch (...) {  // NOLINT(bugprone-empty-catch): a lost connection rolls back on its own
            }
        }
        lease.reset();
    }

    /// Runs one step of the writer, turning Poco's exceptions into StoreError; any failure rolls back and makes the
    /// writer unusable.
    template <typename Work>
    void run(const char* purpose, Work&& work) {
        if (phase != Phase::open) {
            throw std::logic_error("store: batch " + batch.batchId + ": the writer was " +
                                   (phase == Phase::committed ? "committed" : "failed") + " already");
        }
        try {
            work();
        } catch (const Poco::Exception& error) {
            phase = Phase::failed;
            release();
            const std::string text = oneLine(error.displayText());
            throw StoreError(backend + ": " + purpose + " " + batch.batchId + ": " + text,
                             !isPermanentStoreFailure(text));
        } catch (...) {
            phase = Phase::failed;
            release();
            throw;
        }
    }

    std::unique_ptr<Lease> lease;
    std::string backend;
    BatchRecord batch;
    std::string insertRows;                  ///< into the staging table (SQLite); empty on PostgreSQL (copyRows)
    std::string insertResults;               ///< likewise for the rejected rows' results
    std::vector<std::string> publishStaged;  ///< SQLite: copies the staged rows and results, then empties staging
    std::string insertBatch;
    int rowsAdded = 0;
    int rowsAccepted = 0;
    int rowsRejected = 0;
    Phase phase = Phase::open;
};

/// PostgreSQL (issue 12): a chunk of rows into batch_rows by one binary COPY, inside the writer's transaction, instead
/// of one INSERT a row (1,000,000 rows took 29-62 s that way, against 5.7 s on SQLite). A duplicate row number fails
/// the COPY as it failed the INSERT (23505). A text is cut at a NUL byte, which PostgreSQL's TEXT cannot hold: what the
/// INSERT's text parameters did (libpq reads them as C strings).
constexpr const char* kCopyBatchRows =
    "COPY batch_rows (batch_id, row_no, debtor_id, debtor_name, title_ref, scope, income_years, accepted, reason,"
    " column_name, fee) FROM STDIN (FORMAT binary)";

void copyBatchRows(Poco::Data::Session& session, const std::vector<StagedRow>& rows) {
    const auto cString = [](const std::string& text) { return std::string_view(text.c_str()); };
    std::size_t bytes = 0;
    for (const StagedRow& row : rows) {
        bytes += 2 + 11 * 4 + 4 + 4 + 8 + row.batchId.size() + row.debtorId.size() + row.debtorName.size() +
                 row.titleRef.size() + row.scope.size() + row.incomeYears.size() + row.reason.size() +
                 row.column.size();
    }
    detail::pg::BinaryCopy copy(bytes);
    for (const StagedRow& row : rows) {
        copy.tuple(11);
        copy.text(cString(row.batchId));
        copy.int4(row.row);
        copy.text(cString(row.debtorId));
        copy.text(cString(row.debtorName));
        copy.text(cString(row.titleRef));
        copy.text(cString(row.scope));
        copy.text(cString(row.incomeYears));
        copy.int4(row.accepted);
        copy.text(cString(row.reason));
        copy.text(cString(row.column));
        copy.int8(row.fee);
    }
    detail::pg::copyIn(detail::pg::connectionOf(session), kCopyBatchRows, copy.finish());
}

class SqlBatchWriter final : public BatchWriter {
  public:
    explicit SqlBatchWriter(std::unique_ptr<WriterState> state) : state_(std::move(state)) {}
    void addRows(const std::vector<BatchRowRecord>& rows) override;
    void commit(int rowsTotal, int rowsAccepted, int rowsRejected, long long feeTotal) override;
    [[nodiscard]] const std::string& batchId() const override;

  private:
    std::unique_ptr<WriterState> state_;
};

const std::string& SqlBatchWriter::batchId() const {
    return state_->batch.batchId;
}

void SqlBatchWriter::addRows(const std::vector<BatchRowRecord>& rows) {
    WriterState& state = *state_;
    const std::string& batchId = state.batch.batchId;
    for (const BatchRowRecord& row : rows) {
        if (!row.batchId.empty() && row.batchId != batchId) {
            throw std::invalid_argument("store: adding rows to batch " + batchId + ": row " + std::to_string(row.row) +
                                        " is of batch " + row.batchId);
        }
        if (!row.accepted && row.resultPayload.empty()) {
            throw std::invalid_argument("store: adding rows to batch " + batchId + ": rejected row " +
                                        std::to_string(row.row) + " has no resultPayload");
        }
    }
    state.run("adding rows to batch", [&] {
        if (rows.empty()) return;  // Poco refuses to bind empty vectors
        std::vector<StagedRow> staged;
        staged.reserve(rows.size());
        std::vector<StoredResult> rejected;
        for (const BatchRowRecord& row : rows) {
            staged.push_back(StagedRow::of(row, batchId));
            if (row.accepted) continue;
            rejected.push_back({batchId, row.row, row.debtorId, kRejected, row.reason, row.resultPayload});
        }
        if (state.insertRows.empty()) {
            copyBatchRows(state.session(), staged);
        } else {
            // One prepared statement, executed once per vector element.
            Poco::Data::Statement insertRows(state.session());
            insertRows << state.insertRows, use(staged);
            insertRows.execute();
        }
        if (!rejected.empty()) {
            std::vector<std::string> updatedAts(rejected.size(), detail::utcNow());
            Poco::Data::Statement insertResults(state.session());
            insertResults << state.insertResults, use(rejected), use(updatedAts);
            insertResults.execute();
        }
        state.rowsAdded += static_cast<int>(rows.size());
        state.rowsRejected += static_cast<int>(rejected.size());
        state.rowsAccepted += static_cast<int>(rows.size() - rejected.size());
    });
}

void SqlBatchWriter::commit(int rowsTotal, int rowsAccepted, int rowsRejected, long long feeTotal) {
    WriterState& state = *state_;
    if (state.phase == WriterState::Phase::open &&
        (rowsTotal != state.rowsAdded || rowsAccepted != state.rowsAccepted || rowsRejected != state.rowsRejected)) {
        throw std::invalid_argument("store: committing batch " + state.batch.batchId + ": totals " +
                                    std::to_string(rowsTotal) + "/" + std::to_string(rowsAccepted) + "/" +
                                    std::to_string(rowsRejected) + " (total/accepted/rejected) but " +
                                    std::to_string(state.rowsAdded) + "/" + std::to_string(state.rowsAccepted) + "/" +
                                    std::to_string(state.rowsRejected) + " rows were added");
    }
    state.run("committing batch", [&] {
        const BatchRecord& batch = state.batch;
        const std::string stamp = detail::utcNow();
        const std::string createdAt = batch.createdAt.empty() ? stamp : batch.createdAt;
        const std::string queuedAt =
            batch.queuedAt.empty() && batch.state == BatchState::queued ? stamp : batch.queuedAt;
        const std::string completedAt =
            batch.completedAt.empty() && batch.state == BatchState::completed ? stamp : batch.completedAt;
        const Poco::Int64 fee = feeTotal;
        const int paid = batch.paid ? 1 : 0;
        const std::string stateText = jobs::inquiry::toString(batch.state);
        for (const std::string& statement : state.publishStaged) state.session() << statement, now;
        state.session() << state.insertBatch, bind(batch.batchId), bind(batch.creditorId), bind(stateText),
            bind(batch.failureReason), bind(batch.filename), bind(batch.charset), bind(rowsTotal), bind(rowsAccepted),
            bind(rowsRejected), bind(batch.batchId), bind(fee), bind(paid), bind(batch.receiptToken), bind(createdAt),
            bind(queuedAt), bind(completedAt), now;
        state.session().commit();
        state.phase = WriterState::Phase::committed;
        state.release();
    });
}

}  // namespace

std::unique_ptr<BatchWriter> SqlBatchStore::beginBatch(const BatchRecord& batch) {
    constexpr const char* kCall = "beginBatch";
    requireField(batch.batchId, "batchId", kCall);
    requireField(batch.creditorId, "creditorId", kCall);
    requireField(batch.receiptToken, "receiptToken", kCall);

    const bool sqlite = db_.isSqlite();
    // SQLite has one write lock for the whole database: rows are staged in temporary tables (private to the session,
    // outside the database file), so that the lock is taken only by commit(), not while the upload streams in.
    const std::vector<std::string> prepareStaging = {
        "CREATE TEMP TABLE IF NOT EXISTS staged_batch_rows (batch_id TEXT NOT NULL, row_no INTEGER NOT NULL,"
        " debtor_id TEXT NOT NULL, debtor_name TEXT NOT NULL, title_ref TEXT NOT NULL, scope TEXT NOT NULL,"
        " income_years TEXT NOT NULL, accepted INTEGER NOT NULL, reason TEXT NOT NULL, column_name TEXT NOT NULL,"
        " fee INTEGER NOT NULL, PRIMARY KEY (batch_id, row_no))",
        "CREATE TEMP TABLE IF NOT EXISTS staged_results (batch_id TEXT NOT NULL, row_no INTEGER NOT NULL,"
        " debtor_id TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, payload TEXT NOT NULL,"
        " updated_at TEXT NOT NULL, PRIMARY KEY (batch_id, row_no))",
        "DELETE FROM temp.staged_batch_rows",  // left by a writer whose rollback failed, if ever
        "DELETE FROM temp.staged_results",
    };
    const std::string rowColumns = kRowColumns;
    const std::string rowValues = " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

    for (int attempt = 1;; ++attempt) {
        auto state = std::make_unique<WriterState>();
        if (!db_.permits().try_acquire_for(kSessionWait)) {
            throw StoreError(sessionsBusy(db_.backend(), "starting a batch", db_.poolSize()));
        }
        try {
            state->lease = std::make_unique<WriterState::Lease>(db_.permits(), db_.pool());  // releases if it throws
            state->session().begin();
            if (sqlite) {
                for (const std::string& statement : prepareStaging) state->session() << statement, now;
            }
        } catch (const Poco::Exception& error) {
            // As in withSession: a pooled connection the server dropped is replaced once.
            if (attempt == 1 && state->lease && !state->session().isConnected()) continue;
            const std::string text = oneLine(error.displayText());
            throw StoreError(db_.backend() + ": starting batch " + batch.batchId + ": " + text,
                             !isPermanentStoreFailure(text));
        }
        state->backend = db_.backend();
        state->batch = batch;
        if (sqlite) {
            state->insertRows = "INSERT INTO temp.staged_batch_rows (" + rowColumns + ")" + rowValues;
            state->insertResults =
                "INSERT INTO temp.staged_results (batch_id, row_no, debtor_id, status, reason, payload, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)";
            // `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
            state->publishStaged = {
                "INSERT INTO batch_rows (" + rowColumns + ") SELECT " + rowColumns + " FROM temp.staged_batch_rows",
                "INSERT INTO inquiry_results (batch_id, row_no, debtor_id, status, reason, payload, updated_at)"
                " SELECT batch_id, row_no, debtor_id, status, reason, payload, updated_at FROM temp.staged_results"
                " WHERE true ON CONFLICT (batch_id, row_no) DO UPDATE SET debtor_id = excluded.debtor_id,"
                " status = excluded.status, reason = excluded.reason, payload = excluded.payload,"
                " updated_at = excluded.updated_at",
                "DELETE FROM temp.staged_batch_rows",
                "DELETE FROM temp.staged_results",
            };
        } else {
            // Rows by COPY (copyBatchRows): no insertRows statement.
            state->insertResults = db_.sql(detail::kUpsertResult);
        }
        state->insertBatch =
            db_.sql("INSERT INTO batches (" + std::string(kBatchColumns) +
                    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT COUNT(*) FROM inquiry_results WHERE batch_id = ?),"
                    " ?, ?, ?, ?, ?, ?)");
        return std::make_unique<SqlBatchWriter>(std::move(state));
    }
}

std::optional<BatchRecord> SqlBatchStore::findBatch(const std::string& batchId) {
    const std::string statement = db_.sql("SELECT " + std::string(kBatchColumns) + " FROM batches WHERE batch_id = ?");
    return db_.withSession("finding a batch", [&](Poco::Data::Session& session) -> std::optional<BatchRecord> {
        auto records = detail::selectRows<BatchRecord>(session, statement, batchId);
        if (records.empty()) return std::nullopt;
        return std::move(records.front());
    });
}

std::optional<BatchRecord> SqlBatchStore::findBatchByReceiptToken(const std::string& receiptToken) {
    const std::string statement =
        db_.sql("SELECT " + std::string(kBatchColumns) + " FROM batches WHERE receipt_token = ?");
    return db_.withSession("finding a batch by receipt token",
                           [&](Poco::Data::Session& session) -> std::optional<BatchRecord> {
                               auto records = detail::selectRows<BatchRecord>(session, statement, receiptToken);
                               if (records.empty()) return std::nullopt;
                               return std::move(records.front());
                           });
}

std::vector<BatchRecord> SqlBatchStore::listBatches(const std::string& creditorId, int limit, int offset) {
    if (limit <= 0) return {};
    const int skip = std::max(offset, 0);
    const std::string statement =
        db_.sql("SELECT " + std::string(kBatchColumns) +
                " FROM batches WHERE creditor_id = ? ORDER BY created_at DESC, batch_id DESC LIMIT ? OFFSET ?");
    return db_.withSession("listing batches", [&](Poco::Data::Session& session) {
        return detail::selectRows<BatchRecord>(session, statement, creditorId, limit, skip);
    });
}

std::vector<BatchRecord> SqlBatchStore::activeBatches(int limit) {
    const std::string statement =
        db_.sql("SELECT " + std::string(kBatchColumns) +
                " FROM batches WHERE state IN ('queued', 'processing') ORDER BY queued_at, batch_id LIMIT ?");
    return db_.withSession("listing active batches", [&](Poco::Data::Session& session) {
        return detail::selectRows<BatchRecord>(session, statement, limit);
    });
}

std::map<std::string, int> SqlBatchStore::countBatchesByState() {
    const std::string statement = db_.sql("SELECT state, CAST(COUNT(*) AS INTEGER) FROM batches GROUP BY state");
    return db_.withSession("counting batches by state", [&](Poco::Data::Session& session) {
        std::vector<std::string> states;
        std::vector<int> counts;
        session << statement, into(states), into(counts), now;
        std::map<std::string, int> result;
        for (std::size_t i = 0; i < states.size(); ++i) result[states[i]] = counts[i];
        return result;
    });
}

namespace {

/// The rows of a batch one pending-rows statement looks at, at least: each statement reads the rows of its window and
/// the results stored in it, never the whole batch (issue 12: on PostgreSQL an unbounded NOT EXISTS became, when the
/// statistics said most rows had results, a hash anti-join over a sequential scan of inquiry_results for each chunk:
/// O(rows²) over a batch, and growing with the table; see BENCHMARKS.md, "On PostgreSQL").
constexpr int kPendingWindow = 4096;

/// A window's rows of a batch, accepted, in row order, `LIMIT ?`; and the rows of the same window with a result. Two
/// range scans of a primary key, the difference taken here: an anti-join in SQL leaves the plan to the statistics,
/// which lag behind a batch being worked (a window whose results were all stored while the statistics said none were
/// planned as a nested loop comparing every row with every result: 2.8 s for 4,096 rows).
constexpr const char* kWindowRows =
    " FROM batch_rows b WHERE b.batch_id = ? AND b.row_no > ? AND b.row_no <= ? AND b.accepted = 1"
    " ORDER BY b.row_no LIMIT ?";
constexpr const char* kWindowStored =
    "SELECT row_no FROM inquiry_results WHERE batch_id = ? AND row_no > ? AND row_no <= ? ORDER BY row_no";

/// Reads a batch's pending rows after `afterRow`, `limit` at most, window after window of kPendingWindow rows (or
/// `limit`, when larger) until `limit` are found or the batch's last row was passed. `readWindow(from, to, want,
/// stored)` appends the accepted rows in (from, to] that are not in `stored` (sorted), `want` at most, and returns how
/// many it appended.
template <typename ReadWindow>
void readPendingWindows(Poco::Data::Session& session, const std::string& lastRowStatement,
                        const std::string& storedStatement, const std::string& batchId, int afterRow, int limit,
                        ReadWindow&& readWindow) {
    using Poco::Data::Keywords::bind;
    using Poco::Data::Keywords::into;
    int lastRow = 0;
    Poco::Data::Statement last(session);
    last << lastRowStatement, into(lastRow), bind(batchId);
    last.execute();
    const long long window = std::max(limit, kPendingWindow);
    int found = 0;
    for (long long from = afterRow; from < lastRow && found < limit; from += window) {
        const auto low = static_cast<int>(from);
        const auto high = static_cast<int>(std::min<long long>(from + window, lastRow));
        std::vector<int> stored;
        Poco::Data::Statement query(session);
        query << storedStatement, into(stored), bind(batchId), bind(low), bind(high);
        query.execute();
        found += readWindow(low, high, limit - found, stored);
    }
}

/// The LIMIT of a window's rows: enough for `want` pending ones whatever `stored` excludes.
int windowLimit(int want, const std::vector<int>& stored) {
    return static_cast<int>(std::min<long long>(static_cast<long long>(want) + static_cast<long long>(stored.size()),
                                                std::numeric_limits<int>::max()));
}

bool isStored(const std::vector<int>& stored, int row) {
    return std::binary_search(stored.begin(), stored.end(), row);
}

}  // namespace

std::vector<BatchRowRecord> SqlBatchStore::pendingRows(const std::string& batchId, int afterRow, int limit) {
    if (limit <= 0) return {};
    const std::string lastRow =
        db_.sql("SELECT CAST(COALESCE(MAX(row_no), 0) AS INTEGER) FROM batch_rows WHERE batch_id = ?");
    const std::string storedRows = db_.sql(kWindowStored);
    const std::string statement =
        db_.sql(std::string("SELECT b.batch_id, b.row_no, b.debtor_id, b.debtor_name, b.title_ref, b.scope,"
                            " b.income_years, b.accepted, b.reason, b.column_name, b.fee") +
                kWindowRows);
    return db_.withSession("reading a batch's pending rows", [&](Poco::Data::Session& session) {
        std::vector<BatchRowRecord> pending;
        readPendingWindows(session, lastRow, storedRows, batchId, afterRow, limit,
                           [&](int from, int to, int want, const std::vector<int>& stored) {
                               auto rows = detail::selectRows<BatchRowRecord>(session, statement, batchId, from, to,
                                                                              windowLimit(want, stored));
                               int added = 0;
                               for (BatchRowRecord& row : rows) {
                                   if (added == want) break;
                                   if (isStored(stored, row.row)) continue;
                                   pending.push_back(std::move(row));
                                   ++added;
                               }
                               return added;
                           });
        return pending;
    });
}

std::vector<PendingRequest> SqlBatchStore::pendingRequests(const std::string& batchId, int afterRow, int limit) {
    if (limit <= 0) return {};
    // Six columns into six vectors (no per-row record binding): the dispatcher reads a chunk of thousands at a time.
    const std::string lastRow =
        db_.sql("SELECT CAST(COALESCE(MAX(row_no), 0) AS INTEGER) FROM batch_rows WHERE batch_id = ?");
    const std::string storedRows = db_.sql(kWindowStored);
    const std::string statement = db_.sql(
        std::string("SELECT b.row_no, b.debtor_id, b.debtor_name, b.scope, b.income_years, b.title_ref") + kWindowRows);
    return db_.withSession("reading a batch's pending rows", [&](Poco::Data::Session& session) {
        std::vector<PendingRequest> pending;
        pending.reserve(static_cast<std::size_t>(std::min(limit, kPendingWindow)));
        const std::string& batch = batchId;
        readPendingWindows(
            session, lastRow, storedRows, batchId, afterRow, limit,
            [&](int from, int to, int want, const std::vector<int>& stored) {
                std::vector<int> rows;
                std::vector<std::string> debtorIds;
                std::vector<std::string> debtorNames;
                std::vector<std::string> scopes;
                std::vector<std::string> incomeYears;
                std::vector<std::string> titleRefs;
                const int rowLimit = windowLimit(want, stored);
                Poco::Data::Statement query(session);
                query << statement, into(rows), into(debtorIds), into(debtorNames), into(scopes), into(incomeYears),
                    into(titleRefs), bind(batch), bind(from), bind(to), bind(rowLimit);
                query.execute();
                int added = 0;
                for (std::size_t i = 0; i < rows.size() && added < want; ++i) {
                    if (isStored(stored, rows[i])) continue;
                    pending.push_back({rows[i], std::move(debtorIds[i]), std::move(debtorNames[i]),
                                       std::move(scopes[i]), std::move(incomeYears[i]), std::move(titleRefs[i])});
                    ++added;
                }
                return added;
            });
        return pending;
    });
}

bool SqlBatchStore::setBatchState(const std::string& batchId, BatchState from, BatchState to,
                                  const std::string& reason) {
    const std::string stamp = detail::utcNow();
    const std::string queuedAt = to == BatchState::queued ? stamp : "";
    const std::string completedAt = to == BatchState::completed ? stamp : "";
    const std::string toText = jobs::inquiry::toString(to);
    const std::string fromText = jobs::inquiry::toString(from);
    const std::string statement = db_.sql(
        "UPDATE batches SET state = ?, failure_reason = ?,"
        " queued_at = CASE WHEN queued_at = '' THEN ? ELSE queued_at END,"
        " completed_at = CASE WHEN completed_at = '' THEN ? ELSE completed_at END"
        " WHERE batch_id = ? AND state = ?");
    std::vector<NotificationRecord> told;  // issue 13: the batch-done notifications this transaction recorded
    const bool changed = db_.withSession("setting a batch's state", [&](Poco::Data::Session& session) {
        told.clear();
        detail::WriteTransaction transaction(session);  // rolls back unless committed
        Poco::Data::Statement update(session);
        update << statement, bind(toText), bind(reason), bind(queuedAt), bind(completedAt), bind(batchId),
            bind(fromText);
        const bool moved = update.execute() > 0;
        // Issue 13: a batch completed or failed now gets its batch-done notifications in this transaction.
        if (moved && jobs::inquiry::isFinished(to)) told = detail::recordBatchDoneIntents(db_, session, {batchId});
        transaction.commit();
        return moved;
    });
    db_.outboxCommitted(told);
    return changed;
}

}  // namespace taxdesk::connectors
