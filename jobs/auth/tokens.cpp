#include "jobs/auth/tokens.hpp"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/DateTimeParser.h>
#include <Poco/Timespan.h>

#include <charconv>
#include <stdexcept>

namespace taxdesk::jobs::auth {
namespace {

constexpr const char* kIsoFormat = "%Y-%m-%dT%H:%M:%S.%iZ";

Poco::DateTime parseIso(std::string_view text) {
    int zone = 0;
    Poco::DateTime parsed;
    if (!Poco::DateTimeParser::tryParse(kIsoFormat, std::string(text), parsed, zone))
        throw std::invalid_argument("not an ISO 8601 UTC time: '" + std::string(text) + "'");
    return parsed;
}

bool allDigits(std::string_view text) {
    if (text.empty()) return false;
    for (const char c : text)
        if (c < '0' || c > '9') return false;
    return true;
}

int number(std::string_view digits) {
    int value = 0;
    std::from_chars(digits.data(), digits.data() + digits.size(), value);
    return value;
}

}  // namespace

TokenState tokenState(std::string_view expiresAt, std::string_view revokedAt, std::string_view now) noexcept {
    if (!revokedAt.empty()) return TokenState::revoked;
    if (!expiresAt.empty() && expiresAt <= now) return TokenState::expired;
    return TokenState::valid;
}

std::string tokenIdOf(std::string_view tokenHash) {
    return std::string(tokenHash.substr(0, 12));
}

std::optional<std::string> expiryFor(const std::optional<std::string>& expiresInDays,
                                     const std::optional<std::string>& expiresOn, std::string_view now) {
    if (expiresInDays && expiresOn) throw std::invalid_argument("--expires-in and --expires: give one of them");
    const Poco::DateTime current = parseIso(now);
    if (expiresInDays) {
        const std::string& text = *expiresInDays;
        if (!allDigits(text) || text.size() > 4 || number(text) < 1 || number(text) > 3650)
            throw std::invalid_argument("--expires-in must be a whole number of days from 1 to 3650, not '" + text +
                                        "'");
        const Poco::DateTime expiry = current + Poco::Timespan(number(text), 0, 0, 0, 0);
        return Poco::DateTimeFormatter::format(expiry, kIsoFormat);
    }
    if (expiresOn) {
        const std::string& text = *expiresOn;
        const bool shaped =
            text.size() == 10 && text[4] == '-' && text[7] == '-' && allDigits(std::string_view(text).substr(0, 4)) &&
            allDigits(std::string_view(text).substr(5, 2)) && allDigits(std::string_view(text).substr(8, 2));
        const int year = shaped ? number(std::string_view(text).substr(0, 4)) : 0;
        const int month = shaped ? number(std::string_view(text).substr(5, 2)) : 0;
        const int day = shaped ? number(std::string_view(text).substr(8, 2)) : 0;
        if (!shaped || year < 1970 || year > 9998 || month < 1 || month > 12 || day < 1 ||
            day > Poco::DateTime::daysOfMonth(year, month))
            throw std::invalid_argument("--expires must be a date YYYY-MM-DD, not '" + text + "'");
        // Through the end of that day in Taipei (UTC+8 all year): 00:00 Taipei the next day is 16:00 UTC on the day.
        const Poco::DateTime expiry = Poco::DateTime(year, month, day, 16);
        if (expiry <= current) {
            throw std::invalid_argument("--expires " + text + " is in the past (dates are Taipei's)");
        }
        return Poco::DateTimeFormatter::format(expiry, kIsoFormat);
    }
    return std::nullopt;
}

}  // namespace taxdesk::jobs::auth
