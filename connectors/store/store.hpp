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

// ==== SMS application and quick pickup (SPEC 4.1, 4.2; migration 3; defined in sms_store.cpp): types ====

/// One processed inbound SMS (SPEC 4.1): the dedupe record that makes a redelivered gateway message change nothing.
/// Timestamps are ISO 8601 text; an unset one is "".
struct InboundRecord {
    std::string gatewayMsgId;  ///< the gateway's id of the message; unique
    std::string msisdn;        ///< the sender, `09` + 8 digits
    std::string receivedAt;    ///< as the gateway reported it
    /// alert | resent | help | invalid_id | identity_failed | locked | limit | unknown_service | malformed
    std::string outcome;
    std::string replyNotificationId;  ///< the one reply it got
    std::string createdAt;            ///< when it was recorded

    bool operator==(const InboundRecord&) const = default;
};

/// One pickup prepared for a citizen (SPEC 4.2). Times the scheduler compares are unix seconds; the others ISO 8601
/// text ("" when unset).
struct PickupRecord {
    std::string pickupId;
    std::string code;  ///< 6 digits, unique among open pickups (a collected or expired pickup's code may recur)
    std::string applicantId;
    std::string msisdn;
    int service = 0;  ///< the service's code, 1–5
    std::string office;
    long long deadlineAt = 0;  ///< unix seconds; collectable while now <= deadlineAt
    long long remindAt = 0;    ///< unix seconds; the reminder is due from then
    std::string state;         ///< open | collected | expired
    std::string createdAt;
    std::string collectedAt;
    std::string remindedAt;      ///< set once the reminder went out
    std::string claimedBy;       ///< the engine holding the reminder's lease ("" when none)
    long long claimedUntil = 0;  ///< unix seconds; the lease ends then

    bool operator==(const PickupRecord&) const = default;
};

/// One outbound SMS (SPEC 4.2), kept so that it is sent once per notification id and retried until delivered or dead.
struct NotificationRecord {
    std::string notificationId;  ///< the caller's; a second insert with it is a no-op
    std::string msisdn;
    std::string text;
    std::string kind;          ///< pickup_alert | reminder | reply
    std::string pickupId;      ///< the pickup it is about ("" when none)
    int attempt = 0;           ///< sends so far: markNotificationSent() adds one
    std::string status;        ///< queued | sent | delivered | failed | dead
    std::string gatewayMsgId;  ///< the gateway's id of the last send, for delivery reports
    int segments = 0;          ///< segments of the last send
    std::string error;         ///< the last failure's reason
    std::string createdAt;
    std::string updatedAt;

    bool operator==(const NotificationRecord&) const = default;
};

/// One inbound SMS as the API accepted it (issue 9 finding 13; migration 8): stored before the gateway is answered
/// 202, produced to sms.inbound, and done once the SMS stage recorded its outcome. A sweeper produces rows still queued
/// again, so that a message the broker lost still gets its one reply. Timestamps are ISO 8601 UTC ("" = stamp now).
struct InboxRecord {
    std::string gatewayMsgId;  ///< the gateway's id of the message; unique (a repeat is not a second row)
    std::string message;       ///< the JSON value produced to sms.inbound
    std::string receivedAt;    ///< when the API stored it
    std::string state;         ///< queued | done ("" = queued)
    int attempts = 0;          ///< produces so far: the API's, then the sweeper's
    std::string updatedAt;     ///< last produced or finished: the sweeper's clock

    bool operator==(const InboxRecord&) const = default;
};

/// What Store::recordSmsOutcome stored, or found stored for the gateway message.
struct SmsOutcomeResult {
    InboundRecord inbound;               ///< as stored
    NotificationRecord reply;            ///< the inbound SMS's one reply, as stored
    std::optional<PickupRecord> pickup;  ///< the pickup the reply names (new or re-sent), as stored; none otherwise
    bool created = false;                ///< this call stored them; false when the message was recorded before
};

/// The new pickup's code is the code of another open pickup: draw another code and call again. Nothing was stored.
/// Store::recordSmsOutcome: the applicant already has an open pickup for that service (perhaps one past its deadline
/// that expireDue() has not marked yet). Re-read it with openPickupFor() and re-send, or expire and try again.
class OpenPickupExists : public PermanentError {
  public:
    explicit OpenPickupExists(const std::string& what) : PermanentError("store: " + what) {}
};

class CodeCollision : public PermanentError {
  public:
    explicit CodeCollision(const std::string& what) : PermanentError("store: " + what) {}
};

/// What a counter collection (SPEC 4.2, POST /api/v1/pickups/{code}/collect) found.
enum class CollectOutcome { collected, wrong_id, expired, already_collected, not_found };

/// "collected", "wrong_id", "expired", "already_collected", "not_found".
const char* toString(CollectOutcome outcome) noexcept;

/// What Store::collectPickup did.
struct CollectResult {
    CollectOutcome outcome = CollectOutcome::not_found;
    std::optional<PickupRecord> pickup;  ///< the pickup it is about, as stored after the call; none for not_found
};

// ==== end of SMS types ====

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

    // ==== SMS application and quick pickup (SPEC 4; migration 3; defined in sms_store.cpp) ====

    /// The record of an inbound SMS already processed, by the gateway's message id.
    std::optional<InboundRecord> findInbound(const std::string& gatewayMsgId);

    /// Records what an inbound SMS came to, in ONE transaction: the inbound row, the new pickup (when it made one) and
    /// its reply notification; its inbox row (if any) becomes done. When the gateway message id was recorded before,
    /// inserts nothing and returns the stored inbound row, its reply and pickup with created=false: the same SMS
    /// processed twice (or concurrently) gets one reply. Required (std::invalid_argument otherwise):
    /// inbound.gatewayMsgId, msisdn and outcome; reply.notificationId, msisdn and a known kind; a new pickup's id, a
    /// 6-digit code and applicantId. An empty inbound.replyNotificationId becomes reply.notificationId and an empty
    /// reply.pickupId the new pickup's id (ids that disagree are std::invalid_argument); an empty state becomes open
    /// (pickup) or queued (reply), empty timestamps now. A reply whose notification id is stored already keeps the
    /// stored one. Throws CodeCollision when the pickup's code is that of another open pickup (nothing is stored: draw
    /// another code and call again), PermanentError when the pickup id is taken, and StoreError.
    SmsOutcomeResult recordSmsOutcome(const InboundRecord& inbound, const std::optional<PickupRecord>& newPickup,
                                      const NotificationRecord& reply);

    /// The open pickup of this applicant for this service (the newest, should there be several), so that applying
    /// again re-sends it. With nowUnix > 0 a pickup whose deadline has passed (deadlineAt < nowUnix; open only because
    /// expireDue() has not run yet) does not count.
    std::optional<PickupRecord> openPickupFor(const std::string& applicantId, int service, long long nowUnix = 0);

    /// A counter collection by code and the applicant's ID (SPEC 4.2). The pickup considered is the applicant's open
    /// one with that code, else the applicant's newest with that code, else another applicant's (the open one first,
    /// then the newest): codes are unique among open pickups only. Outcomes: collected (open → collected by a
    /// conditional update, stamping collectedAt; of concurrent calls exactly one collects, the others get
    /// already_collected); wrong_id (the pickup is another applicant's); expired (state expired, or open with its
    /// deadline passed, nowUnix > deadlineAt, which marks it expired); already_collected; not_found (no pickup has
    /// that code).
    CollectResult collectPickup(const std::string& code, const std::string& applicantId, long long nowUnix);

    /// Claims due reminders for `owner` until nowUnix + leaseSeconds and returns them as claimed, at most `limit`,
    /// earliest first. Due: open, remindAt <= nowUnix <= deadlineAt, not reminded yet, and unclaimed or with a lease
    /// that ended (claimedUntil < nowUnix). Each row is claimed by a conditional update, so that of several engines
    /// (or threads) claiming at once exactly one gets a pickup; another may take it over only once the lease ended
    /// without markReminded(). Requires a non-empty owner and leaseSeconds >= 1 (std::invalid_argument).
    std::vector<PickupRecord> claimDueReminders(long long nowUnix, const std::string& owner, int leaseSeconds,
                                                int limit);
    /// Records that a pickup's reminder went out (reminded_at = nowIso, or now when empty); the first stamp stays.
    /// Unknown ids are ignored.
    void markReminded(const std::string& pickupId, const std::string& nowIso = "");
    /// Marks every open pickup whose deadline has passed (deadlineAt < nowUnix) expired, in one conditional update,
    /// and returns how many changed: of several engines running it at once, each pickup is counted by one.
    int expireDue(long long nowUnix);

    /// Stores a notification (an empty status becomes queued; empty timestamps now); a second insert with the same
    /// notification id is a no-op that keeps the first. notificationId, msisdn and a known kind and status are
    /// required (std::invalid_argument otherwise).
    void insertNotification(const NotificationRecord& notification);
    /// Records a send the gateway accepted: status sent, its message id and segments, attempt + 1, error cleared.
    /// Unknown ids are ignored.
    void markNotificationSent(const std::string& notificationId, const std::string& gatewayMsgId, int segments);
    /// Sets a notification's status (queued | sent | delivered | failed | dead, else std::invalid_argument) and error:
    /// a delivery report's, or dead after the last attempt. Unknown ids are ignored.
    void markNotificationStatus(const std::string& notificationId, const std::string& status,
                                const std::string& error = "");
    /// A failed delivery and the retry it causes, in ONE transaction (the outbox): `failedId` gets status failed and
    /// `error`, and `retry` is stored as insertNotification() would (queued; a second call with the same retry id keeps
    /// the first). A sweeper (claimStaleQueued) sends the retry should producing it fail. std::invalid_argument for an
    /// empty failedId or an incomplete retry; StoreError.
    void failAndRetryNotification(const std::string& failedId, const std::string& error,
                                  const NotificationRecord& retry);
    /// Notifications still queued and last touched before `olderThanIso` (ISO 8601 UTC, as the store writes them),
    /// oldest first, at most `limit`: each is claimed by a conditional update of its updated_at (to claimedAtIso, the
    /// sweeper's now; empty: now), so that of several engines sweeping at once exactly one gets it, and it is not stale
    /// again until as long has passed. Returned as claimed.
    std::vector<NotificationRecord> claimStaleQueued(const std::string& olderThanIso, const std::string& claimedAtIso,
                                                     int limit);
    std::optional<NotificationRecord> findNotification(const std::string& notificationId);
    /// The notification whose last send had this gateway message id (a delivery report's); the newest if several.
    std::optional<NotificationRecord> findNotificationByGatewayMsgId(const std::string& gatewayMsgId);
    /// Notifications with this status, oldest first, at most `limit` (e.g. queued to send, failed to retry).
    std::vector<NotificationRecord> notificationsWithStatus(const std::string& status, int limit);
    /// The dead letters: notifications with status dead, oldest first, at most `limit`.
    std::vector<NotificationRecord> deadNotifications(int limit);

    // ---- the inbox (issue 9 finding 13; migration 8) ----

    /// Stores inbound SMS as the API accepted them, all in ONE transaction (all or none), and returns each as stored,
    /// in the order given: a gateway message id stored before keeps its row (its state, attempts, message), so a
    /// repeat is no second row. New rows get state queued, attempts as given, empty timestamps now. gatewayMsgId and
    /// message are required (std::invalid_argument, nothing stored); an unknown state is std::invalid_argument too.
    /// Throws StoreError when the store fails (then nothing is stored).
    std::vector<InboxRecord> enqueueInbox(const std::vector<InboxRecord>& messages);
    /// Marks an inbox row done (stamping updated_at) when it is queued; a done or unknown id is left alone. The SMS
    /// stage does this in recordSmsOutcome's transaction; this call is for a message whose outcome was recorded before
    /// (a repeat after its row was pruned).
    void markInboxDone(const std::string& gatewayMsgId);
    std::optional<InboxRecord> findInbox(const std::string& gatewayMsgId);
    /// Inbox rows still queued, last touched before `olderThanIso` and produced fewer than `maxAttempts` times, oldest
    /// first, at most `limit`: each is claimed by a conditional update (updated_at = claimedAtIso, empty: now;
    /// attempts + 1), so that of several engines sweeping at once exactly one gets it, and it is not stale again until
    /// as long has passed. Returned as claimed.
    std::vector<InboxRecord> claimStaleInbox(const std::string& olderThanIso, const std::string& claimedAtIso,
                                             int maxAttempts, int limit);
    /// The produce of these claimed rows failed (the broker away): their attempts do not count (attempts - 1, never
    /// below 0), so that an outage, however long, never uses up a message's attempts. Rows done meanwhile are left.
    void returnInboxAttempts(const std::vector<std::string>& gatewayMsgIds);
    /// Deletes at most `limit` done inbox rows last touched before `olderThanIso` (retention); returns how many. The
    /// processed-message record (sms_inbound) stays: a repeat of a pruned message is stored again and answered with
    /// its first reply.
    int pruneInbox(const std::string& olderThanIso, int limit);

    // ==== end of SMS application and quick pickup ====

    [[nodiscard]] const std::string& backend() const { return db_.backend(); }
    /// The database the store's areas share.
    [[nodiscard]] Database& database() { return db_; }

  private:
    /// Database::withSession. Defined in store_internal.hpp, used in the store's sources only.
    template <typename Work>
    auto withSession(const char* purpose, Work&& work);
    [[nodiscard]] std::string sql(std::string_view text) const { return db_.sql(text); }

    Database db_;
};

}  // namespace taxdesk::connectors
