#pragma once
// The SQL store, the record of work: Poco::Data over SQLite (default) or PostgreSQL, one code path.
#include <map>
#include <memory>
#include <optional>
#include <semaphore>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/api/errors.hpp"
#include "connectors/store/database.hpp"
#include "connectors/store/notification_store.hpp"
#include "connectors/store/pickup_store.hpp"
#include "connectors/store/sms_areas.hpp"
#include "connectors/store/sms_inbox.hpp"
#include "connectors/store/sql_notification_store.hpp"
#include "connectors/store/sql_pickup_store.hpp"
#include "connectors/store/sql_sms_inbox.hpp"

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

struct TokenRecord {
    std::string tokenHash;   ///< hex SHA-256 of the token; the token itself is never stored
    std::string role;        ///< creditor | gateway | counter | ops
    std::string creditorId;  ///< set for role creditor
    std::string createdAt;
    std::string tokenId;    ///< public id (jobs::auth::tokenIdOf); names the token in `token list|revoke`
    std::string expiresAt;  ///< ISO 8601 UTC; "" = never expires
    std::string revokedAt;  ///< ISO 8601 UTC; "" = not revoked
};

/// What Store::revokeToken did.
enum class RevokeOutcome {
    revoked,         ///< the token was valid and is revoked now
    alreadyRevoked,  ///< it was revoked before (its revoked_at is kept)
    unknown,         ///< no token has that id
};

/// A payment's idempotency key was used before for another batch, creditor or amount (SPEC 3.2: 409). Retrying
/// cannot help.
class IdempotencyConflict : public PermanentError {
  public:
    explicit IdempotencyConflict(const std::string& what) : PermanentError("store: " + what) {}
};

/// One uploaded batch file (SPEC 3.1, 3.2). Timestamps are ISO 8601 UTC text (detail::utcNow()); an unset one is "".
struct BatchRecord {
    std::string batchId;
    std::string creditorId;
    std::string state;          ///< awaiting_payment | queued | processing | completed | failed
    std::string failureReason;  ///< set for state failed
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

    bool operator==(const BatchRowRecord&) const = default;
};

/// One payment in the ledger (SPEC 3.2). It is `pending` from before the provider is called until the provider's
/// answer is known, then `succeeded` or `failed`; `published` once it is on payments.records (the outbox).
struct PaymentRecord {
    std::string paymentId;
    std::string idempotencyKey;  ///< the client's; unique per creditor (migration 5)
    std::string batchId;
    std::string creditorId;
    long long amount = 0;  ///< NT$
    std::string method;    ///< easycard
    std::string card;      ///< masked
    std::string providerTxnId;
    std::string status;  ///< pending | succeeded | failed | refund_due (charged late, the batch paid otherwise)
    std::string error;   ///< the provider's reason for failed
    std::string createdAt;
    std::string updatedAt;
    bool published = false;
    /// The idempotency key the provider sees: unique across the ledger. Empty on beginPayment: the payment id.
    std::string providerKey;
    std::string cardHash;        ///< hex SHA-256 of the card id: the same key with another card is 409
    std::string leaseOwner;      ///< who talks to the provider about this pending payment ("" when nobody)
    long long leaseUntilMs = 0;  ///< unix ms; after it another request or engine may take the payment over

    bool operator==(const PaymentRecord&) const = default;
};

/// What Store::completePayment did: whether it changed the payment (a ledger transition, to count once), and whether
/// the charge it recorded is owed back (refund_due: the batch was paid by another payment meanwhile).
struct PaymentChange {
    bool changed = false;
    bool refundDue = false;
    explicit operator bool() const { return changed; }
};

/// What Store::beginPayment found or made for an idempotency key.
struct PaymentIntent {
    PaymentRecord payment;  ///< the ledger's record for the key, as stored
    bool created = false;   ///< this call inserted it; false when the key was already there
};

class Store;

/// Writes one uploaded batch atomically: its rows in chunks while the file streams in, then the batch record with its
/// totals. Holds one pooled session with one open transaction from Store::beginBatch until commit(), a failure or
/// destruction, whichever comes first; destroying it uncommitted rolls everything back, so a whole-file error found
/// late leaves nothing behind. Rows are staged in the session (SQLite: temporary tables, so that the database's single
/// write lock is taken only inside commit() and other writers are not held up while a slow upload streams in;
/// PostgreSQL: the tables themselves, invisible to others until commit). Not thread-safe: one thread uses a writer at a
/// time. Must not outlive its Store.
class BatchWriter {
  public:
    ~BatchWriter();
    BatchWriter(const BatchWriter&) = delete;
    BatchWriter& operator=(const BatchWriter&) = delete;

    /// Stages a chunk of rows (one prepared statement executed per row). Each row's batchId must be empty or this
    /// batch's; row numbers must be unique within the batch. Every rejected row also gets its result (status
    /// "rejected", SPEC 3.3), written with the batch. Throws std::invalid_argument for a row of another batch,
    /// std::logic_error after commit() or a failure, StoreError when the store fails (everything is rolled back then
    /// and the writer is unusable).
    void addRows(const std::vector<BatchRowRecord>& rows);

    /// Writes the batch record with these totals and rows_done = its results so far (the rejected rows), and commits
    /// rows, results and record together. The totals must match the rows added (std::invalid_argument otherwise,
    /// nothing written; the writer stays open). Throws StoreError as addRows() does (a duplicate batch id or receipt
    /// token included).
    void commit(int rowsTotal, int rowsAccepted, int rowsRejected, long long feeTotal);

    [[nodiscard]] const std::string& batchId() const;

  private:
    friend class Store;
    struct State;
    explicit BatchWriter(std::unique_ptr<State> state);

    std::unique_ptr<State> state_;
};

/// Thread-safe: each call takes a session from a pool (a BatchWriter keeps one while it is open). Every call throws
/// StoreError when the store fails; the message names the backend and what the call was doing.
class Store {
  public:
    /// Opens the store (creating the SQLite file and its folder when needed) and applies every migration not yet
    /// applied, each in its own transaction. Throws StoreError, and std::invalid_argument for an unknown backend or a
    /// pool size below 1.
    explicit Store(const StoreSettings& settings);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    /// The highest migration applied.
    int schemaVersion() { return db_.schemaVersion(); }
    /// A trivial query; throws StoreError when the store is unreachable.
    void ping() { db_.ping(); }

    /// Inserts or replaces results by (batch_id, row), all in one transaction (one prepared statement executed per
    /// result), so a replayed batch changes nothing. Stamps updated_at. In the same transaction, each batch touched
    /// that is in the batches table gets rows_done = its number of results and moves to completed (stamping
    /// completed_at) when that reaches rows_total, else from queued to processing; only queued and processing
    /// batches change state. Results of batches not in the table (fed straight to Kafka) are stored all the same.
    void upsertResults(const std::vector<StoredResult>& results);
    /// Stores each result only where its (batch_id, row) is an accepted row of a batch in the table that has no result
    /// yet (never overwriting one, never creating results for unknown batches or rows), in one transaction, then counts
    /// rows_done and advances the batch as upsertResults() does. For the `error` result of a row whose request failed
    /// for good (it went to its dead-letter topic): a real result that got there first is kept. Returns how many it
    /// stored.
    int insertMissingResults(const std::vector<StoredResult>& results);
    /// How many results of a batch have this status (e.g. "error").
    int countResultsWithStatus(const std::string& batchId, const std::string& status);
    /// Puts the `error` rows of a completed batch back to work, in one transaction: the batch moves from completed to
    /// processing (a conditional update: of concurrent calls exactly one does it; completed_at is cleared), its
    /// `error` results are deleted so that those rows are pending again (pendingRows(); the dispatcher sends them and
    /// their new results complete the batch), and rows_done is counted again (a retried row is counted once, when its
    /// new result is stored). Nothing is charged and the ledger is not touched. Returns the rows put back: 0, with
    /// nothing changed, when the batch is not completed (e.g. a retry already runs) or has no `error` result.
    int retryErrorRows(const std::string& batchId);
    std::optional<StoredResult> findResult(const std::string& batchId, int row);
    /// Results of one batch in row order.
    std::vector<StoredResult> resultsOfBatch(const std::string& batchId);
    /// At most `limit` results of a batch with row > afterRow, in row order: a download streams page by page.
    std::vector<StoredResult> resultsPage(const std::string& batchId, int afterRow, int limit);

    /// Throws StoreError when the hash (or the token id) is already stored. An empty createdAt is stamped with the
    /// current time; an empty tokenId becomes the hash itself. expiresAt and revokedAt are stored as given.
    void insertToken(const TokenRecord& token);
    std::optional<TokenRecord> findToken(const std::string& tokenHash);
    /// Every token, oldest first (by created_at, then id): for `taxdesk token list`.
    std::vector<TokenRecord> listTokens();
    /// Revokes the token with this id, stamping revoked_at (the current time when `revokedAt` is empty). Idempotent: a
    /// revoked token keeps its first revoked_at. Seen by the next request that uses the token (auth reads the store).
    RevokeOutcome revokeToken(const std::string& tokenId, const std::string& revokedAt = "");

    /// Starts writing a new batch: leases a session (waiting like every call; the writer keeps it until it commits,
    /// fails or is destroyed) and opens its transaction. `batch` gives the id, creditor, state (normally
    /// awaiting_payment), failure reason, file name, charset, paid flag and receipt token (id, creditor, a known state
    /// and the token are required: std::invalid_argument otherwise); its row counts, fee and rows_done are set by
    /// BatchWriter::commit(). An empty createdAt is stamped with the commit time, as are an empty queuedAt for state
    /// queued and an empty completedAt for state completed.
    std::unique_ptr<BatchWriter> beginBatch(const BatchRecord& batch);
    std::optional<BatchRecord> findBatch(const std::string& batchId);
    std::optional<BatchRecord> findBatchByReceiptToken(const std::string& receiptToken);
    /// One creditor's batches, newest first (by created_at, then batch id), `limit` of them after skipping `offset`.
    std::vector<BatchRecord> listBatches(const std::string& creditorId, int limit, int offset);
    /// Batches paid and not finished (queued or processing), oldest first: the dispatcher's work.
    std::vector<BatchRecord> activeBatches(int limit = 100);
    /// How many batches are in each state (states with none are absent).
    std::map<std::string, int> countBatchesByState();
    /// Accepted rows of a batch that have no result yet, in row order, the first `limit` after row `afterRow`: the
    /// work still to do (published after payment; re-sent by the sweeper).
    std::vector<BatchRowRecord> pendingRows(const std::string& batchId, int afterRow, int limit);
    /// Moves a batch from state `from` to `to` when it is in `from` (a conditional update, so that one of several
    /// engines wins), setting failure_reason to `reason`, and queued_at or completed_at when entering queued or
    /// completed and they are unset. Returns whether it changed. std::invalid_argument for an unknown state.
    bool setBatchState(const std::string& batchId, const std::string& from, const std::string& to,
                       const std::string& reason = "");

    /// The first half of a payment (DESIGN.md "Correctness"): records `pending` as a pending payment (its status and
    /// published flag are set here, empty timestamps stamped, an empty providerKey becomes the payment id; payment id,
    /// key, batch and creditor are required: std::invalid_argument otherwise) in one transaction, or finds the record
    /// the ledger already has for the creditor's idempotency key. The record inserted keeps pending.leaseOwner and
    /// leaseUntilMs, so its creator holds it from the start. Idempotency keys are per creditor: another creditor's
    /// equal key is another payment. Throws IdempotencyConflict when the key's record is for another batch, amount or
    /// card (cardHash, when both are set), and when the key is new but the batch already has a payment that is not
    /// failed (pending or succeeded) under another key ("batch … already has a payment"; a unique index, migration 3,
    /// so that two keys can never both be live for one batch); the messages name only the creditor's own data. Safe to
    /// call concurrently: with one key exactly one call creates the record; with different keys for one batch at most
    /// one does while none of its payments is live.
    PaymentIntent beginPayment(const PaymentRecord& pending);
    /// Takes over a pending payment for `owner` until nowMs + leaseMs when nobody holds it (its holder released it, or
    /// its lease ended before nowMs): a conditional update, so that of several requests or engines exactly one talks
    /// to the provider at a time. Returns whether `owner` holds it now. Requires a non-empty owner and leaseMs >= 1.
    bool claimPayment(const std::string& paymentId, const std::string& owner, long long nowMs, long long leaseMs);
    /// Gives up `owner`'s hold on a pending payment (the provider did not answer): a request with the same key may take
    /// over at once (the provider is idempotent by key), but the lease's end stays as it was, so recovery, which
    /// concludes "not charged" when the provider knows no charge, waits until a charge that timed out can no longer
    /// land. A lease held by someone else is left alone.
    void releasePayment(const std::string& paymentId, const std::string& owner);
    /// The second half: records the provider's answer (status succeeded or failed, else std::invalid_argument) on a
    /// pending payment and, in the same transaction when it succeeded, marks its batch paid and moves it from
    /// awaiting_payment to queued (stamping queued_at). A payment no longer pending is left as it is (a refusal never
    /// overwrites a success), except that a success overwrites a failure: the provider's charge is what the ledger
    /// must show. Returns whether this call changed the payment (a ledger transition: count it once). Throws
    /// PermanentError for an unknown payment id.
    /// A success for a failed payment whose batch another payment paid meanwhile is recorded as `refund_due` (in the
    /// ledger, not live: the batch is not paid twice; PaymentChange::refundDue says so, for an alert).
    /// A failure with recheckUntilMs > 0 (recovery found no charge: a provider may still land one) is asked about
    /// again until then (paymentsToRecheck), set in the same step as the failure.
    PaymentChange completePayment(const std::string& paymentId, const std::string& status,
                                  const std::string& providerTxnId, const std::string& error = "",
                                  long long recheckUntilMs = 0);
    /// Failed payments to ask the provider about again (their recheckUntilMs later than nowMs) whose turn has come,
    /// the longest waiting first, at most `limit`; each one's next turn is pushed on to nextCheckMs in the same step,
    /// so that every such payment gets its turn however many there are.
    std::vector<PaymentRecord> paymentsToRecheck(long long nowMs, int limit, long long nextCheckMs);
    /// Every pending payment, oldest first.
    std::vector<PaymentRecord> pendingPayments();
    /// Pending payments whose lease ended before nowMs (their request or engine is gone), oldest first: recovery
    /// claims each (claimPayment) and asks the provider by its provider key.
    std::vector<PaymentRecord> abandonedPayments(long long nowMs);
    /// Succeeded or failed payments not yet on payments.records, oldest first, at most `limit` (the outbox).
    std::vector<PaymentRecord> unpublishedPayments(int limit);
    /// Marks payments as published to payments.records; unknown ids are ignored.
    void markPublished(const std::vector<std::string>& paymentIds);
    /// NT$ charged for a batch: the sum of its succeeded and refund_due payments.
    long long paidTotal(const std::string& batchId);
    /// The creditor's payment under its idempotency key.
    std::optional<PaymentRecord> findPaymentByKey(const std::string& creditorId, const std::string& idempotencyKey);

    [[nodiscard]] const std::string& backend() const { return db_.backend(); }
    /// The database the store's areas share.
    [[nodiscard]] Database& database() { return db_; }

  private:
    /// Database::withSession. Defined in store_internal.hpp, used in the store's sources only.
    template <typename Work>
    auto withSession(const char* purpose, Work&& work);
    [[nodiscard]] std::string sql(std::string_view text) const { return db_.sql(text); }

    Database db_;

    // SMS areas (SPEC 4): built over db_, so declared after it
  public:
    /// The inbound outcomes and the pickups (sql_pickup_store).
    [[nodiscard]] PickupStore& pickups() { return pickups_; }
    /// The outbound SMS (sql_notification_store).
    [[nodiscard]] NotificationStore& notifications() { return notifications_; }
    /// The inbox of inbound SMS (sql_sms_inbox).
    [[nodiscard]] SmsInbox& inbox() { return inbox_; }
    /// All three, for the SMS stage, scheduler and API.
    [[nodiscard]] SmsAreas sms() { return {pickups_, notifications_, inbox_}; }

  private:
    SqlPickupStore pickups_{db_};
    SqlNotificationStore notifications_{db_};
    SqlSmsInbox inbox_{db_};
};

}  // namespace taxdesk::connectors
