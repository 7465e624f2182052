#pragma once
// SPEC 4.2: when a pickup must be collected, and where. Business days, the Asia/Taipei clock, the holidays file and
// the district → office table. Time is passed in, never read from the clock. Everything here is immutable after
// construction, so thread-safe.
#include <compare>
#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace taxdesk::jobs::sms {

/// A calendar date in Taipei (proleptic Gregorian). Ordered chronologically.
struct LocalDate {
    int year = 1970;
    int month = 1;  ///< 1–12
    int day = 1;    ///< 1–31

    friend auto operator<=>(const LocalDate&, const LocalDate&) = default;
    friend bool operator==(const LocalDate&, const LocalDate&) = default;
};

/// True when `date` names a day that exists (2026-02-29 does not).
bool isValidDate(LocalDate date) noexcept;
/// 0 = Sunday … 6 = Saturday.
int dayOfWeek(LocalDate date) noexcept;
/// The date `days` calendar days after `date` (before it when negative).
LocalDate addDays(LocalDate date, int days) noexcept;
/// `YYYY-MM-DD`, as in the holidays file and in JSON.
std::string toString(LocalDate date);

/// Which days the bureau's counters are open: every day but Saturdays, Sundays and the configured holidays; and the
/// configured make-up working days (補班日), Saturdays on which government offices open to make up for a bridge
/// holiday.
class BusinessCalendar {
  public:
    BusinessCalendar() = default;
    /// Throws std::invalid_argument when a date is in both sets, or a workday is not a Saturday or Sunday (a make-up
    /// working day on a weekday would mean nothing).
    explicit BusinessCalendar(std::set<LocalDate> holidays, std::set<LocalDate> workdays = {});

    /// True on the make-up working days; else false on Saturdays, Sundays and holidays.
    [[nodiscard]] bool isBusinessDay(LocalDate date) const;

    /// The `n`-th business day after `from`, `from` itself not counted (n = 1 from a Friday is the next Monday
    /// when that is no holiday). `from` may be any day, a business day or not. n = 0 gives `from`.
    /// Throws std::invalid_argument when n is negative.
    [[nodiscard]] LocalDate addBusinessDays(LocalDate from, int n) const;

    [[nodiscard]] const std::set<LocalDate>& holidays() const noexcept { return holidays_; }
    [[nodiscard]] const std::set<LocalDate>& workdays() const noexcept { return workdays_; }
    /// The latest year that holds a listed holiday or workday; 0 when nothing is listed. Past its end the calendar
    /// knows only weekends.
    [[nodiscard]] int lastYear() const noexcept;

  private:
    std::set<LocalDate> holidays_;
    std::set<LocalDate> workdays_;
};

/// Reads the holidays file: one `YYYY-MM-DD` per line, a holiday; or `YYYY-MM-DD workday`, a make-up working
/// Saturday or Sunday (補班日). White space around and between the words, blank lines and everything from a `#` to
/// the end of its line are ignored (so a date may carry a trailing comment); CRLF and a UTF-8 byte order mark are
/// accepted; a date listed twice the same way counts once. Throws std::runtime_error naming the 1-based line number
/// for a line that is not such a date (including 2026-02-30) or has another second word, for a workday on a weekday,
/// for a date listed both as a holiday and as a workday, and when the stream fails.
BusinessCalendar loadHolidays(std::istream& in);

/// A warning for operations when the holiday table is too short: when the pickup deadline of an application made
/// `today` (`businessDays` business days later, as pickupDeadline counts) falls in a year after the calendar's last
/// year — or nothing is listed at all —, the deadline may land on a holiday the table does not know. Returns the
/// text (naming the last year, the deadline and what to do), or nullopt when the table reaches far enough.
std::optional<std::string> calendarHorizonWarning(const BusinessCalendar& calendar, LocalDate today, int businessDays);

/// SPEC 4.2: the quick-pickup counters close at 18:00 Taipei; a pickup's deadline is this hour (the one home of 18).
inline constexpr int kClosingHour = 18;

/// The end of a pickup's collection window: `hour`:00 Asia/Taipei on `date`.
struct PickupDeadline {
    LocalDate date;
    int hour = kClosingHour;

    friend bool operator==(const PickupDeadline&, const PickupDeadline&) = default;
};

/// SPEC 4.2: 18:00 on the `businessDays`-th business day after `appliedOn` (the Taipei date the SMS was received;
/// the time of day does not matter, so a Friday-evening application counts from the next Monday).
/// Throws std::invalid_argument when businessDays < 1.
PickupDeadline pickupDeadline(const BusinessCalendar& calendar, LocalDate appliedOn, int businessDays);

/// The deadline an alert promises for an application received on `appliedOn` and handled at `nowUnixSeconds`: as
/// pickupDeadline counts from the day received, unless a backlog has already carried the engine past it (received
/// Monday evening, handled after 18:00 on Tuesday with one business day) — then from the day handled, so that no
/// citizen is sent a deadline that has passed. Throws std::invalid_argument when businessDays < 1.
PickupDeadline pickupDeadline(const BusinessCalendar& calendar, LocalDate appliedOn, int businessDays,
                              std::int64_t nowUnixSeconds);

/// Asia/Taipei is UTC+8 all year (no daylight saving since 1979).
inline constexpr std::int64_t kTaipeiUtcOffsetSeconds = 8 * 3600;

/// The Taipei calendar date at the instant `unixSeconds` (seconds since 1970-01-01T00:00:00Z, negative allowed).
LocalDate taipeiDate(std::int64_t unixSeconds) noexcept;
/// The instant of `hour`:`minute` Taipei time on `date`, as Unix seconds. Hours and minutes out of range are
/// carried over (hour 24 is the next midnight).
std::int64_t taipeiUnixSeconds(LocalDate date, int hour, int minute) noexcept;

/// When the reminder of an uncollected pickup is due: 09:00 Taipei on the deadline day.
std::int64_t reminderAt(const PickupDeadline& deadline) noexcept;
/// When an uncollected pickup becomes `expired`: the deadline instant itself.
std::int64_t expiresAt(const PickupDeadline& deadline) noexcept;
/// The deadline a stored pickup's deadline instant (expiresAt) stands for: its Taipei date at kClosingHour.
PickupDeadline deadlineOf(std::int64_t deadlineAtUnixSeconds) noexcept;

/// The configured district → office table (config/offices.properties), used to pick the counter from the
/// applicant's household district.
class OfficeTable {
  public:
    /// Reads properties-style lines `信義區 = 信義分局`: white space around key and value is trimmed; blank lines and
    /// lines starting with `#` or `!` are ignored; CRLF and a UTF-8 byte order mark are accepted. The key `default`
    /// names the office for districts not listed. Throws std::runtime_error naming the 1-based line number for a line
    /// without `=`, an empty key or value, or a district listed twice; and when there is no `default` entry or the
    /// stream fails.
    static OfficeTable load(std::istream& in);

    /// The office for the household district `district` (e.g. `信義區`, surrounding white space ignored); the
    /// default office for a district not in the table, including an empty one.
    [[nodiscard]] std::string officeFor(const std::string& district) const;

    [[nodiscard]] const std::string& defaultOffice() const noexcept { return default_; }
    /// The listed districts and their offices, without the default.
    [[nodiscard]] const std::map<std::string, std::string>& entries() const noexcept { return offices_; }

  private:
    OfficeTable(std::map<std::string, std::string> offices, std::string defaultOffice);

    std::map<std::string, std::string> offices_;
    std::string default_;
};

}  // namespace taxdesk::jobs::sms
