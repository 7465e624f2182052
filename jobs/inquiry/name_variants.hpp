#pragma once
// SPEC 3.3: names match the registry's after folding. The variant characters (異體字) people use interchangeably
// and the middle dots of aboriginal and foreign names, kept as data in name_variants.cpp.
#include <span>

namespace taxdesk::jobs::inquiry {

/// One entry of the table: `variant` is read as `canonical` when names are compared.
struct VariantPair {
    char32_t variant;
    char32_t canonical;
};

/// The whole table, sorted by `variant`; no canonical form is itself a variant. For tests and documentation.
std::span<const VariantPair> nameVariants() noexcept;

/// The canonical form of `cp` for name matching: the Taiwan standard form of a variant character (台 → 臺,
/// 黄 → 黃, …) and U+00B7 for every middle dot (‧ ・ • ． ･ and the ASCII full stop). Any other code point is
/// returned unchanged. A binary search in a static array: no allocation. Thread-safe.
char32_t canonicalCharacter(char32_t cp) noexcept;

}  // namespace taxdesk::jobs::inquiry
