// SPEC 3.1: the batch file's charset (jobs/inquiry/charset): detection, Big5 (CP950, user-defined areas, HKSCS),
// UTF-8, and what unreadable bytes cost a row or the file.
#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/inquiry/charset.hpp"
#include "unit/batch_file_support.hpp"

namespace taxdesk::jobs::inquiry {
namespace {

using namespace test_support;  // NOLINT(google-build-using-namespace): the helpers every batch file test shares

// ---------------------------------------------------------------------------------------------------------------
// The decoded text alone

std::string decodeAll(const std::string& bytes, Charset charset) {
    std::istringstream in(bytes);
    DecodedText text(in, charset);
    std::string out;
    for (std::string_view piece = text.next(); !piece.empty(); piece = text.next()) out += piece;
    return out;
}

TEST(DecodedText, Utf8WithoutItsByteOrderMarkAndUnreadableBytesMarked) {
    EXPECT_EQ(decodeAll("\xEF\xBB\xBF王,a\n", Charset::utf8), "王,a\n");
    // A cut character is one unreadable mark, and the comma after it is kept (maximal subpart).
    EXPECT_EQ(decodeAll("\xE7\x8E,b", Charset::utf8), std::string(1, kUnreadable) + ",b");
    EXPECT_EQ(decodeAll("a\xE7", Charset::utf8), std::string("a") + kUnreadable);  // cut at the end of the file
}

TEST(DecodedText, Big5DecodedToUtf8) {
    EXPECT_EQ(decodeAll(toBig5("王小明,臺\n"), Charset::big5), "王小明,臺\n");
    // A lead byte before an ASCII byte that does not complete a pair: unreadable, and the ASCII byte read alone.
    EXPECT_EQ(decodeAll("\xA4,", Charset::big5), std::string(1, kUnreadable) + ",");
}

TEST(DecodedText, Utf16IsRefused) {
    EXPECT_THROW(decodeAll(std::string("\xFF\xFE"
                                       "d\0",
                                       4),
                           Charset::utf8),
                 Utf16Error);
    EXPECT_THROW(decodeAll(std::string("d\0e\0\n\0", 6), Charset::big5), Utf16Error);
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

}  // namespace
}  // namespace taxdesk::jobs::inquiry
