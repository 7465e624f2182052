#pragma once
// SPEC 3.1: the creditor batch file. A streaming reader that decodes (UTF-8 or Big5), parses RFC 4180 CSV and
// judges each data row, in memory that does not grow with the file (only the keys of accepted rows are kept, to
// find duplicates, and their number is bounded by BatchRules::maxRows).
#include <cstddef>
#include <functional>
#include <istream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/inquiry/inquiry.hpp"

namespace taxdesk::jobs::inquiry {

enum class Charset { utf8, big5 };

/// Parses the upload's `charset` parameter: `utf-8`/`utf8` or `big5`/`cp950`, case-insensitive, surrounding white
/// space ignored. Returns nullopt for anything else (the HTTP layer answers 400) and for an empty text.
std::optional<Charset> parseCharset(std::string_view text);
const char* toString(Charset charset);

/// Decides how to read a batch file. A declared charset wins and nothing is read. Otherwise the stream is read to its
/// end: UTF-8 when every byte is valid UTF-8; else Big5 when fewer characters are unreadable as Big5 (CP950 with
/// its user-defined area and HKSCS, as the reader decodes it) than as UTF-8, so that a Big5 file with one bad pair
/// is still read as Big5 and only that row is refused; else UTF-8. A UTF-8 byte order mark settles it as UTF-8 at
/// once, and so does a UTF-16 one (the reader then explains that UTF-16 is not supported). Leaves the stream at an
/// unspecified position, possibly with eofbit set: the caller rewinds (clear(), seekg(0)). Throws
/// std::runtime_error when the stream fails (badbit).
Charset detectCharset(std::istream& in, std::optional<Charset> declared);

/// Windows' CP950 mapping of Big5's user-defined areas (造字, EUDC) to the Unicode Private Use Area, 157 code points
/// per lead byte, trail bytes 0x40–0x7E then 0xA1–0xFE: 0xFA40–0xFEFE → U+E000–U+E310, 0x8E40–0xA0FE →
/// U+E311–U+EEB7, 0x8140–0x8DFE → U+EEB8–U+F6B0, and 0xC6A1–0xC8FE → U+F6B1–U+F848 (its first lead byte has only
/// the trail bytes 0xA1–0xFE: 0xC640–0xC67E are standard characters). Returns 0 for a pair outside these areas.
/// The reader decodes such a pair as HKSCS first when glibc's BIG5-HKSCS knows it, and only otherwise with this.
char32_t big5UserDefined(unsigned char lead, unsigned char trail) noexcept;

/// The rules a batch is read under, from the configuration and the clock (jobs/ reads neither).
struct BatchRules {
    std::size_t maxRows = 100000;   ///< limits.batch_rows: more data rows than this is 413
    int currentYear = 0;            ///< the calendar year now: it has no income data yet
    int latestTaxYear = 0;          ///< the latest complete tax year: the default, and the latest year accepted
    int maxYears = 5;               ///< at most this many distinct income years in a row
    long long feeProperty = 250;    ///< NT$ per accepted row that asks for property data
    long long feeIncomeYear = 250;  ///< NT$ per income year of an accepted row that asks for income data
};

/// One data row of the file as judged by SPEC 3.1. Rejected rows are reported too: SPEC 3.3 wants a result for
/// every data row.
struct BatchRow {
    int row = 0;             ///< 1-based data row number (blank lines and the header are not counted)
    int line = 0;            ///< 1-based physical line on which the row starts (for messages to the creditor)
    std::string debtorId;    ///< normalised (identity::normalize), even when the row is rejected
    std::string debtorName;  ///< trimmed; bytes that could not be read show as U+FFFD
    std::string titleRef;    ///< trimmed
    Scope scope = Scope::both;
    std::vector<int> incomeYears;  ///< Gregorian, ascending, unique; empty for scope property or bad income_years
    bool accepted = false;
    std::string reason;  ///< "" when accepted, else bad_charset, missing_field, invalid_id, too_long, bad_scope,
                         ///< bad_year, duplicate (checked in this order)
    std::string column;  ///< the column at fault, "" when accepted
    long long fee = 0;   ///< NT$, 0 when rejected
};

struct BatchTotals {
    int rows = 0;  ///< data rows, accepted and rejected
    int accepted = 0;
    int rejected = 0;
    long long feeTotal = 0;  ///< NT$, the sum of the accepted rows' fees
};

/// A whole-file error: the upload is rejected, nothing is stored or charged. The message is written for the
/// creditor (English, names the line or column) and may be shown as is.
class FileError : public std::runtime_error {
  public:
    FileError(int status, std::string code, int line, const std::string& message);

    /// The HTTP status the upload should get: 400, or 413 for too many rows.
    [[nodiscard]] int status() const noexcept { return status_; }
    /// A stable code for clients: missing_header, missing_column, duplicate_column, undecodable,
    /// unterminated_quote, no_rows, too_many_rows. `undecodable` is for a file that is not in its charset at all:
    /// it looks like UTF-16, its header line cannot be read, or more than half of its data rows cannot be (a few
    /// such rows are rejected as bad_charset instead). Its message names the first bad line and says to save the
    /// file as CSV UTF-8.
    [[nodiscard]] const std::string& code() const noexcept { return code_; }
    /// The 1-based physical line the error is about, 0 when it is about the file as a whole.
    [[nodiscard]] int line() const noexcept { return line_; }

  private:
    int status_;
    std::string code_;
    int line_;
};

/// Reads batch files under one set of rules. Each read() is independent (the keys of the rows accepted so far, used
/// to find duplicates, live only for the call), so one reader may serve several threads.
class BatchFileReader {
  public:
    /// Throws std::invalid_argument when the rules make no sense (no year set, maxRows or maxYears below 1,
    /// negative fees, latestTaxYear not before currentYear).
    BatchFileReader(BatchRules rules, Charset charset);

    /// Reads the stream to its end in chunks, calling onRow for each data row in file order, and returns the
    /// totals. Throws FileError for a whole-file error, possibly after some rows were already passed to onRow:
    /// rows are final only once read() returns, so the caller stores them in one transaction or discards them.
    /// Exceptions from onRow propagate unchanged; std::runtime_error when the stream fails (badbit).
    BatchTotals read(std::istream& in, const std::function<void(const BatchRow&)>& onRow) const;

  private:
    BatchRules rules_;
    Charset charset_;
};

}  // namespace taxdesk::jobs::inquiry
