#pragma once
// What every fuzz target shares: a check that stops the run with a message (libFuzzer then saves the input as
// crash-…), and the input as text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

/// Fails the run when `condition` is false: prints the invariant and where, then aborts (libFuzzer reports a crash
/// and keeps the input). Not an assert(): it stays on in every build type.
#define FUZZ_CHECK(condition, what)                                                                           \
    do {                                                                                                      \
        if (!(condition)) {                                                                                   \
            std::fprintf(stderr, "%s:%d: invariant broken: %s (%s)\n", __FILE__, __LINE__, what, #condition); \
            std::abort();                                                                                     \
        }                                                                                                     \
    } while (false)

namespace taxdesk::fuzz {

inline std::string_view asText(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

/// Whether `text` is valid UTF-8 as jobs::utf8::decodeAt means it (no overlongs, surrogates or values past U+10FFFF).
bool isValidUtf8(std::string_view text);

}  // namespace taxdesk::fuzz
