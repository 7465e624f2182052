// Fuzz target: the creditor batch file reader of SPEC 3.1 (jobs/inquiry/batch_file), in UTF-8 and Big5. The first
// byte of the input chooses how the charset is decided ('0' declared UTF-8, '1' declared Big5, '2' detected, by its
// value modulo 3); the rest is the file. Invariants: read() returns or throws FileError (400, or 413 for too many
// rows) with a documented code, never anything else; the totals add up to the rows passed to onRow, numbered from
// 1 in file order; an accepted row has a normalised ID valid in the current year, ascending unique income years no
// later than the latest tax year and the fee of SPEC 3.1; a rejected row has a documented reason and no fee; names
// and title references are valid UTF-8 whatever the bytes were.
#include <algorithm>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/inquiry/batch_file.hpp"

namespace inquiry = taxdesk::jobs::inquiry;
namespace id = taxdesk::jobs::identity;
using taxdesk::fuzz::isValidUtf8;

namespace {

constexpr long long kFeeProperty = 250;
constexpr long long kFeeIncomeYear = 200;  // unlike kFeeProperty, so that a mix-up shows

inquiry::BatchRules rules() {
    inquiry::BatchRules r;
    r.maxRows = 64;  // small, so that too_many_rows is within reach of small inputs
    r.currentYear = 2026;
    r.latestTaxYear = 2025;
    r.maxYears = 5;
    r.feeProperty = kFeeProperty;
    r.feeIncomeYear = kFeeIncomeYear;
    return r;
}

const std::set<std::string> kReasons = {"bad_charset", "missing_field", "invalid_id", "too_long",
                                        "bad_scope",   "bad_year",      "duplicate"};
const std::set<std::string> kCodes = {"missing_header",     "missing_column", "duplicate_column", "undecodable",
                                      "unterminated_quote", "no_rows",        "too_many_rows"};

void checkRow(const inquiry::BatchRow& row, int expectedNumber, int previousLine) {
    FUZZ_CHECK(row.row == expectedNumber, "rows are numbered from 1 in file order");
    FUZZ_CHECK(row.line > previousLine, "a row starts on a later line than the one before");
    FUZZ_CHECK(id::normalize(row.debtorId) == row.debtorId, "the debtor ID is normalised");
    FUZZ_CHECK(isValidUtf8(row.debtorName), "the debtor name is valid UTF-8");
    FUZZ_CHECK(isValidUtf8(row.titleRef), "the title reference is valid UTF-8");
    if (row.accepted) {
        FUZZ_CHECK(row.reason.empty() && row.column.empty(), "an accepted row has no reason");
        FUZZ_CHECK(id::classifyIn(row.debtorId, 2026) != id::IdKind::invalid, "an accepted row's ID is valid");
        FUZZ_CHECK(!row.debtorName.empty() && !row.titleRef.empty(), "an accepted row has a name and a title");
        FUZZ_CHECK(std::is_sorted(row.incomeYears.begin(), row.incomeYears.end()) &&
                       std::adjacent_find(row.incomeYears.begin(), row.incomeYears.end()) == row.incomeYears.end(),
                   "income years are ascending and unique");
        FUZZ_CHECK(row.incomeYears.size() <= 5, "at most maxYears income years");
        // SPEC 3.1: "a value below 1911 is ROC", so 1911 itself is the Gregorian year 1911 (tests/unit:
        // year_1911_is_gregorian).
        for (const int year : row.incomeYears) FUZZ_CHECK(year >= 1911 && year <= 2025, "years are past tax years");
        const bool property = row.scope != inquiry::Scope::income;
        const bool income = row.scope != inquiry::Scope::property;
        FUZZ_CHECK(income || row.incomeYears.empty(), "a property-only row has no income years");
        FUZZ_CHECK(!income || !row.incomeYears.empty(), "an income row has at least one year");
        const long long fee = (property ? kFeeProperty : 0) +
                              (income ? kFeeIncomeYear * static_cast<long long>(row.incomeYears.size()) : 0);
        FUZZ_CHECK(row.fee == fee, "the fee is 250 for property plus 200 per income year");
    } else {
        FUZZ_CHECK(kReasons.count(row.reason) == 1, "a rejected row has a documented reason");
        FUZZ_CHECK(!row.column.empty(), "a rejected row names its column");
        FUZZ_CHECK(row.fee == 0, "a rejected row costs nothing");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const int mode = data[0] % 3;
    const std::string file(reinterpret_cast<const char*>(data) + 1, size - 1);

    // The upload's charset parameter, read from the file's first line: whatever it parses to must name itself.
    const std::string_view firstLine = std::string_view(file).substr(0, std::min<std::size_t>(file.find('\n'), 40));
    if (const auto named = inquiry::parseCharset(firstLine))
        FUZZ_CHECK(inquiry::parseCharset(inquiry::toString(*named)) == named, "a parsed charset's name parses to it");

    std::optional<inquiry::Charset> declared;
    if (mode == 0) declared = inquiry::Charset::utf8;
    if (mode == 1) declared = inquiry::Charset::big5;
    std::istringstream in(file);
    const inquiry::Charset charset = inquiry::detectCharset(in, declared);
    FUZZ_CHECK(!declared || charset == *declared, "a declared charset wins");
    if (!declared && isValidUtf8(file)) FUZZ_CHECK(charset == inquiry::Charset::utf8, "valid UTF-8 is read as UTF-8");
    in.clear();
    in.seekg(0);

    int rows = 0;
    int accepted = 0;
    int previousLine = 0;
    long long fees = 0;
    try {
        const inquiry::BatchTotals totals =
            inquiry::BatchFileReader(rules(), charset).read(in, [&](const inquiry::BatchRow& row) {
                checkRow(row, rows + 1, previousLine);
                ++rows;
                accepted += row.accepted ? 1 : 0;
                fees += row.fee;
                previousLine = row.line;
            });
        FUZZ_CHECK(totals.rows == rows && totals.rows > 0, "the totals count every row passed on");
        FUZZ_CHECK(totals.accepted == accepted && totals.rejected == rows - accepted, "accepted plus rejected");
        FUZZ_CHECK(totals.feeTotal == fees, "the fee total is the sum of the rows' fees");
        FUZZ_CHECK(totals.rows <= 64, "no more rows than maxRows");
    } catch (const inquiry::FileError& error) {
        FUZZ_CHECK(kCodes.count(error.code()) == 1, "a file error has a documented code");
        FUZZ_CHECK(error.status() == (error.code() == "too_many_rows" ? 413 : 400), "400, or 413 for too many rows");
        FUZZ_CHECK(error.line() >= 0, "a file error's line is 0 or a line");
        FUZZ_CHECK(isValidUtf8(error.what()), "a file error's message is valid UTF-8");
    }
    return 0;
}
