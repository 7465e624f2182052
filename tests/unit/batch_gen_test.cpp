// `taxdesk gen --rows N`: the generated batch file (SPEC 3.1) matches the population, and its faulty rows carry
// each row error of SPEC 3.1.
#include <Poco/TextConverter.h>
#include <Poco/UTF8Encoding.h>
#include <Poco/Windows950Encoding.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "connectors/stubs/demo_data/batch_generator.hpp"
#include "connectors/stubs/demo_data/population.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/inquiry/batch_file.hpp"
#include "jobs/inquiry/inquiry.hpp"
#include "unit/batch_file_support.hpp"

namespace taxdesk::demo_data {
namespace {

using jobs::identity::classify;
using jobs::identity::IdKind;
using jobs::identity::normalize;

using Record = std::vector<std::string>;

/// RFC 4180, written independently of the generator: quoted fields with doubled quotes, LF or CRLF.
std::vector<Record> parseCsv(const std::string& text) {
    std::vector<Record> records;
    Record record;
    std::string field;
    bool quoted = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            record.push_back(field);
            field.clear();
        } else if (c == '\n') {
            record.push_back(field);
            records.push_back(record);
            record.clear();
            field.clear();
        } else if (c != '\r') {
            field += c;
        }
    }
    if (!field.empty() || !record.empty()) {
        record.push_back(field);
        records.push_back(record);
    }
    return records;
}

std::size_t codePoints(const std::string& text) {
    std::size_t count = 0;
    for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
    return count;
}

bool isValidUtf8(const std::string& text) {
    Poco::UTF8Encoding utf8;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto* bytes = reinterpret_cast<const unsigned char*>(text.data() + pos);
        const int length = utf8.sequenceLength(bytes, static_cast<int>(text.size() - pos));
        if (length <= 0 || !utf8.isLegal(bytes, length)) return false;
        pos += static_cast<std::size_t>(length);
    }
    return true;
}

/// The years of an income_years cell per SPEC 3.1, or nullopt when the cell breaks a rule (garbage, future,
/// more than five).
std::optional<std::set<int>> parseYears(const std::string& cell) {
    std::set<int> years;
    if (cell.empty()) return std::set<int>{2025};
    std::stringstream in(cell);
    for (std::string part; std::getline(in, part, ';');) {
        if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos || part.size() > 4) {
            return std::nullopt;
        }
        int year = std::stoi(part);
        if (year < 1911) year += 1911;
        if (year > 2025) return std::nullopt;
        years.insert(year);
    }
    if (years.empty() || years.size() > 5) return std::nullopt;
    return years;
}

std::string generate(const BatchGenOptions& options, BatchGenReport* report = nullptr) {
    std::ostringstream out;
    const BatchGenReport written = writeBatchCsv(out, options);
    if (report != nullptr) *report = written;
    return out.str();
}

/// The reason SPEC 3.1 gives a row, judged from the row alone (and the rows before it), or "" for a good row.
std::string judge(const Record& row, std::set<std::string>& seenKeys) {
    const std::string& id = row[0];
    const std::string& name = row[1];
    const std::string& title = row[2];
    const std::string& scope = row[3];
    if (id.empty() || name.empty() || title.empty()) return "missing_field";
    if (classify(normalize(id)) == IdKind::invalid) return "invalid_id";
    if (!scope.empty() && scope != "income" && scope != "property" && scope != "both") return "bad_scope";
    if (codePoints(title) > 200) return "too_long";
    const auto years = parseYears(row[4]);
    if (!years) return "bad_year";
    // The raw cells make the key, as SPEC 3.1 words it; the generator also keeps good rows apart when read
    // with defaults applied.
    if (!seenKeys.insert(normalize(id) + "|" + scope + "|" + row[4]).second) return "duplicate";
    return "";
}

TEST(BatchGenerator, WritesTheHeaderAndNRows) {
    BatchGenOptions options;
    options.rows = 250;
    BatchGenReport report;
    const std::string text = generate(options, &report);
    const auto records = parseCsv(text);
    ASSERT_EQ(records.size(), 251U);
    EXPECT_EQ(records[0], (Record{"debtor_id", "debtor_name", "title_ref", "scope", "income_years"}));
    EXPECT_EQ(text.rfind("debtor_id,debtor_name,title_ref,scope,income_years\n", 0), 0U);
    for (std::size_t i = 1; i < records.size(); ++i) EXPECT_EQ(records[i].size(), 5U) << "row " << i;
    EXPECT_EQ(text.find('\r'), std::string::npos);  // LF line ends
    EXPECT_EQ(text.back(), '\n');
    EXPECT_EQ(report.rows, 250U);
    EXPECT_EQ(report.good, 250U);
    EXPECT_TRUE(report.rejected.empty());
    EXPECT_TRUE(isValidUtf8(text));
}

TEST(BatchGenerator, ZeroRowsIsJustTheHeader) {
    BatchGenOptions options;
    options.rows = 0;
    EXPECT_EQ(generate(options), "debtor_id,debtor_name,title_ref,scope,income_years\n");
}

TEST(BatchGenerator, IsDeterministicAndRowsDoNotDependOnTheCount) {
    BatchGenOptions options;
    options.rows = 300;
    options.badFraction = 0.2;
    const std::string first = generate(options);
    EXPECT_EQ(generate(options), first);

    options.seed += 1;
    EXPECT_NE(generate(options), first);

    options.seed -= 1;
    options.rows = 120;
    const std::string shorter = generate(options);
    EXPECT_EQ(first.rfind(shorter, 0), 0U) << "the 120-row file is not a prefix of the 300-row file";
}

TEST(BatchGenerator, GoodRowsMatchThePopulation) {
    BatchGenOptions options;
    options.rows = 2000;
    BatchGenReport report;
    const auto records = parseCsv(generate(options, &report));
    ASSERT_EQ(records.size(), 2001U);
    const Population population(options.seed);

    std::set<std::string> keys;
    std::map<IdKind, int> kinds;
    std::set<std::string> scopes;
    std::size_t mismatches = 0;
    std::size_t unknown = 0;
    std::size_t deceased = 0;
    std::size_t defaultYears = 0;
    std::size_t rocYears = 0;
    std::size_t gregorianYears = 0;
    std::size_t writtenDifferently = 0;
    std::size_t oldCertificates = 0;
    std::size_t namesWrittenDifferently = 0;
    for (std::size_t i = 1; i < records.size(); ++i) {
        const Record& row = records[i];
        SCOPED_TRACE("row " + std::to_string(i) + ": " + row[0]);
        ASSERT_EQ(judge(row, keys), "");
        const std::string id = normalize(row[0]);
        if (id != row[0]) ++writtenDifferently;
        ++kinds[classify(id)];
        oldCertificates += jobs::identity::isValidOldResidentCertificate(id) ? 1 : 0;
        scopes.insert(row[3]);
        const auto years = parseYears(row[4]);
        ASSERT_TRUE(years.has_value());
        EXPECT_GE(*years->begin(), 2021);
        if (row[4].empty()) {
            ++defaultYears;
        } else if (row[4].size() == 3 || row[4][3] == ';') {
            ++rocYears;
        } else {
            ++gregorianYears;
        }
        const auto record = population.registryRecord(id);
        if (!record) {
            ++unknown;
        } else if (!jobs::inquiry::namesMatch(row[1], record->name)) {
            ++mismatches;
        } else if (record->deceased) {
            ++deceased;
        }
        if (record && record->name != row[1] && jobs::inquiry::namesMatch(row[1], record->name)) {
            ++namesWrittenDifferently;
            // 台 for 臺, or a full-width space after the first character: nothing else.
            std::string undone = row[1];
            if (const auto at = undone.find("台"); at != std::string::npos) {
                undone.replace(at, std::string("台").size(), "臺");
            } else if (const auto space = undone.find("\u3000"); space != std::string::npos) {
                undone.erase(space, std::string("\u3000").size());
            }
            EXPECT_EQ(undone, record->name) << row[1];
        }
    }
    EXPECT_EQ(mismatches, report.nameMismatches);
    EXPECT_EQ(unknown, report.notRegistered);
    EXPECT_EQ(deceased, report.deceased);
    EXPECT_EQ(namesWrittenDifferently, report.namesWrittenDifferently);
    EXPECT_GT(namesWrittenDifferently, 20U);  // about 3% of the found rows
    // Every result status can occur, but most rows are found people.
    EXPECT_GT(mismatches, 10U);
    EXPECT_GT(unknown, 10U);
    EXPECT_GT(deceased, 5U);
    EXPECT_LT(mismatches + unknown + deceased, 200U);
    EXPECT_GT(kinds[IdKind::nationalId], 1200);
    EXPECT_GT(kinds[IdKind::businessNumber], 200);
    EXPECT_GT(kinds[IdKind::residentCertificate], 20);
    // About one row in a hundred carries an old-format certificate (valid until 2030-12-31), found like the rest.
    EXPECT_GT(oldCertificates, 5U);
    EXPECT_LT(oldCertificates, kinds[IdKind::residentCertificate]);
    EXPECT_EQ(scopes, (std::set<std::string>{"", "income", "property", "both"}));
    EXPECT_GT(defaultYears, 50U);
    EXPECT_GT(rocYears, 300U);
    EXPECT_GT(gregorianYears, 300U);
    EXPECT_GT(writtenDifferently, 20U);  // lower case, full width, padded
}

TEST(BatchGenerator, BadFractionGivesEachRowErrorInTurn) {
    BatchGenOptions options;
    options.rows = 600;
    options.badFraction = 0.1;
    BatchGenReport report;
    const auto records = parseCsv(generate(options, &report));
    ASSERT_EQ(records.size(), 601U);

    const std::vector<std::string> reasons = {"invalid_id", "missing_field", "bad_scope",
                                              "bad_year",   "too_long",      "duplicate"};
    for (const auto& reason : reasons) EXPECT_EQ(report.rejected[reason], 10U) << reason;
    EXPECT_EQ(report.good, 540U);

    // Judged independently from the file itself, the rows carry the same reasons in the same numbers.
    std::set<std::string> keys;
    std::map<std::string, std::size_t> judged;
    for (std::size_t i = 1; i < records.size(); ++i) ++judged[judge(records[i], keys)];
    EXPECT_EQ(judged[""], 540U);
    for (const auto& reason : reasons) EXPECT_EQ(judged[reason], 10U) << reason;
}

TEST(BatchGenerator, EveryRowFaultyStillWritesEveryRow) {
    BatchGenOptions options;
    options.rows = 30;
    options.badFraction = 1.0;
    BatchGenReport report;
    const auto records = parseCsv(generate(options, &report));
    EXPECT_EQ(records.size(), 31U);
    EXPECT_EQ(report.good, 0U);
    std::size_t rejected = 0;
    for (const auto& [reason, count] : report.rejected) rejected += count;
    EXPECT_EQ(rejected, 30U);
}

TEST(BatchGenerator, FieldsNeedingQuotesAreQuoted) {
    BatchGenOptions options;
    options.rows = 2000;
    const std::string text = generate(options);
    const auto records = parseCsv(text);
    std::size_t withComma = 0;
    std::size_t withQuote = 0;
    for (std::size_t i = 1; i < records.size(); ++i) {
        withComma += records[i][2].find(',') != std::string::npos ? 1 : 0;
        withQuote += records[i][2].find('"') != std::string::npos ? 1 : 0;
    }
    // Had they not been quoted, the parser would have found more than five fields somewhere above.
    EXPECT_GT(withComma, 10U);
    EXPECT_GT(withQuote, 2U);
    EXPECT_NE(text.find("\"\"續行執行\"\""), std::string::npos);
}

TEST(BatchGenerator, Big5OutputIsBig5) {
    BatchGenOptions options;
    options.rows = 300;
    options.badFraction = 0.2;
    const std::string utf8 = generate(options);
    options.charset = "big5";
    const std::string big5 = generate(options);

    EXPECT_FALSE(isValidUtf8(big5));
    EXPECT_NE(big5, utf8);
    Poco::Windows950Encoding cp950;
    Poco::UTF8Encoding utf8Encoding;
    Poco::TextConverter converter(cp950, utf8Encoding);
    std::string back;
    EXPECT_EQ(converter.convert(big5, back), 0);
    EXPECT_EQ(back, utf8);

    options.charset = "CP950";
    EXPECT_EQ(generate(options), big5);
}

TEST(BatchGenerator, RejectsBadOptions) {
    BatchGenOptions options;
    options.badFraction = 1.5;
    EXPECT_THROW(generate(options), std::invalid_argument);
    options.badFraction = -0.1;
    EXPECT_THROW(generate(options), std::invalid_argument);
    options.badFraction = 0.0;
    options.charset = "latin1";
    EXPECT_THROW(generate(options), std::invalid_argument);
}

}  // namespace
}  // namespace taxdesk::demo_data

namespace taxdesk::jobs::inquiry {
namespace {

using namespace test_support;  // NOLINT(google-build-using-namespace): the helpers every batch file test shares

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

}  // namespace
}  // namespace taxdesk::jobs::inquiry
