#pragma once
// SPEC 4.1, 4.2: what an inbound SMS came to (the processed-message record, its reply and the pickup it made) and the
// pickups' life: collection at the counter, reminders, expiry. Tables of migration 3; SqlPickupStore
// (sql_pickup_store.hpp) implements it.
#include <optional>
#include <string>
#include <vector>

#include "connectors/api/errors.hpp"
#include "connectors/store/notification_store.hpp"

namespace taxdesk::connectors {

/// One processed inbound SMS (SPEC 4.1): the dedupe record that makes a redelivered gateway message change nothing.
/// Timestamps are ISO 8601 text; an unset one is "".
struct InboundRecord {
    std::string gatewayMsgId;  ///< the gateway's id of the message; unique
    std::string msisdn;        ///< the sender, `09` + 8 digits
    std::string receivedAt;    ///< as the gateway reported it
    /// alert | resent | help | invalid_id | identity_failed | locked | limit | unknown_service | malformed |
    /// unavailable | query (jobs::sms::Outcome)
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
    std::string state;         ///< open | collected | expired: toString(PickupState)
    std::string createdAt;
    std::string collectedAt;
    std::string remindedAt;      ///< set once the reminder went out
    std::string claimedBy;       ///< the engine holding the reminder's lease ("" when none)
    long long claimedUntil = 0;  ///< unix seconds; the lease ends then

    bool operator==(const PickupRecord&) const = default;
};

/// What PickupStore::recordSmsOutcome stored, or found stored for the gateway message.
struct SmsOutcomeResult {
    InboundRecord inbound;               ///< as stored
    NotificationRecord reply;            ///< the inbound SMS's one reply, as stored
    std::optional<PickupRecord> pickup;  ///< the pickup the reply names (new or re-sent), as stored; none otherwise
    bool created = false;                ///< this call stored them; false when the message was recorded before
};

/// PickupStore::recordSmsOutcome: the applicant already has an open pickup for that service (perhaps one past its
/// deadline that expireDue() has not marked yet). Nothing was stored: re-read it with openPickupFor() and re-send, or
/// expire and try again.
class OpenPickupExists : public PermanentError {
  public:
    explicit OpenPickupExists(const std::string& what) : PermanentError("store: " + what) {}
};

/// PickupStore::recordSmsOutcome: the new pickup's code is the code of another open pickup. Nothing was stored: draw
/// another code and call again.
class CodeCollision : public PermanentError {
  public:
    explicit CodeCollision(const std::string& what) : PermanentError("store: " + what) {}
};

/// What a counter collection (SPEC 4.2, POST /api/v1/pickups/{code}/collect) found.
enum class CollectOutcome { collected, wrong_id, expired, already_collected, not_found };

/// "collected", "wrong_id", "expired", "already_collected", "not_found".
const char* toString(CollectOutcome outcome) noexcept;

/// What PickupStore::collectPickup did.
struct CollectResult {
    CollectOutcome outcome = CollectOutcome::not_found;
    std::optional<PickupRecord> pickup;  ///< the pickup it is about, as stored after the call; none for not_found
};

/// Thread-safe. Every call throws StoreError when the store fails.
class PickupStore {
  public:
    virtual ~PickupStore() = default;

    /// The record of an inbound SMS already processed, by the gateway's message id.
    virtual std::optional<InboundRecord> findInbound(const std::string& gatewayMsgId) = 0;

    /// Records what an inbound SMS came to, in ONE transaction: the inbound row, the new pickup (when it made one) and
    /// its reply notification; its inbox row (if any) becomes done. When the gateway message id was recorded before,
    /// inserts nothing and returns the stored inbound row, its reply and pickup with created=false: the same SMS
    /// processed twice (or concurrently) gets one reply. Required (std::invalid_argument otherwise):
    /// inbound.gatewayMsgId, msisdn and outcome; reply.notificationId, msisdn and a known kind; a new pickup's id, a
    /// 6-digit code and applicantId. An empty inbound.replyNotificationId becomes reply.notificationId and an empty
    /// reply.pickupId the new pickup's id (ids that disagree are std::invalid_argument); an empty state becomes open
    /// (pickup) or queued (reply), empty timestamps now. A reply whose notification id is stored already keeps the
    /// stored one. Throws CodeCollision when the pickup's code is that of another open pickup (nothing is stored: draw
    /// another code and call again), OpenPickupExists when the applicant already has an open pickup for that service
    /// (nothing is stored), PermanentError when the pickup id is taken, and StoreError.
    virtual SmsOutcomeResult recordSmsOutcome(const InboundRecord& inbound,
                                              const std::optional<PickupRecord>& newPickup,
                                              const NotificationRecord& reply) = 0;

    /// The open pickup of this applicant for this service (the newest, should there be several), so that applying
    /// again re-sends it. With nowUnix > 0 a pickup whose deadline has passed (deadlineAt < nowUnix; open only because
    /// expireDue() has not run yet) does not count.
    virtual std::optional<PickupRecord> openPickupFor(const std::string& applicantId, int service,
                                                      long long nowUnix = 0) = 0;

    /// A counter collection by code and the applicant's ID (SPEC 4.2). The pickup considered is the applicant's open
    /// one with that code, else the applicant's newest with that code, else another applicant's (the open one first,
    /// then the newest): codes are unique among open pickups only. Outcomes: collected (open → collected by a
    /// conditional update, stamping collectedAt; of concurrent calls exactly one collects, the others get
    /// already_collected); wrong_id (the pickup is another applicant's); expired (state expired, or open with its
    /// deadline passed, nowUnix > deadlineAt, which marks it expired); already_collected; not_found (no pickup has
    /// that code).
    virtual CollectResult collectPickup(const std::string& code, const std::string& applicantId, long long nowUnix) = 0;

    /// Claims due reminders for `owner` until nowUnix + leaseSeconds and returns them as claimed, at most `limit`,
    /// earliest first. Due: open, remindAt <= nowUnix <= deadlineAt, not reminded yet, and unclaimed or with a lease
    /// that ended (claimedUntil < nowUnix). Each row is claimed by a conditional update, so that of several engines
    /// (or threads) claiming at once exactly one gets a pickup; another may take it over only once the lease ended
    /// without markReminded(). Requires a non-empty owner and leaseSeconds >= 1 (std::invalid_argument).
    virtual std::vector<PickupRecord> claimDueReminders(long long nowUnix, const std::string& owner, int leaseSeconds,
                                                        int limit) = 0;
    /// Records that a pickup's reminder went out (reminded_at = nowIso, or now when empty); the first stamp stays.
    /// Unknown ids are ignored.
    virtual void markReminded(const std::string& pickupId, const std::string& nowIso = "") = 0;
    /// Marks every open pickup whose deadline has passed (deadlineAt < nowUnix) expired, in one conditional update,
    /// and returns how many changed: of several engines running it at once, each pickup is counted by one.
    virtual int expireDue(long long nowUnix) = 0;
};

}  // namespace taxdesk::connectors
