#include "jobs/sms/received_at.hpp"

#include <cstdio>

namespace taxdesk::jobs::sms {
namespace {

bool isDigit(char c) noexcept {
    return c >= '0' && c <= '9';
}

/// `count` digits at `at`, or -1.
int digits(std::string_view text, std::size_t at, std::size_t count) noexcept {
    if (at + count > text.size()) return -1;
    int value = 0;
    for (std::size_t i = at; i < at + count; ++i) {
        if (!isDigit(text[i])) return -1;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

}  // namespace

std::optional<std::int64_t> parseIsoInstant(std::string_view text) noexcept {
    // YYYY-MM-DDTHH:MM:SS is 19 characters; then an optional fraction, then the offset.
    if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[13] != ':' || text[16] != ':') return std::nullopt;
    if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return std::nullopt;
    const LocalDate date{digits(text, 0, 4), digits(text, 5, 2), digits(text, 8, 2)};
    const int hour = digits(text, 11, 2);
    const int minute = digits(text, 14, 2);
    const int second = digits(text, 17, 2);
    if (date.year < 0 || !isValidDate(date) || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 ||
        second > 59) {
        return std::nullopt;
    }
    std::size_t at = 19;
    if (text[at] == '.' || text[at] == ',') {
        ++at;
        const std::size_t first = at;
        while (at < text.size() && isDigit(text[at])) ++at;
        if (at == first) return std::nullopt;
    }
    if (at >= text.size()) return std::nullopt;  // no offset
    std::int64_t offsetSeconds = 0;
    const std::string_view offset = text.substr(at);
    if (offset == "Z" || offset == "z") {
        offsetSeconds = 0;
    } else if (offset[0] == '+' || offset[0] == '-') {
        int offsetHours = digits(offset, 1, 2);
        int offsetMinutes = 0;
        if (offset.size() == 6 && offset[3] == ':') {
            offsetMinutes = digits(offset, 4, 2);
        } else if (offset.size() == 5) {
            offsetMinutes = digits(offset, 3, 2);
        } else if (offset.size() != 3) {
            return std::nullopt;
        }
        if (offsetHours < 0 || offsetMinutes < 0 || offsetMinutes > 59 || offsetHours * 60 + offsetMinutes > 14 * 60) {
            return std::nullopt;
        }
        offsetSeconds =
            (static_cast<std::int64_t>(offsetHours) * 3600 + offsetMinutes * 60) * (offset[0] == '-' ? -1 : 1);
    } else {
        return std::nullopt;
    }
    // taipeiUnixSeconds reads the wall-clock time as Taipei's (UTC+8): undo that, then apply the given offset.
    return taipeiUnixSeconds(date, hour, minute) + second + kTaipeiUtcOffsetSeconds - offsetSeconds;
}

const char* toString(ReceivedAtSource source) noexcept {
    switch (source) {
        case ReceivedAtSource::gateway:
            return "gateway";
        case ReceivedAtSource::missing:
            return "missing";
        case ReceivedAtSource::unparsable:
            return "unparsable";
        case ReceivedAtSource::future:
            return "future";
        case ReceivedAtSource::tooOld:
            return "too_old";
    }
    return "unknown";
}

ApplicationInstant applicationInstant(std::string_view receivedAt, std::int64_t now) noexcept {
    if (receivedAt.empty()) return {now, ReceivedAtSource::missing};
    const std::optional<std::int64_t> parsed = parseIsoInstant(receivedAt);
    if (!parsed) return {now, ReceivedAtSource::unparsable};
    if (*parsed > now) return {now, ReceivedAtSource::future};
    if (*parsed < now - kMaxReceivedAtAgeSeconds) return {now, ReceivedAtSource::tooOld};
    return {*parsed, ReceivedAtSource::gateway};
}

std::string dayKey(std::int64_t unixSeconds) {
    const LocalDate date = taipeiDate(unixSeconds);
    char text[16];
    std::snprintf(text, sizeof text, "%04d%02d%02d", date.year, date.month, date.day);
    return text;
}

}  // namespace taxdesk::jobs::sms
