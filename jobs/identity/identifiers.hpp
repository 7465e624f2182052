#pragma once
// SPEC 2: identifiers. Normalisation, validation and masking of national IDs, resident certificate numbers
// and unified business numbers. Pure functions, thread-safe.
#include <string>
#include <string_view>

namespace taxdesk::jobs::identity {

enum class IdKind {
    invalid,
    nationalId,           ///< 身分證統一編號  ^[A-Z][12][0-9]{8}$ with checksum
    residentCertificate,  ///< 新式統一證號 ^[A-Z][89][0-9]{8}$, or 舊式統一證號 ^[A-Z][A-D][0-9]{8}$ (until 2030)
    businessNumber,  ///< 統一編號        8 digits with the weighted checksum
};

/// The one definition of "a space" for every entry point (SPEC 2): ASCII white space (space, tab, CR, LF, VT, FF),
/// U+0085, U+00A0 no-break space, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 ideographic
/// space, and the zero-width ones that phones and spreadsheets slip in: U+200B, U+200C, U+200D, U+2060, U+FEFF.
constexpr bool isSpace(char32_t cp) noexcept {
    switch (cp) {
        case U'\t':
        case U'\n':
        case U'\v':
        case U'\f':
        case U'\r':
        case U' ':
        case 0x0085:
        case 0x00A0:
        case 0x1680:
        case 0x200B:
        case 0x200C:
        case 0x200D:
        case 0x2028:
        case 0x2029:
        case 0x202F:
        case 0x205F:
        case 0x2060:
        case 0x3000:
        case 0xFEFF:
            return true;
        default:
            return cp >= 0x2000 && cp <= 0x200A;
    }
}

/// Folds one code point: full-width ASCII (U+FF01–FF5E) to ASCII and the ideographic space U+3000 to a space;
/// anything else is returned unchanged.
constexpr char32_t foldWidth(char32_t cp) noexcept {
    if (cp == 0x3000) return U' ';
    if (cp >= 0xFF01 && cp <= 0xFF5E) return cp - 0xFEE0;
    return cp;
}

/// Removes every leading and trailing space (isSpace) from UTF-8 text; inner spaces stay. Trimming stops at a
/// byte sequence that is not valid UTF-8, so undecodable bytes are never dropped. Returns a view into `text`.
std::string_view trimSpaces(std::string_view text) noexcept;

/// Trims surrounding spaces (isSpace), folds full-width ASCII (U+FF01–FF5E) and the ideographic space to ASCII,
/// and upper-cases letters. Input is UTF-8; invalid UTF-8 is trimmed and upper-cased but not folded.
std::string normalize(std::string_view input);

/// Folds full-width ASCII and U+3000 to ASCII everywhere in `input` (no trimming, no case change).
std::string foldFullWidth(std::string_view input);

/// Classifies an already normalised ID (call normalize() first) by its form and checksum alone, whatever the date:
/// for recognising IDs (the population, the log scan). Where input enters, use classifyIn().
IdKind classify(std::string_view normalizedId);

/// The last year in which old-format resident certificates (舊式統一證號) are valid: until 2030-12-31 (SPEC 2).
inline constexpr int kOldResidentCertificateLastYear = 2030;

/// classify() as an entry point (batch file, SMS, counter API) must judge an ID in `year` (the current Taipei year):
/// an old-format resident certificate is invalid after kOldResidentCertificateLastYear.
IdKind classifyIn(std::string_view normalizedId, int year);

bool isValidNationalId(std::string_view id);
/// New format `^[A-Z][89][0-9]{8}$` or old format `^[A-Z][A-D][0-9]{8}$`, each with its SPEC 2 checksum.
bool isValidResidentCertificate(std::string_view id);
/// Only the old format (舊式統一證號, issued until 2020 and valid until 2030-12-31): the second letter's code
/// counts with its last digit (A10→0, B11→1, C12→2, D13→3) in the place of the new format's second digit.
bool isValidOldResidentCertificate(std::string_view id);
bool isValidBusinessNumber(std::string_view id);

/// Masks an ID for logs, SMS replies and the dashboard: `A123456789` → `A12****789`; an 8-digit business number
/// `22099131` → `22****31`; anything else keeps at most its first and last character around `****`.
std::string mask(std::string_view id);

/// Masks every run in free text (a URL, a path, an error message) that has the form of a national ID or resident
/// certificate number, `[A-Za-z][1289A-Da-d][0-9]{8}`, whatever its checksum: `GET /persons/A123456789 failed` →
/// `GET /persons/A12****789 failed`. For log lines and messages built from text that may carry an ID.
std::string maskIdsIn(std::string_view text);

const char* toString(IdKind kind);

}  // namespace taxdesk::jobs::identity
