#include "jobs/inquiry/batch_file.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "jobs/identity/identifiers.hpp"
#include "jobs/inquiry/csv_reader.hpp"

namespace taxdesk::jobs::inquiry {
namespace {

using detail::CellView;
using detail::Column;
using detail::kColumnCount;
using detail::kColumnNames;
using detail::kRequiredColumns;

constexpr std::string_view kHeaderHint =
    "the first line must name the columns debtor_id, debtor_name and title_ref (scope and income_years are "
    "optional), e.g. debtor_id,debtor_name,title_ref,scope,income_years";

/// Advice that leads somewhere whatever the file really is: every spreadsheet can write CSV UTF-8, and a UTF-8 file
/// holds every character a name can have.
std::string saveAsUtf8Advice(Charset charset) {
    std::string advice = "save the file as CSV UTF-8 (Excel: File → Save As → CSV UTF-8) and upload it again";
    if (charset == Charset::big5) advice += " with charset=utf-8 (or without charset)";
    return advice;
}

/// The whole-file error for a file that is not in its charset at all: "line N is not valid <charset>", why, and
/// what to do.
FileError undecodable(Charset charset, int line, const std::string& why) {
    return {400, "undecodable", line,
            "line " + std::to_string(line) + " is not valid " + displayName(charset) + why + "; " +
                saveAsUtf8Advice(charset)};
}

/// The file's records as the batch sees them: the header (which column is where), then data rows judged one by one,
/// and the whole-file errors.
class BatchSink : public CsvSink {
  public:
    BatchSink(const BatchRules& rules, Charset charset, const std::function<void(const BatchRow&)>& onRow)
        : rules_(rules), charset_(charset), onRow_(onRow), judge_(rules) {
        headerIndex_.fill(-1);
    }

    void field(const CsvField& field) override {
        // Once the record has text, the rest of its fields cannot change that: no need to trim them.
        if (!recordHasText_ && (field.overflow || field.unreadableLine != 0 || !detail::trimCell(field.text).empty())) {
            recordHasText_ = true;
        }
        if (!headerSeen_) {
            headerField(field);
            if (headerUnreadableLine_ == 0) headerUnreadableLine_ = field.unreadableLine;
            return;
        }
        // Unreadable bytes in a column the reader ignores cost nothing: the row reads the same without them.
        const auto index = static_cast<std::size_t>(field.index);
        if (index >= columnOfField_.size() || columnOfField_[index] < 0) return;
        const auto column = static_cast<std::size_t>(columnOfField_[index]);
        CellView& cell = cells_[column];
        // A view of the piece being read lives until endOfPiece(); the reader's own buffer only during this call.
        if (field.inPiece) {
            cell.text = field.text;
        } else {
            kept_[column].assign(field.text);
            cell.text = kept_[column];
        }
        cellInPiece_[column] = field.inPiece;
        cell.overflow = field.overflow;
        cell.unreadableLine = field.unreadableLine;
    }

    /// The common data row in one call: its cells are views of the piece, judged at once (nothing to copy at the
    /// piece's end), with what field() and endRecord() would have done.
    void record(const std::string_view* fields, std::size_t count, int line) override {
        if (!headerSeen_) {
            CsvSink::record(fields, count, line);
            return;
        }
        // A record of blank fields is a blank line: nothing, as in endRecord().
        const bool hasText =
            std::any_of(fields, fields + count, [](std::string_view text) { return !detail::trimCell(text).empty(); });
        if (!hasText) return;
        const std::size_t known = std::min(count, columnOfField_.size());
        for (std::size_t index = 0; index < known; ++index) {
            if (const int column = columnOfField_[index]; column >= 0) {
                cells_[static_cast<std::size_t>(column)].text = fields[index];
            }
        }
        takeRow(line);
        for (CellView& cell : cells_) cell.text = {};  // (only the texts were set: the rest is as endRecord left it)
    }

    void endOfPiece() override {
        for (std::size_t column = 0; column < kColumnCount; ++column) {
            if (!cellInPiece_[column]) continue;
            kept_[column].assign(cells_[column].text);
            cells_[column].text = kept_[column];
            cellInPiece_[column] = false;
        }
    }

    void endRecord(int line) override {
        if (recordHasText_) {
            if (headerSeen_) {
                takeRow(line);
            } else {
                takeHeader(line);
            }
        } else if (!headerSeen_) {
            headerIndex_.fill(-1);  // a blank line before the header
            duplicateColumn_.clear();
        }
        cells_.fill(CellView{});
        cellInPiece_.fill(false);
        recordHasText_ = false;
    }

    /// After the last record: the whole-file errors that only the end can tell, else the totals.
    BatchTotals finish() {
        if (!headerSeen_) {
            throw FileError(
                400, "missing_header", 0,
                "the file has no header row (it is empty or has only blank lines): " + std::string(kHeaderHint));
        }
        if (totals_.rows == 0) {
            throw FileError(400, "no_rows", 0,
                            "the file has a header (line " + std::to_string(headerLine_) + ") but no data rows");
        }
        // A few unreadable rows are the creditor's typing (a character the spreadsheet could not save); most of them
        // unreadable means the file is in another charset, and charging for the rest would be charging for noise.
        if (unreadableRows_ * 2 > totals_.rows) {
            throw undecodable(charset_, firstUnreadableLine_,
                              ", and " + std::to_string(unreadableRows_) + " of the " + std::to_string(totals_.rows) +
                                  " data rows cannot be read as " + displayName(charset_));
        }
        return totals_;
    }

  private:
    void headerField(const CsvField& field) {
        const std::optional<Column> column = detail::columnNamed(field.text);
        if (!column) return;
        if (headerIndex_[*column] >= 0 && duplicateColumn_.empty()) duplicateColumn_ = kColumnNames[*column];
        if (headerIndex_[*column] < 0) headerIndex_[*column] = field.index;
    }

    void takeHeader(int line) {
        headerSeen_ = true;
        headerLine_ = line;
        const std::string where = "the header (line " + std::to_string(line) + ")";
        // Before the columns: an unreadable header means the file is not in its charset, whatever it names.
        if (headerUnreadableLine_ != 0) {
            throw undecodable(charset_, headerUnreadableLine_, " (it is the header)");
        }
        if (std::all_of(headerIndex_.begin(), headerIndex_.end(), [](int index) { return index < 0; })) {
            throw FileError(400, "missing_header", line,
                            "line " + std::to_string(line) + " is not a header: " + std::string(kHeaderHint));
        }
        if (!duplicateColumn_.empty()) {
            throw FileError(400, "duplicate_column", line,
                            where + " names the column " + duplicateColumn_ + " twice: keep one of them");
        }
        std::string missing;
        for (std::size_t column = 0; column < kRequiredColumns; ++column) {
            if (headerIndex_[column] >= 0) continue;
            if (!missing.empty()) missing += ", ";
            missing += kColumnNames[column];
        }
        if (!missing.empty()) {
            throw FileError(400, "missing_column", line,
                            where + " has no column " + missing +
                                " (required: debtor_id, debtor_name, title_ref; optional: scope, income_years)");
        }
        // Which column each field of a data row is, by its index: one look-up a field.
        const int last = *std::max_element(headerIndex_.begin(), headerIndex_.end());
        columnOfField_.assign(static_cast<std::size_t>(last) + 1, -1);
        for (std::size_t column = 0; column < kColumnCount; ++column) {
            if (headerIndex_[column] >= 0)
                columnOfField_[static_cast<std::size_t>(headerIndex_[column])] = static_cast<int>(column);
        }
    }

    void takeRow(int line) {
        if (static_cast<std::size_t>(totals_.rows) >= rules_.maxRows) {
            throw FileError(413, "too_many_rows", line,
                            "the file has more than " + std::to_string(rules_.maxRows) + " data rows (row " +
                                std::to_string(rules_.maxRows + 1) + " is on line " + std::to_string(line) +
                                "): split it into several batches");
        }
        ++totals_.rows;
        const int unreadableLine = judge_.judge(cells_, totals_.rows, line, row_);
        if (unreadableLine != 0 && unreadableRows_++ == 0) firstUnreadableLine_ = unreadableLine;
        if (row_.accepted) {
            ++totals_.accepted;
            totals_.feeTotal += row_.fee;
        } else {
            ++totals_.rejected;
        }
        onRow_(row_);
    }

    const BatchRules& rules_;
    Charset charset_;
    const std::function<void(const BatchRow&)>& onRow_;
    detail::RowJudge judge_;

    bool recordHasText_ = false;
    bool headerSeen_ = false;
    int headerLine_ = 0;
    std::array<int, kColumnCount> headerIndex_{};  // field index of each known column, -1 when absent
    std::string duplicateColumn_;
    int headerUnreadableLine_ = 0;  // physical line of the header's first unreadable bytes, 0 when none

    std::vector<int> columnOfField_;  // the column of each field index of a data row, -1 for a column not read

    detail::RowCellViews cells_;                    // the current data row's cells
    std::array<std::string, kColumnCount> kept_;    // the text of cells that are not views of the piece
    std::array<bool, kColumnCount> cellInPiece_{};  // the cell views the piece being read
    BatchRow row_;
    BatchTotals totals_;
    int unreadableRows_ = 0;       // rows rejected for bytes that could not be read
    int firstUnreadableLine_ = 0;  // the line of the first of them
};

}  // namespace

FileError::FileError(int status, std::string code, int line, const std::string& message)
    : std::runtime_error(message), status_(status), code_(std::move(code)), line_(line) {}

BatchFileReader::BatchFileReader(BatchRules rules, Charset charset) : rules_(rules), charset_(charset) {
    detail::checkRules(rules_);
}

BatchTotals BatchFileReader::read(std::istream& in, const std::function<void(const BatchRow&)>& onRow) const {
    BatchSink sink(rules_, charset_, onRow);
    CsvReader csv(sink);
    DecodedText text(in, charset_);
    try {
        for (std::string_view piece = text.next(); !piece.empty(); piece = text.next()) csv.feed(piece);
    } catch (const Utf16Error&) {
        throw undecodable(charset_, 1, ": the file looks like UTF-16 (\"Unicode text\"), which is not supported");
    }
    if (!csv.finish()) {
        throw FileError(400, "unterminated_quote", csv.openQuoteLine(),
                        "line " + std::to_string(csv.openQuoteLine()) +
                            " opens a quoted field that is never closed: a field that starts with a double quote "
                            "must end with one, and a double quote inside it is written twice (\"\")");
    }
    return sink.finish();
}

}  // namespace taxdesk::jobs::inquiry
