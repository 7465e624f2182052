// SPEC 3.1: the creditor batch file reader — CSV quoting, charsets, header, row rules, fees, whole-file errors,
// and a round trip through `taxdesk gen`.
#include <Poco/TextConverter.h>
#include <Poco/UTF8Encoding.h>
#include <Poco/Windows950Encoding.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "connectors/stubs/demo_data/batch_generator.hpp"
#include "connectors/stubs/demo_data/population.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/inquiry/batch_file.hpp"

namespace taxdesk::jobs::inquiry {
namespace {

constexpr int kCurrentYear = 2026;
constexpr int kLatestTaxYear = 2025;
const std::string kHeader = "debtor_id,debtor_name,title_ref,scope,income_years\n";
const std::string kTitle = "臺灣臺北地方法院112年度司執字第12345號";

BatchRules rules() {
    BatchRules r;
    r.currentYear = kCurrentYear;
    r.latestTaxYear = kLatestTaxYear;
    return r;
}

struct Outcome {
    std::vector<BatchRow> rows;
    BatchTotals totals;
};

Outcome readText(const std::string& text, Charset charset = Charset::utf8, const BatchRules& r = rules()) {
    std::istringstream in(text);
    Outcome outcome;
    outcome.totals = BatchFileReader(r, charset).read(in, [&](const BatchRow& row) { outcome.rows.push_back(row); });
    return outcome;
}

/// The FileError that reading `text` throws; fails the test when none is thrown.
FileError readError(const std::string& text, Charset charset = Charset::utf8, const BatchRules& r = rules(),
                    int* rowsSeen = nullptr) {
    std::istringstream in(text);
    int seen = 0;
    try {
        BatchFileReader(r, charset).read(in, [&](const BatchRow&) { ++seen; });
    } catch (const FileError& error) {
        if (rowsSeen != nullptr) *rowsSeen = seen;
        return error;
    }
    ADD_FAILURE() << "no FileError for:\n" << text;
    return {0, "none", 0, "none"};
}

std::string toBig5(const std::string& utf8) {
    Poco::UTF8Encoding from;
    Poco::Windows950Encoding to;
    Poco::TextConverter converter(from, to);
    std::string out;
    EXPECT_EQ(converter.convert(utf8, out), 0) << "no Big5 form for " << utf8;
    return out;
}

Charset detect(const std::string& bytes, std::optional<Charset> declared = std::nullopt) {
    std::istringstream in(bytes);
    return detectCharset(in, declared);
}

/// Appends the SPEC 2 check digit to a letter and eight digits.
std::string withCheckDigit(const std::string& nine) {
    constexpr int kCodes[26] = {10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21,
                                22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33};
    const int code = kCodes[nine[0] - 'A'];
    int sum = code / 10 + (code % 10) * 9;
    for (int i = 1; i <= 8; ++i) sum += (nine[static_cast<std::size_t>(i)] - '0') * (9 - i);
    return nine + std::to_string((10 - sum % 10) % 10);
}

std::string repeat(const std::string& unit, int times) {
    std::string out;
    for (int i = 0; i < times; ++i) out += unit;
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
// CSV: quoting, line ends, BOM

struct CsvCase {
    const char* label;
    std::string text;  ///< the whole file
    std::string debtorName;
    std::string titleRef;
    int rows = 1;
    int lastRowLine = 2;  ///< physical line on which the last data row starts
};

void PrintTo(const CsvCase& c, std::ostream* os) {
    *os << c.label;
}

class CsvTest : public ::testing::TestWithParam<CsvCase> {};

TEST_P(CsvTest, ReadsTheFields) {
    const CsvCase& c = GetParam();
    const Outcome outcome = readText(c.text);
    ASSERT_EQ(outcome.totals.rows, c.rows);
    ASSERT_EQ(outcome.rows.size(), static_cast<std::size_t>(c.rows));
    const BatchRow& first = outcome.rows.front();
    EXPECT_EQ(first.debtorId, "A123456789");
    EXPECT_EQ(first.debtorName, c.debtorName);
    EXPECT_EQ(first.titleRef, c.titleRef);
    EXPECT_TRUE(first.accepted) << first.reason << " " << first.column;
    EXPECT_EQ(outcome.rows.back().line, c.lastRowLine);
    EXPECT_EQ(outcome.rows.back().row, c.rows);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc4180, CsvTest,
    ::testing::Values(
        CsvCase{"plain", kHeader + "A123456789,王小明," + kTitle + ",both,112\n", "王小明", kTitle},
        CsvCase{"no_final_line_break", kHeader + "A123456789,王小明," + kTitle, "王小明", kTitle},
        CsvCase{"crlf", "debtor_id,debtor_name,title_ref\r\nA123456789,王小明,T1\r\nA223456781,李小華,T2\r\n", "王小明",
                "T1", 2, 3},
        CsvCase{"bom", "\xEF\xBB\xBF" + kHeader + "A123456789,王小明,T\n", "王小明", "T"},
        CsvCase{"bom_and_crlf",
                "\xEF\xBB\xBF"
                "debtor_id,debtor_name,title_ref\r\nA123456789,王小明,T\r\n",
                "王小明", "T"},
        CsvCase{"embedded_comma", kHeader + "A123456789,\"王,小明\",\"" + kTitle + "，債權憑證,換發\",,\n", "王,小明",
                kTitle + "，債權憑證,換發"},
        CsvCase{"doubled_quote", kHeader + "A123456789,王小明,\"T \"\"續行執行\"\"\",,\n", "王小明", "T \"續行執行\""},
        CsvCase{"embedded_line_breaks",
                kHeader + "A123456789,王小明,\"line one\nline two\r\nline three\",,\n"
                          "A223456781,李小華,T,,\n",
                "王小明", "line one\nline two\r\nline three", 2, 5},
        CsvCase{"quoted_everything", "\"debtor_id\",\"debtor_name\",\"title_ref\"\n\"A123456789\",\"王小明\",\"T\"\n",
                "王小明", "T"},
        CsvCase{"empty_quoted_optional_fields", kHeader + "A123456789,王小明,T,\"\",\"\"\n", "王小明", "T"},
        CsvCase{"quote_inside_unquoted_field_is_text", kHeader + "A123456789,王小明,T \"x\" y,,\n", "王小明",
                "T \"x\" y"},
        CsvCase{"text_after_closing_quote_is_kept", kHeader + "A123456789,王小明,\"T\" 2,,\n", "王小明", "T 2"},
        CsvCase{"trailing_comma_on_last_line", "debtor_id,debtor_name,title_ref,note\nA123456789,王小明,T,", "王小明",
                "T"},
        CsvCase{"blank_lines_skipped_not_counted",
                "\n\n" + kHeader +
                    "\nA123456789,王小明,T,,\n\n,,,,\r\n \t,\u3000,\n"
                    "A223456781,李小華,T,,\n\n",
                "王小明", "T", 2, 9},
        CsvCase{"fewer_fields_than_header", kHeader + "A123456789,王小明,T\n", "王小明", "T"},
        CsvCase{"more_fields_than_header", "debtor_id,debtor_name,title_ref\nA123456789,王小明,T,extra,more\n",
                "王小明", "T"},
        CsvCase{"names_and_titles_trimmed", kHeader + "\u3000A123456789 , \u3000王小明\u3000 ,\t" + kTitle + " ,,\n",
                "王小明", kTitle},
        CsvCase{"inner_spaces_kept", kHeader + "A123456789,王 小明,T  x,,\n", "王 小明", "T  x"}));

// ---------------------------------------------------------------------------------------------------------------
// Header

struct HeaderCase {
    const char* label;
    std::string header;  ///< first line(s), with line break
    std::string row;     ///< one data row matching the header
};

void PrintTo(const HeaderCase& c, std::ostream* os) {
    *os << c.label;
}

class HeaderTest : public ::testing::TestWithParam<HeaderCase> {};

TEST_P(HeaderTest, FindsTheColumns) {
    const HeaderCase& c = GetParam();
    const Outcome outcome = readText(c.header + c.row);
    ASSERT_EQ(outcome.rows.size(), 1U);
    const BatchRow& row = outcome.rows[0];
    EXPECT_TRUE(row.accepted) << row.reason << " " << row.column;
    EXPECT_EQ(row.debtorId, "A123456789");
    EXPECT_EQ(row.debtorName, "王小明");
    EXPECT_EQ(row.titleRef, "T");
    EXPECT_EQ(row.scope, Scope::income);
    EXPECT_EQ(row.incomeYears, (std::vector<int>{2022, 2023}));
}

INSTANTIATE_TEST_SUITE_P(
    Spec31, HeaderTest,
    ::testing::Values(
        HeaderCase{"usual_order", kHeader, "A123456789,王小明,T,income,111;112\n"},
        HeaderCase{"any_order", "income_years,title_ref,scope,debtor_name,debtor_id\n",
                   "111;112,T,income,王小明,A123456789\n"},
        HeaderCase{"any_case", "Debtor_ID,DEBTOR_NAME,Title_Ref,Scope,INCOME_YEARS\n",
                   "A123456789,王小明,T,income,111;112\n"},
        HeaderCase{"unknown_columns_ignored", "no,debtor_id,memo,debtor_name,title_ref,scope,income_years,amount\n",
                   "1,A123456789,\"a, b\",王小明,T,income,111;112,100000\n"},
        HeaderCase{"padded_names", " debtor_id ,\tdebtor_name, title_ref\u3000, scope , income_years \r\n",
                   "A123456789,王小明,T,income,111;112\r\n"},
        HeaderCase{"full_width_names", "ｄｅｂｔｏｒ＿ｉｄ,debtor_name,title_ref,scope,income_years\n",
                   "A123456789,王小明,T,income,111;112\n"},
        HeaderCase{"blank_lines_before_header", "\n\r\n,,\n" + kHeader, "A123456789,王小明,T,income,111;112\n"}));

// ---------------------------------------------------------------------------------------------------------------
// Row rules, in SPEC order

struct RowCase {
    const char* label;
    std::string line;  ///< one data row under kHeader
    std::string reason;
    std::string column;
};

void PrintTo(const RowCase& c, std::ostream* os) {
    *os << c.label;
}

class RowRuleTest : public ::testing::TestWithParam<RowCase> {};

TEST_P(RowRuleTest, ReasonAndColumn) {
    const RowCase& c = GetParam();
    const Outcome outcome = readText(kHeader + c.line + "\n");
    ASSERT_EQ(outcome.rows.size(), 1U);
    const BatchRow& row = outcome.rows[0];
    EXPECT_EQ(row.reason, c.reason);
    EXPECT_EQ(row.column, c.column);
    EXPECT_EQ(row.accepted, c.reason.empty());
    EXPECT_EQ(row.row, 1);
    if (!row.accepted) {
        EXPECT_EQ(row.fee, 0);
        EXPECT_EQ(outcome.totals.rejected, 1);
        EXPECT_EQ(outcome.totals.feeTotal, 0);
    }
}

const std::string k200 = repeat("債", 200);
const std::string k201 = repeat("債", 201);

INSTANTIATE_TEST_SUITE_P(
    Spec31, RowRuleTest,
    ::testing::Values(
        RowCase{"good_national_id", "A123456789,王小明,T,both,112", "", ""},
        RowCase{"good_resident_certificate", "A800000014,John Smith,T,,", "", ""},
        RowCase{"good_business_number", "22099131,台灣測試股份有限公司,T,property,", "", ""},
        RowCase{"good_lower_case_full_width_padded_id", " ａ１２３４５６７８９\u3000,王小明,T,,", "", ""},
        RowCase{"missing_id", ",王小明,T,both,112", "missing_field", "debtor_id"},
        RowCase{"blank_id", " \u3000 ,王小明,T,both,112", "missing_field", "debtor_id"},
        RowCase{"missing_name", "A123456789,,T,both,112", "missing_field", "debtor_name"},
        RowCase{"blank_name", "A123456789,\u3000,T,both,112", "missing_field", "debtor_name"},
        RowCase{"missing_title", "A123456789,王小明,\"  \",both,112", "missing_field", "title_ref"},
        RowCase{"short_row_missing_title", "A123456789,王小明", "missing_field", "title_ref"},
        RowCase{"missing_before_invalid", "A123456788,,T,all,abc", "missing_field", "debtor_name"},
        RowCase{"bad_checksum", "A123456788,王小明,T,both,112", "invalid_id", "debtor_id"},
        RowCase{"bad_business_checksum", "22099132,公司,T,both,112", "invalid_id", "debtor_id"},
        RowCase{"not_an_id", "王小明,王小明,T,both,112", "invalid_id", "debtor_id"},
        RowCase{"inner_space_in_id", "A12345 6789,王小明,T,both,112", "invalid_id", "debtor_id"},
        RowCase{"invalid_before_too_long", "A123456788,王小明," + k201 + ",all,abc", "invalid_id", "debtor_id"},
        RowCase{"title_200_characters", "A123456789,王小明," + k200 + ",,", "", ""},
        RowCase{"title_201_characters", "A123456789,王小明," + k201 + ",,", "too_long", "title_ref"},
        RowCase{"title_padding_not_counted", "A123456789,王小明,\u3000" + k200 + "  ,,", "", ""},
        RowCase{"title_huge", "A123456789,王小明," + repeat("債權", 5000) + ",,", "too_long", "title_ref"},
        RowCase{"name_201_characters", "A123456789," + k201 + ",T,,", "too_long", "debtor_name"},
        RowCase{"too_long_before_bad_scope", "A123456789,王小明," + k201 + ",all,abc", "too_long", "title_ref"},
        RowCase{"scope_upper_case", "A123456789,王小明,T,INCOME,112", "", ""},
        RowCase{"scope_padded", "A123456789,王小明,T, Property ,", "", ""},
        RowCase{"scope_all", "A123456789,王小明,T,all,112", "bad_scope", "scope"},
        RowCase{"scope_chinese", "A123456789,王小明,T,收入,112", "bad_scope", "scope"},
        RowCase{"scope_combined", "A123456789,王小明,T,income+property,112", "bad_scope", "scope"},
        RowCase{"bad_scope_before_bad_year", "A123456789,王小明,T,assets,abc", "bad_scope", "scope"},
        RowCase{"year_text", "A123456789,王小明,T,income,abc", "bad_year", "income_years"},
        RowCase{"year_partly_text", "A123456789,王小明,T,both,112;x", "bad_year", "income_years"},
        RowCase{"year_digit_typo", "A123456789,王小明,T,both,20x3", "bad_year", "income_years"},
        RowCase{"year_future_gregorian", "A123456789,王小明,T,income,2027", "bad_year", "income_years"},
        RowCase{"year_future_roc", "A123456789,王小明,T,income,116", "bad_year", "income_years"},
        // The current year (2026, ROC 115) has no income data yet: the latest complete tax year, 2025, is the bound.
        RowCase{"year_current_gregorian", "A123456789,王小明,T,income,2026", "bad_year", "income_years"},
        RowCase{"year_current_roc", "A123456789,王小明,T,both,115", "bad_year", "income_years"},
        RowCase{"year_current_among_good", "A123456789,王小明,T,both,2024;2025;2026", "bad_year", "income_years"},
        RowCase{"year_future_among_good", "A123456789,王小明,T,both,2024;2027", "bad_year", "income_years"},
        RowCase{"six_years", "A123456789,王小明,T,both,2020;2021;2022;2023;2024;2025", "bad_year", "income_years"},
        RowCase{"six_roc_years", "A123456789,王小明,T,both,109;110;111;112;113;114", "bad_year", "income_years"},
        RowCase{"roc_year_zero", "A123456789,王小明,T,both,0", "bad_year", "income_years"},
        RowCase{"five_digits", "A123456789,王小明,T,both,20230", "bad_year", "income_years"},
        RowCase{"negative", "A123456789,王小明,T,both,-112", "bad_year", "income_years"},
        RowCase{"only_separators", "A123456789,王小明,T,both,;", "bad_year", "income_years"},
        RowCase{"property_ignores_years", "A123456789,王小明,T,property,abc", "", ""}));

// ---------------------------------------------------------------------------------------------------------------
// Income years: ROC and Gregorian, defaults

struct YearsCase {
    const char* label;
    std::string scope;
    std::string years;  ///< the income_years cell, CSV-quoted by the test
    std::vector<int> expected;
};

void PrintTo(const YearsCase& c, std::ostream* os) {
    *os << c.label;
}

class YearsTest : public ::testing::TestWithParam<YearsCase> {};

TEST_P(YearsTest, GregorianAscendingUnique) {
    const YearsCase& c = GetParam();
    const Outcome outcome = readText(kHeader + "A123456789,王小明,T," + c.scope + ",\"" + c.years + "\"\n");
    ASSERT_EQ(outcome.rows.size(), 1U);
    EXPECT_TRUE(outcome.rows[0].accepted) << outcome.rows[0].reason;
    EXPECT_EQ(outcome.rows[0].incomeYears, c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Spec31, YearsTest,
    ::testing::Values(
        YearsCase{"default_is_latest_tax_year", "income", "", {2025}}, YearsCase{"default_for_both", "", "", {2025}},
        YearsCase{"blank_is_default", "both", " \u3000", {2025}}, YearsCase{"roc", "both", "112", {2023}},
        YearsCase{"gregorian", "both", "2023", {2023}},
        YearsCase{"roc_and_gregorian_same_year", "both", "112;2023", {2023}},
        YearsCase{"sorted", "both", "2024;110;2022", {2021, 2022, 2024}},
        YearsCase{"spaces_around", "both", " 111 ; 112 ", {2022, 2023}},
        YearsCase{"trailing_separator", "both", "111;112;", {2022, 2023}},
        YearsCase{"comma_separated", "both", "111,112", {2022, 2023}},
        YearsCase{"ideographic_comma", "both", "111、112", {2022, 2023}},
        YearsCase{"full_width", "both", "１１１；１１２", {2022, 2023}},
        YearsCase{"latest_tax_year_gregorian", "both", "2025", {2025}},
        YearsCase{"latest_tax_year_roc", "income", "114", {2025}},
        YearsCase{"year_1911_is_gregorian", "both", "1911", {1911}}, YearsCase{"roc_1", "both", "1", {1912}},
        YearsCase{"five_years", "both", "2021;2022;2023;2024;2025", {2021, 2022, 2023, 2024, 2025}},
        YearsCase{"six_written_five_distinct", "both", "110;111;112;113;114;2025", {2021, 2022, 2023, 2024, 2025}},
        YearsCase{"property_has_no_years", "property", "112;113", {}}));

TEST(BatchFileYears, MaxYearsIsConfigurable) {
    BatchRules r = rules();
    r.maxYears = 2;
    const Outcome outcome = readText(kHeader +
                                         "A123456789,王小明,T,income,111;112\nA223456781,李小華,T,income,"
                                         "111;112;113\n",
                                     Charset::utf8, r);
    ASSERT_EQ(outcome.rows.size(), 2U);
    EXPECT_TRUE(outcome.rows[0].accepted);
    EXPECT_EQ(outcome.rows[1].reason, "bad_year");
}

// ---------------------------------------------------------------------------------------------------------------
// Fees (SPEC 3.2)

struct FeeCase {
    const char* label;
    std::string scope;
    std::string years;
    long long feeProperty;
    long long feeIncomeYear;
    long long expected;
};

void PrintTo(const FeeCase& c, std::ostream* os) {
    *os << c.label;
}

class FeeTest : public ::testing::TestWithParam<FeeCase> {};

TEST_P(FeeTest, FeeOfAnAcceptedRow) {
    const FeeCase& c = GetParam();
    BatchRules r = rules();
    r.feeProperty = c.feeProperty;
    r.feeIncomeYear = c.feeIncomeYear;
    const Outcome outcome =
        readText(kHeader + "A123456789,王小明,T," + c.scope + ",\"" + c.years + "\"\n", Charset::utf8, r);
    ASSERT_EQ(outcome.rows.size(), 1U);
    ASSERT_TRUE(outcome.rows[0].accepted) << outcome.rows[0].reason;
    EXPECT_EQ(outcome.rows[0].fee, c.expected);
    EXPECT_EQ(outcome.totals.feeTotal, c.expected);
}

INSTANTIATE_TEST_SUITE_P(Spec32, FeeTest,
                         ::testing::Values(FeeCase{"property_only", "property", "", 250, 250, 250},
                                           FeeCase{"property_ignores_years", "property", "111;112", 250, 250, 250},
                                           FeeCase{"income_one_default_year", "income", "", 250, 250, 250},
                                           FeeCase{"income_three_years", "income", "111;112;113", 250, 250, 750},
                                           FeeCase{"both_default_year", "", "", 250, 250, 500},
                                           FeeCase{"both_five_years", "both", "110;111;112;113;114", 250, 250, 1500},
                                           FeeCase{"configured_fees", "both", "112;113", 300, 120, 540},
                                           FeeCase{"free_property", "both", "113", 0, 250, 250}));

TEST(BatchFileFees, TotalsAddAcceptedRowsOnly) {
    const Outcome outcome = readText(kHeader +
                                     "A123456789,王小明,T,both,112;113\n"     // 750
                                     "A223456781,李小華,T,property,\n"        // 250
                                     "A123456788,王小明,T,both,112\n"         // invalid_id: 0
                                     "22099131,公司,T,income,2025\n"          // 250
                                     "A123456789,王小明,T2,both,113;112\n");  // duplicate: 0
    EXPECT_EQ(outcome.totals.rows, 5);
    EXPECT_EQ(outcome.totals.accepted, 3);
    EXPECT_EQ(outcome.totals.rejected, 2);
    EXPECT_EQ(outcome.totals.feeTotal, 1250);
    long long sum = 0;
    for (const auto& row : outcome.rows) sum += row.fee;
    EXPECT_EQ(sum, 1250);
}

// ---------------------------------------------------------------------------------------------------------------
// Duplicates

TEST(BatchFileDuplicates, SameIdScopeAndYearsAsAnEarlierAcceptedRow) {
    const std::string other = withCheckDigit("B12345678");
    ASSERT_EQ(identity::classify(other), identity::IdKind::nationalId);
    const Outcome outcome = readText(kHeader +
                                     "A123456789,王小明,T1,income,112\n"            // 1 accepted
                                     "a123456789,王小明,T2,income,2023\n"           // 2 duplicate of 1
                                     "Ａ１２３４５６７８９,王小明,T3,INCOME,112\n"  // 3 duplicate of 1
                                     "A123456789,王小明,T4,both,112\n"              // 4 other scope
                                     "A123456789,王小明,T5,income,112;113\n"        // 5 other years
                                     "A123456789,王小明,T6,,\n"                     // 6 both, 2025
                                     "A123456789,王小明,T7,both,2025\n"             // 7 duplicate of 6
                                     "A123456789,王小明,T8,property,\n"             // 8 property
                                     "A123456789,王小明,T9,property,111\n"          // 9 duplicate of 8
                                     + other + ",李小華,T10,income,112\n");         // 10 other ID
    ASSERT_EQ(outcome.rows.size(), 10U);
    const std::vector<bool> accepted = {true, false, false, true, true, true, false, true, false, true};
    for (std::size_t i = 0; i < accepted.size(); ++i) {
        SCOPED_TRACE("row " + std::to_string(i + 1));
        EXPECT_EQ(outcome.rows[i].accepted, accepted[i]);
        if (!accepted[i]) {
            EXPECT_EQ(outcome.rows[i].reason, "duplicate");
            EXPECT_EQ(outcome.rows[i].column, "debtor_id");
            EXPECT_EQ(outcome.rows[i].fee, 0);
        }
    }
    EXPECT_EQ(outcome.totals.accepted, 6);
    EXPECT_EQ(outcome.totals.rejected, 4);
}

TEST(BatchFileDuplicates, ARejectedRowDoesNotMakeALaterGoodRowADuplicate) {
    const Outcome outcome = readText(kHeader +
                                     "A123456789,,T,income,112\n"     // missing_field
                                     "A123456789,王小明,T,all,112\n"  // bad_scope
                                     "A123456789,王小明," +
                                     k201 +
                                     ",income,112\n"                       // too_long
                                     "A123456789,王小明,T,income,112\n"    // accepted
                                     "A123456789,王小明,T,income,112\n");  // duplicate
    ASSERT_EQ(outcome.rows.size(), 5U);
    EXPECT_EQ(outcome.rows[0].reason, "missing_field");
    EXPECT_EQ(outcome.rows[1].reason, "bad_scope");
    EXPECT_EQ(outcome.rows[2].reason, "too_long");
    EXPECT_TRUE(outcome.rows[3].accepted);
    EXPECT_EQ(outcome.rows[4].reason, "duplicate");
}

TEST(BatchFileDuplicates, ReadsAreIndependent) {
    const BatchFileReader reader(rules(), Charset::utf8);
    const std::string text = kHeader + "A123456789,王小明,T,income,112\n";
    for (int i = 0; i < 2; ++i) {
        std::istringstream in(text);
        const BatchTotals totals = reader.read(in, [](const BatchRow&) {});
        EXPECT_EQ(totals.accepted, 1) << "read " << i + 1;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Charsets

const std::string kBig5Text =
    "debtor_id,debtor_name,title_ref,scope,income_years\n"
    "A123456789,王小明,臺灣臺北地方法院112年度司執字第12345號,both,112\n"
    "A223456781,李小華,\"臺灣士林地方法院，債權憑證,換發\",income,2024\n";

TEST(BatchFileCharset, Big5Declared) {
    const std::string big5 = toBig5(kBig5Text);
    ASSERT_NE(big5, kBig5Text);
    const Outcome outcome = readText(big5, Charset::big5);
    ASSERT_EQ(outcome.rows.size(), 2U);
    EXPECT_EQ(outcome.rows[0].debtorName, "王小明");
    EXPECT_EQ(outcome.rows[0].titleRef, "臺灣臺北地方法院112年度司執字第12345號");
    EXPECT_EQ(outcome.rows[1].debtorName, "李小華");
    EXPECT_EQ(outcome.rows[1].titleRef, "臺灣士林地方法院，債權憑證,換發");
    EXPECT_TRUE(outcome.rows[0].accepted);
    EXPECT_TRUE(outcome.rows[1].accepted);
}

TEST(BatchFileCharset, Big5Detected) {
    const std::string big5 = toBig5(kBig5Text);
    EXPECT_EQ(detect(big5), Charset::big5);
    const Outcome outcome = readText(big5, detect(big5));
    ASSERT_EQ(outcome.rows.size(), 2U);
    EXPECT_EQ(outcome.rows[0].debtorName, "王小明");
}

TEST(BatchFileCharset, Big5ReadAsUtf8NamesTheFirstBigLine) {
    const FileError error = readError(toBig5(kBig5Text), Charset::utf8);
    EXPECT_EQ(error.code(), "undecodable");
    EXPECT_EQ(error.status(), 400);
    EXPECT_EQ(error.line(), 2);
    EXPECT_STREQ(error.what(),
                 "line 2 is not valid UTF-8, and 2 of the 2 data rows cannot be read as UTF-8; save the file as CSV "
                 "UTF-8 (Excel: File → Save As → CSV UTF-8) and upload it again");
}

struct DetectCase {
    const char* label;
    std::string bytes;
    std::optional<Charset> declared;
    Charset expected;
};

void PrintTo(const DetectCase& c, std::ostream* os) {
    *os << c.label;
}

class DetectTest : public ::testing::TestWithParam<DetectCase> {};

TEST_P(DetectTest, Decides) {
    EXPECT_EQ(detect(GetParam().bytes, GetParam().declared), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Spec31, DetectTest,
    ::testing::Values(DetectCase{"empty", "", std::nullopt, Charset::utf8},
                      DetectCase{"ascii", kHeader, std::nullopt, Charset::utf8},
                      DetectCase{"utf8", kBig5Text, std::nullopt, Charset::utf8},
                      DetectCase{"utf8_with_bom", "\xEF\xBB\xBF" + kBig5Text, std::nullopt, Charset::utf8},
                      DetectCase{"big5", toBig5(kBig5Text), std::nullopt, Charset::big5},
                      DetectCase{"declared_big5_wins", kHeader, Charset::big5, Charset::big5},
                      DetectCase{"declared_utf8_wins", toBig5(kBig5Text), Charset::utf8, Charset::utf8},
                      DetectCase{"neither", kHeader + "\xFF\xFF\n", std::nullopt, Charset::utf8},
                      // One unreadable byte as Big5 (the cut), four as UTF-8: Big5, and the reader refuses the row.
                      DetectCase{"big5_cut_mid_character", toBig5("王小明").substr(0, 5), std::nullopt, Charset::big5},
                      DetectCase{"utf16",
                                 std::string("\xFF\xFE"
                                             "d\0e\0",
                                             6),
                                 std::nullopt, Charset::utf8}));

struct CharsetNameCase {
    std::string text;
    std::optional<Charset> expected;
};

TEST(BatchFileCharset, ParseCharset) {
    const std::vector<CharsetNameCase> cases = {
        {"utf-8", Charset::utf8}, {"UTF-8", Charset::utf8}, {"utf8", Charset::utf8},  {" Big5 ", Charset::big5},
        {"cp950", Charset::big5}, {"CP950", Charset::big5}, {"latin1", std::nullopt}, {"", std::nullopt}};
    for (const auto& c : cases) EXPECT_EQ(parseCharset(c.text), c.expected) << c.text;
    EXPECT_STREQ(toString(Charset::utf8), "utf-8");
    EXPECT_STREQ(toString(Charset::big5), "big5");
}

/// A file just over one read chunk whose multi-byte characters straddle the chunk boundary at every offset.
TEST(BatchFileCharset, CharactersAcrossReadChunks) {
    for (int pad = 0; pad < 4; ++pad) {
        std::string text = kHeader;
        int rows = 0;
        while (text.size() < std::size_t{70} * 1024) {
            text += "A123456789,王小明,\"" + std::string(static_cast<std::size_t>(pad + rows % 3), 'x') + kTitle +
                    "\",income," + std::to_string(2021 + rows % 5) + "\n";
            ++rows;
        }
        for (Charset charset : {Charset::utf8, Charset::big5}) {
            SCOPED_TRACE("pad " + std::to_string(pad) + " " + toString(charset));
            const std::string bytes = charset == Charset::big5 ? toBig5(text) : text;
            EXPECT_EQ(detect(bytes), charset);
            const Outcome outcome = readText(bytes, charset);
            ASSERT_EQ(outcome.totals.rows, rows);
            for (const auto& row : outcome.rows) {
                ASSERT_EQ(row.debtorName, "王小明") << "row " << row.row;
                ASSERT_NE(row.titleRef.find(kTitle), std::string::npos) << "row " << row.row;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Big5 beyond CP950: the user-defined area (造字) and HKSCS

/// `text` (UTF-8) in Big5, with `{XX}` and `{XXXX}` replaced by the bytes 0xXX (0xXX), for bytes that no UTF-8
/// text maps to.
std::string big5With(const std::string& text) {
    std::string out;
    std::size_t start = 0;
    for (std::size_t open = text.find('{'); open != std::string::npos; open = text.find('{', start)) {
        out += toBig5(text.substr(start, open - start));
        const std::size_t close = text.find('}', open);
        for (std::size_t hex = open + 1; hex + 1 < close; hex += 2) {
            out.push_back(static_cast<char>(std::stoi(text.substr(hex, 2), nullptr, 16)));
        }
        start = close + 1;
    }
    return out + toBig5(text.substr(start));
}

/// The UTF-8 form of one code point, written out by hand in the tests below.
std::string utf8(const char* bytes) {
    return bytes;
}

TEST(BatchFileUserDefined, FirstAndLastCodeOfEachAreaAsWindowsMapsThem) {
    struct Case {
        unsigned char lead;
        unsigned char trail;
        char32_t expected;
    };
    // 157 codes per lead byte; the last one of an area is (leads - 1) × 157 + 156 after its first.
    const std::vector<Case> cases = {
        {0xFA, 0x40, 0xE000},       {0xFE, 0xFE, 0xE310},  // 5 lead bytes: 785 codes
        {0x8E, 0x40, 0xE311},       {0xA0, 0xFE, 0xEEB7},  // 19 lead bytes: 2983 codes
        {0x81, 0x40, 0xEEB8},       {0x8D, 0xFE, 0xF6B0},  // 13 lead bytes: 2041 codes
        {0xC6, 0xA1, 0xF6B1},       {0xC8, 0xFE, 0xF848},  // 94 + 157 + 157 = 408 codes
        {0xFA, 0x7E, 0xE03E},       {0xFA, 0xA1, 0xE03F},  // the trail bytes 0x40–0x7E, then 0xA1–0xFE
        {0x8D, 0x40, 0xF6B0 - 156},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(big5UserDefined(c.lead, c.trail), c.expected) << std::hex << int{c.lead} << int{c.trail};
    }
    // Outside: standard characters, the gaps between the areas, impossible trail bytes.
    for (const auto& [lead, trail] : std::vector<std::pair<unsigned char, unsigned char>>{{0xA4, 0x40},
                                                                                          {0xF9, 0xFE},
                                                                                          {0xC6, 0x40},
                                                                                          {0xC6, 0x7E},
                                                                                          {0xC6, 0xA0},
                                                                                          {0xC9, 0x40},
                                                                                          {0xA1, 0x40},
                                                                                          {0xFA, 0x3F},
                                                                                          {0xFA, 0x7F},
                                                                                          {0xFA, 0xA0},
                                                                                          {0xFA, 0xFF},
                                                                                          {0x80, 0x40},
                                                                                          {0xFF, 0x40},
                                                                                          {0x81, 0x2C}}) {
        EXPECT_EQ(big5UserDefined(lead, trail), 0U) << std::hex << int{lead} << int{trail};
    }
}

TEST(BatchFileUserDefined, CodesHkscsDoesNotKnowReadAsPrivateUseCharacters) {
    // glibc's BIG5-HKSCS has none of these (`printf '\x81\x40' | iconv -f BIG5-HKSCS` fails), so the reader falls
    // back to Windows' mapping. Hand computed: 0x8140 is the first of its area (U+EEB8); 0x86FE is 5 × 157 + 156
    // after it (U+F265); 0xFA5F is 0x1F after U+E000; 0xFEDD is 4 × 157 + 123 after it (U+E2EF); 0x8E69 is 0x29
    // after U+E311 (U+E33A); 0xA0E4 is 18 × 157 + 130 after it (U+EE9D); 0xC8A5 is 94 + 157 + 67 after U+F6B1
    // (U+F7EF).
    const std::string big5 = big5With(kHeader +
                                      "A123456789,王{8140}{86FE},T,,\n"
                                      "A223456781,李{FA5F}{FEDD},T,,\n"
                                      "22099131,{8E69}{A0E4}{C8A5}公司,T,,\n");
    EXPECT_EQ(detect(big5), Charset::big5);
    const Outcome outcome = readText(big5, Charset::big5);
    ASSERT_EQ(outcome.rows.size(), 3U);
    EXPECT_EQ(outcome.rows[0].debtorName, "王" + utf8("\xEE\xBA\xB8") + utf8("\xEF\x89\xA5"));
    EXPECT_EQ(outcome.rows[1].debtorName, "李" + utf8("\xEE\x80\x9F") + utf8("\xEE\x8B\xAF"));
    EXPECT_EQ(outcome.rows[2].debtorName, utf8("\xEE\x8C\xBA") + utf8("\xEE\xBA\x9D") + utf8("\xEF\x9F\xAF") + "公司");
    for (const auto& row : outcome.rows) EXPECT_TRUE(row.accepted) << row.row << " " << row.reason;
    EXPECT_EQ(outcome.totals.feeTotal, 3 * 500);
}

TEST(BatchFileHkscs, HongKongCharactersReadAsTheRealCharacters) {
    // The bytes come from `printf 堃 | iconv -t BIG5-HKSCS | xxd`: 堃 FB69 (U+5803), 喆 FB46 (U+5586), 犇 9456
    // (U+7287). CP950 has none of them, and all three lie in user-defined areas: HKSCS wins over the Private Use
    // Area.
    const std::string big5 = big5With(kHeader +
                                      "A123456789,陳{FB69},T,,\n"
                                      "A223456781,林{FB46}{9456},\"臺灣臺北地方法院,{FB69}\",income,114\n");
    EXPECT_EQ(detect(big5), Charset::big5);
    const Outcome outcome = readText(big5, Charset::big5);
    ASSERT_EQ(outcome.rows.size(), 2U);
    EXPECT_EQ(outcome.rows[0].debtorName, "陳\u5803");
    EXPECT_EQ(outcome.rows[0].debtorName, "陳堃");
    EXPECT_EQ(outcome.rows[1].debtorName, "林\u5586\u7287");
    EXPECT_EQ(outcome.rows[1].debtorName, "林喆犇");
    EXPECT_EQ(outcome.rows[1].titleRef, "臺灣臺北地方法院,堃");
    EXPECT_TRUE(outcome.rows[0].accepted);
    EXPECT_TRUE(outcome.rows[1].accepted);
    EXPECT_EQ(outcome.totals.feeTotal, 500 + 250);
}

TEST(BatchFileHkscs, ACodeInBothHkscsAndTheUserDefinedAreaReadsAsHkscs) {
    // 0xFA40 is the first user-defined code (U+E000 in Windows) and HKSCS's U+20547 (𠕇, four bytes in UTF-8).
    ASSERT_EQ(big5UserDefined(0xFA, 0x40), 0xE000U);
    const Outcome outcome = readText(big5With(kHeader + "A123456789,王{FA40},T,,\n"), Charset::big5);
    ASSERT_EQ(outcome.rows.size(), 1U);
    EXPECT_EQ(outcome.rows[0].debtorName, "王\U00020547");
}

// ---------------------------------------------------------------------------------------------------------------
// Unreadable bytes: the row is refused (bad_charset, not charged), the file is read on

const std::string kU_FFFD = "\xEF\xBF\xBD";

TEST(BatchFileUnreadable, Big5RowsWithUnreadableBytesAreRefusedAndTheOthersRead) {
    // 0xA3C0 has the shape of a Big5 pair but no character in CP950, HKSCS or the user-defined areas: both bytes are
    // one unreadable character. A lead byte before a comma, a line end or a CR is unreadable alone, and the comma,
    // the line end or the CR is kept: the following fields and rows stay in place.
    const std::string big5 = big5With(kHeader +
                                      "A123456789,王小明,T,both,112\n"              // 1 accepted: 500
                                      "A223456781,李{A3C0}華,T,income,112;113\n"    // 2 bad_charset name
                                      "22099131,公司{A4},T,property,\n"             // 3 lead byte before a comma
                                      "A800000014,陳大文,T,income,113\n"            // 4 accepted: 250
                                      "A123456789,王小明,title{A4}\n"               // 5 lead byte before LF
                                      "A123456789,王小明,T2,property,\n"            // 6 accepted: 250
                                      "A223456781,李小華,T{A4}\r\n"                 // 7 lead byte before CRLF
                                      "A223456781,李小華,\"T,{A3C0}\",both,{A4}\n"  // 8 title first, then years
                                      "22099131,公司,T,property,{FF}\n"             // 9 years ignored: 250
                                      "A800000014,陳大文,\"T\",income,114\n");      // 10 accepted: 250
    ASSERT_EQ(detect(big5), Charset::big5) << "one bad pair does not make a Big5 file UTF-8";
    const Outcome outcome = readText(big5, Charset::big5);
    ASSERT_EQ(outcome.rows.size(), 10U);
    struct Expected {
        int row;
        int line;
        std::string column;
    };
    for (const auto& e : std::vector<Expected>{{2, 3, "debtor_name"},
                                               {3, 4, "debtor_name"},
                                               {5, 6, "title_ref"},
                                               {7, 8, "title_ref"},
                                               {8, 9, "title_ref"}}) {
        const BatchRow& row = outcome.rows[static_cast<std::size_t>(e.row - 1)];
        SCOPED_TRACE("row " + std::to_string(e.row));
        EXPECT_FALSE(row.accepted);
        EXPECT_EQ(row.reason, "bad_charset");
        EXPECT_EQ(row.column, e.column);
        EXPECT_EQ(row.line, e.line);
        EXPECT_EQ(row.fee, 0);
    }
    EXPECT_EQ(outcome.rows[1].debtorName, "李" + kU_FFFD + "華") << "the unreadable character shows as U+FFFD";
    EXPECT_EQ(outcome.rows[1].titleRef, "T");
    EXPECT_EQ(outcome.rows[2].debtorName, "公司" + kU_FFFD);
    EXPECT_EQ(outcome.rows[2].titleRef, "T") << "the comma after the lead byte still ends the field";
    EXPECT_EQ(outcome.rows[2].scope, Scope::property);
    EXPECT_EQ(outcome.rows[4].titleRef, "title" + kU_FFFD);
    EXPECT_EQ(outcome.rows[6].titleRef, "T" + kU_FFFD);
    EXPECT_EQ(outcome.rows[7].titleRef, "T," + kU_FFFD);
    for (std::size_t i : {0U, 3U, 5U, 8U, 9U}) {
        EXPECT_TRUE(outcome.rows[i].accepted) << "row " << i + 1 << ": " << outcome.rows[i].reason;
    }
    EXPECT_EQ(outcome.rows[3].debtorName, "陳大文");
    EXPECT_EQ(outcome.rows[5].titleRef, "T2");
    EXPECT_EQ(outcome.rows[9].line, 11);
    EXPECT_EQ(outcome.totals.rows, 10);
    EXPECT_EQ(outcome.totals.accepted, 5);
    EXPECT_EQ(outcome.totals.rejected, 5);
    EXPECT_EQ(outcome.totals.feeTotal, 500 + 250 + 250 + 250 + 250);
}

TEST(BatchFileUnreadable, Utf8RowWithOneBadByteIsRefusedAndTheOthersRead) {
    const std::string text = kHeader +
                             "A123456789,王小明,T,both,112\n"
                             "A223456781,李\xB5\xD8,T,income,112\n"  // two stray bytes (Big5 華): one each
                             "22099131,公司\xE8\x8F,T,income,112\n"  // 華 cut short before the comma
                             "A800000014,陳大文,T,income,113\n"
                             "A123456789,王小明,T,property,\n";
    EXPECT_EQ(detect(text), Charset::utf8);
    const Outcome outcome = readText(text);
    ASSERT_EQ(outcome.rows.size(), 5U);
    EXPECT_EQ(outcome.rows[1].reason, "bad_charset");
    EXPECT_EQ(outcome.rows[1].column, "debtor_name");
    EXPECT_EQ(outcome.rows[1].debtorName, "李" + kU_FFFD + kU_FFFD);
    EXPECT_EQ(outcome.rows[2].reason, "bad_charset");
    EXPECT_EQ(outcome.rows[2].column, "debtor_name");
    EXPECT_EQ(outcome.rows[2].debtorName, "公司" + kU_FFFD);
    EXPECT_EQ(outcome.rows[2].titleRef, "T");
    EXPECT_TRUE(outcome.rows[0].accepted);
    EXPECT_TRUE(outcome.rows[3].accepted);
    EXPECT_TRUE(outcome.rows[4].accepted);
    EXPECT_EQ(outcome.totals.rejected, 2);
    EXPECT_EQ(outcome.totals.feeTotal, 500 + 250 + 250);
}

TEST(BatchFileUnreadable, TheColumnAtFaultComesFirstAndIgnoredColumnsCostNothing) {
    const Outcome outcome = readText(
        "debtor_id,memo,debtor_name,title_ref,scope,income_years\n"
        "A12345678\xFF,m,王小明,T,,\n"           // the ID: bad_charset, not invalid_id
        "A223456781,\xFF\xFE,李小華,T,,\n"       // an ignored column: accepted
        "22099131,m,公司,T,\xC0,\n"              // the scope
        "A800000014,m,陳大文,T,income,11\xFF\n"  // the years
        "A123456789,m,王小明,T,property,\n"
        "A223456781,m,李小華,T,property,\n"
        "22099131,m,公司,T,property,\n");
    ASSERT_EQ(outcome.rows.size(), 7U) << "three unreadable rows of seven: not most";
    EXPECT_EQ(outcome.rows[0].reason, "bad_charset");
    EXPECT_EQ(outcome.rows[0].column, "debtor_id");
    EXPECT_TRUE(outcome.rows[1].accepted) << outcome.rows[1].reason;
    EXPECT_EQ(outcome.rows[2].reason, "bad_charset");
    EXPECT_EQ(outcome.rows[2].column, "scope");
    EXPECT_EQ(outcome.rows[3].reason, "bad_charset");
    EXPECT_EQ(outcome.rows[3].column, "income_years");
    EXPECT_TRUE(outcome.rows[4].accepted);
}

TEST(BatchFileUnreadable, HalfTheRowsUnreadableIsStillRowByRow) {
    // One of two: "most" is more than half. One more unreadable row makes it a whole-file error (FileErrorTest).
    const Outcome outcome = readText(kHeader + "A123456789,王小明,T,,\nA223456781,李\xFF,T,,\n");
    ASSERT_EQ(outcome.rows.size(), 2U);
    EXPECT_TRUE(outcome.rows[0].accepted);
    EXPECT_EQ(outcome.rows[1].reason, "bad_charset");

    const Outcome big5 = readText(toBig5(kHeader + "A123456789,王小明,T,,\n") + "A223456781,\xA4", Charset::big5);
    ASSERT_EQ(big5.rows.size(), 2U);
    EXPECT_EQ(big5.rows[1].reason, "bad_charset") << "a lead byte cut off by the end of the file";
    EXPECT_EQ(big5.rows[1].column, "debtor_name");
}

TEST(BatchFileUnreadable, DetectionCountsUnreadableCharacters) {
    // UTF-8 with a few bad bytes stays UTF-8 (its Chinese is unreadable as Big5); Big5 with a bad pair stays Big5.
    EXPECT_EQ(detect(kBig5Text + "A123456789,\xFF,T,,\n"), Charset::utf8);
    EXPECT_EQ(detect(toBig5(kBig5Text) + "A123456789,\xA3\xC0,T,,\n"), Charset::big5);
    EXPECT_EQ(detect(kHeader + "A123456789,\xFF,T,,\n"), Charset::utf8) << "a tie is UTF-8";
    EXPECT_EQ(detect(std::string("d\0e\0", 4) + "\xFF\xFE"), Charset::utf8) << "UTF-16 is left to the reader";
}

// ---------------------------------------------------------------------------------------------------------------
// Names with ? or U+FFFD: what a spreadsheet writes for a character it could not save

TEST(BatchFileLostCharacters, NamesWithQuestionMarksOrReplacementCharactersAreBadCharset) {
    const Outcome outcome = readText(kHeader +
                                     "A123456789,王?明,T,,\n"
                                     "A223456781,??,T,,\n"
                                     "22099131,公司\xEF\xBF\xBD,T,,\n"
                                     "A800000014,陳大文,\"T?續行\xEF\xBF\xBD\",,\n"  // in a title: harmless
                                     "A123456789,王小明,T,,\n");
    ASSERT_EQ(outcome.rows.size(), 5U);
    for (std::size_t i : {0U, 1U, 2U}) {
        SCOPED_TRACE("row " + std::to_string(i + 1));
        EXPECT_EQ(outcome.rows[i].reason, "bad_charset");
        EXPECT_EQ(outcome.rows[i].column, "debtor_name");
        EXPECT_EQ(outcome.rows[i].fee, 0);
    }
    EXPECT_TRUE(outcome.rows[3].accepted) << outcome.rows[3].reason;
    EXPECT_TRUE(outcome.rows[4].accepted);
    EXPECT_EQ(outcome.totals.feeTotal, 1000);

    // The same in a Big5 file as Excel writes it: the character it could not save is a `?`.
    const Outcome big5 = readText(toBig5(kHeader + "A123456789,王?明,T,,\nA223456781,李小華,T,,\n"), Charset::big5);
    ASSERT_EQ(big5.rows.size(), 2U);
    EXPECT_EQ(big5.rows[0].reason, "bad_charset");
    EXPECT_TRUE(big5.rows[1].accepted);
}

// ---------------------------------------------------------------------------------------------------------------
// Whole-file errors

struct FileErrorCase {
    const char* label;
    std::string text;
    Charset charset;
    int status;
    std::string code;
    int line;
    std::string inMessage;  ///< a part of the message the creditor must see
};

void PrintTo(const FileErrorCase& c, std::ostream* os) {
    *os << c.label;
}

class FileErrorTest : public ::testing::TestWithParam<FileErrorCase> {};

TEST_P(FileErrorTest, RejectsTheFile) {
    const FileErrorCase& c = GetParam();
    const FileError error = readError(c.text, c.charset);
    EXPECT_EQ(error.status(), c.status);
    EXPECT_EQ(error.code(), c.code);
    EXPECT_EQ(error.line(), c.line);
    EXPECT_NE(std::string(error.what()).find(c.inMessage), std::string::npos) << error.what();
}

INSTANTIATE_TEST_SUITE_P(
    Spec31, FileErrorTest,
    ::testing::Values(
        FileErrorCase{"empty", "", Charset::utf8, 400, "missing_header", 0, "the file has no header row"},
        FileErrorCase{"only_bom", "\xEF\xBB\xBF", Charset::utf8, 400, "missing_header", 0, "debtor_id"},
        FileErrorCase{"only_blank_lines", "\n\r\n,,\n", Charset::utf8, 400, "missing_header", 0, "only blank lines"},
        FileErrorCase{"data_without_header", "A123456789,王小明,T\n", Charset::utf8, 400, "missing_header", 1,
                      "line 1 is not a header"},
        FileErrorCase{"missing_title_column", "debtor_id,debtor_name,scope\nA123456789,王小明,both\n", Charset::utf8,
                      400, "missing_column", 1, "no column title_ref"},
        FileErrorCase{"missing_two_columns", "\ndebtor_id,memo\nA123456789,x\n", Charset::utf8, 400, "missing_column",
                      2, "no column debtor_name, title_ref"},
        FileErrorCase{"misspelt_column", "debtor_id,debtor_nam,title_ref\n", Charset::utf8, 400, "missing_column", 1,
                      "debtor_name"},
        FileErrorCase{"duplicate_column", "debtor_id,debtor_name,title_ref,Debtor_ID\n", Charset::utf8, 400,
                      "duplicate_column", 1, "debtor_id twice"},
        FileErrorCase{"header_only", kHeader, Charset::utf8, 400, "no_rows", 0, "no data rows"},
        FileErrorCase{"header_and_blank_lines", kHeader + "\n,,,,\n\r\n", Charset::utf8, 400, "no_rows", 0,
                      "no data rows"},
        // Unreadable bytes reject the file only when it is not in its charset at all: UTF-16, an unreadable header,
        // or more than half of the data rows unreadable (fewer are bad_charset rows: BatchFileUnreadable below).
        FileErrorCase{"bad_utf8_two_rows_of_three",
                      kHeader + "A123456789,王小明,T,,\nA223456781,\xE7\x8E,T,,\n22099131,公司,\xFF,,\n", Charset::utf8,
                      400, "undecodable", 3,
                      "line 3 is not valid UTF-8, and 2 of the 3 data rows cannot be read as UTF-8; save the file as "
                      "CSV UTF-8 (Excel: File → Save As → CSV UTF-8) and upload it again"},
        FileErrorCase{"bad_utf8_header", "debtor_id,debtor_name,title_ref,\xB3\xC6\xB5\xF9\nA123456789,王小明,T,x\n",
                      Charset::utf8, 400, "undecodable", 1,
                      "line 1 is not valid UTF-8 (it is the header); save the file as CSV UTF-8"},
        FileErrorCase{"bad_utf8_header_before_missing_column", "\n\ndebtor_id,\xA6\x57\xBA\xD9\nA123456789,x\n",
                      Charset::utf8, 400, "undecodable", 3, "line 3 is not valid UTF-8 (it is the header)"},
        FileErrorCase{"overlong_utf8", kHeader + "A123456789,\xC0\xAF,T,,\n", Charset::utf8, 400, "undecodable", 2,
                      "line 2"},
        FileErrorCase{"surrogate_utf8", kHeader + "A123456789,\xED\xA0\x80,T,,\n", Charset::utf8, 400, "undecodable", 2,
                      "line 2"},
        FileErrorCase{"utf8_cut_at_end", kHeader + "\nA123456789,王\xE7\x8E", Charset::utf8, 400, "undecodable", 3,
                      "line 3"},
        FileErrorCase{"bad_byte_in_multi_line_field", kHeader + "A123456789,王小明,\"one\ntwo\nthr\xFF\",,\n",
                      Charset::utf8, 400, "undecodable", 4, "line 4"},
        FileErrorCase{"utf16",
                      std::string("\xFF\xFE"
                                  "d\0e\0",
                                  6),
                      Charset::utf8, 400, "undecodable", 1,
                      "line 1 is not valid UTF-8: the file looks like UTF-16 (\"Unicode text\"), which is not "
                      "supported; save the file as CSV UTF-8 (Excel: File → Save As → CSV UTF-8) and upload it again"},
        FileErrorCase{"utf16_without_bom", std::string("d\0e\0b\0,\0\n\0", 10), Charset::utf8, 400, "undecodable", 1,
                      "looks like UTF-16"},
        FileErrorCase{"utf16_big_endian_declared_big5",
                      std::string("\xFE\xFF\0d\0e"
                                  "\0b",
                                  8),
                      Charset::big5, 400, "undecodable", 1,
                      "line 1 is not valid Big5 (CP950): the file looks like UTF-16 (\"Unicode text\"), which is not "
                      "supported; save the file as CSV UTF-8 (Excel: File → Save As → CSV UTF-8) and upload it again "
                      "with charset=utf-8 (or without charset)"},
        FileErrorCase{
            "bad_big5_lines_4_and_5",
            toBig5(kHeader + "A123456789,王小明,T,,\n\n") + "A223456781,\xA4\x20,T,,\n22099131,\xA3\xC0,T,,\n",
            Charset::big5, 400, "undecodable", 4,
            "line 4 is not valid Big5 (CP950), and 2 of the 3 data rows cannot be read as Big5 (CP950); save "
            "the file as CSV UTF-8 (Excel: File → Save As → CSV UTF-8) and upload it again with "
            "charset=utf-8 (or without charset)"},
        FileErrorCase{"utf8_declared_big5", "debtor_id,debtor_name,title_ref\nA123456789,王小明,T\n", Charset::big5,
                      400, "undecodable", 2, "with charset=utf-8"},
        FileErrorCase{"bad_big5_header", "debtor_id,debtor_name,title_ref,\x80\nA123456789,x,T,\n", Charset::big5, 400,
                      "undecodable", 1, "line 1 is not valid Big5 (CP950) (it is the header)"},
        FileErrorCase{"big5_byte_0x80", toBig5(kHeader) + "A123456789,\x80,T,,\n", Charset::big5, 400, "undecodable", 2,
                      "line 2"},
        FileErrorCase{"big5_cut_at_end", toBig5(kHeader) + "A123456789,\xA4", Charset::big5, 400, "undecodable", 2,
                      "line 2"},
        FileErrorCase{"unterminated_quote", kHeader + "A123456789,王小明,T,,\nA223456781,\"李小華,T,,\n\n",
                      Charset::utf8, 400, "unterminated_quote", 3, "line 3 opens a quoted field"}));

TEST(BatchFileLimits, MoreThanMaxRowsIs413AndStopsAtOnce) {
    BatchRules r = rules();
    r.maxRows = 3;
    const std::string three = kHeader + "A123456789,王小明,T,,\n\nA223456781,李小華,T,,\n22099131,公司,T,,\n";
    EXPECT_EQ(readText(three, Charset::utf8, r).totals.rows, 3);

    int seen = 0;
    const FileError error =
        readError(three + "A800000014,X,T,,\n" + repeat("garbage\xFF\n", 3), Charset::utf8, r, &seen);
    EXPECT_EQ(error.status(), 413);
    EXPECT_EQ(error.code(), "too_many_rows");
    EXPECT_EQ(error.line(), 6);
    EXPECT_NE(std::string(error.what()).find("more than 3 data rows"), std::string::npos) << error.what();
    EXPECT_EQ(seen, 3);
}

TEST(BatchFileLimits, RejectsRulesThatMakeNoSense) {
    auto make = [](auto change) {
        BatchRules r = rules();
        change(r);
        return BatchFileReader(r, Charset::utf8);
    };
    EXPECT_NO_THROW(make([](BatchRules&) {}));
    EXPECT_THROW(make([](BatchRules& r) { r.currentYear = 0; }), std::invalid_argument);
    EXPECT_THROW(make([](BatchRules& r) { r.latestTaxYear = 0; }), std::invalid_argument);
    EXPECT_THROW(make([](BatchRules& r) { r.latestTaxYear = r.currentYear + 1; }), std::invalid_argument);
    EXPECT_THROW(make([](BatchRules& r) { r.latestTaxYear = r.currentYear; }), std::invalid_argument);
    EXPECT_THROW(make([](BatchRules& r) { r.maxRows = 0; }), std::invalid_argument);
    EXPECT_THROW(make([](BatchRules& r) { r.maxYears = 0; }), std::invalid_argument);
    EXPECT_THROW(make([](BatchRules& r) { r.feeProperty = -1; }), std::invalid_argument);
}

TEST(BatchFileLimits, ExceptionsFromOnRowPropagate) {
    std::istringstream in(kHeader + "A123456789,王小明,T,,\n");
    EXPECT_THROW(BatchFileReader(rules(), Charset::utf8).read(in, [](const BatchRow&) { throw std::logic_error("x"); }),
                 std::logic_error);
}

// ---------------------------------------------------------------------------------------------------------------
// Round trip through `taxdesk gen`

class GeneratedTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GeneratedTest, CountsAndReasonsMatchTheGenerator) {
    demo_data::BatchGenOptions options;
    options.rows = 2000;
    options.badFraction = 0.1;
    options.charset = GetParam();
    std::ostringstream out;
    const demo_data::BatchGenReport report = demo_data::writeBatchCsv(out, options);
    const std::string bytes = out.str();
    const Charset charset = GetParam() == "big5" ? Charset::big5 : Charset::utf8;
    EXPECT_EQ(detect(bytes), charset);

    BatchRules r = rules();
    r.latestTaxYear = demo_data::Population::kLatestTaxYear;
    r.currentYear = demo_data::Population::kReferenceYear;
    const Outcome outcome = readText(bytes, charset, r);

    EXPECT_EQ(static_cast<std::size_t>(outcome.totals.rows), report.rows);
    EXPECT_EQ(static_cast<std::size_t>(outcome.totals.accepted), report.good);
    std::map<std::string, std::size_t> reasons;
    long long fees = 0;
    int row = 0;
    for (const auto& r2 : outcome.rows) {
        EXPECT_EQ(r2.row, ++row);
        if (!r2.accepted) ++reasons[r2.reason];
        fees += r2.fee;
        if (r2.accepted) {
            EXPECT_NE(identity::classify(r2.debtorId), identity::IdKind::invalid);
            EXPECT_GT(r2.fee, 0);
            EXPECT_TRUE(r2.scope == Scope::property || !r2.incomeYears.empty());
        }
    }
    EXPECT_EQ(reasons, report.rejected);
    EXPECT_EQ(outcome.totals.feeTotal, fees);
    EXPECT_EQ(report.rejected.size(), 6U);
}

INSTANTIATE_TEST_SUITE_P(BatchGenerator, GeneratedTest, ::testing::Values("utf-8", "big5"),
                         [](const auto& param) { return param.param == "big5" ? "big5" : "utf8"; });

TEST(BatchFileScale, ReadsOneHundredThousandGeneratedRows) {
    demo_data::BatchGenOptions options;
    options.rows = 100000;
    options.badFraction = 0.01;
    std::stringstream file;
    const demo_data::BatchGenReport report = demo_data::writeBatchCsv(file, options);

    BatchRules r = rules();
    ASSERT_EQ(r.maxRows, 100000U);
    int rows = 0;
    const BatchTotals totals =
        BatchFileReader(r, Charset::utf8).read(file, [&](const BatchRow& row) { EXPECT_EQ(row.row, ++rows); });
    EXPECT_EQ(totals.rows, 100000);
    EXPECT_EQ(static_cast<std::size_t>(totals.accepted), report.good);
    EXPECT_EQ(totals.accepted + totals.rejected, 100000);
}

// ---------------------------------------------------------------------------------------------------------------
// SPEC 2: one normalisation for every entry point — every Unicode space around IDs and names is trimmed

TEST(BatchFileSpaces, NoBreakSpaceAroundTheIdAndZeroWidthSpaceAroundTheNameAreAccepted) {
    const Outcome outcome = readText(kHeader + "\u00A0A123456789\u00A0,\u200B王小明\u200B,T,both,112\n");
    ASSERT_EQ(outcome.rows.size(), 1U);
    const BatchRow& row = outcome.rows[0];
    EXPECT_TRUE(row.accepted) << row.reason << " " << row.column;
    EXPECT_EQ(row.debtorId, "A123456789");
    EXPECT_EQ(row.debtorName, "王小明");
    EXPECT_EQ(outcome.totals.accepted, 1);
}

TEST(BatchFileSpaces, EveryUnicodeSpaceIsTrimmedAroundIdsNamesAndTitles) {
    const std::vector<std::string> spaces = {
        " ",      "\t",     "\n",     "\v",     "\f",     "\r",     "\u0085", "\u00A0", "\u1680", "\u2000",
        "\u2001", "\u2002", "\u2003", "\u2004", "\u2005", "\u2006", "\u2007", "\u2008", "\u2009", "\u200A",
        "\u2028", "\u2029", "\u202F", "\u205F", "\u3000", "\u200B", "\u200C", "\u200D", "\u2060", "\uFEFF",
    };
    ASSERT_EQ(spaces.size(), 30U);
    std::string file = kHeader;
    for (std::size_t i = 0; i < spaces.size(); ++i) {
        const std::string& sp = spaces[i];
        // Each space gets its own set of years (a non-empty subset of 2021–2025), so that no row is a duplicate.
        std::string years;
        for (int bit = 0; bit < 5; ++bit) {
            if (((i + 1) >> bit & 1U) != 0) years += (years.empty() ? "" : ";") + std::to_string(2021 + bit);
        }
        // Quoted, so that CR and LF are cell text rather than line ends. Leading on one row, trailing on the next,
        // both on the others.
        file += "\"" + sp + "A123456789\",\"" + sp + "王小明\",\"" + sp + "T\",income," + years + "\n";
        file += "\"A123456789" + sp + "\",\"王小明" + sp + "\",\"T" + sp + "\",both," + years + "\n";
        file += "\"" + sp + "ac12345679" + sp + "\",\"" + sp + "John Smith" + sp + "\",T,income," + years + "\n";
        file += "\"" + sp + "22099131" + sp + "\",\"" + sp + sp + "臺積電股份有限公司" + sp + sp + "\",T,income," +
                years + "\n";
    }
    const Outcome outcome = readText(file);
    ASSERT_EQ(outcome.rows.size(), spaces.size() * 4);
    for (std::size_t i = 0; i < outcome.rows.size(); ++i) {
        const BatchRow& row = outcome.rows[i];
        SCOPED_TRACE("space #" + std::to_string(i / 4) + ", row " + std::to_string(row.row));
        EXPECT_TRUE(row.accepted) << row.reason << " " << row.column;
        switch (i % 4) {
            case 0:
            case 1:
                EXPECT_EQ(row.debtorId, "A123456789");
                EXPECT_EQ(row.debtorName, "王小明");
                EXPECT_EQ(row.titleRef, "T");
                break;
            case 2:
                EXPECT_EQ(row.debtorId, "AC12345679");  // an old-format resident certificate, lower case
                EXPECT_EQ(row.debtorName, "John Smith");
                break;
            default:
                EXPECT_EQ(row.debtorId, "22099131");
                EXPECT_EQ(row.debtorName, "臺積電股份有限公司");
                break;
        }
    }
}

TEST(BatchFileSpaces, OnlyInvisibleSpacesIsAMissingField) {
    const Outcome outcome =
        readText(kHeader + "\u200B\u00A0,王小明,T,both,112\n" + "A123456789,\u2060\uFEFF,T,both,112\n");
    ASSERT_EQ(outcome.rows.size(), 2U);
    EXPECT_EQ(outcome.rows[0].reason, "missing_field");
    EXPECT_EQ(outcome.rows[0].column, "debtor_id");
    EXPECT_EQ(outcome.rows[1].reason, "missing_field");
    EXPECT_EQ(outcome.rows[1].column, "debtor_name");
}

TEST(BatchFileIds, OldFormatResidentCertificatesAreAccepted) {
    // AC12345679: A10 → 1, C12 → 2·8 = 16, 1·7+2·6+3·5+4·4+5·3+6·2+7·1 = 84, + 9 = 110. With 8 the sum is 109.
    const Outcome outcome = readText(kHeader + "AC12345679,王小明,T,both,112\n" +
                                     "ＡＣ１２３４５６７９,王小明,T,property,\n" + "AC12345678,王小明,T,both,112\n");
    ASSERT_EQ(outcome.rows.size(), 3U);
    EXPECT_TRUE(outcome.rows[0].accepted);
    EXPECT_EQ(outcome.rows[0].debtorId, "AC12345679");
    EXPECT_TRUE(outcome.rows[1].accepted);
    EXPECT_EQ(outcome.rows[1].debtorId, "AC12345679");
    EXPECT_EQ(outcome.rows[2].reason, "invalid_id");
}

}  // namespace
}  // namespace taxdesk::jobs::inquiry

namespace taxdesk::jobs::inquiry {
namespace {

TEST(BatchFileOldCertificates, AcceptedUntil2030RejectedFrom2031) {
    // SPEC 2: old-format resident certificates are valid until 2030-12-31.
    const std::string file = kHeader + "AC12345679,John Smith,T,property,\n" + "A123456789,王小明,T,property,\n";
    BatchRules in2030 = rules();
    in2030.currentYear = 2030;
    in2030.latestTaxYear = 2029;
    const Outcome before = readText(file, Charset::utf8, in2030);
    ASSERT_EQ(before.rows.size(), 2u);
    EXPECT_TRUE(before.rows[0].accepted) << before.rows[0].reason;

    BatchRules in2031 = rules();
    in2031.currentYear = 2031;
    in2031.latestTaxYear = 2030;
    const Outcome after = readText(file, Charset::utf8, in2031);
    ASSERT_EQ(after.rows.size(), 2u);
    EXPECT_FALSE(after.rows[0].accepted);
    EXPECT_EQ(after.rows[0].reason, "invalid_id");
    EXPECT_TRUE(after.rows[1].accepted) << "national IDs do not expire";
}

}  // namespace
}  // namespace taxdesk::jobs::inquiry
