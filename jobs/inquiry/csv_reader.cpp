#include "jobs/inquiry/csv_reader.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "jobs/inquiry/charset.hpp"

namespace taxdesk::jobs::inquiry {

void CsvSink::record(const std::string_view* fields, std::size_t count, int line) {
    CsvField field;
    field.inPiece = true;
    for (std::size_t i = 0; i < count; ++i) {
        field.text = fields[i];
        field.index = static_cast<int>(i);
        this->field(field);
    }
    endRecord(line);
}

bool CsvReader::finish() {
    switch (state_) {
        case State::quoted:
            return false;
        case State::fieldStart:
            // Nothing after the last line break, unless the last line ended in a comma.
            if (field_.index > 0) endRecord();
            break;
        case State::unquoted:
        case State::quoteSeen:
        case State::afterQuoted:
            endRecord();
            break;
    }
    return true;
}

// The byte-at-a-time helpers are inline (used only here), so that the compiler folds them into feed()'s loop.
// `at` points at the byte in the piece being fed: appending it extends the field's view when it follows it.
inline void CsvReader::take(const char* at) {
    const char c = *at;
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
                appendRun(at, at + 1);
                state_ = State::unquoted;
            }
            break;
        case State::unquoted:
        case State::afterQuoted:
            if (c == ',') {
                endField();
            } else if (c == '\n') {
                endRecord();
            } else if (c != '\r') {
                appendRun(at, at + 1);
            }
            break;
        case State::quoted:
            if (c == '"') {
                state_ = State::quoteSeen;
            } else {
                if (c == '\n') ++line_;
                appendRun(at, at + 1);
            }
            break;
        case State::quoteSeen:
            if (c == '"') {  // "" inside quotes is one quote: the second one, which does not follow the view
                appendRun(at, at + 1);
                state_ = State::quoted;
            } else {
                state_ = State::afterQuoted;
                take(at);
            }
            break;
    }
}

/// Unreadable bytes are text of the field they are in: the field shows U+FFFD there and remembers the line.
inline void CsvReader::takeUnreadable() {
    if (state_ == State::fieldStart) {
        state_ = State::unquoted;
    } else if (state_ == State::quoteSeen) {
        state_ = State::afterQuoted;
    }
    if (field_.unreadableLine == 0) field_.unreadableLine = line_;
    ownField();
    for (const char c : kReplacementCharacter) append(c);
}

/// The field's text from now on is built in text_ (a copy of its view so far).
inline void CsvReader::ownField() {
    if (!viewing_) return;
    if (viewBegin_ != nullptr) text_.assign(viewBegin_, static_cast<std::size_t>(viewEnd_ - viewBegin_));
    viewing_ = false;
}

inline void CsvReader::append(char c) {
    if (field_.overflow) return;
    // Cut only before a lead byte, so that the kept text stays valid UTF-8.
    if (text_.size() >= kMaxFieldBytes && (static_cast<unsigned char>(c) & 0xC0) != 0x80) {
        field_.overflow = true;
        return;
    }
    text_.push_back(c);
}

namespace {

/// The bytes that may change the state machine's state, in any state: a comma, LF, CR, a quote and kUnreadable.
/// Every other byte is text of the field it is in. (In a state where one of them is text, e.g. a comma inside
/// quotes, take() appends it like any other byte, and the field's view grows across it.)
struct StopTable {
    std::array<bool, 256> stops{};
    constexpr StopTable() {
        for (const char c : {',', '\n', '\r', '"', kUnreadable}) stops[static_cast<unsigned char>(c)] = true;
    }
};
constexpr StopTable kStops;

/// Finds the stop bytes of a piece 64 bytes at a time: one mask of them a block (SSE2: four compares of 16 bytes
/// each, five bytes each), then each stop costs a shift and a count of trailing zeros. A row of about 90 bytes
/// with six stops then costs two masks instead of six searches.
class StopScanner {
  public:
    /// The first stop byte in [p, end), or `end`. Calls stay within one piece; going back costs a new block.
    const char* next(const char* p, const char* end) noexcept {
        for (;;) {
            if (base_ != nullptr && p >= base_ && p < limit_) {  // (a caller may go back to where a block began)
                if (const std::uint64_t bits = mask_ >> (p - base_); bits != 0) return p + std::countr_zero(bits);
                p = limit_;
            }
            if (p >= end) return end;
            refill(p, end);
        }
    }

  private:
    void refill(const char* p, const char* end) noexcept {
        base_ = p;
        const std::size_t n = std::min<std::size_t>(64, static_cast<std::size_t>(end - p));
        limit_ = p + n;
        mask_ = 0;
#if defined(__SSE2__)
        if (n == 64) {
            const __m128i comma = _mm_set1_epi8(',');
            const __m128i lf = _mm_set1_epi8('\n');
            const __m128i cr = _mm_set1_epi8('\r');
            const __m128i quote = _mm_set1_epi8('"');
            const __m128i unreadable = _mm_set1_epi8(kUnreadable);
            for (int block = 0; block < 4; ++block) {
                const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + block * 16));  // NOLINT
                const __m128i hits =
                    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, lf)),
                                 _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, quote)),
                                              _mm_cmpeq_epi8(v, unreadable)));
                mask_ |= static_cast<std::uint64_t>(static_cast<std::uint16_t>(_mm_movemask_epi8(hits)))
                         << (block * 16);
            }
            return;
        }
#endif
        for (std::size_t i = 0; i < n; ++i) {
            if (kStops.stops[static_cast<unsigned char>(p[i])]) mask_ |= std::uint64_t{1} << i;
        }
    }

    const char* base_ = nullptr;
    const char* limit_ = nullptr;  // the block is [base_, limit_), at most 64 bytes
    std::uint64_t mask_ = 0;       // bit i set when base_[i] is a stop byte
};

/// A record that the state machine would read without changing a byte: every field unquoted, or quoted with no
/// quote, LF or unreadable byte inside and nothing after its closing quote; no CR but in a CRLF line end, no quote
/// inside an unquoted field, nothing unreadable, each field within CsvReader::kMaxFieldBytes, and the line end in
/// the piece. Its fields are then views of the piece, found from the stop bytes alone.
struct SimpleRecord {
    static constexpr std::size_t kMaxFields = 32;
    std::array<std::string_view, kMaxFields> fields;
    std::size_t count = 0;
    bool quoted = false;         // a field was quoted (the reader remembers the line of the last opening quote)
    const char* next = nullptr;  // after the record's LF
};

/// Reads the record that starts at `p` when it is simple (see SimpleRecord); false, with nothing taken, otherwise.
bool scanSimpleRecord(const char* p, const char* end, StopScanner& scanner, SimpleRecord& record) {
    record.count = 0;
    record.quoted = false;
    for (const char* field = p;;) {
        if (record.count == SimpleRecord::kMaxFields) return false;
        const char* begin = field;
        const char* fieldEnd = nullptr;
        const char* terminator = nullptr;
        if (field < end && *field == '"') {
            record.quoted = true;
            begin = field + 1;
            for (const char* s = begin;; ++s) {  // a comma or a CR inside quotes is text
                s = scanner.next(s, end);
                if (s == end || *s == '\n' || *s == kUnreadable) return false;
                if (*s == '"') {
                    fieldEnd = s;
                    break;
                }
            }
            terminator = fieldEnd + 1;
            if (terminator == end) return false;
        } else {
            terminator = scanner.next(field, end);
            if (terminator == end) return false;
            fieldEnd = terminator;
        }
        if (fieldEnd - begin > static_cast<std::ptrdiff_t>(CsvReader::kMaxFieldBytes)) return false;
        record.fields[record.count++] = std::string_view(begin, static_cast<std::size_t>(fieldEnd - begin));
        switch (*terminator) {
            case ',':
                field = terminator + 1;
                continue;
            case '\n':
                record.next = terminator + 1;
                return true;
            case '\r':
                if (end - terminator < 2 || terminator[1] != '\n') return false;
                record.next = terminator + 2;
                return true;
            default:  // a quote or an unreadable byte: the state machine's case
                return false;
        }
    }
}

}  // namespace

/// Appends [begin, end) of the piece being fed: the view grows when the bytes follow it and it stays within
/// kMaxFieldBytes (so that a view holds exactly what text_ would); anything else goes to text_.
[[gnu::always_inline]] inline void CsvReader::appendRun(const char* begin, const char* end) {
    if (viewing_) [[likely]] {
        if (viewBegin_ == nullptr) {
            if (end - begin <= static_cast<std::ptrdiff_t>(kMaxFieldBytes)) {
                viewBegin_ = begin;
                viewEnd_ = end;
                return;
            }
        } else if (begin == viewEnd_ && end - viewBegin_ <= static_cast<std::ptrdiff_t>(kMaxFieldBytes)) {
            viewEnd_ = end;
            return;
        }
        ownField();
    }
    appendOwned(begin, end);
}

void CsvReader::appendOwned(const char* begin, const char* end) {
    const auto length = static_cast<std::size_t>(end - begin);
    if (!field_.overflow && text_.size() + length <= kMaxFieldBytes) {
        text_.append(begin, length);  // every byte would fit one at a time too
        return;
    }
    for (const char* p = begin; p < end; ++p) append(*p);
}

void CsvReader::feed(std::string_view text) {
    // The state machine sees only the bytes that can change its state; the text between them is appended in runs,
    // exactly as take() would have appended it byte by byte.
    const char* p = text.data();
    const char* const end = p + text.size();
    StopScanner scanner;
    SimpleRecord record;
    while (p < end) {
        // At a record's start, the common record is taken whole: its fields are views, found from the stop bytes.
        if (state_ == State::fieldStart && field_.index == 0 && viewing_ && viewBegin_ == nullptr &&
            scanSimpleRecord(p, end, scanner, record)) {
            if (record.quoted) quoteLine_ = line_;
            sink_.record(record.fields.data(), record.count, recordLine_);
            ++line_;
            recordLine_ = line_;
            p = record.next;
            continue;
        }
        // A field that starts with text: take() would append the byte and go on unquoted, so the run takes it.
        if (state_ == State::fieldStart && !kStops.stops[static_cast<unsigned char>(*p)]) state_ = State::unquoted;
        if (state_ == State::unquoted || state_ == State::afterQuoted || state_ == State::quoted) {
            const char* stop = scanner.next(p, end);
            if (stop != p) {
                appendRun(p, stop);
                p = stop;
                if (p == end) break;
            }
        }
        take(p++);
    }
    // The piece goes away: the field it cut short keeps its text, and the sink copies the views it holds.
    if (viewing_ && viewBegin_ != nullptr) ownField();
    sink_.endOfPiece();
}

void CsvReader::endField() {
    field_.inPiece = viewing_;
    field_.text = viewing_ ? std::string_view(viewBegin_, static_cast<std::size_t>(viewEnd_ - viewBegin_))
                           : std::string_view(text_);
    sink_.field(field_);
    text_.clear();
    viewing_ = true;
    viewBegin_ = nullptr;
    viewEnd_ = nullptr;
    field_.overflow = false;
    field_.unreadableLine = 0;
    ++field_.index;
    state_ = State::fieldStart;
}

void CsvReader::endRecord() {
    endField();
    endRecordNow();
}

void CsvReader::endRecordNow() {
    sink_.endRecord(recordLine_);
    field_.index = 0;
    ++line_;
    recordLine_ = line_;
}

}  // namespace taxdesk::jobs::inquiry
