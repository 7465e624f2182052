// SPEC 3.3: the results CSV. RFC 4180 quoting and the OWASP CSV-injection rule, cell by cell.
#include <gtest/gtest.h>

#include <string>

#include "jobs/inquiry/csv.hpp"

namespace {

using taxdesk::jobs::inquiry::appendCsvCell;
using taxdesk::jobs::inquiry::appendCsvLine;

std::string cell(std::string_view value) {
    std::string out;
    appendCsvCell(out, value);
    return out;
}

TEST(CsvCell, PlainTextAndNumbersAreWrittenAsTheyAre) {
    EXPECT_EQ(cell("A123456789"), "A123456789");
    EXPECT_EQ(cell("臺北市信義區"), "臺北市信義區");
    EXPECT_EQ(cell("250"), "250");
    EXPECT_EQ(cell(""), "");
    EXPECT_EQ(cell("a=b"), "a=b") << "only the first character can start a formula";
}

TEST(CsvCell, SeparatorsQuotesAndLineBreaksAreQuoted) {
    EXPECT_EQ(cell("王,小明"), "\"王,小明\"");
    EXPECT_EQ(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
    EXPECT_EQ(cell("two\nlines"), "\"two\nlines\"");
    EXPECT_EQ(cell("cr\rhere"), "\"cr\rhere\"");
}

TEST(CsvCell, EveryFormulaStartIsWrittenAsText) {
    EXPECT_EQ(cell("=1+1"), "\"'=1+1\"");
    EXPECT_EQ(cell("+886912345678"), "\"'+886912345678\"");
    EXPECT_EQ(cell("-2+3"), "\"'-2+3\"");
    EXPECT_EQ(cell("@SUM(A1:A2)"), "\"'@SUM(A1:A2)\"");
    EXPECT_EQ(cell("\tindent"), "\"'\tindent\"");
    EXPECT_EQ(cell("\r=1"), "\"'\r=1\"");
    EXPECT_EQ(cell("=HYPERLINK(\"http://x\",\"y\")"), "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
}

TEST(CsvLine, CellsAreJoinedByCommasAndEndedByCrLf) {
    std::string out;
    appendCsvLine(out, {"1", "=cmd", "found", ""});
    appendCsvLine(out, {"2"});
    EXPECT_EQ(out, "1,\"'=cmd\",found,\r\n2\r\n");
}

}  // namespace
