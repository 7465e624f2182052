#pragma once
// SPEC 3.1: the creditor batch file. A streaming reader that decodes (UTF-8 or Big5: charset.hpp), parses RFC 4180
// CSV (csv_reader.hpp), finds the columns in the header and judges each data row (batch_row.hpp), in memory that does
// not grow with the file (only the keys of accepted rows are kept, to find duplicates, and their number is bounded by
// BatchRules::maxRows).
#include <functional>
#include <istream>
#include <stdexcept>
#include <string>

#include "jobs/inquiry/batch_row.hpp"
#include "jobs/inquiry/charset.hpp"

namespace taxdesk::jobs::inquiry {

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
