#pragma once
// Uploaded batches and their rows (SPEC 3.1, 3.2): the store area the upload, the API, the dispatcher and ops use.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jobs/inquiry/batch_state.hpp"

namespace taxdesk::connectors {

/// One uploaded batch file (SPEC 3.1, 3.2). Timestamps are ISO 8601 UTC text (detail::utcNow()); an unset one is "".
struct BatchRecord {
    std::string batchId;
    std::string creditorId;
    jobs::inquiry::BatchState state = jobs::inquiry::BatchState::awaiting_payment;  ///< stored as its toString() text
    std::string failureReason;                                                      ///< set for state failed
    std::string filename;
    std::string charset;  ///< utf-8 | big5
    int rowsTotal = 0;    ///< data rows of the file, accepted and rejected
    int rowsAccepted = 0;
    int rowsRejected = 0;
    int rowsDone = 0;          ///< rows with a result (rejected rows have theirs from the start)
    long long feeTotal = 0;    ///< NT$, the sum of the accepted rows' fees
    bool paid = false;         ///< a payment for it succeeded
    std::string receiptToken;  ///< the public /r/{receipt_token}; unique
    std::string createdAt;
    std::string queuedAt;
    std::string completedAt;

    bool operator==(const BatchRecord&) const = default;
};

/// One data row of a batch file as the upload read it: accepted (a look-up to do) or rejected with a reason.
struct BatchRowRecord {
    std::string batchId;
    int row = 0;  ///< 1-based data row number in the file
    std::string debtorId;
    std::string debtorName;
    std::string titleRef;
    std::string scope;        ///< income | property | both
    std::string incomeYears;  ///< Gregorian years separated by ';', e.g. "2023;2024"
    bool accepted = false;
    std::string
        reason;  ///< a rejected row's: invalid_id, missing_field, bad_scope, bad_year, too_long, duplicate, bad_charset
    std::string column;  ///< the column the reason is about, when one is
    long long fee = 0;   ///< NT$; 0 for a rejected row
    /// A rejected row's result as it travels on inquiry.results (SPEC 3.3, jobs::inquiry::encodeResult): the writer
    /// stores it with the batch. Required for a rejected row, ignored for an accepted one; never read back ("").
    std::string resultPayload;

    bool operator==(const BatchRowRecord&) const = default;
};

/// An accepted row still without a result, as the dispatcher sends it to inquiry.requests: only the columns a request
/// carries (BatchStore::pendingRequests reads no more than these).
struct PendingRequest {
    int row = 0;
    std::string debtorId;
    std::string debtorName;
    std::string scope;        ///< income | property | both
    std::string incomeYears;  ///< Gregorian years separated by ';'
    std::string titleRef;     ///< carried in the request for the audit trail (issue 13), which then reads no store

    bool operator==(const PendingRequest&) const = default;
};

/// Writes one uploaded batch atomically: its rows in chunks while the file streams in, then the batch record with its
/// totals. Holds one pooled session with one open transaction from BatchStore::beginBatch until commit(), a failure or
/// destruction, whichever comes first; destroying it uncommitted rolls everything back, so a whole-file error found
/// late leaves nothing behind. Rows are staged in the session (SQLite: temporary tables, so that the database's single
/// write lock is taken only inside commit() and other writers are not held up while a slow upload streams in;
/// PostgreSQL: the tables themselves, invisible to others until commit). Not thread-safe: one thread uses a writer at a
/// time. Must not outlive its store.
class BatchWriter {
  public:
    virtual ~BatchWriter() = default;

    /// Stages a chunk of rows (one prepared statement executed per row). Each row's batchId must be empty or this
    /// batch's; row numbers must be unique within the batch. Every rejected row also gets its result (status
    /// "rejected", SPEC 3.3): its resultPayload, written with the batch. Throws std::invalid_argument for a row of
    /// another batch or a rejected row without a resultPayload, std::logic_error after commit() or a failure,
    /// StoreError when the store fails (everything is rolled back then and the writer is unusable).
    virtual void addRows(const std::vector<BatchRowRecord>& rows) = 0;

    /// Writes the batch record with these totals and rows_done = its results so far (the rejected rows), and commits
    /// rows, results and record together. The totals must match the rows added (std::invalid_argument otherwise,
    /// nothing written; the writer stays open). Throws StoreError as addRows() does (a duplicate batch id or receipt
    /// token included).
    virtual void commit(int rowsTotal, int rowsAccepted, int rowsRejected, long long feeTotal) = 0;

    [[nodiscard]] virtual const std::string& batchId() const = 0;
};

/// The batches area. Implemented over SQL by SqlBatchStore; thread-safe. Every call throws StoreError when the store
/// fails.
class BatchStore {
  public:
    virtual ~BatchStore() = default;

    /// Starts writing a new batch: leases a session (waiting like every call; the writer keeps it until it commits,
    /// fails or is destroyed) and opens its transaction. `batch` gives the id, creditor, state (normally
    /// awaiting_payment), failure reason, file name, charset, paid flag and receipt token (id, creditor, a known state
    /// and the token are required: std::invalid_argument otherwise); its row counts, fee and rows_done are set by
    /// BatchWriter::commit(). An empty createdAt is stamped with the commit time, as are an empty queuedAt for state
    /// queued and an empty completedAt for state completed.
    virtual std::unique_ptr<BatchWriter> beginBatch(const BatchRecord& batch) = 0;
    virtual std::optional<BatchRecord> findBatch(const std::string& batchId) = 0;
    virtual std::optional<BatchRecord> findBatchByReceiptToken(const std::string& receiptToken) = 0;
    /// One creditor's batches, newest first (by created_at, then batch id), `limit` of them after skipping `offset`.
    virtual std::vector<BatchRecord> listBatches(const std::string& creditorId, int limit, int offset) = 0;
    /// Batches paid and not finished (queued or processing), oldest first: the dispatcher's work.
    virtual std::vector<BatchRecord> activeBatches(int limit = 100) = 0;
    /// How many batches are in each state (states with none are absent).
    virtual std::map<std::string, int> countBatchesByState() = 0;
    /// Accepted rows of a batch that have no result yet, in row order, the first `limit` after row `afterRow`: the
    /// work still to do (published after payment; re-sent by the sweeper).
    virtual std::vector<BatchRowRecord> pendingRows(const std::string& batchId, int afterRow, int limit) = 0;
    /// The same rows as pendingRows, with only what a request carries: the dispatcher's read, one query per chunk.
    virtual std::vector<PendingRequest> pendingRequests(const std::string& batchId, int afterRow, int limit) = 0;
    /// Moves a batch from state `from` to `to` when it is in `from` (a conditional update, so that one of several
    /// engines wins), setting failure_reason to `reason`, and queued_at or completed_at when entering queued or
    /// completed and they are unset. Returns whether it changed.
    virtual bool setBatchState(const std::string& batchId, jobs::inquiry::BatchState from, jobs::inquiry::BatchState to,
                               const std::string& reason = "") = 0;
};

}  // namespace taxdesk::connectors
