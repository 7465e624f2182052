#pragma once
// Log set-up: key=value lines on stderr (scripts send them to var/log/). IDs are masked where they are logged
// (jobs::identity::mask); nothing here sees personal data.
#include <string>

namespace taxdesk::engine {

/// Sends every logger's output to stderr as `time level source message` key=value lines, at `level` and above.
void setupLogging(const std::string& level, const std::string& process);

}  // namespace taxdesk::engine
