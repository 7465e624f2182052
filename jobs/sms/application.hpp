#pragma once
// SPEC 4.1, 4.2: what an SMS application comes to. One inbound message, the clock and three small ports (identity,
// counters, pickups) give one decision: the outcome, the reply (its kind and text) and the pickup to create or re-send.
// No Kafka, Redis or SQL here: the SMS stage (engine/flow/sms_stage.cpp) adapts its connectors to the ports and records
// the decision. Thread-safe as far as the ports are.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "jobs/sms/inbound.hpp"
#include "jobs/sms/pickup_rules.hpp"

namespace taxdesk::jobs::sms {

/// What an inbound SMS came to: the `outcome` column of sms_inbound.
enum class Outcome {
    alert,           ///< a pickup was prepared: the alert
    resent,          ///< the applicant's open pickup for that service, sent again
    help,            ///< the help text
    unknownService,  ///< the first word is no service
    malformed,       ///< not `<service> <ID> <last 4>`
    invalidId,       ///< the ID fails SPEC 2 validation
    locked,          ///< the ID or the msisdn is locked after failed identity checks
    limit,           ///< the msisdn used its daily limit
    identityFailed,  ///< the registry or the NHI card check said no
    unavailable,     ///< the counters or an identity connector are away: "try later", not counted
    query,           ///< a progress query (`查`/`Q`) that passed the identity checks: the open pickups listed
};

/// The stored name: alert, resent, help, unknown_service, malformed, invalid_id, locked, limit, identity_failed,
/// unavailable, query.
const char* toString(Outcome outcome) noexcept;

/// The kind of the one reply (the notification's `kind`).
enum class ReplyKind {
    reply,        ///< a short reason
    pickupAlert,  ///< the pickup alert (new or re-sent)
};

/// The stored name: reply, pickup_alert.
const char* toString(ReplyKind kind) noexcept;

/// An inbound SMS as the stage read it (SPEC 4.1): the msisdn already normalised (normalizeMsisdn), the other fields
/// as the gateway sent them.
struct InboundSms {
    std::string msisdn;
    std::string text;
    std::string gatewayMsgId;
    std::string receivedAt;  ///< the raw field; may be empty
};

/// The port's view of the applicant's open pickup for a service.
struct OpenPickup {
    std::string pickupId;
    std::string code;
    int service = 0;  ///< the service's code, 1–5
    std::string office;
    std::int64_t deadlineAt = 0;  ///< unix seconds (18:00 Taipei on the deadline day)
};

/// A pickup the decision prepares (the store records it with the reply).
struct NewPickup {
    std::string pickupId;  ///< `p-` + gateway_msg_id
    std::string code;      ///< 6 digits (PickupPort::drawCode)
    std::string applicantId;
    std::string msisdn;
    Service service = Service::propertyIncome;
    std::string office;
    PickupDeadline deadline;
    std::int64_t deadlineAt = 0;  ///< expiresAt(deadline)
    std::int64_t remindAt = 0;    ///< reminderAt(deadline)
};

/// Registry and NHI card: is the applicant a living person whose NHI card ends in those four digits?
class IdentityPort {
  public:
    struct Result {
        enum class Status {
            verified,     ///< the registry knows a living person (no company) and the NHI card matches
            failed,       ///< unknown, deceased, a company or the wrong four digits
            unavailable,  ///< a connector failed transiently after its own retries
        };
        Status status = Status::failed;
        std::string district;  ///< the household district (verified only): picks the office
    };
    virtual ~IdentityPort() = default;
    /// Throws only for a failure that is not transient (the pipeline dead-letters the message).
    virtual Result check(const std::string& id, const std::string& nhiLast4) = 0;
};

/// The shared counters and locks are away (Redis unreachable).
class CountersUnavailable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// The counters every engine shares: the locks after failed identity checks and the daily limit. Every method throws
/// CountersUnavailable when the counters are away.
class CounterPort {
  public:
    virtual ~CounterPort() = default;
    /// Nullopt when neither the ID nor the msisdn is locked; else the seconds the longer lock still lasts (0 or less
    /// when unknown).
    virtual std::optional<long long> lockSecondsLeft(const std::string& id, const std::string& msisdn) = 0;
    /// Counts the application `gatewayMsgId` towards the msisdn's count on `day` (dayKey) once, and returns the count
    /// (a message counted before gets the count it had).
    virtual long long countApplication(const std::string& msisdn, const std::string& day,
                                       const std::string& gatewayMsgId) = 0;
    /// Takes back countApplication's count of `gatewayMsgId` (the application did not get through).
    virtual void uncountApplication(const std::string& msisdn, const std::string& day,
                                    const std::string& gatewayMsgId) = 0;
    /// Records a failed identity check of the ID from the msisdn (once per gatewayMsgId) at `nowMs`; returns the
    /// seconds both are locked for when this failure locked them, else 0.
    virtual int recordFailedCheck(const std::string& id, const std::string& msisdn, const std::string& gatewayMsgId,
                                  std::int64_t nowMs) = 0;
};

/// The pickups already stored, and fresh codes.
class PickupPort {
  public:
    virtual ~PickupPort() = default;
    /// The applicant's open pickup for the service (code 1–5) whose deadline has not passed at nowUnix.
    virtual std::optional<OpenPickup> openPickupFor(const std::string& applicantId, int service,
                                                    std::int64_t nowUnix) = 0;
    /// Every open pickup of the applicant whose deadline has not passed at nowUnix, in any order (the progress
    /// query). By default openPickupFor for each service; a store that can should answer in one indexed read.
    virtual std::vector<OpenPickup> openPickupsOf(const std::string& applicantId, std::int64_t nowUnix);
    /// A fresh 6-digit code.
    virtual std::string drawCode() = 0;
};

/// The rules' settings (sms.*).
struct ApplicationRules {
    int dailyLimit = 5;          ///< sms.daily_limit
    int pickupBusinessDays = 3;  ///< sms.pickup_business_days
    int lockSeconds = 600;       ///< sms.lock_seconds: the minutes a lock of unknown length is said to last
    const BusinessCalendar* calendar = nullptr;
    const OfficeTable* offices = nullptr;
};

struct Ports {
    IdentityPort& identity;
    CounterPort& counters;
    PickupPort& pickups;
};

/// A line for the engine's log: never a whole ID or msisdn.
struct LogNote {
    bool warning = false;  ///< else information
    std::string text;
};

/// What to answer and what to store.
struct Decision {
    Outcome outcome = Outcome::malformed;
    ReplyKind kind = ReplyKind::reply;
    std::string text;                  ///< the reply
    std::string pickupId;              ///< the pickup the reply names ("" for a short reason)
    std::optional<NewPickup> created;  ///< set for alert: the pickup to store with the reply
    std::vector<LogNote> notes;
};

/// Decides an inbound SMS (SPEC 4.1, 4.2) at `nowMs` (the engine's clock, Unix milliseconds):
///  - not an application (help, unknown service, malformed, invalid ID): its short reason (a malformed or invalid
///    query: the query's, jobs/sms/query.hpp);
///  - locked ID or msisdn: locked, with the longer lock's minutes left, rounded up (rules.lockSeconds / 60 when
///    unknown); then the application is counted on the Taipei day it was received (applicationInstant); over
///    rules.dailyLimit: limit; counters away: unavailable;
///  - identity unavailable: unavailable, and the count taken back; failed: identity_failed, and the failure recorded
///    (a lock it causes is noted; counters away: the failure still gets its reply);
///  - verified, with an open pickup for the service: resent (the same code, office and deadline);
///  - else alert: a new pickup `p-<gateway_msg_id>` with a fresh code, the office of the applicant's district and the
///    deadline counted from the day received (pickupDeadline with the time handled).
/// A progress query (`查 <ID> <last 4>`, issue 13) goes the same way with two differences: it is no application, so it
/// is not counted towards (nor refused by) the daily limit; and once verified its reply (outcome query, kind reply, no
/// pickup) lists the applicant's open pickups (PickupPort::openPickupsOf, openPickupsText). Locks, and a failed check
/// recorded towards them, are as for an application.
/// Port exceptions other than CountersUnavailable propagate.
Decision decideApplication(const InboundSms& sms, std::int64_t nowMs, const ApplicationRules& rules, Ports ports);

/// The re-send of an open pickup (a resent decision): when recording an alert found that the applicant's pickup was
/// made meanwhile.
Decision resendDecision(const OpenPickup& open);

/// `decision` (an alert) with another code: when recording found the code taken by another open pickup.
void redrawCode(Decision& decision, const std::string& code);

}  // namespace taxdesk::jobs::sms
