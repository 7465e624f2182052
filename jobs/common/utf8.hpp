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

/// The length of the longest prefix of `text` made of whole, well-formed UTF-8 sequences (the rules of decodeAt):
/// `text.size()` when all of it is valid UTF-8. Eight ASCII bytes are checked at a time.
std::size_t validPrefix(std::string_view text) noexcept;

/// True when all of `text` is well-formed UTF-8 (the rules of decodeAt). SIMD (simdjson's validator, several GB/s):
/// for whole chunks of a file.
bool isValid(std::string_view text) noexcept;

/// The length of the sequence that `lead` starts (2–4), 0 when it is ASCII or cannot start one.
std::size_t sequenceLength(unsigned char lead) noexcept;

/// How many bytes at the start of `text` are ASCII (below 0x80), eight checked at a time.
std::size_t asciiPrefix(std::string_view text) noexcept;

/// True when every byte of `text` is ASCII (below 0x80).
inline bool isAscii(std::string_view text) noexcept {
    return asciiPrefix(text) == text.size();
}

/// Appends the UTF-8 encoding of `cp` (a Unicode scalar value) to `out`.
void append(std::string& out, char32_t cp);

}  // namespace taxdesk::jobs::utf8
