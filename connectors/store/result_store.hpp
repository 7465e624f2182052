#pragma once
// The inquiry results a batch gathers (SPEC 3.3): the store area the inquiry stage, the upload, the downloads and the
// retry use.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace taxdesk::connectors {

/// One inquiry result as the store keeps it; `payload` is its JSON form (SPEC 3.3).
struct StoredResult {
    std::string batchId;
    int row = 0;
    std::string debtorId;
    std::string status;
    std::string reason;
    std::string payload;

    bool operator==(const StoredResult&) const = default;
};

/// The audit trail's share of a chunk of results (see ResultStore::prepareAudit()), made before the chunk is
/// committed so that the committer only concatenates lines: for each result k, its packed audit entry
/// (jobs::audit::appendEntry(): row, request id, status, the HMAC of the debtor's ID, the title reference), and the
/// creditor of each batch of the chunk that the store holds (a result of a batch it does not hold is not recorded).
struct PreparedAudit {
    /// A batch the store holds, with its results' lines.
    struct Batch {
        std::string batchId;
        std::string creditorId;
        std::size_t begin = 0;  ///< its results' lines are lines[begin, end), by row
        std::size_t end = 0;
        std::size_t results = 0;  ///< how many results of the given ones are the batch's
    };
    bool active = false;              ///< false: nothing to record (no trail, or audit.enabled is off)
    std::string lines;                ///< every recorded result's entry line, a batch's lines together
    std::vector<std::size_t> begins;  ///< result k's line is lines[begins[k], ends[k]) (empty: not recorded)
    std::vector<std::size_t> ends;
    std::vector<Batch> batches;  ///< sorted by batch id

    [[nodiscard]] std::string_view line(std::size_t k) const {
        return std::string_view(lines).substr(begins[k], ends[k] - begins[k]);
    }
};

/// The results area. Implemented over SQL by SqlResultStore; thread-safe. Every call throws StoreError when the store
/// fails.
class ResultStore {
  public:
    virtual ~ResultStore() = default;

    /// Inserts or replaces results by (batch_id, row), all in one transaction (one prepared statement executed per
    /// result), so a replayed batch changes nothing: a result replayed as it is stored is not even written again (its
    /// updated_at stays that of its last insert or change). Stamps updated_at of what it inserts or changes. In the
    /// same transaction, each batch touched that is in the batches table gets rows_done = its number of results and
    /// moves to completed (stamping completed_at) when that reaches rows_total, else from queued to processing; only
    /// queued and processing batches change state. Results of batches not in the table (fed straight to Kafka) are
    /// stored all the same.
    virtual void upsertResults(const std::vector<StoredResult>& results) = 0;
    /// The audit trail's share of upserting `results` (issue 13), prepared before the upsert and on another thread
    /// than the committing one (the inquiry stage's prepare()): requestIds[k] is the request id of results[k] and
    /// titleRefs[k] the title reference its request carried (inquiry.requests `title_ref`; '' when none: the store's
    /// is read then); either may be shorter ('' for the rest). Where the store keeps no trail (or it is switched off),
    /// an inactive PreparedAudit.
    virtual PreparedAudit prepareAudit(const std::vector<StoredResult>& /*results*/,
                                       const std::vector<std::string_view>& /*requestIds*/,
                                       const std::vector<std::string_view>& /*titleRefs*/) {
        return {};
    }
    /// upsertResults() with the audit trail's share prepared by prepareAudit() of the same `results`: the results that
    /// were new (a replay adds nothing) are recorded in the trail in the same transaction, from their prepared lines.
    /// By default the plain upsertResults().
    virtual void upsertResultsWithAudit(const std::vector<StoredResult>& results, const PreparedAudit& /*audit*/) {
        upsertResults(results);
    }
    /// upsertResults() recording the new results in the audit trail with these request ids (and the title references
    /// their requests carried): prepareAudit() and upsertResultsWithAudit() on the calling thread.
    void upsertResults(const std::vector<StoredResult>& results, const std::vector<std::string_view>& requestIds,
                       const std::vector<std::string_view>& titleRefs = {}) {
        upsertResultsWithAudit(results, prepareAudit(results, requestIds, titleRefs));
    }
    /// Stores each result only where its (batch_id, row) is an accepted row of a batch in the table that has no result
    /// yet (never overwriting one, never creating results for unknown batches or rows), in one transaction, then counts
    /// rows_done and advances the batch as upsertResults() does. For the `error` result of a row whose request failed
    /// for good (it went to its dead-letter topic): a real result that got there first is kept. Returns how many it
    /// stored.
    virtual int insertMissingResults(const std::vector<StoredResult>& results) = 0;
    /// How many results of a batch have this status (e.g. "error").
    virtual int countResultsWithStatus(const std::string& batchId, const std::string& status) = 0;
    /// Puts the `error` rows of a completed batch back to work, in one transaction: the batch moves from completed to
    /// processing (a conditional update: of concurrent calls exactly one does it; completed_at is cleared), its
    /// `error` results are deleted so that those rows are pending again (pendingRows(); the dispatcher sends them and
    /// their new results complete the batch), and rows_done is counted again (a retried row is counted once, when its
    /// new result is stored). Nothing is charged and the ledger is not touched. Returns the rows put back: 0, with
    /// nothing changed, when the batch is not completed (e.g. a retry already runs) or has no `error` result.
    virtual int retryErrorRows(const std::string& batchId) = 0;
    virtual std::optional<StoredResult> findResult(const std::string& batchId, int row) = 0;
    /// Results of one batch in row order.
    virtual std::vector<StoredResult> resultsOfBatch(const std::string& batchId) = 0;
    /// At most `limit` results of a batch with row > afterRow, in row order: a download streams page by page.
    virtual std::vector<StoredResult> resultsPage(const std::string& batchId, int afterRow, int limit) = 0;
};

}  // namespace taxdesk::connectors
