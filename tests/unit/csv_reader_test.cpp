// SPEC 3.1: the batch file's CSV (jobs/inquiry/csv_reader): the tokeniser alone, then RFC 4180 quoting, line ends and
// the byte order mark as the batch file reader reads them.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "jobs/inquiry/csv_reader.hpp"
#include "unit/batch_file_support.hpp"

namespace taxdesk::jobs::inquiry {
namespace {

using namespace test_support;  // NOLINT(google-build-using-namespace): the helpers every batch file test shares

// ---------------------------------------------------------------------------------------------------------------
// The tokeniser alone: fields, records and lines as a sink sees them

/// Records every field and record end as text: `[index:text]` per field, `<line>` per record end, `+` after a
/// field's text when it overflowed, `!line` when it held unreadable bytes.
class Recorder : public CsvSink {
  public:
    void field(const CsvField& field) override {
        log_ += "[" + std::to_string(field.index) + ":" + std::string(field.text);
        if (field.overflow) log_ += "+";
        if (field.unreadableLine != 0) log_ += "!" + std::to_string(field.unreadableLine);
        log_ += "]";
    }
    void endRecord(int line) override { log_ += "<" + std::to_string(line) + ">"; }
    [[nodiscard]] const std::string& log() const { return log_; }

  private:
    std::string log_;
};

/// Tokenises `text` fed in pieces of `piece` bytes; returns the log, with `?N` at the end when a quote opened on
/// line N is still open.
std::string tokenise(std::string_view text, std::size_t piece = 1) {
    Recorder recorder;
    CsvReader reader(recorder);
    for (std::size_t at = 0; at < text.size(); at += piece) reader.feed(text.substr(at, piece));
    const bool closed = reader.finish();
    return closed ? recorder.log() : recorder.log() + "?" + std::to_string(reader.openQuoteLine());
}

TEST(CsvReader, FieldsRecordsAndTheLineEachRecordStartsOn) {
    EXPECT_EQ(tokenise("a,b\r\nc\n"), "[0:a][1:b]<1>[0:c]<2>");
    EXPECT_EQ(tokenise("a,\"x\ny\",b\nc"), "[0:a][1:x\ny][2:b]<1>[0:c]<3>");
    EXPECT_EQ(tokenise("\n,\n"), "[0:]<1>[0:][1:]<2>");  // a blank line is one empty field; the sink decides
    EXPECT_EQ(tokenise(""), "");
    EXPECT_EQ(tokenise("a,"), "[0:a][1:]<1>");  // a last line ending in a comma still ends its record
}

TEST(CsvReader, QuotesDoubledInsideAndKeptAsTextOutside) {
    EXPECT_EQ(tokenise("\"a \"\"b\"\"\",c\n"), "[0:a \"b\"][1:c]<1>");
    EXPECT_EQ(tokenise("a \"b\" c\n"), "[0:a \"b\" c]<1>");
    EXPECT_EQ(tokenise("\"a\" b\n"), "[0:a b]<1>");
    EXPECT_EQ(tokenise("\"a\r\nb\"\r\n"), "[0:a\r\nb]<1>");  // CR kept inside quotes only
}

TEST(CsvReader, AnUnclosedQuoteEndsNothingAndSaysWhereItOpened) {
    EXPECT_EQ(tokenise("a\nb,\"c\nd\n"), "[0:a]<1>[0:b]?2");
}

TEST(CsvReader, UnreadableBytesBecomeReplacementCharactersAndRememberTheirLine) {
    const std::string text = std::string("a\n\"x\ny") + kUnreadable + "\"\n";
    EXPECT_EQ(tokenise(text), "[0:a]<1>[0:x\ny\xEF\xBF\xBD!3]<2>");
}

TEST(CsvReader, ALongFieldIsCutAtACharacterBoundaryAndFlagged) {
    std::string big;
    while (big.size() < CsvReader::kMaxFieldBytes - 1) big += "x";
    Recorder recorder;
    CsvReader reader(recorder);
    reader.feed(big + "王王,b\n");  // 王 is 3 bytes: the first fits from byte 4095, the second would not
    ASSERT_TRUE(reader.finish());
    EXPECT_EQ(recorder.log(), "[0:" + big + "王+][1:b]<1>");
}

TEST(CsvReader, PiecesOfAnySizeGiveTheSameFields) {
    const std::string text = "id,\"na,me\"\r\n\"x\"\"y\",王小明\r\n,\n";
    const std::string whole = tokenise(text, text.size());
    for (std::size_t piece = 1; piece < 8; ++piece) EXPECT_EQ(tokenise(text, piece), whole) << piece;
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

}  // namespace
}  // namespace taxdesk::jobs::inquiry
