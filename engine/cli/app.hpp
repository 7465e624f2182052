#pragma once
// The `taxdesk` binary: one entry point, a subcommand per process kind and tool.

namespace taxdesk::engine {

/// Parses the command line, checks the configuration, and runs the subcommand. Returns the exit code:
/// 0 success, 1 failure at run time, 2 wrong usage, 78 bad configuration.
int runMain(int argc, char** argv);

}  // namespace taxdesk::engine
