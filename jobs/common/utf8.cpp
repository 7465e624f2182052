#include "jobs/common/utf8.hpp"

#include <simdjson.h>
#include <array>
#include <cstdint>
#include <cstring>

namespace taxdesk::jobs::utf8 {

std::optional<char32_t> decodeAt(std::string_view text, std::size_t& pos) {
    const auto lead = static_cast<unsigned char>(text[pos]);
    if (lead < 0x80) {
        ++pos;
        return lead;
    }
    std::size_t length = 0;
    char32_t cp = 0;
    char32_t minimum = 0;
    if ((lead & 0xE0) == 0xC0) {
        length = 2;
        cp = lead & 0x1F;
        minimum = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
        length = 3;
        cp = lead & 0x0F;
        minimum = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
        length = 4;
        cp = lead & 0x07;
        minimum = 0x10000;
    } else {
        return std::nullopt;
    }
    if (pos + length > text.size()) return std::nullopt;
    for (std::size_t i = 1; i < length; ++i) {
        const auto next = static_cast<unsigned char>(text[pos + i]);
        if ((next & 0xC0) != 0x80) return std::nullopt;
        cp = (cp << 6) | (next & 0x3F);
    }
    if (cp < minimum || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    pos += length;
    return cp;
}

namespace {

constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

/// What a lead byte of table 3-7 asks for: the sequence's length (0: not a lead byte) and the second byte's range.
struct Lead {
    unsigned char length = 0;
    unsigned char lower = 0x80;
    unsigned char upper = 0xBF;
};
struct LeadTable {
    std::array<Lead, 256> rules{};
    constexpr LeadTable() {
        for (unsigned b = 0xC2; b <= 0xDF; ++b) rules[b] = {2, 0x80, 0xBF};
        for (unsigned b = 0xE1; b <= 0xEF; ++b) rules[b] = {3, 0x80, 0xBF};
        rules[0xE0] = {3, 0xA0, 0xBF};
        rules[0xED] = {3, 0x80, 0x9F};  // no surrogates
        for (unsigned b = 0xF1; b <= 0xF3; ++b) rules[b] = {4, 0x80, 0xBF};
        rules[0xF0] = {4, 0x90, 0xBF};  // no overlong forms
        rules[0xF4] = {4, 0x80, 0x8F};  // nothing above U+10FFFF
    }
};
constexpr LeadTable kLeads;

/// Bytes from `i` on that are ASCII, eight at a time, then one at a time.
std::size_t skipAscii(const unsigned char* s, std::size_t n, std::size_t i) noexcept {
    for (; i + 8 <= n; i += 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, s + i, sizeof word);
        if ((word & kHighBits) != 0) break;
    }
    while (i < n && s[i] < 0x80) ++i;
    return i;
}

}  // namespace

bool isValid(std::string_view text) noexcept {
    return simdjson::validate_utf8(text.data(), text.size());
}

std::size_t sequenceLength(unsigned char lead) noexcept {
    return kLeads.rules[lead].length;
}

std::size_t asciiPrefix(std::string_view text) noexcept {
    return skipAscii(reinterpret_cast<const unsigned char*>(text.data()), text.size(), 0);
}

std::size_t validPrefix(std::string_view text) noexcept {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t i = 0;
    for (;;) {
        i = skipAscii(s, n, i);
        if (i >= n) return n;
        // Unicode table 3-7, as decodeAt applies it: the second byte's range depends on the lead byte.
        const Lead rule = kLeads.rules[s[i]];
        const std::size_t length = rule.length;
        const unsigned char lower = rule.lower;
        const unsigned char upper = rule.upper;
        if (length == 0) return i;
        if (n - i < length || s[i + 1] < lower || s[i + 1] > upper) return i;
        for (std::size_t k = 2; k < length; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
        }
        i += length;
    }
}

void append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

}  // namespace taxdesk::jobs::utf8
