#pragma once
// `taxdesk submit`: the creditor's command-line client. Uploads a batch file, pays its fee, shows progress and
// downloads the results, over the same REST API as the portal.
#include <string>
#include <vector>

namespace taxdesk::engine {

/// Runs `taxdesk submit` with the arguments after the command word. Returns the exit code.
int commandSubmit(const std::vector<std::string>& args);

}  // namespace taxdesk::engine
