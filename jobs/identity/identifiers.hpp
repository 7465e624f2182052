#pragma once
// SPEC 2: identifiers. Normalisation, validation and masking of national IDs, resident certificate numbers
// and unified business numbers. Pure functions, thread-safe.
#include <string>
#include <string_view>

namespace taxdesk::jobs::identity {

enum class IdKind {
    invalid,
    nationalId,           ///< 身分證統一編號  ^[A-Z][12][0-9]{8}$ with checksum
    residentCertificate,  ///< 新式統一證號    ^[A-Z][89][0-9]{8}$ with checksum
    businessNumber,       ///< 統一編號        8 digits with the weighted checksum
};

/// Trims surrounding white space (ASCII and U+3000), folds full-width ASCII (U+FF01–FF5E) and the ideographic
/// space to ASCII, and upper-cases letters. Input is UTF-8; invalid UTF-8 is returned with only ASCII folding.
std::string normalize(std::string_view input);

/// Folds full-width ASCII and U+3000 to ASCII everywhere in `input` (no trimming, no case change).
std::string foldFullWidth(std::string_view input);

/// Classifies an already normalised ID (call normalize() first).
IdKind classify(std::string_view normalizedId);

bool isValidNationalId(std::string_view id);
bool isValidResidentCertificate(std::string_view id);
bool isValidBusinessNumber(std::string_view id);

/// Masks an ID for logs, SMS replies and the dashboard: `A123456789` → `A12****789`; an 8-digit business number
/// `22099131` → `22****31`; anything else keeps at most its first and last character around `****`.
std::string mask(std::string_view id);

const char* toString(IdKind kind);

}  // namespace taxdesk::jobs::identity
