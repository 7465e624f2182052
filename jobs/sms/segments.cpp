#include "jobs/sms/segments.hpp"

#include "jobs/common/utf8.hpp"

#include <cstddef>
#include <optional>
#include <string_view>

namespace taxdesk::jobs::sms {
namespace {

constexpr int kGsmSingle = 160;
constexpr int kGsmPart = 153;  // 160 less the 7 septets of the concatenation header
constexpr int kUcsSingle = 70;
constexpr int kUcsPart = 67;  // 70 less the 3 UTF-16 units of the concatenation header

using utf8::decodeAt;

/// The GSM 03.38 default alphabet beyond printable ASCII (which is all in it but for the characters below).
constexpr std::u32string_view kGsmBasicExtra = U"\n\r£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà";
/// Characters reached through the escape to the extension table: two septets each.
constexpr std::u32string_view kGsmExtension = U"\f^{}\\[~]|€";

/// Septets one character takes in GSM-7 (1, or 2 through the extension table), or 0 when it has no GSM-7 form.
int gsmSeptets(char32_t cp) {
    if (kGsmExtension.find(cp) != std::u32string_view::npos) return 2;
    if (cp == U'`') return 0;  // the one printable ASCII character GSM-7 lacks altogether
    if (cp >= 0x20 && cp < 0x7F) return 1;
    return kGsmBasicExtra.find(cp) != std::u32string_view::npos ? 1 : 0;
}

int segmentsFor(int units, int single, int part) {
    if (units <= single) return 1;
    return (units + part - 1) / part;
}

}  // namespace

bool isGsm7(std::string_view text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto cp = decodeAt(text, pos);
        if (!cp || gsmSeptets(*cp) == 0) return false;
    }
    return true;
}

int countSegments(std::string_view text) {
    int septets = 0;
    int utf16Units = 0;
    bool gsm = true;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto cp = decodeAt(text, pos);
        if (!cp) {
            // A gateway would send U+FFFD for the stray byte: one UCS-2 unit.
            ++pos;
            gsm = false;
            ++utf16Units;
            continue;
        }
        const int septetsHere = gsmSeptets(*cp);
        if (septetsHere == 0) gsm = false;
        septets += septetsHere;
        utf16Units += *cp >= 0x10000 ? 2 : 1;
    }
    return gsm ? segmentsFor(septets, kGsmSingle, kGsmPart) : segmentsFor(utf16Units, kUcsSingle, kUcsPart);
}

}  // namespace taxdesk::jobs::sms
