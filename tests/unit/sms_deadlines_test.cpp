// SPEC 4.2: pickup deadlines, business days, the Taipei clock, the holidays and offices tables, and received_at (the
// instant an application counts from).
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "jobs/identity/identifiers.hpp"
#include "jobs/sms/inbound.hpp"
#include "jobs/sms/lock_rules.hpp"
#include "jobs/sms/pickup_rules.hpp"
#include "jobs/sms/received_at.hpp"
#include "jobs/sms/replies.hpp"
#include "jobs/sms/segments.hpp"

namespace taxdesk::jobs::sms {

// Found by argument-dependent lookup, so outside the unnamed namespace.
void PrintTo(const LocalDate& date, std::ostream* os) {
    *os << toString(date);
}

namespace {

using Kind = ParsedSms::Kind;

// ---- deadlines ------------------------------------------------------------------------------------------------

BusinessCalendar testCalendar() {
    // A few real holidays around the cases below: Mid-Autumn and Teachers' Day, National Day (observed), the
    // Constitution Day and New Year's Day.
    return BusinessCalendar({{2026, 9, 25}, {2026, 9, 28}, {2026, 10, 9}, {2026, 12, 25}, {2027, 1, 1}});
}

struct DeadlineCase {
    const char* label;
    LocalDate appliedOn;
    int businessDays;
    LocalDate expected;
};

void PrintTo(const DeadlineCase& c, std::ostream* os) {
    *os << c.label;
}

class DeadlineTest : public ::testing::TestWithParam<DeadlineCase> {};

TEST_P(DeadlineTest, CountsBusinessDaysAfterTheApplication) {
    const DeadlineCase& c = GetParam();
    const PickupDeadline deadline = pickupDeadline(testCalendar(), c.appliedOn, c.businessDays);
    EXPECT_EQ(toString(deadline.date), toString(c.expected));
    EXPECT_EQ(deadline.hour, 18);
    EXPECT_TRUE(testCalendar().isBusinessDay(deadline.date));
}

INSTANTIATE_TEST_SUITE_P(Spec42, DeadlineTest,
                         ::testing::Values(DeadlineCase{"monday_n3_thursday", {2026, 11, 23}, 3, {2026, 11, 26}},
                                           DeadlineCase{"monday_n1_tuesday", {2026, 11, 23}, 1, {2026, 11, 24}},
                                           DeadlineCase{"thursday_n2_monday", {2026, 11, 26}, 2, {2026, 11, 30}},
                                           DeadlineCase{"friday_n3_wednesday", {2026, 11, 27}, 3, {2026, 12, 2}},
                                           DeadlineCase{"friday_n1_monday", {2026, 11, 27}, 1, {2026, 11, 30}},
                                           DeadlineCase{"saturday_n1_monday", {2026, 11, 28}, 1, {2026, 11, 30}},
                                           DeadlineCase{"sunday_n3_wednesday", {2026, 11, 29}, 3, {2026, 12, 2}},
                                           DeadlineCase{"eve_of_mid_autumn_n1", {2026, 9, 24}, 1, {2026, 9, 29}},
                                           DeadlineCase{"eve_of_mid_autumn_n3", {2026, 9, 24}, 3, {2026, 10, 1}},
                                           DeadlineCase{"on_a_holiday_n1", {2026, 9, 25}, 1, {2026, 9, 29}},
                                           DeadlineCase{"eve_of_national_day_n1", {2026, 10, 8}, 1, {2026, 10, 12}},
                                           DeadlineCase{"eve_of_national_day_n3", {2026, 10, 8}, 3, {2026, 10, 14}},
                                           DeadlineCase{
                                               "eve_of_constitution_day_n1", {2026, 12, 24}, 1, {2026, 12, 28}},
                                           DeadlineCase{"year_end_n1", {2026, 12, 31}, 1, {2027, 1, 4}},
                                           DeadlineCase{"year_end_n3", {2026, 12, 31}, 3, {2027, 1, 6}},
                                           DeadlineCase{"december_30_n3", {2026, 12, 30}, 3, {2027, 1, 5}},
                                           DeadlineCase{"month_end_february", {2027, 2, 26}, 1, {2027, 3, 1}},
                                           DeadlineCase{"leap_day", {2028, 2, 28}, 1, {2028, 2, 29}}));

TEST(DeadlineRulesTest, RejectsNonPositiveBusinessDays) {
    EXPECT_THROW(pickupDeadline(testCalendar(), {2026, 11, 23}, 0), std::invalid_argument);
    EXPECT_THROW(pickupDeadline(testCalendar(), {2026, 11, 23}, -1), std::invalid_argument);
    EXPECT_THROW((void)testCalendar().addBusinessDays({2026, 11, 23}, -1), std::invalid_argument);
    EXPECT_EQ(testCalendar().addBusinessDays({2026, 11, 28}, 0), (LocalDate{2026, 11, 28}));
}

TEST(DeadlineRulesTest, BusinessDays) {
    const BusinessCalendar calendar = testCalendar();
    EXPECT_TRUE(calendar.isBusinessDay({2026, 11, 23}));   // Monday
    EXPECT_TRUE(calendar.isBusinessDay({2026, 11, 27}));   // Friday
    EXPECT_FALSE(calendar.isBusinessDay({2026, 11, 28}));  // Saturday
    EXPECT_FALSE(calendar.isBusinessDay({2026, 11, 29}));  // Sunday
    EXPECT_FALSE(calendar.isBusinessDay({2027, 1, 1}));    // holiday on a Friday
    EXPECT_TRUE(BusinessCalendar().isBusinessDay({2027, 1, 1}));
    EXPECT_EQ(dayOfWeek({1970, 1, 1}), 4);
    EXPECT_EQ(dayOfWeek({2026, 11, 30}), 1);
    EXPECT_EQ(dayOfWeek({1969, 12, 31}), 3);
}

struct InstantCase {
    const char* label;
    std::int64_t unixSeconds;
    LocalDate taipeiDate;
};

void PrintTo(const InstantCase& c, std::ostream* os) {
    *os << c.label;
}

class TaipeiDateTest : public ::testing::TestWithParam<InstantCase> {};

TEST_P(TaipeiDateTest, IsUtcPlusEight) {
    EXPECT_EQ(toString(taipeiDate(GetParam().unixSeconds)), toString(GetParam().taipeiDate));
}

INSTANTIATE_TEST_SUITE_P(
    AsiaTaipei, TaipeiDateTest,
    ::testing::Values(InstantCase{"epoch_is_8am", 0, {1970, 1, 1}},
                      InstantCase{"before_epoch_midnight_taipei", -28800, {1970, 1, 1}},
                      InstantCase{"one_second_before_taipei_midnight_1969", -28801, {1969, 12, 31}},
                      InstantCase{"utc_evening_is_next_taipei_day", 1795708800, {2026, 11, 27}},  // 16:00Z
                      InstantCase{"last_second_of_taipei_day", 1795708799, {2026, 11, 26}},
                      InstantCase{"friday_evening_application", 1795782600, {2026, 11, 27}}));  // 20:30 +08

TEST(DeadlineRulesTest, ReminderAndExpiryInstants) {
    const PickupDeadline deadline{{2026, 11, 30}, 18};
    EXPECT_EQ(expiresAt(deadline), 1796032800);   // 2026-11-30T18:00:00+08:00
    EXPECT_EQ(reminderAt(deadline), 1796000400);  // 2026-11-30T09:00:00+08:00
    EXPECT_EQ(taipeiUnixSeconds({2026, 11, 30}, 18, 0), 1796032800);
    EXPECT_EQ(taipeiUnixSeconds({2026, 11, 26}, 24, 0), taipeiUnixSeconds({2026, 11, 27}, 0, 0));
    EXPECT_EQ(taipeiDate(expiresAt(deadline)), deadline.date);
    EXPECT_EQ(taipeiDate(reminderAt(deadline)), deadline.date);

    // A Friday-evening application: received 2026-11-27T20:30+08:00, due Wednesday 18:00 Taipei.
    const PickupDeadline fromFriday = pickupDeadline(testCalendar(), taipeiDate(1795782600), 3);
    EXPECT_EQ(fromFriday.date, (LocalDate{2026, 12, 2}));
    EXPECT_EQ(expiresAt(fromFriday), 1796032800 + 2 * 86400);
}

// ---- the holidays file ----------------------------------------------------------------------------------------

TEST(HolidaysFileTest, ReadsDatesCommentsAndBlankLines) {
    std::istringstream in(
        "\xEF\xBB\xBF# holidays\r\n"
        "\r\n"
        "2026-01-01\r\n"
        "  2026-02-16   # 除夕\n"
        "\t\n"
        "2026-02-16\n"  // listed twice: counts once
        "2027-01-01");  // no final line break
    const BusinessCalendar calendar = loadHolidays(in);
    EXPECT_EQ(calendar.holidays(), (std::set<LocalDate>{{2026, 1, 1}, {2026, 2, 16}, {2027, 1, 1}}));
    EXPECT_FALSE(calendar.isBusinessDay({2026, 2, 16}));

    std::istringstream empty("");
    EXPECT_TRUE(loadHolidays(empty).holidays().empty());
}

struct BadFileCase {
    const char* label;
    std::string text;
    std::string expectedInMessage;
};

void PrintTo(const BadFileCase& c, std::ostream* os) {
    *os << c.label;
}

class BadHolidaysTest : public ::testing::TestWithParam<BadFileCase> {};

TEST_P(BadHolidaysTest, ThrowsNamingTheLine) {
    std::istringstream in(GetParam().text);
    try {
        (void)loadHolidays(in);
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(GetParam().expectedInMessage), std::string::npos) << e.what();
    }
}

INSTANTIATE_TEST_SUITE_P(
    Errors, BadHolidaysTest,
    ::testing::Values(BadFileCase{"bad_month", "2026-01-01\n\n# c\n2026-13-01\n", "line 4"},
                      BadFileCase{"february_30", "2026-02-30\n", "line 1"},
                      BadFileCase{"not_leap_year", "# 2027\n2027-02-29\n", "line 2"},
                      BadFileCase{"unpadded", "2026-01-01\n2026-1-1\n", "line 2"},
                      BadFileCase{"slashes", "2026/01/01\n", "line 1"},
                      BadFileCase{"two_dates", "2026-01-01 2026-01-02\n", "line 1"},
                      BadFileCase{"words", "2026-01-01\r\n2026-01-02\r\nNew Year\r\n", "line 3"},
                      BadFileCase{"roc_year", "115-01-01\n", "'115-01-01'"},
                      BadFileCase{"day_zero", "2026-01-00\n", "line 1"},
                      BadFileCase{"other_word", "2027-02-20 holiday\n", "line 1"},
                      BadFileCase{"workday_on_a_weekday", "# c\n2027-02-19 workday\n", "line 2"},
                      BadFileCase{"holiday_then_workday", "2027-02-20\n2027-02-20 workday\n", "line 2"},
                      BadFileCase{"workday_then_holiday", "2027-02-20 workday\n2027-02-20\n", "line 2"}));

// ---- make-up workdays and the table's horizon -------------------------------------------------------------------

TEST(HolidaysFileTest, AMakeUpSaturdayIsABusinessDay) {
    std::istringstream in(
        "2027-02-19          # a bridge holiday (Friday)\n"
        "2027-02-20 workday  # 補班: the Saturday after\n"
        "2027-02-21\tworkday\r\n");  // a Sunday, separated by a tab
    const BusinessCalendar calendar = loadHolidays(in);
    EXPECT_EQ(calendar.holidays(), (std::set<LocalDate>{{2027, 2, 19}}));
    EXPECT_EQ(calendar.workdays(), (std::set<LocalDate>{{2027, 2, 20}, {2027, 2, 21}}));
    EXPECT_FALSE(calendar.isBusinessDay({2027, 2, 19}));
    EXPECT_TRUE(calendar.isBusinessDay({2027, 2, 20}));   // Saturday
    EXPECT_TRUE(calendar.isBusinessDay({2027, 2, 21}));   // Sunday
    EXPECT_FALSE(calendar.isBusinessDay({2027, 2, 27}));  // an ordinary Saturday
    // Applied on Thursday 2/18: Friday is off, Saturday and Sunday are working days, then Monday 2/22.
    EXPECT_EQ(pickupDeadline(calendar, {2027, 2, 18}, 1).date, (LocalDate{2027, 2, 20}));
    EXPECT_EQ(pickupDeadline(calendar, {2027, 2, 18}, 3).date, (LocalDate{2027, 2, 22}));
    EXPECT_EQ(calendar.lastYear(), 2027);
}

TEST(HolidaysFileTest, TheCalendarRejectsImpossibleWorkdays) {
    EXPECT_THROW(BusinessCalendar({}, {{2027, 2, 19}}), std::invalid_argument);  // a Friday
    EXPECT_THROW(BusinessCalendar({{2027, 2, 20}}, {{2027, 2, 20}}), std::invalid_argument);
    EXPECT_NO_THROW(BusinessCalendar({}, {{2027, 2, 20}}));
}

TEST(CalendarHorizonTest, WarnsWhenTodaysDeadlineFallsPastTheLastListedYear) {
    const BusinessCalendar calendar({{2026, 12, 25}, {2027, 12, 24}, {2027, 12, 31}});
    EXPECT_EQ(calendar.lastYear(), 2027);
    // Mid-2027: due within 2027, no warning.
    EXPECT_FALSE(calendarHorizonWarning(calendar, {2027, 6, 1}, 3));
    // Monday 2027-12-27 + 3 business days = Thursday 12-30: still 2027.
    EXPECT_FALSE(calendarHorizonWarning(calendar, {2027, 12, 27}, 3));
    // Tuesday 2027-12-28 + 3: Wed 29, Thu 30, (Fri 31 holiday), Mon 2028-01-03 — past the table.
    const auto warning = calendarHorizonWarning(calendar, {2027, 12, 28}, 3);
    ASSERT_TRUE(warning);
    EXPECT_NE(warning->find("ends with 2027"), std::string::npos) << *warning;
    EXPECT_NE(warning->find("2028-01-03"), std::string::npos) << *warning;
    EXPECT_NE(warning->find("add 2028"), std::string::npos) << *warning;
    // A table whose last year is last year: always a warning.
    EXPECT_TRUE(calendarHorizonWarning(BusinessCalendar({{2025, 12, 25}}), {2026, 3, 2}, 1));
    // A workday counts as listed too.
    EXPECT_FALSE(calendarHorizonWarning(BusinessCalendar({{2025, 12, 25}}, {{2026, 6, 6}}), {2026, 3, 2}, 1));
    // Nothing listed at all.
    const auto empty = calendarHorizonWarning(BusinessCalendar(), {2026, 3, 2}, 3);
    ASSERT_TRUE(empty);
    EXPECT_NE(empty->find("no date"), std::string::npos) << *empty;
}

TEST(CalendarHorizonTest, TheConfiguredTableCoversTodaysDeadlinesUntilLateDecember2027) {
    std::ifstream in(std::string(TAXDESK_SOURCE_DIR) + "/config/holidays.txt");
    ASSERT_TRUE(in.is_open());
    const BusinessCalendar calendar = loadHolidays(in);
    EXPECT_EQ(calendar.lastYear(), 2027);
    EXPECT_FALSE(calendarHorizonWarning(calendar, {2026, 12, 1}, 3));
    // Monday 2027-12-27 + 3 = Thursday 12-30 (12-31 is the observed New Year's Day).
    EXPECT_FALSE(calendarHorizonWarning(calendar, {2027, 12, 27}, 3));
    EXPECT_TRUE(calendarHorizonWarning(calendar, {2027, 12, 28}, 3));
}

// ---- the office table -----------------------------------------------------------------------------------------

std::string sourcePath(const std::string& relative) {
    return std::string(TAXDESK_SOURCE_DIR) + "/" + relative;
}

OfficeTable configuredOffices() {
    std::ifstream in(sourcePath("config/offices.properties"));
    EXPECT_TRUE(in.is_open()) << "config/offices.properties";
    return OfficeTable::load(in);
}

struct OfficeCase {
    std::string district;
    std::string office;
};

void PrintTo(const OfficeCase& c, std::ostream* os) {
    *os << c.district;
}

class OfficeTest : public ::testing::TestWithParam<OfficeCase> {};

TEST_P(OfficeTest, ConfiguredTableMapsTheDistrict) {
    EXPECT_EQ(configuredOffices().officeFor(GetParam().district), GetParam().office);
}

INSTANTIATE_TEST_SUITE_P(Taipei, OfficeTest,
                         ::testing::Values(OfficeCase{"中正區", "中正分局"}, OfficeCase{"大同區", "建成分局"},
                                           OfficeCase{"中山區", "中北分局"}, OfficeCase{"松山區", "松山分局"},
                                           OfficeCase{"大安區", "大安分局"}, OfficeCase{"萬華區", "萬華分局"},
                                           OfficeCase{"信義區", "信義分局"}, OfficeCase{"士林區", "士林分局"},
                                           OfficeCase{"北投區", "北投稽徵所"}, OfficeCase{"內湖區", "內湖稽徵所"},
                                           OfficeCase{"南港區", "南港稽徵所"}, OfficeCase{"文山區", "文山分局"},
                                           OfficeCase{" 信義區 ", "信義分局"}, OfficeCase{"板橋區", "總局"},
                                           OfficeCase{"", "總局"}));

TEST(OfficeTableTest, ConfiguredTableListsTheTwelveDistricts) {
    const OfficeTable table = configuredOffices();
    EXPECT_EQ(table.entries().size(), 12U);
    EXPECT_EQ(table.defaultOffice(), "總局");
}

TEST(OfficeTableTest, ReadsPropertiesLines) {
    std::istringstream in(
        "\xEF\xBB\xBF# comment\r\n"
        "! also a comment\r\n"
        "\r\n"
        "信義區=信義分局\r\n"
        "  大安區   =   大安分局  \n"
        "default = 總局");
    const OfficeTable table = OfficeTable::load(in);
    EXPECT_EQ(table.officeFor("信義區"), "信義分局");
    EXPECT_EQ(table.officeFor("大安區"), "大安分局");
    EXPECT_EQ(table.officeFor("中山區"), "總局");
    EXPECT_EQ(table.entries().size(), 2U);
}

class BadOfficesTest : public ::testing::TestWithParam<BadFileCase> {};

TEST_P(BadOfficesTest, ThrowsNamingTheProblem) {
    std::istringstream in(GetParam().text);
    try {
        (void)OfficeTable::load(in);
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(GetParam().expectedInMessage), std::string::npos) << e.what();
    }
}

INSTANTIATE_TEST_SUITE_P(
    Errors, BadOfficesTest,
    ::testing::Values(BadFileCase{"no_default", "信義區 = 信義分局\n", "default"},
                      BadFileCase{"empty_file", "", "default"},
                      BadFileCase{"no_equals", "default = 總局\n# c\n信義區 信義分局\n", "line 3"},
                      BadFileCase{"empty_value", "default = 總局\n信義區 =\n", "line 2"},
                      BadFileCase{"empty_key", "default = 總局\n = 信義分局\n", "line 2"},
                      BadFileCase{"duplicate_district", "信義區 = 信義分局\ndefault = 總局\n信義區 = 大安分局\n",
                                  "line 3"},
                      BadFileCase{"duplicate_default", "default = 總局\ndefault = 大安分局\n", "line 2"}));

// ---- the configured holidays ----------------------------------------------------------------------------------

TEST(HolidaysFileTest, ConfiguredFileLoadsAndListsWeekdaysOnly) {
    std::ifstream in(sourcePath("config/holidays.txt"));
    ASSERT_TRUE(in.is_open()) << "config/holidays.txt";
    const BusinessCalendar calendar = loadHolidays(in);
    EXPECT_GE(calendar.holidays().size(), 20U);
    for (const LocalDate& day : calendar.holidays()) {
        // The file lists observed days: a weekend entry would be a mistake (a holiday whose 補假 was forgotten).
        EXPECT_NE(dayOfWeek(day), 0) << toString(day);
        EXPECT_NE(dayOfWeek(day), 6) << toString(day);
    }
    for (const LocalDate& day :
         {LocalDate{2026, 1, 1}, LocalDate{2026, 5, 1}, LocalDate{2026, 10, 9}, LocalDate{2027, 1, 1},
          LocalDate{2027, 10, 11}, LocalDate{2027, 12, 24}, LocalDate{2027, 12, 31}}) {
        EXPECT_TRUE(calendar.holidays().contains(day)) << toString(day);
    }
    // The Friday before the 2026 Lunar New Year break: the next business day is Monday 2026-02-23.
    EXPECT_EQ(calendar.addBusinessDays({2026, 2, 13}, 1), (LocalDate{2026, 2, 23}));
}

// ---- received_at: the instant an application counts from -------------------------------------------------------

// 2026-11-27 is a Friday. 23:59:30 Taipei that day is 15:59:30Z.
constexpr std::int64_t kFriday235930Taipei = 1795795170;

TEST(ReceivedAtTest, ABacklogAcrossMidnightKeepsFridaysDeadlineAndDay) {
    // Received Friday 23:59:30 Taipei, processed one minute later, Saturday 00:00:30.
    const std::int64_t processedAt = kFriday235930Taipei + 60;
    ASSERT_EQ(taipeiDate(processedAt), (LocalDate{2026, 11, 28}));
    const ApplicationInstant applied = applicationInstant("2026-11-27T23:59:30+08:00", processedAt);
    EXPECT_EQ(applied.source, ReceivedAtSource::gateway);
    EXPECT_EQ(applied.unixSeconds, kFriday235930Taipei);
    EXPECT_EQ(taipeiDate(applied.unixSeconds), (LocalDate{2026, 11, 27}));
    // Friday's deadline: three business days after Friday is Wednesday 12/2. (Counting from Saturday gives the same
    // day, since Saturday is no business day; the Thursday case below is where the two differ.)
    const BusinessCalendar calendar = testCalendar();
    EXPECT_EQ(pickupDeadline(calendar, taipeiDate(applied.unixSeconds), 3).date, (LocalDate{2026, 12, 2}));
    // And Friday's daily counter.
    EXPECT_EQ(dayKey(applied.unixSeconds), "20261127");
    EXPECT_EQ(dayKey(processedAt), "20261128");

    // Received Thursday 23:59:30, processed Friday 00:00:30: Thursday's deadline, Tuesday 12/1, not Friday's 12/2.
    const std::int64_t thursday = kFriday235930Taipei - 86400;
    const ApplicationInstant fromThursday = applicationInstant("2026-11-26T23:59:30+08:00", thursday + 60);
    EXPECT_EQ(fromThursday.unixSeconds, thursday);
    EXPECT_EQ(pickupDeadline(calendar, taipeiDate(fromThursday.unixSeconds), 3).date, (LocalDate{2026, 12, 1}));
    EXPECT_EQ(pickupDeadline(calendar, taipeiDate(thursday + 60), 3).date, (LocalDate{2026, 12, 2}));
    EXPECT_EQ(dayKey(fromThursday.unixSeconds), "20261126");
}

TEST(ReceivedAtTest, ADeadlineABacklogHasAlreadyPassedCountsFromTheDayHandled) {
    // Received Thursday 2026-11-26 20:00 Taipei, one business day: Friday 11/27 18:00.
    const BusinessCalendar calendar = testCalendar();
    const std::int64_t received = taipeiUnixSeconds({2026, 11, 26}, 20, 0);
    const std::int64_t fridayEvening = taipeiUnixSeconds({2026, 11, 27}, 19, 0);
    // Handled the same evening or on Friday before 18:00: Friday's deadline stands.
    EXPECT_EQ(pickupDeadline(calendar, taipeiDate(received), 1, received + 60).date, (LocalDate{2026, 11, 27}));
    EXPECT_EQ(pickupDeadline(calendar, taipeiDate(received), 1, taipeiUnixSeconds({2026, 11, 27}, 17, 59)).date,
              (LocalDate{2026, 11, 27}));
    // Handled Friday 19:00, past it: one business day from Friday, Monday 11/30.
    EXPECT_EQ(pickupDeadline(calendar, taipeiDate(received), 1, fridayEvening).date, (LocalDate{2026, 11, 30}));
    // Exactly at 18:00 the pickup would expire at once: counted from the day handled too.
    EXPECT_EQ(pickupDeadline(calendar, taipeiDate(received), 1, taipeiUnixSeconds({2026, 11, 27}, 18, 0)).date,
              (LocalDate{2026, 11, 30}));
    // With three business days a day's backlog never reaches the deadline: Tuesday 12/1, from Thursday.
    EXPECT_EQ(pickupDeadline(calendar, taipeiDate(received), 3, fridayEvening).date, (LocalDate{2026, 12, 1}));
}

struct InstantTextCase {
    const char* label;
    const char* text;
    std::optional<std::int64_t> unixSeconds;
};

void PrintTo(const InstantTextCase& c, std::ostream* os) {
    *os << c.label;
}

class ParseInstantTest : public ::testing::TestWithParam<InstantTextCase> {};

TEST_P(ParseInstantTest, ReadsIso8601WithAnOffset) {
    EXPECT_EQ(parseIsoInstant(GetParam().text), GetParam().unixSeconds);
}

// Every accepted case names the same instant, 2026-11-27T15:59:30Z = 1795795170, written in another way.
INSTANTIATE_TEST_SUITE_P(
    Iso8601, ParseInstantTest,
    ::testing::Values(InstantTextCase{"taipei", "2026-11-27T23:59:30+08:00", kFriday235930Taipei},
                      InstantTextCase{"zulu", "2026-11-27T15:59:30Z", kFriday235930Taipei},
                      InstantTextCase{"lower_case_z_and_t", "2026-11-27t15:59:30z", kFriday235930Taipei},
                      InstantTextCase{"space_separator", "2026-11-27 15:59:30Z", kFriday235930Taipei},
                      InstantTextCase{"zero_offset", "2026-11-27T15:59:30+00:00", kFriday235930Taipei},
                      InstantTextCase{"tokyo", "2026-11-28T00:59:30+09:00", kFriday235930Taipei},
                      InstantTextCase{"new_york_previous_day", "2026-11-27T10:59:30-05:00", kFriday235930Taipei},
                      InstantTextCase{"india_half_hour", "2026-11-27T21:29:30+05:30", kFriday235930Taipei},
                      InstantTextCase{"compact_offset", "2026-11-27T23:59:30+0800", kFriday235930Taipei},
                      InstantTextCase{"hours_only_offset", "2026-11-27T23:59:30+08", kFriday235930Taipei},
                      InstantTextCase{"fraction_dropped", "2026-11-27T15:59:30.999Z", kFriday235930Taipei},
                      InstantTextCase{"kiribati_plus_14", "2026-11-28T05:59:30+14:00", kFriday235930Taipei},
                      InstantTextCase{"year_boundary_utc", "2027-01-01T00:00:00Z", 1798761600},
                      InstantTextCase{"no_offset", "2026-11-27T23:59:30", std::nullopt},
                      InstantTextCase{"date_only", "2026-11-27", std::nullopt},
                      InstantTextCase{"empty", "", std::nullopt},
                      InstantTextCase{"february_30", "2026-02-30T10:00:00Z", std::nullopt},
                      InstantTextCase{"hour_24", "2026-11-27T24:00:00Z", std::nullopt},
                      InstantTextCase{"minute_60", "2026-11-27T10:60:00Z", std::nullopt},
                      InstantTextCase{"offset_15_hours", "2026-11-27T10:00:00+15:00", std::nullopt},
                      InstantTextCase{"offset_minutes_60", "2026-11-27T10:00:00+08:60", std::nullopt},
                      InstantTextCase{"empty_fraction", "2026-11-27T10:00:00.Z", std::nullopt},
                      InstantTextCase{"trailing_text", "2026-11-27T10:00:00Z now", std::nullopt},
                      InstantTextCase{"slashes", "2026/11/27T10:00:00Z", std::nullopt},
                      InstantTextCase{"unix_seconds", "1795708770", std::nullopt},
                      InstantTextCase{"roc_year", "115-11-27T10:00:00+08:00", std::nullopt}));

TEST(ReceivedAtTest, IsBoundedToTheLastDayBeforeNow) {
    const std::int64_t now = kFriday235930Taipei;
    auto at = [&](const char* text) { return applicationInstant(text, now); };
    // Missing or unparsable: now.
    EXPECT_EQ(at("").unixSeconds, now);
    EXPECT_EQ(at("").source, ReceivedAtSource::missing);
    EXPECT_EQ(at("yesterday").unixSeconds, now);
    EXPECT_EQ(at("yesterday").source, ReceivedAtSource::unparsable);
    EXPECT_EQ(at("2026-11-27T23:59:30").source, ReceivedAtSource::unparsable);  // no offset
    // In the future, even by one second: now.
    EXPECT_EQ(at("2026-11-27T23:59:31+08:00").unixSeconds, now);
    EXPECT_EQ(at("2026-11-27T23:59:31+08:00").source, ReceivedAtSource::future);
    EXPECT_EQ(at("2026-11-27T23:59:30+08:00").source, ReceivedAtSource::gateway);  // exactly now
    // Up to 24 hours old: believed; older: now.
    EXPECT_EQ(at("2026-11-26T23:59:30+08:00").unixSeconds, now - 86400);
    EXPECT_EQ(at("2026-11-26T23:59:30+08:00").source, ReceivedAtSource::gateway);
    EXPECT_EQ(at("2026-11-26T23:59:29+08:00").unixSeconds, now);
    EXPECT_EQ(at("2026-11-26T23:59:29+08:00").source, ReceivedAtSource::tooOld);
    EXPECT_EQ(at("2026-11-26T09:15:00+08:00").source, ReceivedAtSource::tooOld);
    EXPECT_STREQ(toString(ReceivedAtSource::tooOld), "too_old");
}

}  // namespace
}  // namespace taxdesk::jobs::sms
