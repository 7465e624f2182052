#include "jobs/inquiry/batch_file.hpp"

#include <Poco/Windows950Encoding.h>

#include <algorithm>
#include <array>
#include <climits>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "jobs/identity/identifiers.hpp"

namespace taxdesk::jobs::inquiry {
namespace {

/// Bytes read from the stream at a time: large enough that the stream's overhead does not matter, small enough
/// that memory stays flat whatever the file's size.
constexpr std::size_t kChunkBytes = std::size_t{64} * 1024;
/// What a field may hold. The longest legal value (200 characters of up to four bytes, plus padding) fits; longer
/// text is cut, at a character boundary, and flagged, so that an unbalanced quote cannot make one field as big as
/// the file.
constexpr std::size_t kMaxFieldBytes = 4096;
constexpr std::size_t kMaxTextChars = 200;
constexpr int kRocOffset = 1911;
constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::string_view kIdeographicComma = "\xE3\x80\x81";  // U+3001 、 as in 111、112

enum Column : std::size_t { kDebtorId, kDebtorName, kTitleRef, kScope, kIncomeYears, kColumnCount };
constexpr std::array<std::string_view, kColumnCount> kColumnNames = {"debtor_id", "debtor_name", "title_ref", "scope",
                                                                     "income_years"};
constexpr std::size_t kRequiredColumns = 3;  // the first three of kColumnNames
constexpr std::string_view kHeaderHint =
    "the first line must name the columns debtor_id, debtor_name and title_ref (scope and income_years are "
    "optional), e.g. debtor_id,debtor_name,title_ref,scope,income_years";

/// Trims every Unicode space (SPEC 2): spreadsheets in Taiwan leave U+3000, no-break and zero-width spaces around
/// names as readily as ASCII ones. One definition for every entry point, in jobs/identity.
std::string_view trimText(std::string_view text) {
    return identity::trimSpaces(text);
}

std::size_t codePoints(std::string_view utf8) {
    return static_cast<std::size_t>(
        std::count_if(utf8.begin(), utf8.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string lowerAscii(std::string text) {
    for (char& c : text) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return text;
}

void appendUtf8(std::string& out, int cp) {
    const auto u = static_cast<unsigned>(cp);
    if (u < 0x80) {
        out.push_back(static_cast<char>(u));
    } else if (u < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (u >> 6)));
        out.push_back(static_cast<char>(0x80 | (u & 0x3F)));
    } else if (u < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (u >> 12)));
        out.push_back(static_cast<char>(0x80 | ((u >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (u & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (u >> 18)));
        out.push_back(static_cast<char>(0x80 | ((u >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((u >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (u & 0x3F)));
    }
}

/// Well-formed UTF-8 one byte at a time (Unicode table 3-7): no overlong forms, no surrogates, nothing above
/// U+10FFFF, so that a sequence split across two chunks is judged like any other.
class Utf8Validator {
  public:
    bool feed(unsigned char b) noexcept {
        if (need_ == 0) {
            if (b < 0x80) return true;
            if (b >= 0xC2 && b <= 0xDF) return expect(1, 0x80, 0xBF);
            if (b == 0xE0) return expect(2, 0xA0, 0xBF);
            if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return expect(2, 0x80, 0xBF);
            if (b == 0xED) return expect(2, 0x80, 0x9F);
            if (b == 0xF0) return expect(3, 0x90, 0xBF);
            if (b >= 0xF1 && b <= 0xF3) return expect(3, 0x80, 0xBF);
            if (b == 0xF4) return expect(3, 0x80, 0x8F);
            return false;
        }
        if (b < lower_ || b > upper_) return false;
        --need_;
        lower_ = 0x80;
        upper_ = 0xBF;
        return true;
    }
    [[nodiscard]] bool midSequence() const noexcept { return need_ > 0; }

  private:
    bool expect(int need, unsigned char lower, unsigned char upper) noexcept {
        need_ = need;
        lower_ = lower;
        upper_ = upper;
        return true;
    }
    int need_ = 0;
    unsigned char lower_ = 0x80;
    unsigned char upper_ = 0xBF;
};

/// CP950 one byte at a time, appending UTF-8. Poco's table is the judge of what is Big5, the same table the batch
/// generator and spreadsheets' exports agree with; it has no user-defined area (造字), so such bytes are
/// undecodable.
class Big5Decoder {
  public:
    /// Returns false at the first byte that cannot be part of a CP950 character. `out` may be null (checking only).
    bool feed(unsigned char b, std::string* out) {
        if (lead_ != 0) {
            const std::array<unsigned char, 2> pair = {lead_, b};
            lead_ = 0;
            const int cp = encoding_.queryConvert(pair.data(), 2);
            if (cp < 0) return false;
            if (out != nullptr) appendUtf8(*out, cp);
            return true;
        }
        if (b < 0x80) {
            if (out != nullptr) out->push_back(static_cast<char>(b));
            return true;
        }
        const int single = encoding_.characterMap()[b];
        if (single == -2) {  // a lead byte: the character needs the next one
            lead_ = b;
            return true;
        }
        if (single < 0) return false;
        if (out != nullptr) appendUtf8(*out, single);
        return true;
    }
    [[nodiscard]] bool midSequence() const noexcept { return lead_ != 0; }

  private:
    Poco::Windows950Encoding encoding_;
    unsigned char lead_ = 0;
};

/// Reads up to kChunkBytes; returns the number read, 0 at the end. Throws when the stream itself fails.
std::size_t readChunk(std::istream& in, std::vector<char>& buffer) {
    if (!in.good()) return 0;
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.bad()) throw std::runtime_error("batch file: the upload could not be read back");
    return static_cast<std::size_t>(in.gcount());
}

FileError undecodable(Charset charset, int line, bool looksUtf16) {
    std::string message = "line " + std::to_string(line);
    if (looksUtf16) {
        message +=
            " is not valid UTF-8: the file looks like UTF-16 (\"Unicode text\"), which is not supported; "
            "save it as \"CSV UTF-8\" or as Big5 CSV";
    } else if (charset == Charset::utf8) {
        message += " is not valid UTF-8 (declare charset=big5 if the file is Big5)";
    } else {
        message += " is not valid Big5 (CP950) text (declare charset=utf-8 if the file is UTF-8)";
    }
    return {400, "undecodable", line, message};
}

/// The file as UTF-8 text, chunk by chunk: validated (UTF-8) or decoded (Big5), without a byte order mark. The text
/// before an undecodable byte is handed out first and the error comes with the next call, so that whole-file
/// errors are met in file order (a 413 on an earlier line wins over a bad byte on a later one).
class TextSource {
  public:
    TextSource(std::istream& in, Charset charset) : in_(in), charset_(charset), raw_(kChunkBytes) {}

    /// The next piece of text, empty at the end of the file. Throws FileError (undecodable) naming the line.
    std::string_view next() {
        if (pending_) throw *pending_;
        for (;;) {
            const std::size_t n = readChunk(in_, raw_);
            if (n == 0) {
                if (utf8_.midSequence() || big5_.midSequence()) throw undecodable(charset_, line_, looksUtf16_);
                return {};
            }
            std::string_view raw(raw_.data(), n);
            if (first_) {
                first_ = false;
                looksUtf16_ = raw.starts_with("\xFF\xFE") || raw.starts_with("\xFE\xFF");
                if (charset_ == Charset::utf8 && raw.starts_with(kBom)) raw.remove_prefix(kBom.size());
            }
            const std::string_view text = charset_ == Charset::utf8 ? validate(raw) : decode(raw);
            if (!text.empty()) return text;
            if (pending_) throw *pending_;
        }
    }

  private:
    // LF is never part of a multi-byte character in either encoding, so counting LF bytes counts lines, and a bad
    // sequence is reported on the line where it started.
    std::string_view validate(std::string_view raw) {
        for (std::size_t i = 0; i < raw.size(); ++i) {
            const auto b = static_cast<unsigned char>(raw[i]);
            if (!utf8_.feed(b)) {
                pending_ = undecodable(charset_, line_, looksUtf16_);
                return raw.substr(0, i);
            }
            if (b == '\n') ++line_;
        }
        return raw;
    }

    std::string_view decode(std::string_view raw) {
        decoded_.clear();
        for (char c : raw) {
            const auto b = static_cast<unsigned char>(c);
            if (!big5_.feed(b, &decoded_)) {
                pending_ = undecodable(charset_, line_, looksUtf16_);
                break;
            }
            if (b == '\n') ++line_;
        }
        return decoded_;
    }

    std::istream& in_;
    Charset charset_;
    std::vector<char> raw_;
    std::string decoded_;
    Utf8Validator utf8_;
    Big5Decoder big5_;
    int line_ = 1;
    bool first_ = true;
    bool looksUtf16_ = false;
    std::optional<FileError> pending_;
};

struct Cell {
    std::string text;
    bool overflow = false;  ///< the field was longer than kMaxFieldBytes and `text` holds its beginning
};

/// RFC 4180 parsing and the row rules, fed one piece of text at a time.
class Parser {
  public:
    Parser(const BatchRules& rules, const std::function<void(const BatchRow&)>& onRow) : rules_(rules), onRow_(onRow) {
        headerIndex_.fill(-1);
    }

    void feed(std::string_view text) {
        for (char c : text) take(c);
    }

    BatchTotals finish() {
        switch (state_) {
            case State::quoted:
                throw FileError(400, "unterminated_quote", quoteLine_,
                                "line " + std::to_string(quoteLine_) +
                                    " opens a quoted field that is never closed: a field that starts with a double "
                                    "quote must end with one, and a double quote inside it is written twice (\"\")");
            case State::fieldStart:
                // Nothing after the last line break, unless the last line ended in a comma.
                if (fieldIndex_ > 0) endRecord();
                break;
            case State::unquoted:
            case State::quoteSeen:
            case State::afterQuoted:
                endRecord();
                break;
        }
        if (!headerSeen_) {
            throw FileError(
                400, "missing_header", 0,
                "the file has no header row (it is empty or has only blank lines): " + std::string(kHeaderHint));
        }
        if (totals_.rows == 0) {
            throw FileError(400, "no_rows", 0,
                            "the file has a header (line " + std::to_string(headerLine_) + ") but no data rows");
        }
        return totals_;
    }

  private:
    enum class State { fieldStart, unquoted, quoted, quoteSeen, afterQuoted };

    // CR outside quotes is dropped wherever it is: it can only be the first half of a CRLF line end (or stray
    // white space, which trimming would remove anyway). Inside quotes it is the creditor's text and kept.
    void take(char c) {
        switch (state_) {
            case State::fieldStart:
                if (c == '"') {
                    state_ = State::quoted;
                    quoteLine_ = line_;
                } else if (c == ',') {
                    endField();
                } else if (c == '\n') {
                    endRecord();
                } else if (c != '\r') {
                    append(c);
                    state_ = State::unquoted;
                }
                break;
            case State::unquoted:
            case State::afterQuoted:
                // A quote in an unquoted field, or text after a closing quote, is not RFC 4180, but it is what a
                // hand-edited file contains, and its meaning is plain: keep it as text.
                if (c == ',') {
                    endField();
                } else if (c == '\n') {
                    endRecord();
                } else if (c != '\r') {
                    append(c);
                }
                break;
            case State::quoted:
                if (c == '"') {
                    state_ = State::quoteSeen;
                } else {
                    if (c == '\n') ++line_;
                    append(c);
                }
                break;
            case State::quoteSeen:
                if (c == '"') {  // "" inside quotes is one quote
                    append(c);
                    state_ = State::quoted;
                } else {
                    state_ = State::afterQuoted;
                    take(c);
                }
                break;
        }
    }

    void append(char c) {
        if (overflow_) return;
        // Cut only before a lead byte, so that the kept text stays valid UTF-8.
        if (field_.size() >= kMaxFieldBytes && (static_cast<unsigned char>(c) & 0xC0) != 0x80) {
            overflow_ = true;
            return;
        }
        field_.push_back(c);
    }

    void endField() {
        if (overflow_ || !trimText(field_).empty()) recordHasText_ = true;
        if (!headerSeen_) {
            headerField();
        } else {
            for (std::size_t column = 0; column < kColumnCount; ++column) {
                if (headerIndex_[column] == fieldIndex_) {
                    std::swap(cells_[column].text, field_);
                    cells_[column].overflow = overflow_;
                }
            }
        }
        field_.clear();
        overflow_ = false;
        ++fieldIndex_;
        state_ = State::fieldStart;
    }

    void headerField() {
        const std::string name = lowerAscii(std::string(trimText(identity::foldFullWidth(field_))));
        for (std::size_t column = 0; column < kColumnCount; ++column) {
            if (name != kColumnNames[column]) continue;
            if (headerIndex_[column] >= 0 && duplicateColumn_.empty()) duplicateColumn_ = name;
            if (headerIndex_[column] < 0) headerIndex_[column] = fieldIndex_;
        }
    }

    void endRecord() {
        endField();
        if (recordHasText_) {
            if (headerSeen_) {
                takeRow();
            } else {
                takeHeader();
            }
        } else if (!headerSeen_) {
            headerIndex_.fill(-1);  // a blank line before the header
            duplicateColumn_.clear();
        }
        for (auto& cell : cells_) {
            cell.text.clear();
            cell.overflow = false;
        }
        recordHasText_ = false;
        fieldIndex_ = 0;
        ++line_;
        recordLine_ = line_;
    }

    void takeHeader() {
        headerSeen_ = true;
        headerLine_ = recordLine_;
        const std::string where = "the header (line " + std::to_string(recordLine_) + ")";
        if (std::all_of(headerIndex_.begin(), headerIndex_.end(), [](int index) { return index < 0; })) {
            throw FileError(400, "missing_header", recordLine_,
                            "line " + std::to_string(recordLine_) + " is not a header: " + std::string(kHeaderHint));
        }
        if (!duplicateColumn_.empty()) {
            throw FileError(400, "duplicate_column", recordLine_,
                            where + " names the column " + duplicateColumn_ + " twice: keep one of them");
        }
        std::string missing;
        for (std::size_t column = 0; column < kRequiredColumns; ++column) {
            if (headerIndex_[column] >= 0) continue;
            if (!missing.empty()) missing += ", ";
            missing += kColumnNames[column];
        }
        if (!missing.empty()) {
            throw FileError(400, "missing_column", recordLine_,
                            where + " has no column " + missing +
                                " (required: debtor_id, debtor_name, title_ref; optional: scope, income_years)");
        }
    }

    void takeRow() {
        if (static_cast<std::size_t>(totals_.rows) >= rules_.maxRows) {
            throw FileError(413, "too_many_rows", recordLine_,
                            "the file has more than " + std::to_string(rules_.maxRows) + " data rows (row " +
                                std::to_string(rules_.maxRows + 1) + " is on line " + std::to_string(recordLine_) +
                                "): split it into several batches");
        }
        ++totals_.rows;
        judge(row_);
        if (row_.accepted) {
            ++totals_.accepted;
            totals_.feeTotal += row_.fee;
        } else {
            ++totals_.rejected;
        }
        onRow_(row_);
    }

    void judge(BatchRow& row) {
        row.row = totals_.rows;
        row.line = recordLine_;
        row.debtorId = identity::normalize(cells_[kDebtorId].text);
        row.debtorName.assign(trimText(cells_[kDebtorName].text));
        row.titleRef.assign(trimText(cells_[kTitleRef].text));
        row.accepted = false;
        row.reason.clear();
        row.column.clear();
        row.fee = 0;

        const std::optional<Scope> scope = readScope(cells_[kScope]);
        row.scope = scope.value_or(Scope::both);
        // Years do not matter to a property-only row: it is neither charged nor looked up by year, so a leftover
        // value in a spreadsheet column must not reject it.
        const bool wantsIncome = row.scope != Scope::property;
        const bool yearsOk = !wantsIncome || readYears(cells_[kIncomeYears], row.incomeYears);
        if (!wantsIncome || !yearsOk) row.incomeYears.clear();

        auto reject = [&row](const char* reason, Column column) {
            row.reason = reason;
            row.column = kColumnNames[column];
        };
        auto missing = [this](Column column, std::string_view value) {
            return value.empty() && !cells_[column].overflow;
        };
        auto tooLong = [this](Column column, std::string_view value) {
            return cells_[column].overflow || codePoints(value) > kMaxTextChars;
        };
        if (missing(kDebtorId, row.debtorId)) {
            reject("missing_field", kDebtorId);
        } else if (missing(kDebtorName, row.debtorName)) {
            reject("missing_field", kDebtorName);
        } else if (missing(kTitleRef, row.titleRef)) {
            reject("missing_field", kTitleRef);
        } else if (identity::classify(row.debtorId) == identity::IdKind::invalid) {
            reject("invalid_id", kDebtorId);
        } else if (tooLong(kDebtorName, row.debtorName)) {
            reject("too_long", kDebtorName);
        } else if (tooLong(kTitleRef, row.titleRef)) {
            reject("too_long", kTitleRef);
        } else if (!scope) {
            reject("bad_scope", kScope);
        } else if (!yearsOk) {
            reject("bad_year", kIncomeYears);
        } else if (!seen_.insert(keyOf(row)).second) {
            // Only accepted rows are remembered, so a rejected row never makes a later good one a duplicate.
            reject("duplicate", kDebtorId);
        } else {
            row.accepted = true;
            if (row.scope != Scope::income) row.fee += rules_.feeProperty;
            if (wantsIncome) row.fee += rules_.feeIncomeYear * static_cast<long long>(row.incomeYears.size());
        }
    }

    static std::optional<Scope> readScope(const Cell& cell) {
        if (cell.overflow) return std::nullopt;
        const std::string text = lowerAscii(std::string(trimText(identity::foldFullWidth(cell.text))));
        if (text.empty()) return Scope::both;
        return parseScope(text);
    }

    /// Fills `years` (Gregorian, ascending, unique) from the cell or the default; false when the cell breaks a rule.
    bool readYears(const Cell& cell, std::vector<int>& years) const {
        years.clear();
        if (cell.overflow) return false;
        // Full-width digits and separators fold to ASCII; 、 and , are read like ; because that is how people
        // write lists of years in a cell.
        std::string text = identity::foldFullWidth(cell.text);
        for (std::size_t pos = 0; (pos = text.find(kIdeographicComma, pos)) != std::string::npos;) {
            text.replace(pos, kIdeographicComma.size(), ";");
        }
        const std::string_view trimmed = trimText(text);
        if (trimmed.empty()) {
            years.push_back(rules_.latestTaxYear);
            return true;
        }
        std::size_t start = 0;
        while (start <= trimmed.size()) {
            const std::size_t end = std::min(trimmed.find_first_of(";,", start), trimmed.size());
            const std::string_view part = trimText(trimmed.substr(start, end - start));
            start = end + 1;
            if (part.empty()) continue;  // "112;" or "112;;113"
            if (part.size() > 4 ||
                !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
                return false;
            }
            int year = 0;
            for (char c : part) year = year * 10 + (c - '0');
            if (year == 0) return false;  // there is no ROC year 0
            if (year < kRocOffset) year += kRocOffset;
            if (year > rules_.currentYear) return false;
            years.push_back(year);
        }
        std::sort(years.begin(), years.end());
        years.erase(std::unique(years.begin(), years.end()), years.end());
        return !years.empty() && years.size() <= static_cast<std::size_t>(rules_.maxYears);
    }

    static std::string keyOf(const BatchRow& row) {
        std::string key = row.debtorId;
        key.push_back('|');
        key += toString(row.scope);
        for (int year : row.incomeYears) {
            key.push_back('|');
            key += std::to_string(year);
        }
        return key;
    }

    const BatchRules& rules_;
    const std::function<void(const BatchRow&)>& onRow_;

    State state_ = State::fieldStart;
    std::string field_;
    bool overflow_ = false;
    int fieldIndex_ = 0;
    bool recordHasText_ = false;
    int line_ = 1;        // physical line of the next byte
    int recordLine_ = 1;  // physical line on which the current record started
    int quoteLine_ = 0;   // physical line of the last opening quote

    bool headerSeen_ = false;
    int headerLine_ = 0;
    std::array<int, kColumnCount> headerIndex_{};  // field index of each known column, -1 when absent
    std::string duplicateColumn_;

    std::array<Cell, kColumnCount> cells_;
    BatchRow row_;
    std::unordered_set<std::string> seen_;  // keys of accepted rows, at most maxRows of them
    BatchTotals totals_;
};

}  // namespace

std::optional<Charset> parseCharset(std::string_view text) {
    const std::string name = lowerAscii(std::string(trimText(text)));
    if (name == "utf-8" || name == "utf8") return Charset::utf8;
    if (name == "big5" || name == "cp950") return Charset::big5;
    return std::nullopt;
}

const char* toString(Charset charset) {
    return charset == Charset::big5 ? "big5" : "utf-8";
}

Charset detectCharset(std::istream& in, std::optional<Charset> declared) {
    if (declared) return *declared;
    std::vector<char> buffer(kChunkBytes);
    Utf8Validator utf8;
    Big5Decoder big5;
    bool utf8Ok = true;
    bool big5Ok = true;
    bool first = true;
    for (std::size_t n = 0; (n = readChunk(in, buffer)) > 0;) {
        const std::string_view raw(buffer.data(), n);
        if (first && raw.starts_with(kBom)) return Charset::utf8;
        first = false;
        for (char c : raw) {
            const auto b = static_cast<unsigned char>(c);
            utf8Ok = utf8Ok && utf8.feed(b);
            big5Ok = big5Ok && big5.feed(b, nullptr);
        }
        if (!utf8Ok && !big5Ok) return Charset::utf8;  // settled: the reader will name the first bad line
    }
    if (utf8Ok && !utf8.midSequence()) return Charset::utf8;
    if (big5Ok && !big5.midSequence()) return Charset::big5;
    return Charset::utf8;
}

FileError::FileError(int status, std::string code, int line, const std::string& message)
    : std::runtime_error(message), status_(status), code_(std::move(code)), line_(line) {}

BatchFileReader::BatchFileReader(BatchRules rules, Charset charset) : rules_(rules), charset_(charset) {
    if (rules_.currentYear <= kRocOffset) throw std::invalid_argument("batch rules: currentYear is not set");
    if (rules_.latestTaxYear <= kRocOffset || rules_.latestTaxYear > rules_.currentYear) {
        throw std::invalid_argument("batch rules: latestTaxYear must be set and not after currentYear");
    }
    if (rules_.maxRows < 1 || rules_.maxRows >= static_cast<std::size_t>(INT_MAX)) {
        throw std::invalid_argument("batch rules: maxRows must be between 1 and " + std::to_string(INT_MAX - 1));
    }
    if (rules_.maxYears < 1) throw std::invalid_argument("batch rules: maxYears must be at least 1");
    if (rules_.feeProperty < 0 || rules_.feeIncomeYear < 0) {
        throw std::invalid_argument("batch rules: fees must not be negative");
    }
}

BatchTotals BatchFileReader::read(std::istream& in, const std::function<void(const BatchRow&)>& onRow) const {
    TextSource source(in, charset_);
    Parser parser(rules_, onRow);
    for (std::string_view text = source.next(); !text.empty(); text = source.next()) parser.feed(text);
    return parser.finish();
}

}  // namespace taxdesk::jobs::inquiry
