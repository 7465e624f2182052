#pragma once
// SPEC 4.1 `received_at`: when the gateway received the SMS. The pickup deadline and the daily limit count from it
// rather than from when the engine gets round to the message, so that a backlog across midnight moves neither the
// deadline nor the day counted. It is gateway input, so it is bounded (and the failed-check window, which a wrong
// timestamp could stretch or squeeze, is timed by the engine's clock instead). Pure functions, thread-safe.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "jobs/sms/pickup_rules.hpp"

namespace taxdesk::jobs::sms {

/// How far before the engine's clock a received_at is believed: 24 hours. An older one is the gateway's mistake (a
/// wrong clock, a replayed file) or a backlog so old that counting it against a long-gone day would surprise the
/// citizen either way; processing time is used instead. Kafka keeps a backlog for days, but a day's outage is the
/// longest this service plans for (and a deadline a backlog has already passed counts from the day handled instead:
// pickupDeadline with the time handled).
inline constexpr std::int64_t kMaxReceivedAtAgeSeconds = 24 * 3600;

/// An ISO 8601 date-time with an offset, as Unix seconds: `YYYY-MM-DDTHH:MM:SS`, optionally `.` and fraction digits
/// (dropped), then `Z` or `±HH:MM` (also `±HHMM` and `±HH`). `T` may be a space or lower case, `Z` lower case. The
/// offset is required: a local time without one is ambiguous. Offsets up to ±14:00. nullopt for anything else
/// (including 2026-02-30 or 24:00:00).
std::optional<std::int64_t> parseIsoInstant(std::string_view text) noexcept;

/// Where the instant an application counts from came from.
enum class ReceivedAtSource {
    gateway,     ///< received_at as sent
    missing,     ///< no received_at: processing time
    unparsable,  ///< not an ISO 8601 instant with offset: processing time
    future,      ///< later than processing time (a gateway clock ahead): processing time
    tooOld,      ///< more than kMaxReceivedAtAgeSeconds before processing time: processing time
};

/// A stable ASCII name for logs: gateway, missing, unparsable, future, too_old.
const char* toString(ReceivedAtSource source) noexcept;

struct ApplicationInstant {
    std::int64_t unixSeconds = 0;
    ReceivedAtSource source = ReceivedAtSource::missing;
};

/// The instant an inbound SMS counts from: received_at (`receivedAt`, the raw field, may be empty) when it parses
/// and lies in [now − kMaxReceivedAtAgeSeconds, now]; else `now` (Unix seconds, the engine's clock), with the
/// reason.
ApplicationInstant applicationInstant(std::string_view receivedAt, std::int64_t now) noexcept;

/// The Taipei date of `unixSeconds` as `YYYYMMDD`: the day part of the daily-limit counter's key.
std::string dayKey(std::int64_t unixSeconds);

}  // namespace taxdesk::jobs::sms
