#include "jobs/identity/identifiers.hpp"

#include "jobs/common/utf8.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>

namespace taxdesk::jobs::identity {
namespace {

using utf8::decodeAt;

/// Folds what decodes and copies undecodable bytes through unchanged. Reports whether the input was valid UTF-8.
std::string foldLenient(std::string_view input, bool& valid) {
    std::string out;
    out.reserve(input.size());
    valid = true;
    std::size_t pos = 0;
    while (pos < input.size()) {
        // ASCII folds to itself: runs of it are copied whole.
        if (const std::size_t ascii = utf8::asciiPrefix(input.substr(pos)); ascii != 0) {
            out.append(input.substr(pos, ascii));
            pos += ascii;
            continue;
        }
        if (auto cp = decodeAt(input, pos)) {
            utf8::append(out, foldWidth(*cp));
        } else {
            valid = false;
            out.push_back(input[pos]);
            ++pos;
        }
    }
    return out;
}

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}
bool isUpper(char c) {
    return c >= 'A' && c <= 'Z';
}

void upperAscii(std::string& text) {
    for (char& c : text) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
}

/// Where the last UTF-8 sequence of `text` starts, if it is a valid one that ends exactly at the end; stepping
/// back over at most three continuation bytes finds the only candidate lead byte.
std::optional<std::size_t> lastSequenceStart(std::string_view text, char32_t& cp) {
    std::size_t start = text.size() - 1;
    while (start > 0 && text.size() - start < 4 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    std::size_t pos = start;
    const auto decoded = decodeAt(text, pos);
    if (!decoded || pos != text.size()) return std::nullopt;
    cp = *decoded;
    return start;
}

/// Whether a byte at or above 0x80 may lead the UTF-8 sequence of a space (isSpace): U+0085 and U+00A0 (C2),
/// U+1680 (E1), U+2000–U+2060 (E2), U+3000 (E3), U+FEFF (EF). Any other lead byte starts no space, so trimming
/// stops there without decoding (what decodeAt would have concluded, valid or not).
constexpr bool mayStartSpace(unsigned char lead) noexcept {
    return lead == 0xC2 || lead == 0xE1 || lead == 0xE2 || lead == 0xE3 || lead == 0xEF;
}

/// The two-digit codes of SPEC 2. They are not alphabetical: I, O, W, X, Y, Z were added after the others.
constexpr std::array<int, 26> kLetterCodes = {
    10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21,  // A..M
    22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33,  // N..Z
};

/// Shape `^[A-Z]x[0-9]{8}$` with x one of `seconds`, plus the checksum of SPEC 2. The second character counts
/// ×8 with its value: a digit's own, a letter's the last digit of its code (the old resident certificates).
bool isValidLetterId(std::string_view id, std::string_view seconds) {
    if (id.size() != 10 || !isUpper(id[0]) || seconds.find(id[1]) == std::string_view::npos) return false;
    for (std::size_t i = 2; i < id.size(); ++i) {
        if (!isDigit(id[i])) return false;
    }
    const int code = kLetterCodes[static_cast<std::size_t>(id[0] - 'A')];
    const int second = isUpper(id[1]) ? kLetterCodes[static_cast<std::size_t>(id[1] - 'A')] % 10 : id[1] - '0';
    int sum = (code / 10) + (code % 10) * 9 + second * 8;
    for (std::size_t i = 2; i <= 8; ++i) sum += (id[i] - '0') * static_cast<int>(9 - i);
    sum += id[9] - '0';
    return sum % 10 == 0;
}

}  // namespace

std::string foldFullWidth(std::string_view input) {
    // Only U+3000 (E3 80 80) and U+FF01–FF5E (EF BC 81 – EF BD 9E) fold: text without those lead bytes is its own
    // folding, whatever else it holds (undecodable bytes are copied through as they are).
    const bool mayFold = std::any_of(input.begin(), input.end(), [](char c) {
        return static_cast<unsigned char>(c) == 0xE3 || static_cast<unsigned char>(c) == 0xEF;
    });
    if (!mayFold) return std::string(input);
    bool valid = true;
    return foldLenient(input, valid);
}

std::string_view trimSpaces(std::string_view text) noexcept {
    std::size_t pos = 0;
    while (pos < text.size()) {
        // An ASCII byte is a whole character: a space or the end of the trimming, without decoding.
        if (const auto c = static_cast<unsigned char>(text[pos]); c < 0x80) {
            if (!isSpace(c)) break;
            ++pos;
            continue;
        } else if (!mayStartSpace(c)) {
            break;
        }
        std::size_t next = pos;
        const auto cp = decodeAt(text, next);
        if (!cp || !isSpace(*cp)) break;
        pos = next;
    }
    text.remove_prefix(pos);
    while (!text.empty()) {
        if (const auto c = static_cast<unsigned char>(text.back()); c < 0x80) {
            if (!isSpace(c)) break;
            text.remove_suffix(1);
            continue;
        }
        std::size_t lead = text.size() - 1;
        while (lead > 0 && text.size() - lead < 4 && (static_cast<unsigned char>(text[lead]) & 0xC0) == 0x80) --lead;
        if (!mayStartSpace(static_cast<unsigned char>(text[lead]))) break;
        char32_t cp = 0;
        const auto start = lastSequenceStart(text, cp);
        if (!start || !isSpace(cp)) break;
        text.remove_suffix(text.size() - *start);
    }
    return text;
}

std::string normalize(std::string_view input) {
    // Folding creates no spaces but U+3000's, which trimming already counts as one: trimming first is enough.
    const std::string_view trimmed = trimSpaces(input);
    bool valid = true;
    std::string folded = foldLenient(trimmed, valid);
    // Folding invalid UTF-8 half-way could turn stray bytes into something that looks like an ID; the header
    // promises no folding for such input.
    if (!valid) folded.assign(trimmed);
    upperAscii(folded);
    return folded;
}

bool isValidNationalId(std::string_view id) {
    return isValidLetterId(id, "12");
}

bool isValidResidentCertificate(std::string_view id) {
    return isValidLetterId(id, "89ABCD");
}

bool isValidOldResidentCertificate(std::string_view id) {
    return isValidLetterId(id, "ABCD");
}

bool isValidBusinessNumber(std::string_view id) {
    if (id.size() != 8) return false;
    for (char c : id) {
        if (!isDigit(c)) return false;
    }
    constexpr std::array<int, 8> kWeights = {1, 2, 1, 2, 1, 2, 4, 1};
    int rest = 0;  // every position but the 7th
    for (std::size_t i = 0; i < id.size(); ++i) {
        if (i == 6) continue;
        const int product = (id[i] - '0') * kWeights[i];
        rest += product / 10 + product % 10;
    }
    const int seventh = (id[6] - '0') * kWeights[6];
    if (id[6] == '7') {
        // 7 × 4 = 28, whose digit sum 10 is itself reduced to 1 or 0: either total may be the divisible one.
        return (rest + 1) % 5 == 0 || rest % 5 == 0;
    }
    return (rest + seventh / 10 + seventh % 10) % 5 == 0;
}

IdKind classify(std::string_view normalizedId) {
    // The three forms do not overlap (a letter ID has 10 characters and its second one tells national from
    // resident; a business number has 8), so the second character picks the one check to run: the same answers as
    // trying isValidNationalId, isValidResidentCertificate and isValidBusinessNumber in turn, in one pass (the
    // upload judges every row's ID with it).
    const std::string_view id = normalizedId;
    if (id.size() == 8) return isValidBusinessNumber(id) ? IdKind::businessNumber : IdKind::invalid;
    if (id.size() != 10 || !isUpper(id[0])) return IdKind::invalid;
    const char c1 = id[1];
    IdKind kind = IdKind::invalid;
    int second = 0;
    if (c1 == '1' || c1 == '2') {
        kind = IdKind::nationalId;
        second = c1 - '0';
    } else if (c1 == '8' || c1 == '9') {
        kind = IdKind::residentCertificate;
        second = c1 - '0';
    } else if (c1 >= 'A' && c1 <= 'D') {
        kind = IdKind::residentCertificate;
        second = kLetterCodes[static_cast<std::size_t>(c1 - 'A')] % 10;
    } else {
        return IdKind::invalid;
    }
    const int code = kLetterCodes[static_cast<std::size_t>(id[0] - 'A')];
    // Unsigned, so that a byte below '0' is above 9 too. The eight digits are written out, weights 7 to 1 and 1, so
    // that the compiler needs no loop.
    auto d = [&id](std::size_t i) { return static_cast<unsigned>(static_cast<unsigned char>(id[i])) - unsigned{'0'}; };
    const unsigned d2 = d(2), d3 = d(3), d4 = d(4), d5 = d(5), d6 = d(6), d7 = d(7), d8 = d(8), d9 = d(9);
    if (d2 > 9 || d3 > 9 || d4 > 9 || d5 > 9 || d6 > 9 || d7 > 9 || d8 > 9 || d9 > 9) return IdKind::invalid;
    const auto sum = static_cast<unsigned>((code / 10) + (code % 10) * 9 + second * 8) + 7 * d2 + 6 * d3 + 5 * d4 +
                     4 * d5 + 3 * d6 + 2 * d7 + d8 + d9;
    return sum % 10 == 0 ? kind : IdKind::invalid;
}

IdKind classifyIn(std::string_view normalizedId, int year) {
    const IdKind kind = classify(normalizedId);
    const bool oldFormat = kind == IdKind::residentCertificate && isUpper(normalizedId[1]);
    return oldFormat && year > kOldResidentCertificateLastYear ? IdKind::invalid : kind;
}

std::string mask(std::string_view id) {
    const bool ascii = [&] {
        for (char c : id) {
            if (static_cast<unsigned char>(c) >= 0x80) return false;
        }
        return true;
    }();
    if (ascii && id.size() == 10) return std::string(id.substr(0, 3)) + "****" + std::string(id.substr(7));
    if (ascii && id.size() == 8) return std::string(id.substr(0, 2)) + "****" + std::string(id.substr(6));

    // Anything else: first and last character (not byte) around the stars, and only when at least one character
    // stays hidden, so that a short value is never shown whole.
    std::size_t firstEnd = 0;
    std::size_t lastBegin = 0;
    std::size_t count = 0;
    std::size_t pos = 0;
    while (pos < id.size()) {
        const std::size_t start = pos;
        if (!decodeAt(id, pos)) pos = start + 1;
        if (count == 0) firstEnd = pos;
        lastBegin = start;
        ++count;
    }
    if (count < 3) return "****";
    return std::string(id.substr(0, firstEnd)) + "****" + std::string(id.substr(lastBegin));
}

std::string maskIdsIn(std::string_view text) {
    auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    auto second = [](char c) {
        return c == '1' || c == '2' || c == '8' || c == '9' || (c >= 'A' && c <= 'D') || (c >= 'a' && c <= 'd');
    };
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        bool id = i + 10 <= text.size() && letter(text[i]) && second(text[i + 1]);
        for (std::size_t k = 2; id && k < 10; ++k) id = digit(text[i + k]);
        if (id) {
            out += mask(text.substr(i, 10));
            i += 10;
        } else {
            out.push_back(text[i++]);
        }
    }
    return out;
}

const char* toString(IdKind kind) {
    switch (kind) {
        case IdKind::nationalId:
            return "national_id";
        case IdKind::residentCertificate:
            return "resident_certificate";
        case IdKind::businessNumber:
            return "business_number";
        case IdKind::invalid:
            break;
    }
    return "invalid";
}

}  // namespace taxdesk::jobs::identity
