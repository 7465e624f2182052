// The upload's fast paths (issue 11) against the slow paths they replace, on random and hostile input: CSV fields
// as views of the decoded piece (and copied at the piece's end), cells judged on views, trimming skipped for cells
// whose ends are no spaces, ID cells already in normal form copied as they are, the scope read on the stack,
// characters counted only past 200 bytes, and Big5 pairs written from a precomputed UTF-8 table.
#include <Poco/TextConverter.h>
#include <Poco/UTF8Encoding.h>
#include <Poco/Windows950Encoding.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/common/utf8.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/inquiry/batch_file.hpp"
#include "jobs/inquiry/batch_row.hpp"
#include "jobs/inquiry/charset.hpp"
#include "jobs/inquiry/csv_reader.hpp"

namespace taxdesk::jobs::inquiry {
namespace {

BatchRules testRules() {
    BatchRules rules;
    rules.currentYear = 2026;
    rules.latestTaxYear = 2025;
    rules.maxRows = 1000000;
    return rules;
}

std::string decodeAll(const std::string& bytes, Charset charset) {
    std::istringstream in(bytes);
    DecodedText text(in, charset);
    std::string out;
    for (std::string_view piece = text.next(); !piece.empty(); piece = text.next()) out.append(piece);
    return out;
}

/// The tokeniser's records, each field copied out while the reader is fed one byte at a time: every field is then
/// built in the reader's own buffer (a one-byte piece ends before the field does), the path that the views replace.
struct CopiedField {
    std::string text;
    bool overflow = false;
    int unreadableLine = 0;
};
struct CopiedRecord {
    std::vector<CopiedField> fields;
    int line = 0;
};

class Copier : public CsvSink {
  public:
    void field(const CsvField& field) override {
        current_.fields.push_back({std::string(field.text), field.overflow, field.unreadableLine});
    }
    void endRecord(int line) override {
        current_.line = line;
        records.push_back(std::move(current_));
        current_ = {};
    }
    std::vector<CopiedRecord> records;

  private:
    CopiedRecord current_;
};

/// What BatchFileReader::read() should give for `bytes` with the header `columns` (names of SPEC 3.1 or others),
/// computed the slow way: the whole file decoded, tokenised a byte at a time, each row's cells copied into
/// detail::RowCells (owned strings) and judged. Blank records are skipped as the reader skips them. Only for files
/// without whole-file errors.
std::vector<BatchRow> referenceRows(const std::string& bytes, Charset charset,
                                    const std::vector<std::string>& columns) {
    const std::string text = decodeAll(bytes, charset);
    Copier copier;
    CsvReader reader(copier);
    for (const char c : text) reader.feed(std::string_view(&c, 1));
    EXPECT_TRUE(reader.finish());
    std::array<int, detail::kColumnCount> index{};
    index.fill(-1);
    for (std::size_t i = 0; i < columns.size(); ++i) {
        if (const auto column = detail::columnNamed(columns[i])) index[*column] = static_cast<int>(i);
    }
    const BatchRules rules = testRules();
    detail::RowJudge judge(rules);
    std::vector<BatchRow> rows;
    bool header = true;
    for (const CopiedRecord& record : copier.records) {
        const bool hasText = std::any_of(record.fields.begin(), record.fields.end(), [](const CopiedField& f) {
            return f.overflow || f.unreadableLine != 0 || !identity::trimSpaces(f.text).empty();
        });
        if (!hasText) continue;
        if (header) {
            header = false;
            continue;
        }
        detail::RowCells cells;
        for (std::size_t column = 0; column < detail::kColumnCount; ++column) {
            if (index[column] < 0 || static_cast<std::size_t>(index[column]) >= record.fields.size()) continue;
            const CopiedField& field = record.fields[static_cast<std::size_t>(index[column])];
            cells[column] = {field.text, field.overflow, field.unreadableLine};
        }
        BatchRow row;
        judge.judge(cells, static_cast<int>(rows.size()) + 1, record.line, row);
        rows.push_back(row);
    }
    return rows;
}

void expectSameRow(const BatchRow& got, const BatchRow& want) {
    EXPECT_EQ(got.row, want.row);
    EXPECT_EQ(got.line, want.line);
    EXPECT_EQ(got.debtorId, want.debtorId);
    EXPECT_EQ(got.debtorName, want.debtorName);
    EXPECT_EQ(got.titleRef, want.titleRef);
    EXPECT_EQ(got.scope, want.scope);
    EXPECT_EQ(got.incomeYears, want.incomeYears);
    EXPECT_EQ(got.accepted, want.accepted);
    EXPECT_EQ(got.reason, want.reason);
    EXPECT_EQ(got.column, want.column);
    EXPECT_EQ(got.fee, want.fee);
}

/// Cells of every kind a batch file holds, good and hostile. UTF-8; made Big5 where the test needs it.
const std::vector<std::string> kIds = {"A123456789",
                                       "a123456789",
                                       " A123456789 ",
                                       "Ａ１２３４５６７８９",
                                       "A12345678",
                                       "F131104093",
                                       "22099131",
                                       "",
                                       "A1234\"56789",
                                       "B1234567\xE7\x8E",
                                       "\xE3\x80\x80"
                                       "A123456789",
                                       "A123456789\t",
                                       "Z999999999",
                                       "A800000014"};
const std::vector<std::string> kNames = {"王小明",   " 王小明 ",           "王?明",      "王\xEF\xBF\xBD明",
                                         "",         "陳美玲\xE3\x80\x80", "Lee, Ann",   "王\"\"明",
                                         "王\r\n明", "\xE2\x80\x8B王",     "abc\xE7\x8E"};
const std::vector<std::string> kTitles = {"臺灣臺北地方法院112年度司執字第12345號", "T-1", " t ", "", "a,b", "x\"y"};
const std::vector<std::string> kScopes = {"both",
                                          "BOTH",
                                          " income ",
                                          "property",
                                          "",
                                          "Ｂｏｔｈ",
                                          "all",
                                          "incomes",
                                          "\xE3\x80\x80"
                                          "property",
                                          "propertypropertyx"};
const std::vector<std::string> kYears = {"",
                                         "112",
                                         "2021;2022",
                                         "111、112",
                                         "１１２",
                                         "112;;113",
                                         "0",
                                         "2026",
                                         "11a",
                                         " 113 ",
                                         "2021,2022,2023,2024,2025,2020",
                                         "112；113",
                                         "\xE3\x80\x80"
                                         "112"};

/// A cell written as CSV: quoted (with "" for a quote) when it holds a comma, quote, CR or LF, or now and then.
std::string csvCell(const std::string& text, std::mt19937& rng) {
    const bool mustQuote = text.find_first_of(",\"\r\n") != std::string::npos;
    if (!mustQuote && rng() % 5 != 0) return text;
    std::string out = "\"";
    for (const char c : text) {
        out += c;
        if (c == '"') out += '"';
    }
    return out + "\"";
}

template <typename T>
const T& pick(const std::vector<T>& from, std::mt19937& rng) {
    return from[rng() % from.size()];
}

/// A file of `rows` rows: mostly well-formed, with hostile rows (bytes that are not UTF-8, stray quotes, CRLF and
/// stray CR, empty cells and blank lines, cells longer than the reader keeps, an extra column) among them, so that
/// fields fall across the reader's 64 KiB pieces everywhere.
std::string randomFile(std::mt19937& rng, int rows, const std::vector<std::string>& columns) {
    std::string out;
    for (std::size_t i = 0; i < columns.size(); ++i) out += (i ? "," : "") + columns[i];
    out += rng() % 2 ? "\r\n" : "\n";
    for (int r = 0; r < rows; ++r) {
        const int roll = static_cast<int>(rng() % 100);
        if (roll < 2) {
            out += rng() % 2 ? "\n" : " , ,\r\n";  // a blank record
            continue;
        }
        std::string line;
        for (std::size_t i = 0; i < columns.size(); ++i) {
            if (i) line += ',';
            std::string cell;
            if (columns[i] == "debtor_id" || columns[i] == "DEBTOR_ID")
                cell = pick(kIds, rng);
            else if (columns[i] == "debtor_name")
                cell = pick(kNames, rng);
            else if (columns[i] == "title_ref")
                cell = pick(kTitles, rng) + std::to_string(r % 97);
            else if (columns[i] == "scope")
                cell = pick(kScopes, rng);
            else if (columns[i] == "income_years")
                cell = pick(kYears, rng);
            else
                cell = "note " + std::to_string(r);
            if (roll == 2) cell = std::string(CsvReader::kMaxFieldBytes + 10, 'x');  // cut and flagged
            if (roll == 3 && i == 1)
                cell = std::string(70, 'x') + std::string(45, ' ') +
                       "王王王王王王王王王王王王王王王王王王王王王王王王王王王王王王王王王王王王王王王王王王王王";
            if (roll == 4) cell += "\xFF\xFE";  // never UTF-8
            line += csvCell(cell, rng);
            if (roll == 5 && i == 0) line += "\"tail";  // text after a closing quote, or a quote inside a field
        }
        if (roll == 6) line += ",\"x\"\"y\",";
        out += line;
        out += rng() % 3 == 0 ? "\r\n" : "\n";
    }
    return out;
}

std::vector<BatchRow> readRows(const std::string& bytes, Charset charset) {
    std::istringstream in(bytes);
    std::vector<BatchRow> rows;
    BatchFileReader(testRules(), charset).read(in, [&](const BatchRow& row) { rows.push_back(row); });
    return rows;
}

TEST(UploadFastPaths, TheReaderOnViewsGivesWhatCopyingEveryCellGave) {
    std::mt19937 rng(20261201);
    const std::vector<std::vector<std::string>> headers = {
        {"debtor_id", "debtor_name", "title_ref", "scope", "income_years"},
        {"title_ref", "note", "DEBTOR_ID", "income_years", "debtor_name", "scope"},
        {"debtor_name", "debtor_id", "title_ref"},
    };
    for (int round = 0; round < 12; ++round) {
        const auto& columns = headers[static_cast<std::size_t>(round) % headers.size()];
        const std::string file = randomFile(rng, 1500 + round * 150, columns);  // 100-250 KiB: several pieces
        SCOPED_TRACE("round " + std::to_string(round));
        const std::vector<BatchRow> got = readRows(file, Charset::utf8);
        const std::vector<BatchRow> want = referenceRows(file, Charset::utf8, columns);
        ASSERT_EQ(got.size(), want.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            SCOPED_TRACE("row " + std::to_string(i + 1));
            expectSameRow(got[i], want[i]);
        }
        // Hostile rows are there, and so are good ones: the comparison covered both.
        EXPECT_TRUE(std::any_of(got.begin(), got.end(), [](const BatchRow& r) { return r.accepted; }));
        EXPECT_TRUE(std::any_of(got.begin(), got.end(), [](const BatchRow& r) { return r.reason == "bad_charset"; }));
    }
}

std::string toBig5Lossy(const std::string& utf8) {
    // Cell by cell, keeping what Big5 cannot hold out: the file must convert whole.
    Poco::UTF8Encoding from;
    Poco::Windows950Encoding to;
    std::string out;
    Poco::TextConverter(from, to).convert(utf8, out);
    return out;
}

TEST(UploadFastPaths, TheBig5ReaderGivesWhatCopyingEveryCellGave) {
    std::mt19937 rng(950);
    const std::vector<std::string> columns = {"debtor_id", "debtor_name", "title_ref", "scope", "income_years"};
    for (int round = 0; round < 6; ++round) {
        std::string file = toBig5Lossy(randomFile(rng, 2000, columns));
        // Lone lead bytes, before a comma, a line end or the end of the file, and pairs the table lacks.
        for (int i = 0; i < 40; ++i) {
            const std::size_t at = 60 + rng() % (file.size() - 60);
            if (file[at] == ',' || file[at] == '\n') file.insert(at, 1, static_cast<char>(0xA4 + rng() % 8));
        }
        file.insert(file.size() / 2, "\xA3\xE1");  // not in CP950
        SCOPED_TRACE("round " + std::to_string(round));
        const std::vector<BatchRow> got = readRows(file, Charset::big5);
        const std::vector<BatchRow> want = referenceRows(file, Charset::big5, columns);
        ASSERT_EQ(got.size(), want.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            SCOPED_TRACE("row " + std::to_string(i + 1));
            expectSameRow(got[i], want[i]);
        }
        EXPECT_TRUE(std::any_of(got.begin(), got.end(), [](const BatchRow& r) { return r.reason == "bad_charset"; }));
    }
}

/// Every pair a Big5 file can hold, after ASCII and between ASCII: the table path writes what the pair-by-pair
/// decoding writes (Poco's CP950, else HKSCS or the Private Use Area, else unreadable with an ASCII trail kept).
TEST(UploadFastPaths, EveryBig5PairDecodesAsAloneInItsOwnFile) {
    std::string all;
    std::string expected;
    for (int lead = 0x81; lead <= 0xFE; ++lead) {
        for (int trail = 0x40; trail <= 0xFE; ++trail) {
            const std::string pair = {static_cast<char>(lead), static_cast<char>(trail)};
            all += "ab" + pair;
            expected += "ab" + decodeAll(pair + "\n", Charset::big5);
            expected.pop_back();  // the line end that ended the pair's own file
            all += "\n";
            expected += "\n";
        }
    }
    EXPECT_EQ(decodeAll(all, Charset::big5), expected);
}

/// trimCell answers the common cell without trimming: whatever the text, it is identity::trimSpaces().
TEST(UploadFastPaths, TrimCellIsTrimSpaces) {
    const std::vector<std::string> pieces = {"a",
                                             "王",
                                             " ",
                                             "\t",
                                             "\r",
                                             "\x0B",
                                             "\x1F",
                                             "\x7F",
                                             "\xC2\xA0",
                                             "\xC2\x85",
                                             "\xC2\xA9",
                                             "\xE3\x80\x80",
                                             "\xE3\x81\x82",
                                             "\xE2\x80\x8B",
                                             "\xE2\x82\xAC",
                                             "\xEF\xBB\xBF",
                                             "\xEF\xBC\xA1",
                                             "\xE1\x9A\x80",
                                             "\xE7\x8E",
                                             "\x80",
                                             "\xFF",
                                             "1",
                                             "\xF0\x9F\x98\x80"};
    std::mt19937 rng(7);
    for (int i = 0; i < 200000; ++i) {
        std::string text;
        for (int n = static_cast<int>(rng() % 5); n > 0; --n) text += pieces[rng() % pieces.size()];
        ASSERT_EQ(detail::trimCell(text), identity::trimSpaces(text)) << text;
    }
}

/// The parts of a row that the judge now reads in place, each against its old rule: the ID (normalize), the scope
/// (trimmed, folded and lower-cased copy), the length limit (code points counted on every cell).
TEST(UploadFastPaths, TheJudgeReadsIdScopeAndLengthAsTheCopyingRulesDid) {
    const BatchRules rules = testRules();
    detail::RowJudge judge(rules);
    const std::vector<std::string> idPieces = {"A", "Z",       "a", "1", "0", "9", " ", "Ａ", "１", "\xE3\x80\x80",
                                               "-", "\xE7\x8E"};
    const std::vector<std::string> scopePieces = {"both", "income", "property",     "B", "o",       "T", "h", " ",
                                                  "Ｂ",   "ｏ",     "\xE3\x80\x80", "x", "\xC2\xA0"};
    const std::vector<std::string> namePieces = {"王", "a", " ", "\xF0\x9F\x98\x80", "é"};
    std::mt19937 rng(11);
    for (int i = 0; i < 30000; ++i) {
        detail::RowCells cells;
        std::string& id = cells[detail::kDebtorId].text;
        if (i % 3 == 0) {
            id = "A123456789";
        } else {
            for (int n = static_cast<int>(rng() % 12); n > 0; --n) id += idPieces[rng() % idPieces.size()];
        }
        std::string& scope = cells[detail::kScope].text;
        for (int n = static_cast<int>(rng() % 4); n > 0; --n) scope += scopePieces[rng() % scopePieces.size()];
        std::string& name = cells[detail::kDebtorName].text;
        // Around the limit of 200 characters, in bytes and in characters.
        for (int n = 60 + static_cast<int>(rng() % 160); n > 0; --n) name += namePieces[rng() % namePieces.size()];
        cells[detail::kTitleRef].text = "T" + std::to_string(i);
        cells[detail::kIncomeYears].text = "112";
        BatchRow row;
        judge.judge(cells, i + 1, i + 2, row);
        SCOPED_TRACE(id + "|" + scope);
        EXPECT_EQ(row.debtorId, identity::normalize(id));

        std::string lower(identity::trimSpaces(identity::foldFullWidth(scope)));
        for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        const std::optional<Scope> wantScope = lower.empty() ? std::optional<Scope>(Scope::both) : parseScope(lower);
        EXPECT_EQ(row.scope, wantScope.value_or(Scope::both));
        const std::string_view trimmedName = identity::trimSpaces(name);
        const auto chars = std::count_if(trimmedName.begin(), trimmedName.end(),
                                         [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
        if (row.reason == "too_long") {
            EXPECT_EQ(row.column, "debtor_name");
        }
        // Rules before the length (charset, missing, ID) may reject first; past them the length decides.
        const bool reachedLength =
            row.reason.empty() || row.reason == "too_long" || row.reason == "bad_scope" || row.reason == "duplicate";
        if (reachedLength) {
            EXPECT_EQ(row.reason == "too_long", chars > 200) << chars;
        }
        if (reachedLength && chars <= 200) {
            EXPECT_EQ(row.reason == "bad_scope", !wantScope.has_value());
        }
    }
}

/// classify() in one pass against the three checks it replaces, tried in turn, on random IDs near the valid forms
/// (each with every last digit, so that one in ten has its checksum) and on hostile bytes.
TEST(UploadFastPaths, ClassifyInOnePassIsTheThreeChecksInTurn) {
    auto reference = [](std::string_view id) {
        if (identity::isValidNationalId(id)) return identity::IdKind::nationalId;
        if (identity::isValidResidentCertificate(id)) return identity::IdKind::residentCertificate;
        if (identity::isValidBusinessNumber(id)) return identity::IdKind::businessNumber;
        return identity::IdKind::invalid;
    };
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdz/:@[`{ \x80\xFF";
    std::mt19937 rng(13);
    std::array<int, 4> kinds{};
    for (int i = 0; i < 40000; ++i) {
        const std::size_t length = i % 4 == 0 ? 8 : (i % 4 == 1 ? 10 : rng() % 13);
        std::string id;
        for (std::size_t k = 0; k + 1 < length; ++k) {
            // Mostly the valid shapes: a capital first, then 1 2 8 9 A–D second, then digits.
            const bool shaped = rng() % 8 != 0;
            if (shaped && k == 0 && length == 10) {
                id += static_cast<char>('A' + rng() % 26);
            } else if (shaped && k == 1 && length == 10) {
                id += "1289ABCD"[rng() % 8];
            } else if (shaped) {
                id += static_cast<char>('0' + rng() % 10);
            } else {
                id += alphabet[rng() % alphabet.size()];
            }
        }
        for (char last = '0'; last <= '9' && length > 0; ++last) {
            const std::string candidate = id + last;
            const identity::IdKind want = reference(candidate);
            ++kinds[static_cast<std::size_t>(want)];
            ASSERT_EQ(identity::classify(candidate), want) << candidate;
            for (const int year : {2026, 2031}) {
                const bool old = want == identity::IdKind::residentCertificate && candidate[1] >= 'A';
                ASSERT_EQ(identity::classifyIn(candidate, year),
                          old && year > identity::kOldResidentCertificateLastYear ? identity::IdKind::invalid : want)
                    << candidate;
            }
        }
        if (length == 0) {
            ASSERT_EQ(identity::classify(id), identity::IdKind::invalid);
        }
    }
    // Every kind was met many times, so the comparison above was not only of invalid IDs.
    for (const int count : kinds) EXPECT_GT(count, 1000);
}

/// packKey by hand: the ID's bytes as they are ('A' 0x41 lowest, then '1' 0x31), its length 2 at bit 16, scope
/// income (0) or both (2) at bit 20, and the years 2025 and 2023 under latest tax year 2025 as offsets 0 and 2 from
/// bit 22. What does not fit is refused.
TEST(UploadFastPaths, PackKeyPacksTheIdScopeAndYearsOrRefuses) {
    detail::PackedKey key;
    ASSERT_TRUE(detail::packKey("A1", Scope::income, {2023, 2025}, 2025, key));
    EXPECT_EQ(key.lo, 0x3141U);
    EXPECT_EQ(key.hi, 0x20000U + 0x400000U + 0x1000000U);
    ASSERT_TRUE(detail::packKey("A1", Scope::both, {}, 2025, key));
    EXPECT_EQ(key.lo, 0x3141U);
    EXPECT_EQ(key.hi, 0x220000U);
    ASSERT_TRUE(detail::packKey("Z12345678Y", Scope::property, {1984}, 2025, key));  // offset 41: the last bit
    EXPECT_EQ(key.lo, 0x373635343332315AU);                                          // "Z1234567", 'Z' lowest
    EXPECT_EQ(key.hi, 0x5938U + (10U << 16) + (1U << 20) + (std::uint64_t{1} << 63));
    ASSERT_TRUE(detail::packKey("22099131", Scope::income, {2025}, 2025, key));
    EXPECT_EQ(key.lo, 0x3133313939303232U);
    EXPECT_EQ(key.hi, (8U << 16) + (1U << 22));
    EXPECT_FALSE(detail::packKey("A1", Scope::both, {1983}, 2025, key)) << "42 years back does not fit";
    EXPECT_FALSE(detail::packKey("A1", Scope::both, {2026}, 2025, key)) << "after the latest tax year";
    EXPECT_FALSE(detail::packKey("A123456789X", Scope::both, {2025}, 2025, key)) << "11 bytes";
    EXPECT_FALSE(detail::packKey("", Scope::both, {2025}, 2025, key));
    // Lengths tell apart what zero padding alone would not.
    detail::PackedKey withNul;
    ASSERT_TRUE(detail::packKey("A", Scope::both, {2025}, 2025, key));
    ASSERT_TRUE(detail::packKey(std::string_view("A\0", 2), Scope::both, {2025}, 2025, withNul));
    EXPECT_NE(key, withNul);
}

/// Duplicates found by packed keys (and text keys for what does not pack) are the duplicates the text key of every
/// row found: a few IDs, scopes and year cells, mixed so that rows repeat, some with years too old to pack.
TEST(UploadFastPaths, DuplicatesByPackedKeysAreTheTextKeysDuplicates) {
    const BatchRules rules = testRules();
    detail::RowJudge judge(rules);
    const std::vector<std::string> ids = {"A123456789", "a123456789", " A123456789 ", "F131104093",
                                          "AC12345679", "22099131",   "A800000014",   "B1"};
    const std::vector<std::string> scopes = {"", "both", "income", "property", "Income", "bad"};
    const std::vector<std::string> years = {"",        "114",         "113;114",
                                            "114;113", "114,113,113", "1",
                                            "50",      "51",          "51;114",
                                            "50;114",  "１１３、114", "115",
                                            "0",       "1;2;3;4",     "110;111;112;113;114"};
    std::set<std::string> seen;
    std::mt19937 rng(17);
    int duplicates = 0;
    int accepted = 0;
    for (int i = 0; i < 20000; ++i) {
        detail::RowCells cells;
        cells[detail::kDebtorId].text = ids[rng() % ids.size()];
        cells[detail::kDebtorName].text = "王小明";
        cells[detail::kTitleRef].text = "T";
        cells[detail::kScope].text = scopes[rng() % scopes.size()];
        cells[detail::kIncomeYears].text = years[rng() % years.size()];
        BatchRow row;
        judge.judge(cells, i + 1, i + 2, row);
        std::string key = row.debtorId + "|" + toString(row.scope);
        for (const int year : row.incomeYears) key += "|" + std::to_string(year);
        const bool reachedKey = row.accepted || row.reason == "duplicate";
        if (!reachedKey) continue;
        ASSERT_EQ(row.reason == "duplicate", seen.count(key) == 1) << i << " " << key;
        if (row.accepted) {
            seen.insert(key);
            ++accepted;
        } else {
            ++duplicates;
        }
    }
    EXPECT_GT(accepted, 50);
    EXPECT_GT(duplicates, 1000);
}

/// The plain income_years cell (digits, `;` and `,` only) is read in one pass; the same cell with a trailing space
/// goes the general way (trimmed, split, each part trimmed): both must give the same years and verdict.
TEST(UploadFastPaths, PlainYearCellsReadInOnePassAsTheGeneralWay) {
    const BatchRules rules = testRules();
    const std::vector<std::string> pieces = {"1",   "0",   "9",  "11",    "112", "113", "114", "115", "0112",
                                             "114", "113", "50", "12345", ";",   ",",   ";",   "",    "00000"};
    std::mt19937 rng(29);
    int accepted = 0;
    int badYear = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string cell;
        for (int n = static_cast<int>(rng() % 7); n > 0; --n) cell += pieces[rng() % pieces.size()];
        detail::RowJudge plainJudge(rules);  // (fresh judges: no row is a duplicate of another)
        detail::RowJudge generalJudge(rules);
        detail::RowCells cells;
        cells[detail::kDebtorId].text = "A123456789";
        cells[detail::kDebtorName].text = "王小明";
        cells[detail::kTitleRef].text = "T";
        cells[detail::kIncomeYears].text = cell;
        BatchRow plain;
        plainJudge.judge(cells, 1, 2, plain);
        cells[detail::kIncomeYears].text = cell + " ";
        BatchRow general;
        generalJudge.judge(cells, 1, 2, general);
        ASSERT_EQ(plain.reason, general.reason) << "'" << cell << "'";
        ASSERT_EQ(plain.incomeYears, general.incomeYears) << "'" << cell << "'";
        ASSERT_EQ(plain.fee, general.fee) << "'" << cell << "'";
        accepted += plain.accepted ? 1 : 0;
        badYear += plain.reason == "bad_year" ? 1 : 0;
    }
    EXPECT_GT(accepted, 1000);
    EXPECT_GT(badYear, 1000);
    // By hand: ROC 112 and 113 are 2023 and 2024, sorted and unique; ROC 115 is 2026, after the latest tax year.
    detail::RowJudge judge(rules);
    detail::RowCells cells;
    cells[detail::kDebtorId].text = "A123456789";
    cells[detail::kDebtorName].text = "王小明";
    cells[detail::kTitleRef].text = "T";
    cells[detail::kIncomeYears].text = "113,112;;113";
    BatchRow row;
    judge.judge(cells, 1, 2, row);
    EXPECT_EQ(row.incomeYears, (std::vector<int>{2023, 2024}));
    EXPECT_EQ(row.fee, 250 + 2 * 250);
    cells[detail::kDebtorId].text = "F131104093";
    cells[detail::kIncomeYears].text = "112;115";
    judge.judge(cells, 2, 3, row);
    EXPECT_EQ(row.reason, "bad_year");
}

}  // namespace
}  // namespace taxdesk::jobs::inquiry
