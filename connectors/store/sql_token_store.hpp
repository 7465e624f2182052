#pragma once
// The tokens area over SQL (table api_tokens).
#include "connectors/store/database.hpp"
#include "connectors/store/token_store.hpp"

namespace taxdesk::connectors {

class SqlTokenStore final : public TokenStore {
  public:
    /// Over an open database; must not outlive it.
    explicit SqlTokenStore(Database& db) : db_(db) {}

    void insertToken(const TokenRecord& token) override;
    std::optional<TokenRecord> findToken(const std::string& tokenHash) override;
    std::vector<TokenRecord> listTokens() override;
    RevokeOutcome revokeToken(const std::string& tokenId, const std::string& revokedAt = "") override;

  private:
    Database& db_;
};

}  // namespace taxdesk::connectors
