#include "engine/api/auth.hpp"

#include <Poco/DateTimeFormatter.h>
#include <Poco/DigestEngine.h>
#include <Poco/RandomStream.h>
#include <Poco/SHA2Engine.h>
#include <Poco/Timestamp.h>

#include "jobs/auth/tokens.hpp"

namespace taxdesk::engine::api {

std::string generateToken() {
    Poco::RandomInputStream random;
    Poco::DigestEngine::Digest bytes(24);
    random.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return "tdk_" + Poco::DigestEngine::digestToHex(bytes);
}

std::string hashToken(const std::string& token) {
    Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
    engine.update(token);
    return Poco::DigestEngine::digestToHex(engine.digest());
}

Principal authenticate(const HttpRequest& request, connectors::TokenStore& tokens,
                       std::initializer_list<const char*> roles) {
    const std::string header = request.header("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (header.size() <= kBearer.size() || header.compare(0, kBearer.size(), kBearer) != 0)
        throw HttpError(401, "unauthorized", "an Authorization: Bearer <token> header is required");
    const auto token = tokens.findToken(hashToken(header.substr(kBearer.size())));
    if (!token) throw HttpError(401, "unauthorized", "the token is not valid");
    // Read from the store on every request (no cache): a revocation by `taxdesk token revoke` holds from the next one.
    const std::string now = Poco::DateTimeFormatter::format(Poco::Timestamp(), "%Y-%m-%dT%H:%M:%S.%iZ");
    switch (jobs::auth::tokenState(token->expiresAt, token->revokedAt, now)) {
        case jobs::auth::TokenState::revoked:
            throw HttpError(401, "token_revoked", "the token was revoked at " + token->revokedAt);
        case jobs::auth::TokenState::expired:
            throw HttpError(401, "token_expired", "the token expired at " + token->expiresAt);
        case jobs::auth::TokenState::valid:
            break;
    }
    for (const char* role : roles)
        if (token->role == role) return {token->role, token->creditorId, token->tokenId};
    throw HttpError(403, "forbidden", "a " + token->role + " token may not do this");
}

}  // namespace taxdesk::engine::api
