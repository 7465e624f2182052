#include "engine/cli/cli.hpp"

#include <cstdlib>

namespace taxdesk::engine {

CommandLine parseCommandLine(const std::vector<std::string>& argv) {
    CommandLine line;
    for (std::size_t i = 1; i < argv.size(); ++i) {
        const std::string& arg = argv[i];
        auto takeValue = [&](const std::string& name) -> std::string {
            if (arg.size() > name.size() && arg[name.size()] == '=') return arg.substr(name.size() + 1);
            if (i + 1 >= argv.size()) throw UsageError(name + " needs a value");
            return argv[++i];
        };
        if (arg == "-h" || arg == "--help") {
            line.help = true;
        } else if (arg == "--version") {
            line.version = true;
        } else if (arg == "--set" || arg.rfind("--set=", 0) == 0) {
            line.config.sets.push_back(takeValue("--set"));
        } else if (arg == "--config" || arg.rfind("--config=", 0) == 0) {
            line.config.file = takeValue("--config");
        } else if (line.command.empty() && !arg.empty() && arg[0] != '-') {
            line.command = arg;
        } else if (line.command.empty()) {
            throw UsageError("unknown option '" + arg + "' before the command");
        } else {
            line.args.push_back(arg);
        }
    }
    if (line.config.file.empty()) {
        if (const char* file = std::getenv("TAXDESK_CONFIG")) line.config.file = file;
    }
    return line;
}

ArgReader::ArgReader(const std::vector<std::string>& args, const std::set<std::string>& valueOptions,
                     const std::set<std::string>& flags) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg.rfind("--", 0) != 0) {
            positional_.push_back(arg);
            continue;
        }
        const auto eq = arg.find('=');
        const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
        if (valueOptions.count(name)) {
            if (eq != std::string::npos) {
                values_[name] = arg.substr(eq + 1);
            } else if (i + 1 < args.size()) {
                values_[name] = args[++i];
            } else {
                throw UsageError("--" + name + " needs a value");
            }
        } else if (flags.count(name) && eq == std::string::npos) {
            flags_.insert(name);
        } else {
            throw UsageError("unknown option '" + arg + "'");
        }
    }
}

std::optional<std::string> ArgReader::value(const std::string& name) const {
    const auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

long long ArgReader::integer(const std::string& name, long long fallback, long long min, long long max) const {
    const auto text = value(name);
    if (!text) return fallback;
    char* end = nullptr;
    const long long number = std::strtoll(text->c_str(), &end, 10);
    if (text->empty() || *end != '\0' || number < min || number > max)
        throw UsageError("--" + name + " must be a whole number from " + std::to_string(min) + " to " +
                         std::to_string(max) + ", not '" + *text + "'");
    return number;
}

double ArgReader::number(const std::string& name, double fallback, double min, double max) const {
    const auto text = value(name);
    if (!text) return fallback;
    char* end = nullptr;
    const double number = std::strtod(text->c_str(), &end);
    if (text->empty() || *end != '\0' || number < min || number > max)
        throw UsageError("--" + name + " must be a number from " + std::to_string(min) + " to " + std::to_string(max) +
                         ", not '" + *text + "'");
    return number;
}

std::string usageText() {
    return R"(taxdesk - creditor batch inquiry and SMS quick pickup engine (National Taxation Bureau of Taipei model)

Usage: taxdesk [--config FILE] [--set key=value ...] <command> [options]

Commands:
  serve                      the engine: HTTP API (/healthz, /readyz, /metrics), Kafka consumers, scheduled work.
                             Several processes with the same kafka.group_id share the work.
  broker                     the embedded Kafka broker (librdkafka's mock cluster) in this process; creates the
                             topics, writes its bootstrap list to <app.var_dir>/kafka-bootstrap, runs until SIGTERM.
  stubs                      serves the connector stubs (registry, NHI card, tax data, EasyCard, SMS gateway) over
                             HTTP on stubs.port, for connectors.mode=http.
  token create --role R [--creditor ID] [--expires-in DAYS | --expires YYYY-MM-DD]
                             creates an API token (roles: creditor, gateway, counter, ops; creditor needs
                             --creditor) and prints it once on stdout (its id on stderr); only its hash is
                             stored. Default: it never expires; --expires-in DAYS (1-3650) from now, or
                             --expires DATE: valid through that day in Taipei. After it, requests get 401
                             token_expired.
  token list                 prints every token's id, role, creditor, created, expires and revoked times
                             (tab-separated; never the token or its hash).
  token revoke ID            revokes the token with that id (from create or list): from the next request it
                             gets 401 token_revoked, also in a running engine. Revoking twice is fine; an
                             unknown id exits 1.
  gen --rows N [--seed S] [--bad-fraction F] [--charset utf-8|big5] [--out FILE]
                             writes a creditor batch file (SPEC 3.1) matching the stub population; F of the rows
                             (default 0) carry one mistake each (bad ID, missing field, bad scope, bad year, title
                             too long, duplicate).
  gen --sms N [--bad-fraction F] [--seed S] [--first K] [--out FILE]
                             writes inbound SMS (SPEC 4.1, JSON lines) from people of the stub population; F of
                             them carry one mistake each (invalid ID, wrong NHI digits, unknown service, malformed
                             text, a help request, a deceased applicant). --first K starts at message K, so that
                             a second load has new message ids.
  gen --rows N --format requests [--batch ID] [--creditor ID] [--seed S] [--out FILE]
                             writes inquiry.requests messages (JSON lines) for the same population, to feed the
                             engine straight through Kafka (kcat -P -t inquiry.requests -k ID).
  submit FILE --token T [--url U] [--charset big5] [--pay CARD] [--out FILE] [--format csv|json]
                             uploads a batch file, pays its fee with the EasyCard CARD, shows progress, and
                             downloads the results (default http://127.0.0.1:8080, <batch>-results.csv).
                             --poll-ms MS: status polled every MS (500); --timing: prints one line of the
                             seconds of each phase (upload, pay, paid→finished, download) on stdout.
  topics create              creates every topic the engine needs (SPEC 6, with kafka.topic_prefix) on the cluster
                             at kafka.bootstrap, with kafka.topic_partitions and kafka.replication_factor, through
                             the admin API; existing topics are left as they are. Prints "created" or "exists" a
                             topic. Run it once before the engines on a real cluster (kafka.auto_create_topics=false).
  topics check [--strict]    lists each needed topic with its partitions and replicas; exits 1 with one line per
                             missing topic. A partition count or replication factor other than configured is a
                             warning (exit 0), an error with --strict. See taxdesk topics --help.
  verify FILE [--signature S | --sig-file F] [--key PEM]
                             checks a results download offline: its SHA-256 against the signature line (default
                             FILE.sig, as GET .../results.csv.sig gives it; --signature: the X-Taxdesk-Signature
                             header's value) and that line's Ed25519 signature against the bureau's public key
                             (--key; default the configured results.signing_key). Exit 0 valid, 1 not valid (why
                             on stderr), 2 usage.
  config                     prints the effective configuration (secrets masked) and where each value came from.

Global options:
  --config FILE              a properties file (see config/taxdesk.properties; also TAXDESK_CONFIG)
  --set key=value            overrides one key; repeatable. The environment overrides too: TAXDESK_SECTION_KEY,
                             e.g. TAXDESK_HTTP_PORT=9090. Order: defaults < file < environment < --set.
  -h, --help                 this text
  --version                  the version

Every key is checked at start-up; an unknown key or a bad value stops the program with a line naming the key.
Examples:
  taxdesk broker &
  taxdesk serve --set http.port=8080
  taxdesk gen --rows 1000 --bad-fraction 0.05 --out batch.csv
  taxdesk token create --role creditor --creditor C1 --expires-in 90
  taxdesk token list
)";
}

std::string topicsUsageText() {
    return R"(Usage: taxdesk [--config FILE] [--set key=value ...] topics create|check [--strict]

The topics of SPEC 6 with kafka.topic_prefix: inquiry.requests, inquiry.results, sms.inbound,
notifications.outbound, payments.records, and each one's .dlq. The cluster is kafka.bootstrap (else
<app.var_dir>/kafka-bootstrap), reached with the kafka.rdkafka.* properties (SASL/SSL); every wait is bounded by
kafka.admin_timeout_ms.

  topics create              creates the missing topics with kafka.topic_partitions partitions and replication
                             factor kafka.replication_factor (-1: the cluster's default) through librdkafka's admin
                             API (CreateTopics); prints "created <topic>" or "exists <topic>" for each. Idempotent:
                             run it again at any time. The embedded broker (`taxdesk broker`) has no CreateTopics:
                             there a missing topic is made the way that broker makes topics, with its own
                             partition count, and the line says so.
  topics check [--strict]    prints "<topic> partitions=N replicas=R ok|differs|missing" for each; exits 1 with
                             one line "missing topic <name>" per missing topic on stderr. A partition count or
                             replication factor other than configured is a warning line (exit 0): the engine is
                             correct with any count, only the spread of the work changes; --strict makes it an
                             error (exit 1).

Exit codes: 0 done, 1 a topic missing or the cluster did not answer, 2 wrong usage, 78 bad configuration.
With kafka.auto_create_topics=false, `taxdesk serve` makes the same check at start and refuses to start (exit 1)
with one line naming the missing topics.
)";
}

}  // namespace taxdesk::engine
