#include "jobs/sms/pickup_rules.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace taxdesk::jobs::sms {
namespace {

constexpr std::int64_t kSecondsPerDay = 86400;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t daysFromCivil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

/// The inverse of daysFromCivil.
LocalDate civilFromDays(std::int64_t z) noexcept {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return LocalDate{static_cast<int>(y + (m <= 2 ? 1 : 0)), static_cast<int>(m), static_cast<int>(d)};
}

std::int64_t daysOf(LocalDate date) noexcept {
    return daysFromCivil(date.year, static_cast<unsigned>(date.month), static_cast<unsigned>(date.day));
}

/// Floor division, so that instants before 1970 land on the right day.
std::int64_t floorDiv(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

bool isAsciiSpace(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view text) noexcept {
    while (!text.empty() && isAsciiSpace(text.front())) text.remove_prefix(1);
    while (!text.empty() && isAsciiSpace(text.back())) text.remove_suffix(1);
    return text;
}

/// Reads the stream line by line, dropping a UTF-8 byte order mark on the first line and a CR at the end of each;
/// calls `onLine(lineNumber, line)`. Throws when the stream fails (badbit), naming `what`.
template <typename OnLine>
void forEachLine(std::istream& in, const char* what, OnLine onLine) {
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        std::string_view view = line;
        if (number == 1 && view.starts_with("\xEF\xBB\xBF")) view.remove_prefix(3);
        if (view.ends_with('\r')) view.remove_suffix(1);
        onLine(number, view);
    }
    if (in.bad()) throw std::runtime_error(std::string(what) + ": read error after line " + std::to_string(number));
}

std::optional<LocalDate> parseIsoDate(std::string_view text) noexcept {
    if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
    int fields[3] = {0, 0, 0};
    const std::pair<std::size_t, std::size_t> spans[3] = {{0, 4}, {5, 2}, {8, 2}};
    for (std::size_t f = 0; f < 3; ++f) {
        for (std::size_t i = spans[f].first; i < spans[f].first + spans[f].second; ++i) {
            if (text[i] < '0' || text[i] > '9') return std::nullopt;
            fields[f] = fields[f] * 10 + (text[i] - '0');
        }
    }
    const LocalDate date{fields[0], fields[1], fields[2]};
    if (!isValidDate(date)) return std::nullopt;
    return date;
}

std::runtime_error lineError(const char* file, int line, const std::string& message) {
    return std::runtime_error(std::string(file) + " line " + std::to_string(line) + ": " + message);
}

}  // namespace

bool isValidDate(LocalDate date) noexcept {
    if (date.month < 1 || date.month > 12 || date.day < 1) return false;
    static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (date.year % 4 == 0 && date.year % 100 != 0) || date.year % 400 == 0;
    const int last = kDays[date.month - 1] + (date.month == 2 && leap ? 1 : 0);
    return date.day <= last;
}

int dayOfWeek(LocalDate date) noexcept {
    // 1970-01-01 was a Thursday (4).
    return static_cast<int>(((daysOf(date) % 7) + 11) % 7);
}

LocalDate addDays(LocalDate date, int days) noexcept {
    return civilFromDays(daysOf(date) + days);
}

std::string toString(LocalDate date) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02d", date.year, date.month, date.day);
    return buffer;
}

BusinessCalendar::BusinessCalendar(std::set<LocalDate> holidays, std::set<LocalDate> workdays)
    : holidays_(std::move(holidays)), workdays_(std::move(workdays)) {
    for (const LocalDate& day : workdays_) {
        if (holidays_.contains(day)) {
            throw std::invalid_argument(toString(day) + " is listed both as a holiday and as a workday");
        }
        if (const int weekday = dayOfWeek(day); weekday != 0 && weekday != 6) {
            throw std::invalid_argument(toString(day) + " is a weekday: only a Saturday or Sunday can be a make-up " +
                                        "workday");
        }
    }
}

bool BusinessCalendar::isBusinessDay(LocalDate date) const {
    if (workdays_.contains(date)) return true;
    const int weekday = dayOfWeek(date);
    return weekday != 0 && weekday != 6 && !holidays_.contains(date);
}

int BusinessCalendar::lastYear() const noexcept {
    int last = 0;
    if (!holidays_.empty()) last = holidays_.rbegin()->year;
    if (!workdays_.empty()) last = std::max(last, workdays_.rbegin()->year);
    return last;
}

LocalDate BusinessCalendar::addBusinessDays(LocalDate from, int n) const {
    if (n < 0) throw std::invalid_argument("addBusinessDays: n must not be negative, got " + std::to_string(n));
    // The holiday set is finite, so the walk always ends: past the last holiday every week has five business days.
    LocalDate day = from;
    for (int found = 0; found < n;) {
        day = addDays(day, 1);
        if (isBusinessDay(day)) ++found;
    }
    return day;
}

BusinessCalendar loadHolidays(std::istream& in) {
    std::set<LocalDate> holidays;
    std::set<LocalDate> workdays;
    forEachLine(in, "holidays", [&](int number, std::string_view line) {
        if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        line = trim(line);
        if (line.empty()) return;
        std::string_view first = line;
        std::string_view second;
        if (const std::size_t space = line.find_first_of(" \t"); space != std::string_view::npos) {
            first = line.substr(0, space);
            second = trim(line.substr(space));
        }
        const std::optional<LocalDate> date = parseIsoDate(first);
        if (!date) throw lineError("holidays", number, "'" + std::string(line) + "' is not a date YYYY-MM-DD");
        if (second.empty()) {
            if (workdays.contains(*date)) {
                throw lineError("holidays", number, toString(*date) + " is already listed as a workday");
            }
            holidays.insert(*date);
            return;
        }
        if (second != "workday") {
            throw lineError(
                "holidays", number,
                "'" + std::string(line) + "': after the date only 'workday' (a make-up working day) may " + "follow");
        }
        if (const int weekday = dayOfWeek(*date); weekday != 0 && weekday != 6) {
            throw lineError("holidays", number,
                            toString(*date) + " is a weekday: only a Saturday or Sunday can be a make-up workday");
        }
        if (holidays.contains(*date)) {
            throw lineError("holidays", number, toString(*date) + " is already listed as a holiday");
        }
        workdays.insert(*date);
    });
    return BusinessCalendar(std::move(holidays), std::move(workdays));
}

std::optional<std::string> calendarHorizonWarning(const BusinessCalendar& calendar, LocalDate today, int businessDays) {
    const LocalDate deadline = calendar.addBusinessDays(today, std::max(businessDays, 0));
    const int last = calendar.lastYear();
    if (last == 0) {
        return "the holiday table lists no date: pickup deadlines skip weekends only; configure sms.holidays_file";
    }
    if (deadline.year <= last) return std::nullopt;
    return "the holiday table ends with " + std::to_string(last) + ", but an application today (" + toString(today) +
           ") is due " + toString(deadline) + ": deadlines past " + std::to_string(last) + " skip weekends only; add " +
           std::to_string(last + 1) + "'s holidays to the holidays file";
}

PickupDeadline pickupDeadline(const BusinessCalendar& calendar, LocalDate appliedOn, int businessDays) {
    if (businessDays < 1) {
        throw std::invalid_argument("pickupDeadline: businessDays must be at least 1, got " +
                                    std::to_string(businessDays));
    }
    return PickupDeadline{calendar.addBusinessDays(appliedOn, businessDays), kClosingHour};
}

PickupDeadline pickupDeadline(const BusinessCalendar& calendar, LocalDate appliedOn, int businessDays,
                              std::int64_t nowUnixSeconds) {
    const PickupDeadline counted = pickupDeadline(calendar, appliedOn, businessDays);
    if (expiresAt(counted) > nowUnixSeconds) return counted;
    return pickupDeadline(calendar, taipeiDate(nowUnixSeconds), businessDays);
}

LocalDate taipeiDate(std::int64_t unixSeconds) noexcept {
    return civilFromDays(floorDiv(unixSeconds + kTaipeiUtcOffsetSeconds, kSecondsPerDay));
}

std::int64_t taipeiUnixSeconds(LocalDate date, int hour, int minute) noexcept {
    return daysOf(date) * kSecondsPerDay + static_cast<std::int64_t>(hour) * 3600 +
           static_cast<std::int64_t>(minute) * 60 - kTaipeiUtcOffsetSeconds;
}

std::int64_t reminderAt(const PickupDeadline& deadline) noexcept {
    return taipeiUnixSeconds(deadline.date, 9, 0);
}

std::int64_t expiresAt(const PickupDeadline& deadline) noexcept {
    return taipeiUnixSeconds(deadline.date, deadline.hour, 0);
}

PickupDeadline deadlineOf(std::int64_t deadlineAtUnixSeconds) noexcept {
    return PickupDeadline{taipeiDate(deadlineAtUnixSeconds), kClosingHour};
}

OfficeTable::OfficeTable(std::map<std::string, std::string> offices, std::string defaultOffice)
    : offices_(std::move(offices)), default_(std::move(defaultOffice)) {}

OfficeTable OfficeTable::load(std::istream& in) {
    std::map<std::string, std::string> offices;
    std::string defaultOffice;
    int defaultLine = 0;
    forEachLine(in, "offices", [&](int number, std::string_view line) {
        line = trim(line);
        if (line.empty() || line.front() == '#' || line.front() == '!') return;
        const std::size_t equals = line.find('=');
        if (equals == std::string_view::npos) {
            throw lineError("offices", number, "expected 'district = office', got '" + std::string(line) + "'");
        }
        const std::string key(trim(line.substr(0, equals)));
        const std::string value(trim(line.substr(equals + 1)));
        if (key.empty()) throw lineError("offices", number, "the district is empty");
        if (value.empty()) throw lineError("offices", number, "no office for '" + key + "'");
        if (key == "default") {
            if (defaultLine != 0) {
                throw lineError("offices", number, "'default' is already set on line " + std::to_string(defaultLine));
            }
            defaultLine = number;
            defaultOffice = value;
        } else if (!offices.emplace(key, value).second) {
            throw lineError("offices", number, "'" + key + "' is listed twice");
        }
    });
    if (defaultLine == 0) throw std::runtime_error("offices: no 'default' entry for districts not listed");
    return OfficeTable(std::move(offices), std::move(defaultOffice));
}

std::string OfficeTable::officeFor(const std::string& district) const {
    const auto found = offices_.find(std::string(trim(district)));
    return found != offices_.end() ? found->second : default_;
}

}  // namespace taxdesk::jobs::sms
