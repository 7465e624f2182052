#pragma once
// Command-line parsing for the `taxdesk` binary: global options, the subcommand, and each subcommand's options.
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/runtime/config.hpp"

namespace taxdesk::engine {

/// Wrong words on the command line. The message says what is wrong; main prints it with a pointer to --help.
class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct CommandLine {
    std::string command;            ///< serve, broker, stubs, token, gen, topics, config; empty: none given
    std::vector<std::string> args;  ///< what follows the command, global options removed
    ConfigSources config;
    bool help = false;
    bool version = false;
};

/// Global options (--config FILE, --set key=value, --help, --version) may stand anywhere.
CommandLine parseCommandLine(const std::vector<std::string>& argv);

/// A subcommand's options: `--name value`, `--name=value` and flags. Unknown options are UsageErrors.
class ArgReader {
  public:
    ArgReader(const std::vector<std::string>& args, const std::set<std::string>& valueOptions,
              const std::set<std::string>& flags);
    [[nodiscard]] std::optional<std::string> value(const std::string& name) const;
    [[nodiscard]] bool flag(const std::string& name) const { return flags_.count(name) > 0; }
    [[nodiscard]] const std::vector<std::string>& positional() const { return positional_; }
    /// The value as a whole number in [min, max], or `fallback` when absent. Throws UsageError.
    [[nodiscard]] long long integer(const std::string& name, long long fallback, long long min, long long max) const;
    [[nodiscard]] double number(const std::string& name, double fallback, double min, double max) const;

  private:
    std::map<std::string, std::string> values_;
    std::set<std::string> flags_;
    std::vector<std::string> positional_;
};

/// The text of `taxdesk --help`.
std::string usageText();
/// The text of `taxdesk topics --help`.
std::string topicsUsageText();

}  // namespace taxdesk::engine
