#pragma once
// SPEC 4.2: how many SMS segments an outbound text costs. Pure functions, thread-safe.
#include <string_view>

namespace taxdesk::jobs::sms {

/// True when every character of the UTF-8 `text` is in the GSM 03.38 default alphabet or its extension table,
/// so the message can travel as GSM-7. Invalid UTF-8 is not GSM-7.
bool isGsm7(std::string_view text);

/// Segments needed to send the UTF-8 `text` (SPEC 4.2). GSM-7: up to 160 septets in one segment, else 153 per
/// segment; extension-table characters (`^{}\[~]|€` and form feed) take two septets. Anything else is UCS-2: up
/// to 70 UTF-16 code units in one segment, else 67 per segment (a character outside the BMP takes two; an
/// undecodable byte counts as one). An empty text is one segment, as a gateway sends it.
int countSegments(std::string_view text);

}  // namespace taxdesk::jobs::sms
