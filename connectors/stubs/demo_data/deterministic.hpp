#pragma once
// The hashing and the seeded random stream behind the synthetic population and the batch generator. Everything
// here is a pure function of its inputs (no global state, no std::random_device), and the arithmetic is spelled
// out rather than left to <random>'s distributions, whose output differs between standard libraries.
#include <cstdint>
#include <string_view>

namespace taxdesk::demo_data::detail {

/// FNV-1a, 64 bit.
constexpr std::uint64_t fnv1a(std::string_view text) noexcept {
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

/// The splitmix64 finaliser: spreads every input bit over the whole output.
constexpr std::uint64_t mix64(std::uint64_t value) noexcept {
    value += 0x9e3779b97f4a7c15ULL;
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
    return value ^ (value >> 31);
}

/// Combines a key with a salt so that streams for different purposes (name, income of 2023, …) are unrelated.
constexpr std::uint64_t combine(std::uint64_t key, std::uint64_t salt) noexcept {
    return mix64(key ^ mix64(salt));
}

/// A splitmix64 stream. Cheap to copy; not thread-safe (make one per use).
class Stream {
  public:
    constexpr explicit Stream(std::uint64_t state) noexcept : state_(state) {}

    constexpr std::uint64_t next() noexcept {
        state_ += 0x9e3779b97f4a7c15ULL;
        std::uint64_t z = state_;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    /// Uniform in [0, bound); 0 for a bound of 0. The modulo bias is below 2^-40 for the bounds used here.
    constexpr std::uint64_t below(std::uint64_t bound) noexcept { return bound == 0 ? 0 : next() % bound; }

    /// Uniform in [low, high].
    constexpr long long between(long long low, long long high) noexcept {
        return low + static_cast<long long>(below(static_cast<std::uint64_t>(high - low) + 1));
    }

    /// Uniform in [0, 1) with 53 bits.
    constexpr double unit() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

    /// True with probability `p`.
    constexpr bool chance(double p) noexcept { return unit() < p; }

  private:
    std::uint64_t state_;
};

}  // namespace taxdesk::demo_data::detail
