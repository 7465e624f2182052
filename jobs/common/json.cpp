#include "jobs/common/json.hpp"

#include "jobs/common/utf8.hpp"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace taxdesk::jobs::json {

namespace {

/// Appends one ASCII byte that JSON requires escaped (a quote, a backslash, a control character).
void appendEscape(std::string& out, char c) {
    switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default: {
            char buffer[8];
            std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
            out += buffer;
        }
    }
}

bool needsEscape(char c) noexcept {
    return static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\';
}

}  // namespace

namespace {

/// True when one of the 8 bytes of `word` is not plain printable ASCII for JSON: a byte >= 0x80, a control character
/// (< 0x20), a quote or a backslash (the classic "has a byte less than n" and "has a zero byte" tricks, exact as
/// booleans).
constexpr bool needsCareIn(std::uint64_t word) noexcept {
    constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
    constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
    const auto hasZero = [](std::uint64_t x) { return ((x - kOnes) & ~x & kHighs) != 0; };
    const bool high = (word & kHighs) != 0;
    const bool control = ((word - kOnes * 0x20) & ~word & kHighs) != 0;
    return high || control || hasZero(word ^ (kOnes * '"')) || hasZero(word ^ (kOnes * '\\'));
}

/// The length of the prefix of `text` that is printable ASCII other than a quote or a backslash: bytes JSON takes as
/// they are. Eight bytes a step.
std::size_t plainPrefix(std::string_view text) noexcept {
    const char* s = text.data();
    const std::size_t n = text.size();
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, s + i, sizeof word);
        if (needsCareIn(word)) break;
    }
    while (i < n) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
        ++i;
    }
    return i;
}

/// True when one of the 8 bytes of `word` is a byte JSON requires escaped (a control character, a quote, a
/// backslash); bytes >= 0x80 are not.
constexpr bool escapeIn(std::uint64_t word) noexcept {
    constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
    constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
    const auto hasZero = [](std::uint64_t x) { return ((x - kOnes) & ~x & kHighs) != 0; };
    return ((word - kOnes * 0x20) & ~word & kHighs) != 0 || hasZero(word ^ (kOnes * '"')) ||
           hasZero(word ^ (kOnes * '\\'));
}

/// Appends valid UTF-8 `text`, escaping what JSON requires (all of it ASCII), in runs between escapes.
void appendEscaped(std::string& out, std::string_view text) {
    const char* s = text.data();
    const std::size_t n = text.size();
    std::size_t start = 0;
    std::size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            std::uint64_t word;
            std::memcpy(&word, s + i, sizeof word);
            if (!escapeIn(word)) {
                i += 8;
                continue;
            }
        }
        if (needsEscape(s[i])) {
            out.append(s + start, i - start);
            appendEscape(out, s[i]);
            start = i + 1;
        }
        ++i;
    }
    out.append(s + start, n - start);
}

}  // namespace

void appendString(std::string& out, std::string_view text) {
    out.push_back('"');
    // Most strings on the topics (field names, IDs, dates, codes) are plain ASCII: one scan, one append.
    std::size_t pos = plainPrefix(text);
    out.append(text.data(), pos);
    if (pos < text.size()) {
        const std::string_view rest = text.substr(pos);
        // The rest is nearly always valid UTF-8 (names, places): checked at once, then only escapes matter.
        if (utf8::isValid(rest)) {
            appendEscaped(out, rest);
        } else {
            while (pos < text.size()) {
                // Valid UTF-8 is copied in runs up to the next byte that needs escaping (all of them ASCII). JSON is
                // UTF-8: a byte that does not decode (a path or a message echoing a client's bytes) would make the
                // whole document unreadable, so it is written as U+FFFD instead.
                const std::size_t valid = utf8::validPrefix(text.substr(pos));
                appendEscaped(out, text.substr(pos, valid));
                pos += valid;
                if (pos < text.size()) {
                    out += "\xEF\xBF\xBD";  // U+FFFD
                    ++pos;
                }
            }
        }
    }
    out.push_back('"');
}

void ObjectWriter::key(std::string_view name) {
    if (!first_) out_.push_back(',');
    first_ = false;
    appendString(out_, name);
    out_.push_back(':');
}

ObjectWriter& ObjectWriter::field(std::string_view name, std::string_view value) {
    key(name);
    appendString(out_, value);
    return *this;
}

ObjectWriter& ObjectWriter::field(std::string_view name, long long value) {
    key(name);
    char buffer[24];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    out_.append(buffer, result.ptr);
    return *this;
}

ObjectWriter& ObjectWriter::raw(std::string_view name, std::string_view json) {
    key(name);
    out_.append(json);
    return *this;
}

namespace {

class Reader {
  public:
    explicit Reader(std::string_view text) : text_(text) {}

    std::vector<Field> object() {
        std::vector<Field> fields;
        expect('{');
        if (peek() == '}') {
            ++pos_;
            return finish(std::move(fields));
        }
        for (;;) {
            Field field;
            field.name = string();
            expect(':');
            field.value = value();
            fields.push_back(std::move(field));
            const char c = next();
            if (c == '}') break;
            if (c != ',') fail("expected ',' or '}'");
        }
        return finish(std::move(fields));
    }

  private:
    std::vector<Field> finish(std::vector<Field> fields) {
        skipSpace();
        if (pos_ != text_.size()) fail("trailing characters after the object");
        return fields;
    }

    [[noreturn]] void fail(const std::string& what) const {
        throw ParseError("invalid JSON at byte " + std::to_string(pos_) + ": " + what);
    }

    void skipSpace() {
        while (pos_ < text_.size() &&
               (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' || text_[pos_] == '\t'))
            ++pos_;
    }
    char peek() {
        skipSpace();
        if (pos_ >= text_.size()) fail("unexpected end");
        return text_[pos_];
    }
    char next() {
        const char c = peek();
        ++pos_;
        return c;
    }
    void expect(char c) {
        if (next() != c) fail(std::string("expected '") + c + "'");
    }

    Value value() {
        Value result;
        if (peek() == '[') {
            ++pos_;
            result.isArray = true;
            if (peek() == ']') {
                ++pos_;
                return result;
            }
            for (;;) {
                result.array.push_back(scalar());
                const char c = next();
                if (c == ']') break;
                if (c != ',') fail("expected ',' or ']'");
            }
            return result;
        }
        result.scalar = scalar();
        return result;
    }

    Scalar scalar() {
        const char c = peek();
        if (c == '"') return string();
        if (c == 't' || c == 'f' || c == 'n') {
            for (const std::string_view word : {"true", "false", "null"}) {
                if (text_.substr(pos_, word.size()) == word) {
                    pos_ += word.size();
                    if (word == "null") return Null{};
                    return word == "true";
                }
            }
            fail("unknown literal");
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            // RFC 8259's grammar first: from_chars alone would also take "-inf", "-nan", "01" and "1.".
            const std::size_t end = numberEnd();
            double number = 0;
            const auto result = std::from_chars(text_.data() + pos_, text_.data() + end, number);
            if (result.ec != std::errc() || result.ptr != text_.data() + end) fail("bad number");
            pos_ = end;
            return number;
        }
        if (c == '{' || c == '[') fail("nested value where a scalar was expected");
        fail("unexpected character");
    }

    /// The end of the number at pos_ by RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; fails otherwise.
    std::size_t numberEnd() {
        std::size_t at = pos_;
        auto digit = [&](std::size_t i) { return i < text_.size() && text_[i] >= '0' && text_[i] <= '9'; };
        auto digits = [&] {
            if (!digit(at)) fail("bad number");
            while (digit(at)) ++at;
        };
        if (at < text_.size() && text_[at] == '-') ++at;
        if (at < text_.size() && text_[at] == '0') {
            ++at;
        } else {
            digits();
        }
        if (at < text_.size() && text_[at] == '.') {
            ++at;
            digits();
        }
        if (at < text_.size() && (text_[at] == 'e' || text_[at] == 'E')) {
            ++at;
            if (at < text_.size() && (text_[at] == '+' || text_[at] == '-')) ++at;
            digits();
        }
        return at;
    }

    std::uint32_t hex4() {
        if (pos_ + 4 > text_.size()) fail("short \\u escape");
        std::uint32_t value = 0;
        const auto result = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, value, 16);
        if (result.ec != std::errc() || result.ptr != text_.data() + pos_ + 4) fail("bad \\u escape");
        pos_ += 4;
        return value;
    }

    std::string string() {
        if (next() != '"') fail("expected a string");
        std::string out;
        for (;;) {
            // Copy the run up to the next quote or backslash in one go. RFC 8259 (section 7) allows no raw control
            // character (U+0000–U+001F) in a string: a writer must escape them, so one here is not JSON.
            std::size_t stop = pos_;
            while (stop < text_.size() && text_[stop] != '"' && text_[stop] != '\\') {
                if (static_cast<unsigned char>(text_[stop]) < 0x20) {
                    pos_ = stop;
                    fail("raw control character in a string (it must be escaped)");
                }
                ++stop;
            }
            if (stop == text_.size()) fail("unterminated string");
            out.append(text_.substr(pos_, stop - pos_));
            pos_ = stop + 1;
            if (text_[stop] == '"') return out;
            if (pos_ >= text_.size()) fail("unterminated escape");
            const char e = text_[pos_++];
            switch (e) {
                case '"':
                    out.push_back('"');
                    break;
                case '\\':
                    out.push_back('\\');
                    break;
                case '/':
                    out.push_back('/');
                    break;
                case 'b':
                    out.push_back('\b');
                    break;
                case 'f':
                    out.push_back('\f');
                    break;
                case 'n':
                    out.push_back('\n');
                    break;
                case 'r':
                    out.push_back('\r');
                    break;
                case 't':
                    out.push_back('\t');
                    break;
                case 'u': {
                    // A surrogate is only half a character: a high one must be followed by a low one, or the string
                    // would turn into bytes that are not UTF-8.
                    std::uint32_t cp = hex4();
                    if (cp >= 0xDC00 && cp <= 0xDFFF) fail("unpaired surrogate in \\u escape");
                    if (cp >= 0xD800 && cp < 0xDC00) {
                        if (text_.substr(pos_, 2) != "\\u") fail("unpaired surrogate in \\u escape");
                        pos_ += 2;
                        const std::uint32_t low = hex4();
                        if (low < 0xDC00 || low > 0xDFFF) fail("unpaired surrogate in \\u escape");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    }
                    utf8::append(out, cp);
                    break;
                }
                default:
                    fail("unknown escape");
            }
        }
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

}  // namespace

std::vector<Field> parseFlatObject(std::string_view text) {
    return Reader(text).object();
}

}  // namespace taxdesk::jobs::json
