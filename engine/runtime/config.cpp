#include "engine/runtime/config.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <Poco/Environment.h>
#include <Poco/String.h>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

extern char** environ;

namespace taxdesk::engine {
namespace {

constexpr const char* kRdkafkaPrefix = "kafka.rdkafka.";
constexpr const char* kEnvPrefix = "TAXDESK_";

// Environment variables under TAXDESK_ that are not configuration keys.
bool isReservedEnv(const std::string& name) {
    return name == "TAXDESK_CONFIG" || name.rfind("TAXDESK_TEST_", 0) == 0;
}

const KeySpec* findSpec(const std::string& key) {
    for (const auto& spec : configSchema())
        if (key == spec.key) return &spec;
    return nullptr;
}

std::string formatNumber(double value) {
    std::ostringstream out;
    out << std::fixed;
    out.precision(value == std::floor(value) ? 0 : 3);
    out << value;
    return out.str();
}

/// Checks one value against its spec; returns a problem description, or empty.
std::string check(const KeySpec& spec, const std::string& value) {
    switch (spec.type) {
        case KeyType::string:
            return {};
        case KeyType::integer: {
            errno = 0;
            char* end = nullptr;
            const long long number = std::strtoll(value.c_str(), &end, 10);
            if (value.empty() || *end != '\0' || errno == ERANGE) return "must be a whole number";
            if (number < spec.min || number > spec.max)
                return "must be from " + formatNumber(spec.min) + " to " + formatNumber(spec.max);
            return {};
        }
        case KeyType::number: {
            char* end = nullptr;
            const double number = std::strtod(value.c_str(), &end);
            if (value.empty() || *end != '\0' || !std::isfinite(number)) return "must be a number";
            if (number < spec.min || number > spec.max)
                return "must be from " + formatNumber(spec.min) + " to " + formatNumber(spec.max);
            return {};
        }
        case KeyType::boolean:
            if (value == "true" || value == "false") return {};
            return "must be true or false";
        case KeyType::choice: {
            std::string allowed = std::string("|") + spec.choices + "|";
            if (allowed.find("|" + value + "|") != std::string::npos) return {};
            std::string list = spec.choices;
            std::replace(list.begin(), list.end(), '|', ',');
            return "must be one of: " + list;
        }
    }
    return {};
}

std::string shown(const KeySpec* spec, const std::string& value) {
    return spec != nullptr && spec->secret && !value.empty() ? "*****" : value;
}

}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(problems.empty() ? "configuration error" : problems.front()), problems_(std::move(problems)) {}

const std::vector<KeySpec>& configSchema() {
    // clang-format off
    static const std::vector<KeySpec> schema{
        {"app.var_dir", KeyType::string, "var", 0, 0, "", false, "runtime state: the SQLite store, kafka-bootstrap, logs"},
        {"app.log_level", KeyType::choice, "information", 0, 0, "trace|debug|information|notice|warning|error|critical|fatal", false, "least severe level logged"},
        {"http.host", KeyType::string, "127.0.0.1", 0, 0, "", false, "address the HTTP server binds"},
        {"http.port", KeyType::integer, "8080", 1, 65535, "", false, "HTTP port of `taxdesk serve`"},
        {"http.threads", KeyType::integer, "16", 1, 512, "", false, "HTTP worker threads"},
        {"http.max_body_bytes", KeyType::integer, "1048576", 1024, 1073741824, "", false, "largest request body of the JSON routes, read before parsing (413 beyond); the upload has limits.batch_bytes"},
        {"http.header_timeout_ms", KeyType::integer, "10000", 100, 600000, "", false, "the whole request head (request line and headers) must arrive within this (408 beyond)"},
        {"http.body_timeout_ms", KeyType::integer, "30000", 100, 600000, "", false, "a JSON route's whole body must arrive within this (408 beyond)"},
        {"http.read_timeout_ms", KeyType::integer, "5000", 100, 600000, "", false, "longest wait for one read of an uploaded body"},
        {"http.keepalive_timeout_ms", KeyType::integer, "5000", 100, 600000, "", false, "an idle keep-alive connection is closed after this"},
        {"http.keepalive_requests", KeyType::integer, "100", 1, 100000, "", false, "requests on one connection before it is closed"},
        {"http.max_connections_per_client", KeyType::integer, "64", 1, 100000, "", false, "open connections from one client address (503 beyond)"},
        {"http.max_queued", KeyType::integer, "256", 1, 100000, "", false, "requests waiting for a worker (503 beyond)"},
        {"http.request_timeout_ms", KeyType::integer, "120000", 1000, 86400000, "", false, "one turn of a connection on a worker, request(s) to the last byte of the answer; a slower client is cut off"},
        {"http.stream_timeout_ms", KeyType::integer, "900000", 1000, 86400000, "", false, "the same for a turn that streams an upload in or results out"},
        {"http.max_connections", KeyType::integer, "10000", 1, 1000000, "", false, "open connections in all (503 beyond); capped by the open-file limit"},
        {"kafka.bootstrap", KeyType::string, "", 0, 0, "", false, "bootstrap.servers; empty: read <app.var_dir>/kafka-bootstrap"},
        {"kafka.topic_prefix", KeyType::string, "", 0, 0, "", false, "prefix of every topic name"},
        {"kafka.group_id", KeyType::string, "taxdesk-engine", 0, 0, "", false, "consumer group of the engine processes"},
        {"kafka.session_timeout_ms", KeyType::integer, "6000", 1000, 300000, "", false, "session.timeout.ms of the engine's consumers: a SIGKILLed engine holds its partitions this long before another takes them"},
        {"kafka.instance_id", KeyType::string, "", 0, 0, "", false, "static group membership (group.instance.id <id>.<group>), one distinct value per engine; empty: dynamic"},
        {"kafka.topic_partitions", KeyType::integer, "16", 1, 10000, "", false, "partitions of each topic `taxdesk topics create` makes (on a real cluster); `taxdesk topics check` and the start-up check warn when a topic has another count"},
        {"kafka.replication_factor", KeyType::integer, "-1", -1, 32, "", false, "replication factor of each topic `taxdesk topics create` makes; -1: the cluster's default.replication.factor"},
        {"kafka.auto_create_topics", KeyType::boolean, "true", 0, 0, "", false, "true: topics are left to the broker, which makes them on first use (the embedded broker does); false: `taxdesk serve` checks at start that every topic exists and refuses to start, naming the missing ones"},
        {"kafka.admin_timeout_ms", KeyType::integer, "10000", 100, 300000, "", false, "longest wait of `taxdesk topics` and the start-up check for the cluster"},
        {"broker.brokers", KeyType::integer, "1", 1, 9, "", false, "brokers in the embedded mock cluster"},
        {"broker.partitions", KeyType::integer, "16", 1, 1024, "", false, "partitions per topic created by `taxdesk broker`"},
        {"broker.port", KeyType::integer, "0", 0, 65535, "", false, "port of the embedded broker: 0 = any free port (new ones on each start), else broker i listens on 127.0.0.1:port+i-1, so a restarted broker is found at the same address"},
        {"broker.extra_prefixes", KeyType::string, "", 0, 0, "", false, "more topic prefixes, comma-separated, whose SPEC topics `taxdesk broker` creates too (benches, tests)"},
        {"redis.host", KeyType::string, "127.0.0.1", 0, 0, "", false, "Redis host"},
        {"redis.port", KeyType::integer, "6390", 1, 65535, "", false, "Redis port"},
        {"redis.timeout_ms", KeyType::integer, "1000", 10, 60000, "", false, "Redis connect and command timeout"},
        {"redis.key_prefix", KeyType::string, "taxdesk:", 0, 0, "", false, "prefix of every Redis key"},
        {"redis.cache_ttl_s", KeyType::integer, "3600", 1, 604800, "", false, "lifetime of cached connector answers"},
        {"store.backend", KeyType::choice, "sqlite", 0, 0, "sqlite|postgresql", false, "SQL store"},
        {"store.sqlite_path", KeyType::string, "", 0, 0, "", false, "SQLite file; empty: <app.var_dir>/taxdesk.db"},
        {"store.postgresql", KeyType::string, "", 0, 0, "", true, "libpq connection string for store.backend=postgresql"},
        {"store.pool_size", KeyType::integer, "8", 1, 256, "", false, "SQL sessions kept open"},
        {"store.statement_timeout_ms", KeyType::integer, "60000", 0, 86400000, "", false, "PostgreSQL: the server cancels a statement of the engine that runs longer (a retryable store error), so a stuck query holds no session or shutdown for ever; 0 = no limit; migrations run without it"},
        {"pipeline.batch_size", KeyType::integer, "2000", 1, 100000, "", false, "messages consumed and processed together"},
        {"pipeline.batch_timeout_ms", KeyType::integer, "10", 0, 10000, "", false, "longest wait for a batch to fill"},
        {"pipeline.concurrency", KeyType::integer, "32", 1, 1024, "", false, "connector calls in flight at once"},
        {"pipeline.max_in_flight", KeyType::integer, "20000", 1, 10000000, "", false, "messages consumed but not yet committed, at most"},
        {"pipeline.connector_attempts", KeyType::integer, "3", 1, 20, "", false, "tries of a failing connector call before the row is an error (connectors.mode=stub; the network clients retry each call themselves, connectors.retries, so with connectors.mode=http the stage tries once)"},
        {"pipeline.connector_backoff_ms", KeyType::integer, "20", 1, 60000, "", false, "first pause before the stage tries a connector call again, doubled per retry, with jitter"},
        {"pipeline.connector_max_backoff_ms", KeyType::integer, "1000", 1, 600000, "", false, "the doubling of pipeline.connector_backoff_ms stops here"},
        {"pipeline.retry_backoff_ms", KeyType::integer, "100", 1, 60000, "", false, "first pause before a batch is tried again after a transient failure (store or broker away), doubled per retry, with jitter; batches are retried until they succeed or the engine stops"},
        {"pipeline.retry_max_backoff_ms", KeyType::integer, "5000", 1, 600000, "", false, "the doubling of pipeline.retry_backoff_ms stops here"},
        {"connectors.mode", KeyType::choice, "stub", 0, 0, "stub|http", false, "in-process stubs, or network clients at connectors.base_url"},
        {"connectors.base_url", KeyType::string, "http://127.0.0.1:8091", 0, 0, "", false, "base URL of the connector services (taxdesk stubs)"},
        {"connectors.timeout_ms", KeyType::integer, "2000", 10, 120000, "", false, "network connector timeout"},
        {"connectors.retries", KeyType::integer, "3", 0, 20, "", false, "network connector retries after the first try"},
        {"connectors.backoff_ms", KeyType::integer, "50", 1, 60000, "", false, "first back-off, doubled per retry, with jitter"},
        {"connectors.max_backoff_ms", KeyType::integer, "10000", 1, 600000, "", false, "the doubling of connectors.backoff_ms stops here"},
        {"connectors.breaker_failures", KeyType::integer, "5", 1, 1000, "", false, "consecutive failures that open a circuit breaker"},
        {"connectors.breaker_open_ms", KeyType::integer, "5000", 10, 600000, "", false, "time a breaker stays open before a probe"},
        {"stubs.seed", KeyType::integer, "20261126", 0, 9.0e15, "", false, "seed of the synthetic population"},
        {"stubs.latency_ms", KeyType::integer, "0", 0, 60000, "", false, "latency added to every stub call"},
        {"stubs.jitter_ms", KeyType::integer, "0", 0, 60000, "", false, "random extra latency, 0..jitter_ms"},
        {"stubs.failure_rate", KeyType::number, "0", 0, 1, "", false, "probability that a stub call fails (retryable)"},
        {"stubs.timeout_rate", KeyType::number, "0", 0, 1, "", false, "probability that a stub call hangs stubs.timeout_ms, then fails (retryable)"},
        {"stubs.timeout_ms", KeyType::integer, "5000", 0, 600000, "", false, "how long a timed-out stub call hangs (above connectors.timeout_ms)"},
        {"stubs.port", KeyType::integer, "8091", 1, 65535, "", false, "HTTP port of `taxdesk stubs`"},
        {"payment.stub_balance", KeyType::integer, "1000000", 0, 1.0e12, "", false, "starting balance of every EasyCard in the stub (NT$)"},
        {"payment.lease_s", KeyType::integer, "60", 5, 3600, "", false, "a payment's charge is left to its request this long before another request or engine may take it over; longer than a charge can take, retries included"},
        {"payment.recheck_hours", KeyType::integer, "24", 0, 720, "", false, "a payment found not charged when its request vanished is asked about again this long, in case the provider charged it late; 0: never"},
        {"payment.recheck_interval_s", KeyType::integer, "300", 1, 86400, "", false, "how often those payments are asked about"},
        {"fee.property", KeyType::integer, "250", 0, 100000, "", false, "fee for property data per accepted row (NT$)"},
        {"fee.income_year", KeyType::integer, "250", 0, 100000, "", false, "fee per income year per accepted row (NT$)"},
        {"limits.batch_rows", KeyType::integer, "100000", 1, 10000000, "", false, "most data rows in one batch file"},
        {"limits.batch_bytes", KeyType::integer, "33554432", 1024, 1.0e10, "", false, "largest batch file (bytes)"},
        {"results.signing_key", KeyType::string, "", 0, 0, "", false, "PEM file of the Ed25519 private key that signs results downloads; empty: <app.var_dir>/results-signing-key.pem, generated (mode 0600) on the first start"},
        {"dispatch.block_rows", KeyType::integer, "500", 1, 1000000, "", false, "consecutive rows of a paid batch sent to inquiry.requests under one message key (<batch_id>:<block number>), so that one batch spreads over every partition and every engine of the group"},
        {"dispatch.window_rows", KeyType::integer, "5000", 1, 10000000, "", false, "rows of one batch sent and without a result, at most, per partition of inquiry.requests (broker.partitions): the embedded broker keeps only the last 5 MiB of a partition"},
        {"dispatch.chunk_rows", KeyType::integer, "5000", 1, 100000, "", false, "rows read from the store and sent (then acknowledged by the broker) at a time"},
        {"audit.enabled", KeyType::boolean, "true", 0, 0, "", false, "record every stored look-up result and every download in the hash-chained audit trail (issue 13)"},
        {"audit.id_key", KeyType::string, "", 0, 0, "", true, "secret of the audit trail's debtor-ID HMAC and of its prune checkpoints; empty: <app.var_dir>/audit-id.key, generated on first run (mode 0600)"},
        {"audit.retention_days", KeyType::integer, "3650", 1, 36500, "", false, "days of audit trail `taxdesk audit prune` keeps (older whole days are removed after a signed checkpoint)"},
        {"sms.daily_limit", KeyType::integer, "5", 1, 1000, "", false, "applications per msisdn per day"},
        {"sms.pickup_business_days", KeyType::integer, "3", 1, 30, "", false, "business days until the pickup deadline"},
        {"sms.max_attempts", KeyType::integer, "3", 1, 20, "", false, "sends of a failed alert before a dead letter"},
        {"sms.lock_max_seconds", KeyType::integer, "14400", 600, 604800, "", false, "longest identity-check lock: the first lasts 600 s, each further one within 24 h twice as long, up to this"},
        {"sms.offices_file", KeyType::string, "", 0, 0, "", false, "district → office table; empty: the embedded config/offices.properties"},
        {"sms.holidays_file", KeyType::string, "", 0, 0, "", false, "holidays (YYYY-MM-DD a line; `YYYY-MM-DD workday` for a make-up working Saturday); empty: the embedded config/holidays.txt"},
        {"sms.produce_timeout_ms", KeyType::integer, "2000", 100, 60000, "", false, "longest wait of POST /api/v1/sms/inbound and /dlr for the broker before 503 with Retry-After"},
        {"sms.batch_timeout_ms", KeyType::integer, "20", 1, 10000, "", false, "the SMS stage's and the sender's longest wait for a first message while none is queued (they never wait for a batch to fill: what is queued is taken at once)"},
        {"sms.fetch_wait_max_ms", KeyType::integer, "2", 0, 10000, "", false, "librdkafka fetch.wait.max.ms of the SMS stage's and the sender's consumers"},
        {"sms.linger_ms", KeyType::integer, "1", 0, 1000, "", false, "librdkafka linger.ms of the SMS stage's and the sender's producers"},
        {"sms.scheduler_interval_s", KeyType::integer, "30", 1, 3600, "", false, "how often reminders and expiry are looked for"},
        {"sms.requeue_after_s", KeyType::integer, "60", 1, 86400, "", false, "a notification still queued this long after it was stored (its produce failed, or the broker lost it) is produced again by the scheduler"},
        {"sms.inbox_requeue_after_s", KeyType::integer, "30", 1, 86400, "", false, "an inbound SMS still queued in the inbox this long after it was stored or last produced (its produce failed, or the broker lost it) is produced to sms.inbound again by the scheduler"},
        {"sms.inbox_max_attempts", KeyType::integer, "10", 1, 1000, "", false, "produces of one inbound SMS (the API's and the re-drives) after which the scheduler leaves it queued for operations"},
        {"sms.inbox_retention_s", KeyType::integer, "604800", 60, 31536000, "", false, "done inbox rows are deleted this long after they were done"},
        {"webhook.allow_private_hosts", KeyType::boolean, "false", 0, 0, "", false, "true: webhook URLs may lead to loopback, private (RFC 1918), link-local, unique-local and unspecified addresses, and http:// to such a literal host (tests); false: such URLs are refused at PUT /api/v1/webhook (400) and at delivery (the host resolved once, the checked address connected to)"},
        {"webhook.concurrency", KeyType::integer, "4", 1, 64, "", false, "webhook POSTs in flight at once: the webhook workers, apart from the sender's SMS batches"},
        {"webhook.queue_size", KeyType::integer, "1000", 1, 100000, "", false, "webhook notifications waiting for a worker, at most; one more stays queued in the store for the scheduler's sweep"},
        {"webhook.timeout_ms", KeyType::integer, "5000", 100, 60000, "", false, "longest wait for a webhook receiver's answer (connect, send, receive) per attempt"},
        {"webhook.attempts", KeyType::integer, "3", 1, 10, "", false, "POSTs of one webhook notification (a 5xx, 408, 429 or no answer tried again by its webhook worker) before it is dead-lettered"},
        {"webhook.backoff_ms", KeyType::integer, "500", 10, 60000, "", false, "the wait before the second POST of a round; doubled for each further one, up to webhook.backoff_max_ms"},
        {"webhook.backoff_max_ms", KeyType::integer, "8000", 10, 600000, "", false, "the longest wait between two POSTs of a round"},
    };
    // clang-format on
    return schema;
}

const std::vector<std::string>& specTopics() {
    static const std::vector<std::string> topics = [] {
        std::vector<std::string> names;
        for (const char* name :
             {"inquiry.requests", "inquiry.results", "sms.inbound", "notifications.outbound", "payments.records"}) {
            names.emplace_back(name);
            names.push_back(std::string(name) + ".dlq");
        }
        return names;
    }();
    return topics;
}

std::string envNameOf(const std::string& key) {
    std::string name = kEnvPrefix + key;
    for (char& c : name) c = c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return name;
}

std::map<std::string, std::string> Config::processEnvironment() {
    std::map<std::string, std::string> env;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string text(*entry);
        const auto eq = text.find('=');
        if (eq != std::string::npos) env.emplace(text.substr(0, eq), text.substr(eq + 1));
    }
    return env;
}

Config Config::load(const ConfigSources& sources) {
    Config config;
    std::vector<std::string> problems;
    for (const auto& spec : configSchema()) {
        config.values_[spec.key] = spec.defaultValue;
        config.origins_[spec.key] = "default";
    }
    auto apply = [&](const std::string& key, const std::string& value, const std::string& origin) {
        if (key.rfind(kRdkafkaPrefix, 0) == 0 && key.size() > std::string(kRdkafkaPrefix).size()) {
            config.rdkafka_[key.substr(std::string(kRdkafkaPrefix).size())] = value;
            return;
        }
        const KeySpec* spec = findSpec(key);
        if (spec == nullptr) {
            problems.push_back("config: unknown key '" + key + "' (" + origin +
                               "); see config/taxdesk.properties for every key");
            return;
        }
        config.values_[key] = value;
        config.origins_[key] = origin;
    };

    if (!sources.file.empty()) {
        std::ifstream in(sources.file);
        if (!in) {
            problems.push_back("config: cannot read the configuration file '" + sources.file + "'");
        } else {
            std::string line;
            for (int number = 1; std::getline(in, line); ++number) {
                const std::string trimmed = Poco::trim(line);
                if (trimmed.empty() || trimmed[0] == '#' || trimmed[0] == '!') continue;
                const auto eq = trimmed.find('=');
                const std::string origin = sources.file + ":" + std::to_string(number);
                if (eq == std::string::npos) {
                    problems.push_back("config: " + origin + ": expected 'key = value'");
                    continue;
                }
                apply(Poco::trim(trimmed.substr(0, eq)), Poco::trim(trimmed.substr(eq + 1)), origin);
            }
        }
    }

    std::map<std::string, std::string> envKeys;
    for (const auto& spec : configSchema()) envKeys[envNameOf(spec.key)] = spec.key;
    for (const auto& [name, value] : sources.env) {
        if (name.rfind(kEnvPrefix, 0) != 0 || isReservedEnv(name)) continue;
        if (auto it = envKeys.find(name); it != envKeys.end())
            apply(it->second, value, "environment " + name);
        else
            problems.push_back("config: unknown environment variable '" + name +
                               "' (TAXDESK_SECTION_KEY names a key of config/taxdesk.properties)");
    }

    for (const auto& assignment : sources.sets) {
        const auto eq = assignment.find('=');
        if (eq == std::string::npos || eq == 0) {
            problems.push_back("config: --set '" + assignment + "': expected key=value");
            continue;
        }
        apply(Poco::trim(assignment.substr(0, eq)), assignment.substr(eq + 1), "--set");
    }

    for (const auto& spec : configSchema()) {
        const std::string& value = config.values_[spec.key];
        if (const std::string problem = check(spec, value); !problem.empty())
            problems.push_back("config: key '" + std::string(spec.key) + "' = '" + shown(&spec, value) + "' (" +
                               config.origins_[spec.key] + ") " + problem);
    }
    if (config.values_["store.backend"] == "postgresql" && config.values_["store.postgresql"].empty())
        problems.push_back("config: key 'store.postgresql' must be set when store.backend is postgresql");
    if (config.values_["connectors.mode"] == "http" && config.values_["connectors.base_url"].rfind("http", 0) != 0)
        problems.push_back("config: key 'connectors.base_url' must be an http:// or https:// URL");
    // A back-off ceiling below its first pause is a typing error, not a policy.
    for (const auto& [base, ceiling] :
         {std::pair<const char*, const char*>{"connectors.backoff_ms", "connectors.max_backoff_ms"},
          {"pipeline.connector_backoff_ms", "pipeline.connector_max_backoff_ms"},
          {"pipeline.retry_backoff_ms", "pipeline.retry_max_backoff_ms"}}) {
        try {
            if (std::stod(config.values_[ceiling]) < std::stod(config.values_[base]))
                problems.push_back("config: key '" + std::string(ceiling) + "' must be at least '" + base + "'");
        } catch (const std::exception&) {
            // a malformed number is reported above
        }
    }
    // A lease shorter than a charge would let recovery mark a payment "not charged" while its charge is in flight.
    try {
        const double attempts = std::stod(config.values_["connectors.retries"]) + 1;
        const double chargeS = (std::stod(config.values_["connectors.timeout_ms"]) * attempts +
                                std::stod(config.values_["connectors.backoff_ms"]) * std::pow(2.0, attempts)) /
                               1000.0;
        if (std::stod(config.values_["payment.lease_s"]) < chargeS + 5)
            problems.push_back(
                "config: key 'payment.lease_s' must exceed the longest charge (connectors.timeout_ms x "
                "(connectors.retries + 1) plus back-off, " +
                std::to_string(static_cast<long long>(chargeS)) + " s) by 5 s at least");
    } catch (const std::exception&) {
        // a malformed number is reported above
    }
    if (!problems.empty()) throw ConfigError(problems);
    return config;
}

void Config::set(const std::string& key, const std::string& value) {
    if (key.rfind(kRdkafkaPrefix, 0) == 0) {
        rdkafka_[key.substr(std::string(kRdkafkaPrefix).size())] = value;
        return;
    }
    const KeySpec* spec = findSpec(key);
    if (spec == nullptr) throw ConfigError({"config: unknown key '" + key + "'"});
    if (const std::string problem = check(*spec, value); !problem.empty())
        throw ConfigError({"config: key '" + key + "' = '" + shown(spec, value) + "' " + problem});
    values_[key] = value;
    origins_[key] = "set";
}

const std::string& Config::string(const std::string& key) const {
    const auto it = values_.find(key);
    if (it == values_.end()) throw ConfigError({"config: no key '" + key + "' in the schema"});
    return it->second;
}
int Config::integer(const std::string& key) const {
    return static_cast<int>(integer64(key));
}
long long Config::integer64(const std::string& key) const {
    return std::stoll(string(key));
}
double Config::number(const std::string& key) const {
    return std::stod(string(key));
}
bool Config::boolean(const std::string& key) const {
    return string(key) == "true";
}

std::string Config::describe() const {
    std::ostringstream out;
    for (const auto& spec : configSchema())
        out << spec.key << " = " << shown(&spec, values_.at(spec.key)) << "    # " << origins_.at(spec.key) << "\n";
    for (const auto& [key, value] : rdkafka_)
        out << kRdkafkaPrefix << key << " = "
            << (connectors::kafka::detail::isSecretProperty(key) && !value.empty() ? "*****" : value) << "\n";
    return out.str();
}

std::vector<std::string> Settings::neededTopics() const {
    std::vector<std::string> topics;
    for (const auto& name : specTopics()) topics.push_back(topic(name));
    return topics;
}

Settings makeSettings(const Config& config, bool needKafka) {
    Settings s;
    s.varDir = config.string("app.var_dir");
    s.logLevel = config.string("app.log_level");
    s.httpHost = config.string("http.host");
    s.httpPort = config.integer("http.port");
    s.httpThreads = config.integer("http.threads");
    s.httpMaxBodyBytes = config.integer64("http.max_body_bytes");
    s.httpHeaderTimeoutMs = config.integer("http.header_timeout_ms");
    s.httpBodyTimeoutMs = config.integer("http.body_timeout_ms");
    s.httpReadTimeoutMs = config.integer("http.read_timeout_ms");
    s.httpKeepAliveTimeoutMs = config.integer("http.keepalive_timeout_ms");
    s.httpKeepAliveRequests = config.integer("http.keepalive_requests");
    s.httpMaxConnectionsPerClient = config.integer("http.max_connections_per_client");
    s.httpMaxQueued = config.integer("http.max_queued");
    s.httpRequestTimeoutMs = config.integer("http.request_timeout_ms");
    s.httpStreamTimeoutMs = config.integer("http.stream_timeout_ms");
    s.httpMaxConnections = config.integer("http.max_connections");

    s.topicPrefix = config.string("kafka.topic_prefix");
    s.groupId = config.string("kafka.group_id");
    s.kafka.rdkafka = config.rdkafka();
    s.kafka.bootstrap = config.string("kafka.bootstrap");
    s.kafka.sessionTimeoutMs = config.integer("kafka.session_timeout_ms");
    s.kafka.instanceId = config.string("kafka.instance_id");
    s.topicPartitions = config.integer("kafka.topic_partitions");
    s.replicationFactor = config.integer("kafka.replication_factor");
    s.autoCreateTopics = config.boolean("kafka.auto_create_topics");
    s.adminTimeoutMs = config.integer("kafka.admin_timeout_ms");
    s.brokerCount = config.integer("broker.brokers");
    s.brokerPartitions = config.integer("broker.partitions");
    s.brokerPort = config.integer("broker.port");
    std::istringstream prefixes(config.string("broker.extra_prefixes"));
    for (std::string prefix; std::getline(prefixes, prefix, ',');)
        if (!Poco::trim(prefix).empty()) s.brokerExtraPrefixes.push_back(Poco::trim(prefix));
    if (needKafka && s.kafka.bootstrap.empty()) {
        std::ifstream in(s.bootstrapFile());
        std::getline(in, s.kafka.bootstrap);
        s.kafka.bootstrap = Poco::trim(s.kafka.bootstrap);
        if (s.kafka.bootstrap.empty())
            throw ConfigError({"config: key 'kafka.bootstrap' is empty and " + s.bootstrapFile() +
                               " does not exist: start `taxdesk broker` or set kafka.bootstrap"});
    }

    s.redis.host = config.string("redis.host");
    s.redis.port = config.integer("redis.port");
    s.redis.timeoutMs = config.integer("redis.timeout_ms");
    s.redis.keyPrefix = config.string("redis.key_prefix");
    s.cacheTtlSeconds = config.integer("redis.cache_ttl_s");

    s.store.backend = config.string("store.backend");
    s.store.sqlitePath = config.string("store.sqlite_path");
    if (s.store.sqlitePath.empty()) s.store.sqlitePath = s.varDir + "/taxdesk.db";
    s.store.postgresql = config.string("store.postgresql");
    s.store.poolSize = config.integer("store.pool_size");
    s.store.statementTimeoutMs = config.integer("store.statement_timeout_ms");

    s.auditEnabled = config.boolean("audit.enabled");
    s.auditIdKey = config.string("audit.id_key");
    s.auditRetentionDays = config.integer("audit.retention_days");

    s.batchSize = config.integer("pipeline.batch_size");
    s.batchTimeoutMs = config.integer("pipeline.batch_timeout_ms");
    s.concurrency = config.integer("pipeline.concurrency");
    s.maxInFlight = config.integer("pipeline.max_in_flight");
    s.connectorRetry.attempts = config.integer("pipeline.connector_attempts");
    s.connectorRetry.baseDelay = std::chrono::milliseconds(config.integer("pipeline.connector_backoff_ms"));
    s.connectorRetry.maxDelay = std::chrono::milliseconds(config.integer("pipeline.connector_max_backoff_ms"));
    s.batchRetry.attempts = 0;  // until it succeeds or the engine stops
    s.batchRetry.baseDelay = std::chrono::milliseconds(config.integer("pipeline.retry_backoff_ms"));
    s.batchRetry.maxDelay = std::chrono::milliseconds(config.integer("pipeline.retry_max_backoff_ms"));

    s.connectorsMode = config.string("connectors.mode");
    s.http.baseUrl = config.string("connectors.base_url");
    s.http.timeoutMs = config.integer("connectors.timeout_ms");
    s.http.retries = config.integer("connectors.retries");
    s.http.backoffMs = config.integer("connectors.backoff_ms");
    s.http.maxBackoffMs = config.integer("connectors.max_backoff_ms");
    s.http.breakerFailures = config.integer("connectors.breaker_failures");
    s.http.breakerOpenMs = config.integer("connectors.breaker_open_ms");

    s.stubs.seed = static_cast<std::uint64_t>(config.integer64("stubs.seed"));
    s.stubs.latencyMs = config.integer("stubs.latency_ms");
    s.stubs.jitterMs = config.integer("stubs.jitter_ms");
    s.stubs.failureRate = config.number("stubs.failure_rate");
    s.stubs.timeoutRate = config.number("stubs.timeout_rate");
    s.stubs.timeoutMs = config.integer("stubs.timeout_ms");
    s.stubs.paymentBalance = config.integer64("payment.stub_balance");
    s.stubs.smsSentPath = s.varDir + "/sms-sent.jsonl";
    s.stubs.paymentChargesPath = s.varDir + "/payment-charges.jsonl";
    s.stubsPort = config.integer("stubs.port");
    s.paymentLeaseS = config.integer("payment.lease_s");
    s.paymentRecheckHours = config.integer("payment.recheck_hours");
    s.paymentRecheckIntervalS = config.integer("payment.recheck_interval_s");
    s.feeProperty = config.integer64("fee.property");
    s.feeIncomeYear = config.integer64("fee.income_year");
    s.batchRows = config.integer("limits.batch_rows");
    s.batchBytes = config.integer64("limits.batch_bytes");
    s.resultsSigningKey = config.string("results.signing_key");
    s.resultsSigningKeyGenerated = s.resultsSigningKey.empty();
    if (s.resultsSigningKeyGenerated) s.resultsSigningKey = s.varDir + "/results-signing-key.pem";
    s.dispatchBlockRows = config.integer("dispatch.block_rows");
    s.dispatchWindowRows = config.integer("dispatch.window_rows");
    s.dispatchChunkRows = config.integer("dispatch.chunk_rows");
    s.smsDailyLimit = config.integer("sms.daily_limit");
    s.smsPickupBusinessDays = config.integer("sms.pickup_business_days");
    s.smsMaxAttempts = config.integer("sms.max_attempts");
    s.smsLockMaxSeconds = config.integer("sms.lock_max_seconds");
    s.smsOfficesFile = config.string("sms.offices_file");
    s.smsHolidaysFile = config.string("sms.holidays_file");
    s.smsSchedulerIntervalS = config.integer("sms.scheduler_interval_s");
    s.smsProduceTimeoutMs = config.integer("sms.produce_timeout_ms");
    s.smsBatchTimeoutMs = config.integer("sms.batch_timeout_ms");
    s.smsFetchWaitMaxMs = config.integer("sms.fetch_wait_max_ms");
    s.smsLingerMs = config.integer("sms.linger_ms");
    s.smsRequeueAfterS = config.integer("sms.requeue_after_s");
    s.smsInboxRequeueAfterS = config.integer("sms.inbox_requeue_after_s");
    s.smsInboxMaxAttempts = config.integer("sms.inbox_max_attempts");
    s.smsInboxRetentionS = config.integer("sms.inbox_retention_s");
    s.webhookAllowPrivateHosts = config.boolean("webhook.allow_private_hosts");
    s.webhookConcurrency = config.integer("webhook.concurrency");
    s.webhookQueueSize = config.integer("webhook.queue_size");
    s.webhookTimeoutMs = config.integer("webhook.timeout_ms");
    s.webhookAttempts = config.integer("webhook.attempts");
    s.webhookBackoffMs = config.integer("webhook.backoff_ms");
    s.webhookBackoffMaxMs = config.integer("webhook.backoff_max_ms");
    return s;
}

}  // namespace taxdesk::engine

namespace taxdesk::engine {

std::string auditKey(const Settings& settings) {
    if (!settings.auditIdKey.empty()) return settings.auditIdKey;
    const std::string path = settings.varDir + "/audit-id.key";
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::ifstream in(path);
        if (in) {
            std::string key;
            std::getline(in, key);
            if (key.size() < 32) throw std::runtime_error(path + ": the audit key is shorter than 32 characters");
            return key;
        }
        // First run: 32 random bytes as hex, created exclusively with mode 0600 (another process creating it at the
        // same time wins, and its key is read on the next attempt).
        std::filesystem::create_directories(settings.varDir);
        std::ifstream random("/dev/urandom", std::ios::binary);
        unsigned char bytes[32];
        if (!random.read(reinterpret_cast<char*>(bytes), sizeof bytes))
            throw std::runtime_error("the audit key: /dev/urandom could not be read");
        static constexpr char kHex[] = "0123456789abcdef";
        std::string key;
        for (const unsigned char b : bytes) {
            key += kHex[b >> 4];
            key += kHex[b & 15];
        }
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0) {
            if (errno == EEXIST) continue;
            throw std::runtime_error(path + ": the audit key could not be created");
        }
        const std::string text = key + "\n";
        const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
        ::close(fd);
        if (!written) throw std::runtime_error(path + ": the audit key could not be written");
        return key;
    }
    throw std::runtime_error(path + ": the audit key could not be read");
}

}  // namespace taxdesk::engine
