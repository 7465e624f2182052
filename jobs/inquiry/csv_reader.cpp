#include "jobs/inquiry/csv_reader.hpp"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include "jobs/inquiry/charset.hpp"

namespace taxdesk::jobs::inquiry {

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

/// The bytes that end a run of plain text: in an unquoted field (or after a closing quote) a comma, a line break, a
/// CR (dropped) and kUnreadable; inside quotes a quote, LF (counted) and kUnreadable. Every other byte is appended.
struct StopTable {
    std::array<bool, 256> unquoted{};
    std::array<bool, 256> quoted{};
    constexpr StopTable() {
        for (const char c : {',', '\n', '\r', kUnreadable}) unquoted[static_cast<unsigned char>(c)] = true;
        for (const char c : {'"', '\n', kUnreadable}) quoted[static_cast<unsigned char>(c)] = true;
    }
};
constexpr StopTable kStops;

constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

/// The bytes of `word` equal to `c`, each marked by its high bit; exact up to the first match, which is all that is
/// used (a borrow can only mark bytes after a true match).
constexpr std::uint64_t matches(std::uint64_t word, char c) noexcept {
    const std::uint64_t v = word ^ (kOnes * static_cast<unsigned char>(c));
    return (v - kOnes) & ~v & kHighs;
}

/// The first stop byte in [p, end), eight bytes at a time, or `end`. The word trick finds the first match only when
/// the first byte in memory is the lowest (little-endian); elsewhere the bytes are looked up one by one.
const char* findStop(const char* p, const char* end, bool quoted) noexcept {
    for (; std::endian::native == std::endian::little && end - p >= 8; p += 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, p, sizeof word);
        const std::uint64_t hits =
            quoted ? matches(word, '"') | matches(word, '\n') | matches(word, kUnreadable)
                   : matches(word, ',') | matches(word, '\n') | matches(word, '\r') | matches(word, kUnreadable);
        if (hits != 0) return p + std::countr_zero(hits) / 8;  // little-endian: the lowest byte comes first
    }
    const auto& stops = quoted ? kStops.quoted : kStops.unquoted;
    while (p < end && !stops[static_cast<unsigned char>(*p)]) ++p;
    return p;
}

}  // namespace

/// Appends [begin, end) of the piece being fed: the view grows when the bytes follow it and it stays within
/// kMaxFieldBytes (so that a view holds exactly what text_ would); anything else goes to text_.
inline void CsvReader::appendRun(const char* begin, const char* end) {
    if (viewing_) {
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

inline void CsvReader::appendOwned(const char* begin, const char* end) {
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
    while (p < end) {
        if (state_ == State::unquoted || state_ == State::afterQuoted || state_ == State::quoted) {
            const char* stop = findStop(p, end, state_ == State::quoted);
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
    sink_.endRecord(recordLine_);
    field_.index = 0;
    ++line_;
    recordLine_ = line_;
}

}  // namespace taxdesk::jobs::inquiry
