#include "jobs/inquiry/batch_file.hpp"

#include <Poco/Windows950Encoding.h>
#include <iconv.h>

#include <algorithm>
#include <array>
#include <climits>
#include <memory>
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

/// U+FFFD, what the parser puts where bytes could not be read, and what some exports write for a lost character.
constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

/// Stands in the decoded text for bytes that could not be read. A decoder's output is otherwise valid UTF-8, in
/// which the byte 0xFF never occurs, so the parser can tell it from any character the creditor wrote.
constexpr char kUnreadable = '\xFF';

void markUnreadable(std::string* out) {
    if (out != nullptr) out->push_back(kUnreadable);
}

/// UTF-8 one byte at a time: appends complete characters to `out` (when not null) and kUnreadable for each
/// ill-formed sequence, then goes on. A byte that breaks a sequence is read again as the start of the next one
/// (Unicode's "maximal subpart" practice), so a comma or a line break right after a cut character is kept.
class Utf8Decoder {
  public:
    /// Returns how many unreadable sequences the byte ended (0, 1 or 2).
    int feed(unsigned char b, std::string* out) {
        if (validator_.feed(b)) {
            take(b, out);
            return 0;
        }
        const bool wasMidSequence = size_ > 0;
        validator_ = Utf8Validator{};
        size_ = 0;
        markUnreadable(out);
        if (!wasMidSequence) return 1;
        if (validator_.feed(b)) {
            take(b, out);
            return 1;
        }
        markUnreadable(out);
        return 2;
    }
    /// At the end of the file: a character cut short is unreadable. Returns 1 for it, else 0.
    int finish(std::string* out) {
        if (size_ == 0) return 0;
        validator_ = Utf8Validator{};
        size_ = 0;
        markUnreadable(out);
        return 1;
    }

  private:
    void take(unsigned char b, std::string* out) {
        pending_[size_++] = static_cast<char>(b);
        if (validator_.midSequence()) return;
        if (out != nullptr) out->append(pending_.data(), size_);
        size_ = 0;
    }

    Utf8Validator validator_;
    std::array<char, 4> pending_{};
    std::size_t size_ = 0;
};

/// The index of a pair in Windows' CP950 user-defined areas (see big5UserDefined), -1 outside them.
int userDefinedIndex(unsigned char lead, unsigned char trail) noexcept {
    int column = -1;
    if (trail >= 0x40 && trail <= 0x7E) column = trail - 0x40;
    if (trail >= 0xA1 && trail <= 0xFE) column = trail - 0xA1 + 63;
    if (column < 0) return -1;
    constexpr int kPerLead = 157;
    if (lead >= 0xFA && lead <= 0xFE) return (lead - 0xFA) * kPerLead + column;               // U+E000…
    if (lead >= 0x8E && lead <= 0xA0) return 785 + (lead - 0x8E) * kPerLead + column;         // U+E311…
    if (lead >= 0x81 && lead <= 0x8D) return 785 + 2983 + (lead - 0x81) * kPerLead + column;  // U+EEB8…
    if (lead == 0xC6 && trail >= 0xA1) return 785 + 2983 + 2041 + (trail - 0xA1);             // U+F6B1…
    if (lead >= 0xC7 && lead <= 0xC8) return 785 + 2983 + 2041 + 94 + (lead - 0xC7) * kPerLead + column;
    return -1;
}

struct IconvCloser {
    void operator()(void* cd) const noexcept { iconv_close(static_cast<iconv_t>(cd)); }
};
using IconvPtr = std::unique_ptr<void, IconvCloser>;

/// glibc's BIG5-HKSCS converter to UTF-8, opened once per decoder; null when the C library has none (the gconv
/// modules are missing), and then HKSCS codes decode to the Private Use Area like any user-defined code.
IconvPtr openHkscs() {
    iconv_t cd = iconv_open("UTF-8", "BIG5-HKSCS");
    // NOLINTNEXTLINE(performance-no-int-to-ptr): (iconv_t)-1 is how iconv_open reports failure
    if (cd == reinterpret_cast<iconv_t>(-1)) return nullptr;
    return IconvPtr(cd);
}

/// Big5 one byte at a time, appending UTF-8 to `out` (when not null) and kUnreadable for each pair or byte that
/// cannot be read, then going on. A pair is read, in this order, as:
/// 1. CP950 as Poco's table has it: the standard characters, the same table the batch generator and spreadsheets'
///    exports agree with;
/// 2. HKSCS (香港增補字符集), when the pair lies in a user-defined area and glibc's BIG5-HKSCS knows it. HKSCS was
///    built inside Big5's user-defined areas, so the two overlap. HKSCS wins because its characters are real
///    Unicode characters (堃 U+5803, 喆 U+5586, 犇 U+7287): a name holding one can match the household registry's,
///    while a Private Use code point matches nothing outside the sender's own font. The price: a Taiwanese 造字
///    whose code HKSCS also uses reads as the HKSCS character (the name then does not match, as it would not in
///    the Private Use Area either);
/// 3. the Private Use Area, for the rest of the user-defined areas, exactly as Windows' CP950 decodes them;
/// otherwise the pair is unreadable. A lead byte followed by an ASCII byte that does not complete a character is
/// unreadable alone, and the ASCII byte is read on its own (as the WHATWG Big5 decoder does): it may be the comma
/// or the line end that keeps the rest of the file in its columns.
class Big5Decoder {
  public:
    Big5Decoder() : hkscs_(openHkscs()) {}

    /// Returns how many unreadable characters the byte ended (0 or 1).
    int feed(unsigned char b, std::string* out) {
        if (lead_ != 0) {
            const unsigned char lead = lead_;
            lead_ = 0;
            if (pair(lead, b, out)) return 0;
            markUnreadable(out);
            if (b < 0x80 && out != nullptr) out->push_back(static_cast<char>(b));
            return 1;
        }
        if (b < 0x80) {
            if (out != nullptr) out->push_back(static_cast<char>(b));
            return 0;
        }
        if (b == 0x80 || b == 0xFF) {  // neither a character nor a lead byte in CP950
            markUnreadable(out);
            return 1;
        }
        lead_ = b;
        return 0;
    }
    /// At the end of the file: a lead byte without its trail byte is unreadable. Returns 1 for it, else 0.
    int finish(std::string* out) {
        if (lead_ == 0) return 0;
        lead_ = 0;
        markUnreadable(out);
        return 1;
    }

  private:
    bool pair(unsigned char lead, unsigned char trail, std::string* out) {
        const std::array<unsigned char, 2> bytes = {lead, trail};
        if (const int cp = encoding_.queryConvert(bytes.data(), 2); cp >= 0) {
            if (out != nullptr) appendUtf8(*out, cp);
            return true;
        }
        const int index = userDefinedIndex(lead, trail);
        if (index < 0) return false;
        // Checking only (out is null): every user-defined pair is readable one way or the other.
        if (out != nullptr && !hkscs(bytes, *out)) appendUtf8(*out, static_cast<int>(big5UserDefined(lead, trail)));
        return true;
    }

    bool hkscs(const std::array<unsigned char, 2>& bytes, std::string& out) {
        if (!hkscs_) return false;
        auto* cd = static_cast<iconv_t>(hkscs_.get());
        std::array<char, 2> in = {static_cast<char>(bytes[0]), static_cast<char>(bytes[1])};
        std::array<char, 16> converted{};  // at most two code points (a few HKSCS codes are a letter and an accent)
        char* inPtr = in.data();
        std::size_t inLeft = in.size();
        char* outPtr = converted.data();
        std::size_t outLeft = converted.size();
        iconv(cd, nullptr, nullptr, nullptr, nullptr);  // a fresh state for each pair
        if (iconv(cd, &inPtr, &inLeft, &outPtr, &outLeft) == static_cast<std::size_t>(-1) || inLeft != 0) {
            return false;
        }
        if (iconv(cd, nullptr, nullptr, &outPtr, &outLeft) == static_cast<std::size_t>(-1)) return false;
        out.append(converted.data(), converted.size() - outLeft);
        return true;
    }

    Poco::Windows950Encoding encoding_;
    IconvPtr hkscs_;
    unsigned char lead_ = 0;
};

/// Reads up to kChunkBytes; returns the number read, 0 at the end. Throws when the stream itself fails.
std::size_t readChunk(std::istream& in, std::vector<char>& buffer) {
    if (!in.good()) return 0;
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.bad()) throw std::runtime_error("batch file: the upload could not be read back");
    return static_cast<std::size_t>(in.gcount());
}

/// A byte order mark of UTF-16, or NUL bytes in the first line (what UTF-16 without one looks like as bytes: a CSV
/// file has no NUL of its own).
bool looksUtf16(std::string_view firstChunk) {
    if (firstChunk.starts_with("\xFF\xFE") || firstChunk.starts_with("\xFE\xFF")) return true;
    return firstChunk.substr(0, firstChunk.find('\n')).find('\0') != std::string_view::npos;
}

const char* charsetName(Charset charset) {
    return charset == Charset::utf8 ? "UTF-8" : "Big5 (CP950)";
}

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
            "line " + std::to_string(line) + " is not valid " + charsetName(charset) + why + "; " +
                saveAsUtf8Advice(charset)};
}

/// The file as UTF-8 text, chunk by chunk: validated (UTF-8) or decoded (Big5), without a byte order mark, with
/// kUnreadable where bytes could not be read (the parser decides what that costs: a row, or the file).
class TextSource {
  public:
    TextSource(std::istream& in, Charset charset) : in_(in), charset_(charset), raw_(kChunkBytes) {}

    /// The next piece of text, empty at the end of the file. Throws FileError (undecodable) when the file looks
    /// like UTF-16.
    std::string_view next() {
        while (!done_) {
            decoded_.clear();
            const std::size_t n = readChunk(in_, raw_);
            if (n == 0) {
                done_ = true;
                if (charset_ == Charset::utf8) {
                    utf8_.finish(&decoded_);
                } else {
                    big5_.finish(&decoded_);
                }
                return decoded_;
            }
            std::string_view raw(raw_.data(), n);
            if (first_) {
                first_ = false;
                if (looksUtf16(raw)) {
                    throw undecodable(charset_, 1,
                                      ": the file looks like UTF-16 (\"Unicode text\"), which is not supported");
                }
                if (charset_ == Charset::utf8 && raw.starts_with(kBom)) raw.remove_prefix(kBom.size());
            }
            for (char c : raw) {
                const auto b = static_cast<unsigned char>(c);
                if (charset_ == Charset::utf8) {
                    utf8_.feed(b, &decoded_);
                } else {
                    big5_.feed(b, &decoded_);
                }
            }
            if (!decoded_.empty()) return decoded_;
        }
        return {};
    }

  private:
    std::istream& in_;
    Charset charset_;
    std::vector<char> raw_;
    std::string decoded_;
    Utf8Decoder utf8_;
    Big5Decoder big5_;
    bool first_ = true;
    bool done_ = false;
};

struct Cell {
    std::string text;
    bool overflow = false;   ///< the field was longer than kMaxFieldBytes and `text` holds its beginning
    int unreadableLine = 0;  ///< the physical line of the field's first unreadable bytes, 0 when all could be read
};

/// RFC 4180 parsing and the row rules, fed one piece of text at a time.
class Parser {
  public:
    Parser(const BatchRules& rules, Charset charset, const std::function<void(const BatchRow&)>& onRow)
        : rules_(rules), charset_(charset), onRow_(onRow) {
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
        // A few unreadable rows are the creditor's typing (a character the spreadsheet could not save); most of them
        // unreadable means the file is in another charset, and charging for the rest would be charging for noise.
        if (unreadableRows_ * 2 > totals_.rows) {
            throw undecodable(charset_, firstUnreadableLine_,
                              ", and " + std::to_string(unreadableRows_) + " of the " + std::to_string(totals_.rows) +
                                  " data rows cannot be read as " + charsetName(charset_));
        }
        return totals_;
    }

  private:
    enum class State { fieldStart, unquoted, quoted, quoteSeen, afterQuoted };

    // CR outside quotes is dropped wherever it is: it can only be the first half of a CRLF line end (or stray
    // white space, which trimming would remove anyway). Inside quotes it is the creditor's text and kept.
    void take(char c) {
        if (c == kUnreadable) {
            takeUnreadable();
            return;
        }
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

    /// Unreadable bytes are text of the field they are in: the field shows U+FFFD there and remembers the line.
    void takeUnreadable() {
        if (state_ == State::fieldStart) {
            state_ = State::unquoted;
        } else if (state_ == State::quoteSeen) {
            state_ = State::afterQuoted;
        }
        if (unreadableLine_ == 0) unreadableLine_ = line_;
        for (char c : kReplacementCharacter) append(c);
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
        if (overflow_ || unreadableLine_ != 0 || !trimText(field_).empty()) recordHasText_ = true;
        if (!headerSeen_) {
            headerField();
            if (headerUnreadableLine_ == 0) headerUnreadableLine_ = unreadableLine_;
        } else {
            // Unreadable bytes in a column the reader ignores cost nothing: the row reads the same without them.
            for (std::size_t column = 0; column < kColumnCount; ++column) {
                if (headerIndex_[column] == fieldIndex_) {
                    std::swap(cells_[column].text, field_);
                    cells_[column].overflow = overflow_;
                    cells_[column].unreadableLine = unreadableLine_;
                }
            }
        }
        field_.clear();
        overflow_ = false;
        unreadableLine_ = 0;
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
            cell.unreadableLine = 0;
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
        // Before the columns: an unreadable header means the file is not in its charset, whatever it names.
        if (headerUnreadableLine_ != 0) {
            throw undecodable(charset_, headerUnreadableLine_, " (it is the header)");
        }
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
        if (rowUnreadableLine_ != 0 && unreadableRows_++ == 0) firstUnreadableLine_ = rowUnreadableLine_;
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
        // Bytes that could not be read come first: whatever else the row breaks may only be their echo.
        rowUnreadableLine_ = 0;
        Column unreadable = kColumnCount;
        for (const Column column : {kDebtorId, kDebtorName, kTitleRef, kScope, kIncomeYears}) {
            if (column == kIncomeYears && !wantsIncome) break;
            if (cells_[column].unreadableLine != 0) {
                unreadable = column;
                rowUnreadableLine_ = cells_[column].unreadableLine;
                break;
            }
        }
        if (unreadable != kColumnCount) {
            reject("bad_charset", unreadable);
        } else if (hasLostCharacters(row.debtorName)) {
            reject("bad_charset", kDebtorName);
        } else if (missing(kDebtorId, row.debtorId)) {
            reject("missing_field", kDebtorId);
        } else if (missing(kDebtorName, row.debtorName)) {
            reject("missing_field", kDebtorName);
        } else if (missing(kTitleRef, row.titleRef)) {
            reject("missing_field", kTitleRef);
        } else if (identity::classifyIn(row.debtorId, rules_.currentYear) == identity::IdKind::invalid) {
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

    /// What a spreadsheet writes for a character it could not save in the file's charset: `?` (Excel's "ANSI"
    /// exports) or U+FFFD. No name in the registry holds either, so charging for a look-up would only buy a
    /// name_mismatch. Only the name is judged so: a `?` in a title reference is harmless.
    static bool hasLostCharacters(std::string_view name) {
        return name.find('?') != std::string_view::npos || name.find(kReplacementCharacter) != std::string_view::npos;
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
            // The current year is not over, so it has no income data yet (nor has any later one): the latest
            // complete tax year is the last one with data, and asking for a later one would charge for nothing.
            if (year > rules_.latestTaxYear) return false;
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
    Charset charset_;
    const std::function<void(const BatchRow&)>& onRow_;

    State state_ = State::fieldStart;
    std::string field_;
    bool overflow_ = false;
    int fieldIndex_ = 0;
    bool recordHasText_ = false;
    int line_ = 1;            // physical line of the next byte
    int recordLine_ = 1;      // physical line on which the current record started
    int quoteLine_ = 0;       // physical line of the last opening quote
    int unreadableLine_ = 0;  // physical line of the current field's first unreadable bytes, 0 when none

    bool headerSeen_ = false;
    int headerLine_ = 0;
    std::array<int, kColumnCount> headerIndex_{};  // field index of each known column, -1 when absent
    std::string duplicateColumn_;
    int headerUnreadableLine_ = 0;  // physical line of the header's first unreadable bytes, 0 when none

    std::array<Cell, kColumnCount> cells_;
    BatchRow row_;
    std::unordered_set<std::string> seen_;  // keys of accepted rows, at most maxRows of them
    BatchTotals totals_;
    int rowUnreadableLine_ = 0;    // the line of the judged row's unreadable bytes in a column it reads, else 0
    int unreadableRows_ = 0;       // rows rejected for bytes that could not be read
    int firstUnreadableLine_ = 0;  // the line of the first of them
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
    Utf8Decoder utf8;
    Big5Decoder big5;
    long long utf8Bad = 0;
    long long big5Bad = 0;
    bool first = true;
    for (std::size_t n = 0; (n = readChunk(in, buffer)) > 0;) {
        const std::string_view raw(buffer.data(), n);
        if (first && (raw.starts_with(kBom) || looksUtf16(raw))) return Charset::utf8;
        first = false;
        for (char c : raw) {
            const auto b = static_cast<unsigned char>(c);
            utf8Bad += utf8.feed(b, nullptr);
            big5Bad += big5.feed(b, nullptr);
        }
    }
    utf8Bad += utf8.finish(nullptr);
    big5Bad += big5.finish(nullptr);
    // Fewer unreadable characters wins, UTF-8 on a tie: text in the other charset is unreadable nearly everywhere
    // it is not ASCII, while a file in the right one has only its few bad bytes.
    return utf8Bad > 0 && big5Bad < utf8Bad ? Charset::big5 : Charset::utf8;
}

char32_t big5UserDefined(unsigned char lead, unsigned char trail) noexcept {
    const int index = userDefinedIndex(lead, trail);
    return index < 0 ? 0 : static_cast<char32_t>(0xE000 + index);
}

FileError::FileError(int status, std::string code, int line, const std::string& message)
    : std::runtime_error(message), status_(status), code_(std::move(code)), line_(line) {}

BatchFileReader::BatchFileReader(BatchRules rules, Charset charset) : rules_(rules), charset_(charset) {
    if (rules_.currentYear <= kRocOffset) throw std::invalid_argument("batch rules: currentYear is not set");
    if (rules_.latestTaxYear <= kRocOffset || rules_.latestTaxYear >= rules_.currentYear) {
        throw std::invalid_argument("batch rules: latestTaxYear must be set and before currentYear");
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
    Parser parser(rules_, charset_, onRow);
    for (std::string_view text = source.next(); !text.empty(); text = source.next()) parser.feed(text);
    return parser.finish();
}

}  // namespace taxdesk::jobs::inquiry
