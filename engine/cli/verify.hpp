#pragma once
// `taxdesk verify FILE [--signature S | --sig-file F] [--key PEM]` (issue 13): checks a results download offline
// against its signature line and the bureau's public key (GET /.well-known/taxdesk-results-key).
#include <string>
#include <vector>

namespace taxdesk::engine {

/// Runs `taxdesk verify` with the arguments after the command word. `configuredKey` is the resolved
/// results.signing_key, used (its public half) when --key is not given and the file exists. Exit 0: valid; 1: not
/// valid, the reason on stderr; 2: usage (a missing file, signature or key, or one that cannot be read as such).
int commandVerify(const std::vector<std::string>& args, const std::string& configuredKey);

}  // namespace taxdesk::engine
