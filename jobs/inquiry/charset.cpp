#include "jobs/inquiry/charset.hpp"

#include <Poco/String.h>
#include <Poco/Windows950Encoding.h>
#include <iconv.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "jobs/common/utf8.hpp"
#include "jobs/identity/identifiers.hpp"

namespace taxdesk::jobs::inquiry {
namespace {

/// Bytes read from the stream at a time: large enough that the stream's overhead does not matter, small enough
/// that memory stays flat whatever the file's size.
constexpr std::size_t kChunkBytes = std::size_t{64} * 1024;
constexpr std::string_view kBom = "\xEF\xBB\xBF";

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
    /// feed() for every byte of `raw`, with the same output, but runs of well-formed UTF-8 between the decoder's
    /// states are found and appended in one go. Returns how many unreadable sequences there were.
    long long feed(std::string_view raw, std::string* out) {
        long long bad = 0;
        std::size_t i = 0;
        while (i < raw.size()) {
            if (size_ == 0) {
                const std::size_t good = utf8::validPrefix(raw.substr(i));
                if (out != nullptr) out->append(raw.data() + i, good);
                i += good;
                if (i == raw.size()) break;
            }
            bad += feed(static_cast<unsigned char>(raw[i++]), out);
        }
        return bad;
    }

    /// feed() for a whole chunk, the usual case made cheap: the character that the last chunk cut short is finished
    /// byte by byte, the one this chunk cuts short is held back the same way, and what lies between is checked at
    /// SIMD speed (utf8::isValid) and, when well-formed, taken as it is. Returns the chunk's text: a view of `raw`
    /// when it needed no change, else `scratch`; and adds the unreadable sequences to `bad`.
    std::string_view feedChunk(std::string_view raw, std::string& scratch, long long& bad) {
        scratch.clear();
        std::size_t begin = 0;
        while (begin < raw.size() && size_ != 0) bad += feed(static_cast<unsigned char>(raw[begin++]), &scratch);
        const std::size_t cut = std::max(begin, cutShort(raw));
        const std::string_view body = raw.substr(begin, cut - begin);
        if (utf8::isValid(body)) {
            // The cut character's bytes wait in the decoder for the next chunk; they write nothing unless they are
            // already ill-formed, and only then must the body be copied to come before what they write.
            if (scratch.empty()) {
                std::string tail;
                bad += feed(raw.substr(cut), &tail);
                if (tail.empty()) return body;
                scratch.append(body);
                scratch.append(tail);
                return scratch;
            }
            scratch.append(body);
        } else {
            bad += feed(body, &scratch);
        }
        bad += feed(raw.substr(cut), &scratch);
        return scratch;
    }

    /// feedChunk() without the text: how many unreadable sequences `raw` holds.
    long long countChunk(std::string_view raw) {
        long long bad = 0;
        std::size_t begin = 0;
        while (begin < raw.size() && size_ != 0) bad += feed(static_cast<unsigned char>(raw[begin++]), nullptr);
        const std::size_t cut = std::max(begin, cutShort(raw));
        const std::string_view body = raw.substr(begin, cut - begin);
        if (!utf8::isValid(body)) bad += feed(body, nullptr);
        return bad + feed(raw.substr(cut), nullptr);
    }

    /// At the end of the file: a character cut short is unreadable. Returns 1 for it, else 0.
    int finish(std::string* out) {
        if (size_ == 0) return 0;
        validator_ = Utf8Validator{};
        size_ = 0;
        markUnreadable(out);
        return 1;
    }

    /// Where the last sequence of `raw` starts when `raw` ends before it does, else raw.size().
    static std::size_t cutShort(std::string_view raw) noexcept {
        std::size_t lead = raw.size();
        while (lead > 0 && raw.size() - lead < 4) {
            --lead;
            if ((static_cast<unsigned char>(raw[lead]) & 0xC0) != 0x80) break;
        }
        if (lead == raw.size()) return raw.size();
        const std::size_t length = utf8::sequenceLength(static_cast<unsigned char>(raw[lead]));
        return length > raw.size() - lead ? lead : raw.size();
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

constexpr char32_t kNotInTable = 0xFFFFFFFF;

/// Poco's CP950 table as an array indexed by lead << 8 | trail, built once per process (about 24,000 look-ups, a
/// few milliseconds): a look-up per pair is then one load instead of a virtual call and a search. Thread-safe
/// (a function-local static).
const std::vector<char32_t>& cp950Table() {
    static const std::vector<char32_t> table = [] {
        std::vector<char32_t> built(std::size_t{1} << 16, kNotInTable);
        const Poco::Windows950Encoding encoding;
        for (unsigned lead = 0x81; lead <= 0xFE; ++lead) {
            for (unsigned trail = 0x40; trail <= 0xFE; ++trail) {
                const std::array<unsigned char, 2> bytes = {static_cast<unsigned char>(lead),
                                                            static_cast<unsigned char>(trail)};
                if (const int cp = encoding.queryConvert(bytes.data(), 2); cp >= 0) {
                    built[(lead << 8) | trail] = static_cast<char32_t>(cp);
                }
            }
        }
        return built;
    }();
    return table;
}

/// cp950Table() encoded: for each pair, its UTF-8 bytes (first byte lowest) with their count in the top byte, 0 when
/// the table has no character there. The decoder's common path then writes a pair with one load and one store.
/// Thread-safe (a function-local static).
const std::vector<std::uint32_t>& cp950Utf8Table() {
    static const std::vector<std::uint32_t> table = [] {
        const std::vector<char32_t>& cps = cp950Table();
        std::vector<std::uint32_t> built(cps.size(), 0);
        for (std::size_t i = 0; i < cps.size(); ++i) {
            const char32_t cp = cps[i];
            if (cp == kNotInTable || cp < 0x80 || cp >= 0x10000) continue;  // (CP950 has nothing above the BMP)
            if (cp < 0x800) {
                built[i] = (2U << 24) | (0xC0U | (cp >> 6)) | ((0x80U | (cp & 0x3F)) << 8);
            } else {
                built[i] = (3U << 24) | (0xE0U | (cp >> 12)) | ((0x80U | ((cp >> 6) & 0x3F)) << 8) |
                           ((0x80U | (cp & 0x3F)) << 16);
            }
        }
        return built;
    }();
    return table;
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
    /// feed() for every byte of `raw`, with the same output, but ASCII and the pairs that CP950's table knows are
    /// encoded straight into a local buffer and appended at once; only the rest goes through feed()'s state.
    /// Returns how many unreadable characters there were.
    long long feed(std::string_view raw, std::string* out) {
        if (out == nullptr) return count(raw);
        const std::uint32_t* const table = cp950Utf8Table().data();
        long long bad = 0;
        const auto* p = reinterpret_cast<const unsigned char*>(raw.data());  // NOLINT: bytes of the same text
        const unsigned char* const end = p + raw.size();
        // The input is taken in segments of kSegment bytes, short enough that their UTF-8 fits the buffer whatever
        // they hold (at most 3 bytes a pair of 2, 1 an ASCII byte, one pair past the segment's end, and the 8 bytes
        // an ASCII step may write beyond what it keeps): no check of the buffer a character. A segment ends a byte
        // before the piece does, so that a pair's trail byte is always there to read.
        constexpr std::size_t kSegment = 2048;
        std::array<char, kSegment * 3 / 2 + 64> encoded;
        while (p < end) {
            if (lead_ == 0) {
                bool slow = false;
                while (!slow && end - p >= 2) {
                    const unsigned char* const segmentEnd = std::min(p + kSegment, end - 1);
                    char* o = encoded.data();
                    while (p < segmentEnd) {
                        const unsigned char lead = *p;
                        if (lead < 0x80) {
                            // A run of ASCII, up to eight bytes at a time: all eight are copied, the ASCII ones kept
                            // (countr_zero of no high bit is 64: eight).
                            if (end - p >= 8 && std::endian::native == std::endian::little) {
                                std::uint64_t word = 0;
                                std::memcpy(&word, p, sizeof word);
                                const auto ascii =
                                    static_cast<std::size_t>(std::countr_zero(word & 0x8080808080808080ULL) / 8);
                                std::memcpy(o, &word, sizeof word);
                                o += ascii;
                                p += ascii;
                                continue;
                            }
                            *o++ = static_cast<char>(lead);
                            ++p;
                            continue;
                        }
                        // 0x80 and 0xFF lead nothing: their entries are 0, like those of pairs the table lacks.
                        const std::uint32_t utf8 = table[(std::size_t{lead} << 8) | p[1]];
                        if (utf8 == 0) {
                            slow = true;
                            break;
                        }
                        std::memcpy(o, &utf8, 4);  // (the count in the top byte is overwritten next, or ignored)
                        o += utf8 >> 24;
                        p += 2;
                    }
                    if (out != nullptr) out->append(encoded.data(), static_cast<std::size_t>(o - encoded.data()));
                }
                if (p == end) break;
            }
            bad += feed(*p++, out);
        }
        return bad;
    }
    /// feed(raw, nullptr), for detection: only counting, so ASCII is skipped eight bytes at a time and a pair the
    /// table knows is only looked up; the rest goes through feed()'s state, as there.
    long long count(std::string_view raw) {
        const std::uint32_t* const table = cp950Utf8Table().data();
        long long bad = 0;
        const auto* p = reinterpret_cast<const unsigned char*>(raw.data());  // NOLINT: bytes of the same text
        const unsigned char* const end = p + raw.size();
        while (p < end) {
            if (lead_ == 0) {
                while (end - p >= 2) {
                    // A pair first (names are runs of them), then ASCII up to the next non-ASCII byte.
                    if (*p >= 0x80) {
                        if (table[(std::size_t{*p} << 8) | p[1]] == 0) break;
                        p += 2;
                        continue;
                    }
                    if (end - p >= 8 && std::endian::native == std::endian::little) {
                        std::uint64_t word = 0;
                        std::memcpy(&word, p, sizeof word);
                        p += std::countr_zero(word & 0x8080808080808080ULL) / 8;  // (64 / 8 when all eight are ASCII)
                    } else {
                        ++p;
                    }
                }
                if (p == end) break;
            }
            bad += feed(*p++, nullptr);
        }
        return bad;
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
        if (const char32_t cp = cp950Table()[(std::size_t{lead} << 8) | trail]; cp != kNotInTable) {
            if (out != nullptr) utf8::append(*out, cp);
            return true;
        }
        const int index = userDefinedIndex(lead, trail);
        if (index < 0) return false;
        // Checking only (out is null): every user-defined pair is readable one way or the other.
        if (out != nullptr && !hkscs(bytes, *out)) utf8::append(*out, big5UserDefined(lead, trail));
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

    IconvPtr hkscs_;
    unsigned char lead_ = 0;
};

/// Reads up to kChunkBytes; returns the number read, 0 at the end. Throws when the stream itself fails.
std::size_t readChunk(std::istream& in, std::vector<char>& buffer, std::size_t offset = 0) {
    if (!in.good()) return 0;
    in.read(buffer.data() + offset, static_cast<std::streamsize>(buffer.size() - offset));
    if (in.bad()) throw std::runtime_error("batch file: the upload could not be read back");
    return static_cast<std::size_t>(in.gcount());
}

/// A byte order mark of UTF-16, or NUL bytes in the first line (what UTF-16 without one looks like as bytes: a CSV
/// file has no NUL of its own).
bool looksUtf16(std::string_view firstChunk) {
    if (firstChunk.starts_with("\xFF\xFE") || firstChunk.starts_with("\xFE\xFF")) return true;
    return firstChunk.substr(0, firstChunk.find('\n')).find('\0') != std::string_view::npos;
}

}  // namespace

class DecodedText::Impl {
  public:
    Impl(std::istream& in, Charset charset) : in_(in), charset_(charset), raw_(kCarry + kChunkBytes) {}

    std::string_view next() {
        while (!done_) {
            decoded_.clear();
            // Read after kCarry bytes of room, where the character the last chunk cut short is put back in front
            // of its rest: the decoder then sees it whole, and the chunk goes on as a view (the decoder finishing it
            // into its buffer made a copy of the whole chunk).
            const std::size_t n = readChunk(in_, raw_, kCarry);
            if (n == 0) {
                done_ = true;
                if (charset_ == Charset::utf8) {
                    utf8_.feed(std::string_view(carry_.data(), carried_), &decoded_);
                    carried_ = 0;
                    utf8_.finish(&decoded_);
                } else {
                    big5_.finish(&decoded_);
                }
                return decoded_;
            }
            std::string_view raw(raw_.data() + kCarry, n);
            if (first_) {
                first_ = false;
                if (looksUtf16(raw)) throw Utf16Error("the file looks like UTF-16");
                if (charset_ == Charset::utf8 && raw.starts_with(kBom)) raw.remove_prefix(kBom.size());
            }
            if (charset_ == Charset::utf8) {
                // The bytes reach the decoder in the same order as without the carry, so its output is the same.
                // (After a byte order mark, which only the first chunk has, and then nothing is carried.)
                char* const begin = raw_.data() + (raw.data() - raw_.data()) - carried_;
                std::memcpy(begin, carry_.data(), carried_);
                raw = std::string_view(begin, carried_ + raw.size());
                const std::size_t cut = Utf8Decoder::cutShort(raw);
                carried_ = raw.size() - cut;
                std::memcpy(carry_.data(), raw.data() + cut, carried_);
                raw = raw.substr(0, cut);
                long long bad = 0;
                const std::string_view text = utf8_.feedChunk(raw, decoded_, bad);
                if (!text.empty()) return text;
                continue;
            }
            big5_.feed(raw, &decoded_);
            if (!decoded_.empty()) return decoded_;
        }
        return {};
    }

  private:
    static constexpr std::size_t kCarry = 4;  // more than a cut character's bytes (at most 3)

    std::istream& in_;
    Charset charset_;
    std::vector<char> raw_;             // kCarry bytes of room, then the chunk read
    std::array<char, kCarry> carry_{};  // UTF-8: the character the last chunk cut short
    std::size_t carried_ = 0;
    std::string decoded_;
    Utf8Decoder utf8_;
    Big5Decoder big5_;
    bool first_ = true;
    bool done_ = false;
};

DecodedText::DecodedText(std::istream& in, Charset charset) : impl_(std::make_unique<Impl>(in, charset)) {}

DecodedText::~DecodedText() = default;

std::string_view DecodedText::next() {
    return impl_->next();
}

std::optional<Charset> parseCharset(std::string_view text) {
    const std::string name = Poco::toLower(std::string(identity::trimSpaces(text)));
    if (name == "utf-8" || name == "utf8") return Charset::utf8;
    if (name == "big5" || name == "cp950") return Charset::big5;
    return std::nullopt;
}

const char* toString(Charset charset) {
    return charset == Charset::big5 ? "big5" : "utf-8";
}

const char* displayName(Charset charset) {
    return charset == Charset::utf8 ? "UTF-8" : "Big5 (CP950)";
}

Charset detectCharset(std::istream& in, std::optional<Charset> declared) {
    if (declared) return *declared;
    std::vector<char> buffer(kChunkBytes);
    // Most files are UTF-8 throughout, and then the Big5 count does not matter: a first pass checks UTF-8 alone (at
    // SIMD speed), and only a file with a bad sequence is read again from its start to count. A stream that cannot
    // seek is counted both ways in one pass, as always; the answer is the same.
    if (const std::streampos start = in.tellg(); start != std::streampos(-1)) {
        Utf8Decoder utf8;
        long long bad = 0;
        bool first = true;
        for (std::size_t n = 0; bad == 0 && (n = readChunk(in, buffer)) > 0;) {
            const std::string_view raw(buffer.data(), n);
            if (first && (raw.starts_with(kBom) || looksUtf16(raw))) return Charset::utf8;
            first = false;
            bad += utf8.countChunk(raw);
        }
        if (bad == 0 && utf8.finish(nullptr) == 0) return Charset::utf8;
        // Not UTF-8: Big5 wins when it reads more, i.e. when UTF-8's count passes Big5's. Big5 is counted over the
        // whole file, then UTF-8 only until it passes that (at its first bad sequence, for a Big5 file).
        auto rewind = [&] {
            in.clear();
            in.seekg(start);
            if (!in) throw std::runtime_error("batch file: the upload could not be read again");
        };
        rewind();
        Big5Decoder big5;
        long long big5Bad = 0;
        for (std::size_t n = 0; (n = readChunk(in, buffer)) > 0;) big5Bad += big5.feed({buffer.data(), n}, nullptr);
        big5Bad += big5.finish(nullptr);
        rewind();
        Utf8Decoder again;
        long long utf8Bad = 0;
        for (std::size_t n = 0; utf8Bad <= big5Bad && (n = readChunk(in, buffer)) > 0;) {
            utf8Bad += again.countChunk({buffer.data(), n});
        }
        if (utf8Bad <= big5Bad) utf8Bad += again.finish(nullptr);
        return big5Bad < utf8Bad ? Charset::big5 : Charset::utf8;
    }
    Utf8Decoder utf8;
    Big5Decoder big5;
    long long utf8Bad = 0;
    long long big5Bad = 0;
    bool first = true;
    for (std::size_t n = 0; (n = readChunk(in, buffer)) > 0;) {
        const std::string_view raw(buffer.data(), n);
        if (first && (raw.starts_with(kBom) || looksUtf16(raw))) return Charset::utf8;
        first = false;
        utf8Bad += utf8.countChunk(raw);
        big5Bad += big5.feed(raw, nullptr);
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

}  // namespace taxdesk::jobs::inquiry
