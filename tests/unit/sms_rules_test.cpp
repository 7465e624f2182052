// SPEC 4.1, 4.2: the SMS grammar, msisdn forms, pickup deadlines, the holidays and offices tables, reply texts.
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

// ---- the inbound text ---------------------------------------------------------------------------------------

struct ParseCase {
    const char* label;
    std::string text;
    Kind kind;
    std::optional<Service> service = std::nullopt;
    std::string id = "";        ///< expected normalised ID (application and invalidId)
    std::string nhiLast4 = "";  ///< expected last four digits (application and invalidId)
};

void PrintTo(const ParseCase& c, std::ostream* os) {
    *os << c.label;
}

class ParseTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseTest, Parses) {
    const ParseCase& c = GetParam();
    const ParsedSms parsed = parseSmsText(c.text, 2026);
    EXPECT_EQ(toString(parsed.kind), std::string(toString(c.kind)));
    EXPECT_EQ(parsed.service, c.service);
    EXPECT_EQ(parsed.id, c.id);
    EXPECT_EQ(parsed.nhiLast4, c.nhiLast4);
}

TEST(ParseYearTest, AnOldFormatCertificateIsAnApplicationUntil2030) {
    EXPECT_EQ(parseSmsText("1 ac12345679 1234", 2030).kind, ParsedSms::Kind::application);
    const ParsedSms after = parseSmsText("1 AC12345679 1234", 2031);
    EXPECT_EQ(after.kind, ParsedSms::Kind::invalidId);
    EXPECT_EQ(after.id, "AC12345679");
    EXPECT_EQ(parseSmsText("1 A123456789 1234", 2031).kind, ParsedSms::Kind::application);
}

constexpr Service kP = Service::propertyIncome;
constexpr Service kT = Service::taxPaymentCertificate;
constexpr Service kR = Service::taxRegistration;
constexpr Service kA = Service::arrearsReply;
constexpr Service kS = Service::savingsDeduction;

INSTANTIATE_TEST_SUITE_P(
    Applications, ParseTest,
    ::testing::Values(
        ParseCase{"code_1", "1 A123456789 1234", Kind::application, kP, "A123456789", "1234"},
        ParseCase{"code_2", "2 A123456789 1234", Kind::application, kT, "A123456789", "1234"},
        ParseCase{"code_3", "3 A123456789 1234", Kind::application, kR, "A123456789", "1234"},
        ParseCase{"code_4", "4 A123456789 1234", Kind::application, kA, "A123456789", "1234"},
        ParseCase{"code_5", "5 A123456789 0000", Kind::application, kS, "A123456789", "0000"},
        ParseCase{"keyword_1", "財產所得 A123456789 1234", Kind::application, kP, "A123456789", "1234"},
        ParseCase{"keyword_2", "納稅證明 A123456789 1234", Kind::application, kT, "A123456789", "1234"},
        ParseCase{"keyword_3", "稅籍資料 A123456789 1234", Kind::application, kR, "A123456789", "1234"},
        ParseCase{"keyword_4", "欠稅查復 A123456789 1234", Kind::application, kA, "A123456789", "1234"},
        ParseCase{"keyword_5", "免扣證 A123456789 1234", Kind::application, kS, "A123456789", "1234"},
        ParseCase{"full_name_1", "財產所得資料 A123456789 1234", Kind::application, kP, "A123456789", "1234"},
        ParseCase{"full_name_4", "違章欠稅查復表 A123456789 1234", Kind::application, kA, "A123456789", "1234"},
        ParseCase{"full_width_code", "１ A123456789 1234", Kind::application, kP, "A123456789", "1234"},
        ParseCase{"ideographic_spaces", "1\u3000A123456789\u30001234", Kind::application, kP, "A123456789", "1234"},
        ParseCase{"all_full_width", "２\u3000Ａ１２３４５６７８９\u3000１２３４", Kind::application, kT, "A123456789",
                  "1234"},
        ParseCase{"full_width_lower_case_id", "3 ａ１２３４５６７８９ 5678", Kind::application, kR, "A123456789",
                  "5678"},
        ParseCase{"tabs", "3\tA123456789\t1234", Kind::application, kR, "A123456789", "1234"},
        ParseCase{"runs_and_ends", "  4 \t A123456789 \u3000 1234 \r\n", Kind::application, kA, "A123456789", "1234"},
        ParseCase{"no_break_space", "5\u00A0A123456789\u00A01234", Kind::application, kS, "A123456789", "1234"},
        ParseCase{"lower_case_id", "1 a123456789 1234", Kind::application, kP, "A123456789", "1234"},
        ParseCase{"female_id", "1 A223456781 9876", Kind::application, kP, "A223456781", "9876"},
        ParseCase{"resident_certificate", "1 A800000014 1234", Kind::application, kP, "A800000014", "1234"},
        // Old-format certificate: A10 → 1, C12 → 2·8 = 16, 1·7+2·6+3·5+4·4+5·3+6·2+7·1 = 84, + 9 → 110.
        ParseCase{"old_resident_certificate", "1 AC12345679 1234", Kind::application, kP, "AC12345679", "1234"},
        ParseCase{"old_resident_certificate_lower_full_width", "2 ａｃ１２３４５６７９ 1234", Kind::application, kT,
                  "AC12345679", "1234"},
        // Separators the SMS path did not know before identity::isSpace became the one definition.
        ParseCase{"zero_width_separators", "\u20601\u200CA123456789\u200D1234\u0085", Kind::application, kP,
                  "A123456789", "1234"},
        ParseCase{"narrow_no_break_and_bom", "\uFEFF3\u202FA123456789\u205F1234", Kind::application, kR, "A123456789",
                  "1234"}));

INSTANTIATE_TEST_SUITE_P(
    Help, ParseTest,
    ::testing::Values(ParseCase{"zero", "0", Kind::help}, ParseCase{"question_mark", "?", Kind::help},
                      ParseCase{"full_width_question_mark", "？", Kind::help},
                      ParseCase{"shuo_ming", "說明", Kind::help}, ParseCase{"HELP", "HELP", Kind::help},
                      ParseCase{"help_lower", "help", Kind::help}, ParseCase{"Help_mixed", "HeLp", Kind::help},
                      ParseCase{"help_full_width", "ｈｅｌｐ", Kind::help},
                      ParseCase{"help_surrounded", " \u3000help\t", Kind::help},
                      ParseCase{"help_followed", "help me please", Kind::help},
                      ParseCase{"zero_followed_by_application", "0 A123456789 1234", Kind::help},
                      ParseCase{"shuo_ming_followed", "說明 財產所得", Kind::help}));

INSTANTIATE_TEST_SUITE_P(
    Rejected, ParseTest,
    ::testing::Values(
        ParseCase{"code_6", "6 A123456789 1234", Kind::unknownService},
        ParseCase{"code_10", "10 A123456789 1234", Kind::unknownService},
        ParseCase{"code_01", "01 A123456789 1234", Kind::unknownService},
        ParseCase{"id_without_service", "A123456789 1234", Kind::unknownService},
        ParseCase{"unknown_keyword", "查詢 A123456789 1234", Kind::unknownService},
        ParseCase{"partial_keyword", "財產 A123456789 1234", Kind::unknownService},
        ParseCase{"unknown_word_alone", "hello", Kind::unknownService}, ParseCase{"empty", "", Kind::malformed},
        ParseCase{"blank", " \u3000\t\r\n", Kind::malformed}, ParseCase{"service_only", "1", Kind::malformed, kP},
        ParseCase{"keyword_only", "財產所得", Kind::malformed, kP},
        ParseCase{"missing_last4", "1 A123456789", Kind::malformed, kP},
        ParseCase{"extra_word", "1 A123456789 1234 5678", Kind::malformed, kP},
        ParseCase{"id_and_last4_run_together", "1 A1234567891234", Kind::malformed, kP},
        ParseCase{"service_and_id_run_together", "1A123456789 1234", Kind::unknownService},
        ParseCase{"last4_three_digits", "1 A123456789 123", Kind::malformed, kP},
        ParseCase{"last4_five_digits", "1 A123456789 12345", Kind::malformed, kP},
        ParseCase{"last4_letter", "1 A123456789 12a4", Kind::malformed, kP},
        ParseCase{"bad_checksum", "1 A123456788 1234", Kind::invalidId, kP, "A123456788", "1234"},
        ParseCase{"bad_checksum_keyword", "免扣證 a123456788 4321", Kind::invalidId, kS, "A123456788", "4321"},
        ParseCase{"id_too_short", "2 A12345678 1234", Kind::invalidId, kT, "A12345678", "1234"},
        ParseCase{"second_digit_3", "2 A323456789 1234", Kind::invalidId, kT, "A323456789", "1234"},
        // Old format with check digit 8: 109.
        ParseCase{"old_certificate_bad_checksum", "2 AC12345678 1234", Kind::invalidId, kT, "AC12345678", "1234"},
        ParseCase{"business_number_is_no_person", "1 22099131 1234", Kind::invalidId, kP, "22099131", "1234"},
        ParseCase{"not_an_id", "1 XYZ 1234", Kind::invalidId, kP, "XYZ", "1234"}));

TEST(ServiceTest, NamesCodesAndKeywords) {
    const std::vector<std::tuple<Service, int, std::string, std::string, std::string>> expected = {
        {Service::propertyIncome, 1, "財產所得資料", "財產所得", "property_income"},
        {Service::taxPaymentCertificate, 2, "綜所稅納稅證明", "納稅證明", "tax_payment_certificate"},
        {Service::taxRegistration, 3, "綜所稅稅籍資料", "稅籍資料", "tax_registration"},
        {Service::arrearsReply, 4, "違章欠稅查復表", "欠稅查復", "arrears_reply"},
        {Service::savingsDeduction, 5, "儲蓄免扣證", "免扣證", "savings_deduction"},
    };
    ASSERT_EQ(kAllServices.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto& [service, code, name, keyword, ascii] = expected[i];
        EXPECT_EQ(kAllServices[i], service);
        EXPECT_EQ(serviceCode(service), code);
        EXPECT_EQ(serviceFromCode(code), service);
        EXPECT_EQ(serviceName(service), name);
        EXPECT_EQ(serviceKeyword(service), keyword);
        EXPECT_EQ(toString(service), ascii);
        EXPECT_EQ(serviceFromString(ascii), service);
    }
    EXPECT_EQ(serviceFromCode(0), std::nullopt);
    EXPECT_EQ(serviceFromCode(6), std::nullopt);
    EXPECT_EQ(serviceFromString("財產所得"), std::nullopt);
}

// ---- the sender's number ------------------------------------------------------------------------------------

struct MsisdnCase {
    const char* label;
    std::string raw;
    std::optional<std::string> expected;
};

void PrintTo(const MsisdnCase& c, std::ostream* os) {
    *os << c.label;
}

class MsisdnTest : public ::testing::TestWithParam<MsisdnCase> {};

TEST_P(MsisdnTest, Normalizes) {
    const MsisdnCase& c = GetParam();
    EXPECT_EQ(normalizeMsisdn(c.raw), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Spec41, MsisdnTest,
    ::testing::Values(
        MsisdnCase{"local", "0912345678", "0912345678"}, MsisdnCase{"international", "+886912345678", "0912345678"},
        MsisdnCase{"dashes", "0912-345-678", "0912345678"}, MsisdnCase{"spaces", "0912 345 678", "0912345678"},
        MsisdnCase{"international_spaced", "+886 912-345-678", "0912345678"},
        MsisdnCase{"surrounding_space", " \t0912345678\u3000", "0912345678"},
        MsisdnCase{"full_width", "０９１２３４５６７８", "0912345678"},
        MsisdnCase{"full_width_international", "＋８８６９１２－３４５６７８", "0912345678"},
        MsisdnCase{"international_no_plus", "886912345678", "0912345678"},
        MsisdnCase{"international_dial_prefix", "00886912345678", "0912345678"},
        MsisdnCase{"parentheses", "(0912)345678", "0912345678"}, MsisdnCase{"empty", "", std::nullopt},
        MsisdnCase{"landline", "0212345678", std::nullopt}, MsisdnCase{"nine_digits", "091234567", std::nullopt},
        MsisdnCase{"eleven_digits", "09123456789", std::nullopt},
        MsisdnCase{"no_trunk_zero", "912345678", std::nullopt},
        MsisdnCase{"international_landline", "+886212345678", std::nullopt},
        MsisdnCase{"international_with_trunk_zero", "+8860912345678", std::nullopt},
        MsisdnCase{"international_too_short", "+88691234567", std::nullopt},
        MsisdnCase{"letter", "0912a45678", std::nullopt}, MsisdnCase{"other_country", "+1 0912345678", std::nullopt},
        MsisdnCase{"plus_in_the_middle", "09+12345678", std::nullopt},
        MsisdnCase{"slash", "0912/345678", std::nullopt}));

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

// ---- the length of a lock --------------------------------------------------------------------------------------

TEST(LockRulesTest, EachFurtherLockDoublesUpToTheMaximum) {
    EXPECT_EQ(lockSeconds(600, 0, 14400), 600);   // SPEC: 10 minutes
    EXPECT_EQ(lockSeconds(600, 1, 14400), 1200);  // the second within 24 h: 20 minutes
    EXPECT_EQ(lockSeconds(600, 2, 14400), 2400);
    EXPECT_EQ(lockSeconds(600, 3, 14400), 4800);
    EXPECT_EQ(lockSeconds(600, 4, 14400), 9600);
    EXPECT_EQ(lockSeconds(600, 5, 14400), 14400);  // 19200 capped
    EXPECT_EQ(lockSeconds(600, 1000000, 14400), 14400);
    EXPECT_EQ(lockSeconds(600, -1, 14400), 600);
    EXPECT_EQ(lockSeconds(600, 3, 600), 600);  // a maximum equal to the base: never longer
    EXPECT_EQ(lockSeconds(600, 3, 60), 600);   // a maximum below the base cannot shorten SPEC's 10 minutes
    EXPECT_EQ(lockSeconds(600, 40, 604800), 604800);
    EXPECT_THROW((void)lockSeconds(0, 1, 600), std::invalid_argument);
}

TEST(LockRulesTest, TheLadderListsEachLengthUntilTheCap) {
    EXPECT_EQ(lockLadder(600, 14400), (std::vector<int>{600, 1200, 2400, 4800, 9600, 14400}));
    EXPECT_EQ(lockLadder(600, 600), (std::vector<int>{600}));
    EXPECT_EQ(lockLadder(600, 2400), (std::vector<int>{600, 1200, 2400}));
    EXPECT_EQ(lockLadder(600, 3000), (std::vector<int>{600, 1200, 2400, 3000}));
}

// ---- replies --------------------------------------------------------------------------------------------------

const PickupDeadline kSpecDeadline{{2026, 11, 30}, 18};

TEST(RepliesTest, AlertIsExactlySpecExample) {
    EXPECT_EQ(pickupAlert(Service::propertyIncome, "信義分局", kSpecDeadline, "482913"),
              "【臺北國稅局】您申請的財產所得資料已備妥，請於11/30 18:00前持身分證至信義分局快速取件櫃台領取，"
              "取件碼482913");
}

TEST(RepliesTest, DatesAreNotZeroPadded) {
    const std::string alert = pickupAlert(Service::savingsDeduction, "大安分局", {{2027, 3, 5}, 18}, "000123");
    EXPECT_NE(alert.find("請於3/5 18:00前"), std::string::npos) << alert;
    EXPECT_NE(alert.find("儲蓄免扣證"), std::string::npos);
    EXPECT_NE(alert.find("取件碼000123"), std::string::npos);
    EXPECT_NE(pickupAlert(Service::savingsDeduction, "大安分局", {{2027, 3, 5}, 9}, "1").find("3/5 09:00前"),
              std::string::npos);
}

TEST(RepliesTest, ReminderCarriesTheSameFacts) {
    const std::string text = reminderText(Service::taxRegistration, "中北分局", kSpecDeadline, "482913");
    for (const char* part : {"【臺北國稅局】", "綜所稅稅籍資料", "今日11/30 18:00前", "中北分局", "取件碼482913"}) {
        EXPECT_NE(text.find(part), std::string::npos) << part << " in " << text;
    }
}

TEST(RepliesTest, HelpListsEveryServiceAndTheFormat) {
    const std::string text = helpText();
    EXPECT_NE(text.find("服務代碼 身分證字號 健保卡末4碼"), std::string::npos) << text;
    for (Service service : kAllServices) {
        const std::string entry = std::to_string(serviceCode(service)) + serviceName(service);
        EXPECT_NE(text.find(entry), std::string::npos) << entry;
    }
    EXPECT_NE(malformedText().find("服務代碼 身分證字號 健保卡末4碼"), std::string::npos);
    EXPECT_NE(lockedText(10).find("10分鐘後"), std::string::npos);
    EXPECT_NE(dailyLimitText(5).find("5次"), std::string::npos);
    EXPECT_EQ(replyForParse(Kind::help), helpText());
    EXPECT_EQ(replyForParse(Kind::unknownService), unknownServiceText());
    EXPECT_EQ(replyForParse(Kind::malformed), malformedText());
    EXPECT_EQ(replyForParse(Kind::invalidId), invalidIdText());
    EXPECT_THROW((void)replyForParse(Kind::application), std::invalid_argument);
}

TEST(RepliesTest, EveryTextFitsOneSegment) {
    // The longest service names and offices make the longest alert and reminder.
    const std::vector<std::pair<std::string, std::string>> texts = {
        {"alert (spec example)", pickupAlert(Service::propertyIncome, "信義分局", kSpecDeadline, "482913")},
        {"alert (longest)", pickupAlert(Service::taxPaymentCertificate, "中北分局", {{2026, 12, 31}, 18}, "482913")},
        {"reminder (longest)",
         reminderText(Service::taxPaymentCertificate, "中北分局", {{2026, 12, 31}, 18}, "482913")},
        {"help", helpText()},
        {"invalid id", invalidIdText()},
        {"identity failed", identityFailedText()},
        {"locked", lockedText(10)},
        {"daily limit", dailyLimitText(5)},
        {"unknown service", unknownServiceText()},
        {"malformed", malformedText()},
        {"unavailable", unavailableText()},
    };
    for (const auto& [name, text] : texts) {
        const int segments = countSegments(text);
        std::cout << "[ segments ] " << name << ": " << segments << "  " << text << "\n";
        EXPECT_EQ(segments, 1) << name << ": " << text;
        EXPECT_EQ(text.rfind(kSenderTag, 0), 0U) << name;
    }
}

/// Valid national IDs made with the SPEC 2 checksum: each letter, both sexes, varying digits.
std::vector<std::string> generatedIds() {
    std::vector<std::string> ids;
    for (char letter = 'A'; letter <= 'Z'; ++letter) {
        for (int i = 0; i < 4; ++i) {
            std::string first9 = std::string(1, letter) + (i % 2 == 0 ? "1" : "2") +
                                 std::to_string(1000000 + (letter - 'A') * 37211 + i * 911);  // 7 digits
            for (char check = '0'; check <= '9'; ++check) {
                if (identity::isValidNationalId(first9 + check)) {
                    ids.push_back(first9 + check);
                    break;
                }
            }
        }
    }
    return ids;
}

TEST(RepliesTest, NoReplyHoldsAWholeId) {
    const std::vector<std::string> ids = generatedIds();
    ASSERT_EQ(ids.size(), 26U * 4U);
    const std::regex anyId("[A-Za-z][0-9]{9}|[0-9]{8}");  // a person's ID shape, or a business number
    for (const std::string& id : ids) {
        for (const std::string& text : {"1 " + id + " 1234", "免扣證 " + id + " 12", "9 " + id + " 1234",
                                        "2 " + id.substr(0, 9) + "0 1234", "help " + id}) {
            const ParsedSms parsed = parseSmsText(text, 2026);
            const std::vector<std::string> replies =
                parsed.kind == Kind::application
                    ? std::vector<std::string>{pickupAlert(*parsed.service, "信義分局", kSpecDeadline, "482913"),
                                               reminderText(*parsed.service, "信義分局", kSpecDeadline, "482913"),
                                               identityFailedText(),
                                               lockedText(),
                                               dailyLimitText(),
                                               unavailableText()}
                    : std::vector<std::string>{replyForParse(parsed.kind)};
            for (const std::string& reply : replies) {
                EXPECT_EQ(reply.find(id), std::string::npos) << reply;
                EXPECT_EQ(reply.find(id.substr(1)), std::string::npos) << reply;
                EXPECT_FALSE(std::regex_search(reply, anyId)) << reply;
            }
        }
    }
}

}  // namespace
}  // namespace taxdesk::jobs::sms
