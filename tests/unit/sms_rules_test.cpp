// SPEC 4.1, 4.2: the SMS grammar, msisdn forms, the length of a lock and the reply texts (the deadlines, calendars
// and tables: sms_deadlines_test.cpp).
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
