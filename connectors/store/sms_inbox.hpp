#pragma once
// The inbox of inbound SMS (issue 9 finding 13; migration 8): each stored before the gateway is answered 202, so that a
// message the broker lost is produced again and still gets its one reply. SqlSmsInbox (sql_sms_inbox.hpp) implements
// it.
#include <optional>
#include <string>
#include <vector>

namespace taxdesk::connectors {

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

/// Thread-safe. Every call throws StoreError when the store fails.
class SmsInbox {
  public:
    virtual ~SmsInbox() = default;

    /// Stores inbound SMS as the API accepted them, all in ONE transaction (all or none), and returns each as stored,
    /// in the order given: a gateway message id stored before keeps its row (its state, attempts, message), so a
    /// repeat is no second row. New rows get state queued, attempts as given, empty timestamps now. gatewayMsgId and
    /// message are required (std::invalid_argument, nothing stored); an unknown state is std::invalid_argument too.
    /// Throws StoreError when the store fails (then nothing is stored).
    virtual std::vector<InboxRecord> enqueueInbox(const std::vector<InboxRecord>& messages) = 0;
    /// Marks an inbox row done (stamping updated_at) when it is queued; a done or unknown id is left alone. The SMS
    /// stage does this in recordSmsOutcome's transaction; this call is for a message whose outcome was recorded before
    /// (a repeat after its row was pruned).
    virtual void markInboxDone(const std::string& gatewayMsgId) = 0;
    virtual std::optional<InboxRecord> findInbox(const std::string& gatewayMsgId) = 0;
    /// Inbox rows still queued, last touched before `olderThanIso` and produced fewer than `maxAttempts` times, oldest
    /// first, at most `limit`: each is claimed by a conditional update (updated_at = claimedAtIso, empty: now;
    /// attempts + 1), so that of several engines sweeping at once exactly one gets it, and it is not stale again until
    /// as long has passed. Returned as claimed.
    virtual std::vector<InboxRecord> claimStaleInbox(const std::string& olderThanIso, const std::string& claimedAtIso,
                                                     int maxAttempts, int limit) = 0;
    /// The produce of these claimed rows failed (the broker away): their attempts do not count (attempts - 1, never
    /// below 0), so that an outage, however long, never uses up a message's attempts. Rows done meanwhile are left.
    virtual void returnInboxAttempts(const std::vector<std::string>& gatewayMsgIds) = 0;
    /// Deletes at most `limit` done inbox rows last touched before `olderThanIso` (retention); returns how many. The
    /// processed-message record (sms_inbound) stays: a repeat of a pruned message is stored again and answered with
    /// its first reply.
    virtual int pruneInbox(const std::string& olderThanIso, int limit) = 0;
};

}  // namespace taxdesk::connectors
