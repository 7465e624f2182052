// Fuzz target: the identifier rules of SPEC 2 (jobs/identity). Invariants: normalize() is idempotent and never
// changes an ID's class on a second pass; classify() agrees with the isValid… functions and classifyIn() only ever
// takes validity away (old-format resident certificates after 2030); mask() never shows a whole value of three or
// more characters, and for a 10- or 8-character ID keeps exactly the documented ends; trimSpaces() returns a part of
// its input; foldFullWidth() is idempotent; valid UTF-8 stays valid through every function; maskIdsIn() leaves no
// whole person's ID in free text, and masking again changes nothing.
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "jobs/common/utf8.hpp"
#include "jobs/identity/identifiers.hpp"

namespace id = taxdesk::jobs::identity;
using taxdesk::fuzz::isValidUtf8;

namespace {

std::size_t characters(std::string_view text) {
    // Characters as mask() counts them: a UTF-8 sequence, or one byte that does not decode.
    std::size_t count = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t start = pos;
        if (!taxdesk::jobs::utf8::decodeAt(text, pos)) pos = start + 1;
        ++count;
    }
    return count;
}

void checkMask(std::string_view value) {
    const std::string masked = id::mask(value);
    FUZZ_CHECK(masked.find("****") != std::string::npos, "mask() always shows the stars");
    if (characters(value) >= 3) {
        // A value made of stars where the mask puts its own may come out as itself: it shows nothing.
        FUZZ_CHECK(value.find('*') != std::string_view::npos || masked.find(value) == std::string::npos,
                   "mask() never contains the whole value");
    } else {
        FUZZ_CHECK(masked == "****", "a value of fewer than three characters is masked whole");
    }
    const id::IdKind kind = id::classify(value);
    if (kind == id::IdKind::nationalId || kind == id::IdKind::residentCertificate) {
        FUZZ_CHECK(masked == std::string(value.substr(0, 3)) + "****" + std::string(value.substr(7)),
                   "a 10-character ID keeps its first three and last three characters");
    } else if (kind == id::IdKind::businessNumber) {
        FUZZ_CHECK(masked == std::string(value.substr(0, 2)) + "****" + std::string(value.substr(6)),
                   "a business number keeps its first two and last two digits");
    }
}

/// maskIdsIn() leaves no whole person's ID (national ID or resident certificate, any case) in free text.
void checkMaskIdsIn(std::string_view text) {
    const std::string masked = id::maskIdsIn(text);
    for (std::size_t i = 0; i + 10 <= masked.size(); ++i) {
        std::string window = masked.substr(i, 10);
        for (char& c : window)
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        const id::IdKind kind = id::classify(window);
        FUZZ_CHECK(kind != id::IdKind::nationalId && kind != id::IdKind::residentCertificate,
                   "maskIdsIn() leaves no whole ID");
    }
    FUZZ_CHECK(id::maskIdsIn(masked) == masked, "maskIdsIn() is idempotent");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input = taxdesk::fuzz::asText(data, size);
    const bool validInput = isValidUtf8(input);

    const std::string_view trimmed = id::trimSpaces(input);
    FUZZ_CHECK(trimmed.empty() ||
                   (trimmed.data() >= input.data() && trimmed.data() + trimmed.size() <= input.data() + input.size()),
               "trimSpaces() returns a part of its input");
    FUZZ_CHECK(id::trimSpaces(trimmed) == trimmed, "trimSpaces() is idempotent");

    const std::string normalized = id::normalize(input);
    FUZZ_CHECK(id::normalize(normalized) == normalized, "normalize() is idempotent");
    FUZZ_CHECK(!validInput || isValidUtf8(normalized), "normalize() keeps valid UTF-8 valid");

    const std::string folded = id::foldFullWidth(input);
    FUZZ_CHECK(id::foldFullWidth(folded) == folded, "foldFullWidth() is idempotent");
    FUZZ_CHECK(!validInput || isValidUtf8(folded), "foldFullWidth() keeps valid UTF-8 valid");

    const id::IdKind kind = id::classify(normalized);
    FUZZ_CHECK(id::toString(kind) != nullptr, "every kind has a name");
    FUZZ_CHECK((kind == id::IdKind::nationalId) == id::isValidNationalId(normalized),
               "classify() and isValidNationalId agree");
    FUZZ_CHECK(kind != id::IdKind::residentCertificate || id::isValidResidentCertificate(normalized),
               "classify() and isValidResidentCertificate agree");
    FUZZ_CHECK(!id::isValidOldResidentCertificate(normalized) || kind == id::IdKind::residentCertificate,
               "an old-format resident certificate is a resident certificate");
    if (kind != id::IdKind::invalid) {
        FUZZ_CHECK(normalized.size() == 10 || normalized.size() == 8, "a valid ID has 10 or 8 characters");
        FUZZ_CHECK(normalized.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == std::string::npos,
                   "a valid ID is upper-case ASCII letters and digits");
    }
    for (const int year : {2026, 2030, 2031}) {
        const id::IdKind inYear = id::classifyIn(normalized, year);
        FUZZ_CHECK(inYear == kind || inYear == id::IdKind::invalid, "classifyIn() only takes validity away");
        if (year <= id::kOldResidentCertificateLastYear) {
            FUZZ_CHECK(inYear == kind, "until 2030 classifyIn() is classify()");
        } else {
            FUZZ_CHECK((inYear == kind) != id::isValidOldResidentCertificate(normalized),
                       "after 2030 exactly the old-format certificates are invalid");
        }
    }

    checkMask(input);
    checkMask(normalized);
    checkMaskIdsIn(input);
    return 0;
}
