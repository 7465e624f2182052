#pragma once
// API tokens (SPEC 5): the store area auth and `taxdesk token` use.
#include <optional>
#include <string>
#include <vector>

namespace taxdesk::connectors {

struct TokenRecord {
    std::string tokenHash;   ///< hex SHA-256 of the token; the token itself is never stored
    std::string role;        ///< creditor | gateway | counter | ops
    std::string creditorId;  ///< set for role creditor
    std::string createdAt;
    std::string tokenId;    ///< public id (jobs::auth::tokenIdOf); names the token in `token list|revoke`
    std::string expiresAt;  ///< ISO 8601 UTC; "" = never expires
    std::string revokedAt;  ///< ISO 8601 UTC; "" = not revoked
};

/// What TokenStore::revokeToken did.
enum class RevokeOutcome {
    revoked,         ///< the token was valid and is revoked now
    alreadyRevoked,  ///< it was revoked before (its revoked_at is kept)
    unknown,         ///< no token has that id
};

/// The tokens area. Implemented over SQL by SqlTokenStore; thread-safe. Every call throws StoreError when the store
/// fails.
class TokenStore {
  public:
    virtual ~TokenStore() = default;

    /// Throws StoreError when the hash (or the token id) is already stored. An empty createdAt is stamped with the
    /// current time; an empty tokenId becomes the hash itself. expiresAt and revokedAt are stored as given.
    virtual void insertToken(const TokenRecord& token) = 0;
    virtual std::optional<TokenRecord> findToken(const std::string& tokenHash) = 0;
    /// Every token, oldest first (by created_at, then id): for `taxdesk token list`.
    virtual std::vector<TokenRecord> listTokens() = 0;
    /// Revokes the token with this id, stamping revoked_at (the current time when `revokedAt` is empty). Idempotent: a
    /// revoked token keeps its first revoked_at. Seen by the next request that uses the token (auth reads the store).
    virtual RevokeOutcome revokeToken(const std::string& tokenId, const std::string& revokedAt = "") = 0;
};

}  // namespace taxdesk::connectors
