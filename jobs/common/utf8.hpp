#pragma once
// UTF-8 decoding and encoding, shared by the ID rules, the SMS rules and the JSON reader.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace taxdesk::jobs::utf8 {

/// Decodes one UTF-8 sequence at `pos`; on success advances `pos`. Rejects overlong forms, surrogates and values
/// above U+10FFFF, so that "valid UTF-8" here means what every other decoder means by it.
std::optional<char32_t> decodeAt(std::string_view text, std::size_t& pos);

/// Appends the UTF-8 encoding of `cp` (a Unicode scalar value) to `out`.
void append(std::string& out, char32_t cp);

}  // namespace taxdesk::jobs::utf8
