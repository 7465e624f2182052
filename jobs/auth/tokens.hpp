#pragma once
// SPEC 5: API tokens. The rules for a token's validity (expiry, revocation), its public id and its expiry as given
// on the command line. Pure functions over ISO 8601 UTC text ("2026-12-01T13:20:00.000Z", as the store writes it:
// such strings compare in time order). Thread-safe.
#include <optional>
#include <string>
#include <string_view>

namespace taxdesk::jobs::auth {

enum class TokenState {
    valid,
    expired,  ///< its expiry is at or before now
    revoked,  ///< revoked (wins over expired: the stronger statement)
};

/// The state of a token with `expiresAt` ("" = never) and `revokedAt` ("" = not revoked) at `now`.
TokenState tokenState(std::string_view expiresAt, std::string_view revokedAt, std::string_view now) noexcept;

/// The public id of a token: the first 12 hex digits of its SHA-256 (the stored hash). It names a token in `token
/// list` and `token revoke` and cannot give the token back.
std::string tokenIdOf(std::string_view tokenHash);

/// The expiry (ISO 8601 UTC) of a token created at `now` (ISO 8601 UTC) with `--expires-in DAYS` (a whole number
/// 1..3650: now + DAYS × 24 h) or `--expires YYYY-MM-DD` (valid through that day in Taipei, where the bureau and
/// its creditors are: it expires at 00:00 Asia/Taipei of the next day, 16:00 UTC on the day; it must not be over).
/// Neither: std::nullopt (no expiry). Both, or a bad value: std::invalid_argument naming the option.
std::optional<std::string> expiryFor(const std::optional<std::string>& expiresInDays,
                                     const std::optional<std::string>& expiresOn, std::string_view now);

}  // namespace taxdesk::jobs::auth
