// SPEC 3.1 and 3.2: the creditor batch file reader (jobs/inquiry/batch_file, batch_row): header, row rules, years,
// fees, duplicates, whole-file errors, limits. CSV quoting is in csv_reader_test, charsets in charset_test, the round
// trip through `taxdesk gen` in batch_gen_test.
#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "jobs/identity/identifiers.hpp"
#include "jobs/inquiry/batch_file.hpp"
#include "unit/batch_file_support.hpp"

namespace taxdesk::jobs::inquiry {
namespace {

using namespace test_support;  // NOLINT(google-build-using-namespace): the helpers every batch file test shares

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
