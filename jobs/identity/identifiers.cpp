#include "jobs/identity/identifiers.hpp"

#include "jobs/common/utf8.hpp"

#include <array>
#include <cstdint>
#include <optional>

namespace taxdesk::jobs::identity {
namespace {

constexpr char32_t kIdeographicSpace = 0x3000;
constexpr char32_t kFullWidthFirst = 0xFF01;  // '！'
constexpr char32_t kFullWidthLast = 0xFF5E;   // '～'
constexpr char32_t kFullWidthOffset = 0xFEE0;

using utf8::decodeAt;

char32_t foldCodePoint(char32_t cp) {
    if (cp == kIdeographicSpace) return U' ';
    if (cp >= kFullWidthFirst && cp <= kFullWidthLast) return cp - kFullWidthOffset;
    return cp;
}

/// Folds what decodes and copies undecodable bytes through unchanged. Reports whether the input was valid UTF-8.
std::string foldLenient(std::string_view input, bool& valid) {
    std::string out;
    out.reserve(input.size());
    valid = true;
    std::size_t pos = 0;
    while (pos < input.size()) {
        if (auto cp = decodeAt(input, pos)) {
            utf8::append(out, foldCodePoint(*cp));
        } else {
            valid = false;
            out.push_back(input[pos]);
            ++pos;
        }
    }
    return out;
}

bool isAsciiSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool isDigit(char c) {
    return c >= '0' && c <= '9';
}
bool isUpper(char c) {
    return c >= 'A' && c <= 'Z';
}

std::string trimAndUpper(std::string_view text) {
    std::size_t begin = 0;
    std::size_t end = text.size();
    while (begin < end && isAsciiSpace(text[begin])) ++begin;
    while (end > begin && isAsciiSpace(text[end - 1])) --end;
    std::string out(text.substr(begin, end - begin));
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
}

/// The two-digit codes of SPEC 2. They are not alphabetical: I, O, W, X, Y, Z were added after the others.
constexpr std::array<int, 26> kLetterCodes = {
    10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21,  // A..M
    22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33,  // N..Z
};

/// Shape `^[A-Z][xy][0-9]{8}$` with the second character one of `second`, plus the checksum of SPEC 2.
bool isValidLetterId(std::string_view id, char secondA, char secondB) {
    if (id.size() != 10 || !isUpper(id[0]) || (id[1] != secondA && id[1] != secondB)) return false;
    for (std::size_t i = 1; i < id.size(); ++i) {
        if (!isDigit(id[i])) return false;
    }
    const int code = kLetterCodes[static_cast<std::size_t>(id[0] - 'A')];
    int sum = (code / 10) + (code % 10) * 9;
    for (std::size_t i = 1; i <= 8; ++i) sum += (id[i] - '0') * static_cast<int>(9 - i);
    sum += id[9] - '0';
    return sum % 10 == 0;
}

}  // namespace

std::string foldFullWidth(std::string_view input) {
    bool valid = true;
    return foldLenient(input, valid);
}

std::string normalize(std::string_view input) {
    bool valid = true;
    std::string folded = foldLenient(input, valid);
    // Folding invalid UTF-8 half-way could turn stray bytes into something that looks like an ID; the header
    // promises only ASCII folding for such input.
    return trimAndUpper(valid ? std::string_view(folded) : input);
}

bool isValidNationalId(std::string_view id) {
    return isValidLetterId(id, '1', '2');
}

bool isValidResidentCertificate(std::string_view id) {
    return isValidLetterId(id, '8', '9');
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
    if (isValidNationalId(normalizedId)) return IdKind::nationalId;
    if (isValidResidentCertificate(normalizedId)) return IdKind::residentCertificate;
    if (isValidBusinessNumber(normalizedId)) return IdKind::businessNumber;
    return IdKind::invalid;
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
