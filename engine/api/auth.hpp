#pragma once
// SPEC 5: bearer tokens with roles. Tokens are stored only as their SHA-256; a creditor token is bound to one
// creditor id.
#include <initializer_list>
#include <string>

#include "connectors/store/token_store.hpp"
#include "engine/http/http_server.hpp"

namespace taxdesk::engine::api {

struct Principal {
    std::string role;        ///< creditor | gateway | counter | ops
    std::string creditorId;  ///< for role creditor
    std::string tokenId;     ///< the token's public id (jobs::auth::tokenIdOf): what a webhook is registered under
};

/// A new random token ("tdk_" and 48 hex digits).
std::string generateToken();
/// The hex SHA-256 under which a token is stored.
std::string hashToken(const std::string& token);

/// The caller of `request`, who must hold one of `roles`. Throws HttpError 401 (no or unknown token: unauthorized; a
/// revoked one: token_revoked; an expired one: token_expired) or 403 (another role). The token is looked up in the
/// store on every call, so a revocation holds from the next request.
Principal authenticate(const HttpRequest& request, connectors::TokenStore& tokens,
                       std::initializer_list<const char*> roles);

}  // namespace taxdesk::engine::api
