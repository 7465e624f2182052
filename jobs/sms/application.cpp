#include "jobs/sms/application.hpp"

#include <algorithm>
#include <stdexcept>

#include "jobs/identity/identifiers.hpp"
#include "jobs/sms/query.hpp"
#include "jobs/sms/received_at.hpp"
#include "jobs/sms/replies.hpp"

namespace taxdesk::jobs::sms {
namespace {

Decision shortReason(Outcome outcome, std::string text) {
    Decision decision;
    decision.outcome = outcome;
    decision.kind = ReplyKind::reply;
    decision.text = std::move(text);
    return decision;
}

}  // namespace

const char* toString(Outcome outcome) noexcept {
    switch (outcome) {
        case Outcome::alert:
            return "alert";
        case Outcome::resent:
            return "resent";
        case Outcome::help:
            return "help";
        case Outcome::unknownService:
            return "unknown_service";
        case Outcome::malformed:
            return "malformed";
        case Outcome::invalidId:
            return "invalid_id";
        case Outcome::locked:
            return "locked";
        case Outcome::limit:
            return "limit";
        case Outcome::identityFailed:
            return "identity_failed";
        case Outcome::unavailable:
            return "unavailable";
        case Outcome::query:
            return "query";
    }
    return "unavailable";
}

const char* toString(ReplyKind kind) noexcept {
    return kind == ReplyKind::pickupAlert ? "pickup_alert" : "reply";
}

std::vector<OpenPickup> PickupPort::openPickupsOf(const std::string& applicantId, std::int64_t nowUnix) {
    std::vector<OpenPickup> open;
    for (Service service : kAllServices) {
        if (auto pickup = openPickupFor(applicantId, serviceCode(service), nowUnix)) open.push_back(std::move(*pickup));
    }
    return open;
}

Decision resendDecision(const OpenPickup& open) {
    const auto service = serviceFromCode(open.service);
    if (!service) throw std::invalid_argument("resendDecision: service code " + std::to_string(open.service));
    Decision decision;
    decision.outcome = Outcome::resent;
    decision.kind = ReplyKind::pickupAlert;
    decision.pickupId = open.pickupId;
    decision.text = pickupAlert(*service, open.office, deadlineOf(open.deadlineAt), open.code);
    return decision;
}

void redrawCode(Decision& decision, const std::string& code) {
    if (!decision.created) throw std::logic_error("redrawCode: the decision creates no pickup");
    NewPickup& pickup = *decision.created;
    pickup.code = code;
    decision.text = pickupAlert(pickup.service, pickup.office, pickup.deadline, pickup.code);
}

Decision decideApplication(const InboundSms& sms, std::int64_t nowMs, const ApplicationRules& rules, Ports ports) {
    if (rules.calendar == nullptr || rules.offices == nullptr)
        throw std::invalid_argument("decideApplication: the calendar and the office table are required");
    const std::int64_t now = nowMs / 1000;
    // The deadline and the daily limit count from when the gateway received the message.
    const ApplicationInstant applied = applicationInstant(sms.receivedAt, now);
    std::vector<LogNote> notes;
    if (applied.source != ReceivedAtSource::gateway && applied.source != ReceivedAtSource::missing) {
        // Not the text itself: gateway input may hold anything, a whole ID included.
        notes.push_back(
            {false, "received_at not used (" + std::string(toString(applied.source)) + "): counting from now"});
    }
    auto withNotes = [&notes](Decision decision) {
        decision.notes.insert(decision.notes.begin(), notes.begin(), notes.end());
        return decision;
    };

    const ParsedSms parsed = parseSmsText(sms.text, taipeiDate(now).year);
    switch (parsed.kind) {
        case ParsedSms::Kind::help:
            return withNotes(shortReason(Outcome::help, helpText()));
        case ParsedSms::Kind::unknownService:
            return withNotes(shortReason(Outcome::unknownService, unknownServiceText()));
        case ParsedSms::Kind::malformed:
            return withNotes(shortReason(Outcome::malformed, parsed.isQuery ? queryMalformedText() : malformedText()));
        case ParsedSms::Kind::invalidId:
            return withNotes(shortReason(Outcome::invalidId, parsed.isQuery ? queryInvalidIdText() : invalidIdText()));
        case ParsedSms::Kind::application:
        case ParsedSms::Kind::query:
            break;
    }
    // A progress query: the same locks and identity checks, but no application (SPEC 4.1's limit counts applications).
    const bool query = parsed.kind == ParsedSms::Kind::query;

    // An application. Counters and locks are shared by every engine; without them, refuse.
    const std::string day = dayKey(applied.unixSeconds);
    try {
        if (const auto left = ports.counters.lockSecondsLeft(parsed.id, sms.msisdn)) {
            // A lengthened lock says how long it still lasts: the longer of the two, in whole minutes rounded up.
            const int minutes = *left > 0 ? static_cast<int>((*left + 59) / 60) : rules.lockSeconds / 60;
            return withNotes(shortReason(Outcome::locked, lockedText(minutes)));
        }
        // Counted once per gateway_msg_id, so a step retried after a later failure or a redelivery counts nothing
        // again and gets the same answer.
        if (!query && ports.counters.countApplication(sms.msisdn, day, sms.gatewayMsgId) > rules.dailyLimit)
            return withNotes(shortReason(Outcome::limit, dailyLimitText(rules.dailyLimit)));
    } catch (const CountersUnavailable& error) {
        notes.push_back({true, "Redis unavailable, application refused: " + std::string(error.what())});
        return withNotes(shortReason(Outcome::unavailable, unavailableText()));
    }

    // Identity: the registry knows a living person, and the NHI card's last four digits match.
    const IdentityPort::Result identity = ports.identity.check(parsed.id, parsed.nhiLast4);
    if (identity.status == IdentityPort::Result::Status::unavailable) {
        // The connectors' own retries are spent: "try later", and this application does not count towards the day's
        // limit (the citizen sends it again).
        notes.push_back({true, "identity check for " + identity::mask(parsed.id) + " unavailable, replied try later"});
        try {
            if (!query) ports.counters.uncountApplication(sms.msisdn, day, sms.gatewayMsgId);
        } catch (const CountersUnavailable&) {
            // The counters went away too: the count stays (the safe side for a limit).
        }
        return withNotes(shortReason(Outcome::unavailable, unavailableText()));
    }
    if (identity.status == IdentityPort::Result::Status::failed) {
        try {
            // Strikes are timed by the engine's clock, not by received_at: the gateway's timestamps, up to a day old,
            // could otherwise spread three quick failures out of the window (or gather slow ones into it).
            const int lockedFor = ports.counters.recordFailedCheck(parsed.id, sms.msisdn, sms.gatewayMsgId, nowMs);
            if (lockedFor > 0) {
                notes.push_back({false, "locked " + identity::mask(parsed.id) + " and " + maskMsisdn(sms.msisdn) +
                                            " for " + std::to_string(lockedFor) + " s after failed identity checks"});
            }
        } catch (const CountersUnavailable&) {
            // The failure still gets its reply; the count is lost only while the counters are away.
        }
        return withNotes(shortReason(Outcome::identityFailed, identityFailedText()));
    }

    if (query) {
        const std::vector<OpenPickup> open = ports.pickups.openPickupsOf(parsed.id, now);
        notes.push_back({false, "query for " + identity::mask(parsed.id) + ": " + std::to_string(open.size()) +
                                    " open pickup(s) listed"});
        return withNotes(shortReason(Outcome::query, openPickupsText(open)));
    }

    const Service service = *parsed.service;
    // Already prepared and not yet collected: the same pickup again, nothing new.
    if (const auto open = ports.pickups.openPickupFor(parsed.id, serviceCode(service), now))
        return withNotes(resendDecision(*open));

    NewPickup created;
    created.pickupId = "p-" + sms.gatewayMsgId;
    created.code = ports.pickups.drawCode();
    created.applicantId = parsed.id;
    created.msisdn = sms.msisdn;
    created.service = service;
    created.office = rules.offices->officeFor(identity.district);
    created.deadline = pickupDeadline(*rules.calendar, taipeiDate(applied.unixSeconds), rules.pickupBusinessDays, now);
    created.deadlineAt = expiresAt(created.deadline);
    created.remindAt = reminderAt(created.deadline);
    Decision decision;
    decision.outcome = Outcome::alert;
    decision.kind = ReplyKind::pickupAlert;
    decision.pickupId = created.pickupId;
    decision.text = pickupAlert(service, created.office, created.deadline, created.code);
    decision.created = std::move(created);
    return withNotes(std::move(decision));
}

}  // namespace taxdesk::jobs::sms
