#pragma once
// The SQL store, the record of work: Poco::Data over SQLite (default) or PostgreSQL, one code path. Store is the
// aggregate the composition root builds: one Database and one SQL implementation of each area, handed out as the
// narrow interfaces (result_store.hpp, batch_store.hpp, payment_ledger.hpp, token_store.hpp) that engine parts take.
#include <map>
#include <memory>
#include <optional>
#include <semaphore>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/api/errors.hpp"
#include "connectors/store/batch_store.hpp"
#include "connectors/store/database.hpp"
#include "connectors/store/payment_ledger.hpp"
#include "connectors/store/result_store.hpp"
#include "connectors/store/token_store.hpp"

namespace taxdesk::connectors {

class SqlResultStore;
class SqlBatchStore;
class SqlPaymentLedger;
class SqlTokenStore;

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

    /// The inquiry results (SqlResultStore).
    [[nodiscard]] ResultStore& results();
    /// Uploaded batches and their rows (SqlBatchStore).
    [[nodiscard]] BatchStore& batches();
    /// The payments ledger (SqlPaymentLedger).
    [[nodiscard]] PaymentLedger& payments();
    /// API tokens (SqlTokenStore).
    [[nodiscard]] TokenStore& tokens();

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
    std::unique_ptr<SqlResultStore> results_;
    std::unique_ptr<SqlBatchStore> batches_;
    std::unique_ptr<SqlPaymentLedger> payments_;
    std::unique_ptr<SqlTokenStore> tokens_;
};

}  // namespace taxdesk::connectors
