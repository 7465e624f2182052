#pragma once
// Configuration: one schema of every key (type, default, range, choices, documentation), filled from the embedded
// defaults, then a properties file, then the environment (TAXDESK_SECTION_KEY), then --set key=value; checked
// as a whole at start-up. Unknown keys are errors, except the raw librdkafka properties under kafka.rdkafka.*.
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "connectors/api/connector_set.hpp"
#include "connectors/kafka/kafka.hpp"
#include "connectors/redis/redis_client.hpp"
#include "connectors/retry/retry.hpp"
#include "connectors/store/store.hpp"

namespace taxdesk::engine {

/// Every problem found in the configuration, one line each, naming the key, the value's origin and what is
/// allowed.
class ConfigError : public std::runtime_error {
  public:
    explicit ConfigError(std::vector<std::string> problems);
    [[nodiscard]] const std::vector<std::string>& problems() const { return problems_; }

  private:
    std::vector<std::string> problems_;
};

enum class KeyType { string, integer, number, boolean, choice };

struct KeySpec {
    const char* key;
    KeyType type;
    const char* defaultValue;
    double min = 0;  ///< for integer and number
    double max = 0;
    const char* choices = "";  ///< for choice: '|'-separated
    bool secret = false;       ///< printed as *****
    const char* doc = "";
};

/// The schema, in the order of config/taxdesk.properties.
const std::vector<KeySpec>& configSchema();

/// Where the configuration comes from.
struct ConfigSources {
    std::string file;                        ///< a properties file; empty: embedded defaults only
    std::map<std::string, std::string> env;  ///< the process environment (only TAXDESK_* are read)
    std::vector<std::string> sets;           ///< --set key=value, in order
};

/// The effective configuration: raw values by key, checked.
class Config {
  public:
    /// Reads and checks everything. Throws ConfigError listing every problem.
    static Config load(const ConfigSources& sources);
    /// The environment of this process as a map (for ConfigSources::env).
    static std::map<std::string, std::string> processEnvironment();

    [[nodiscard]] const std::string& string(const std::string& key) const;
    [[nodiscard]] int integer(const std::string& key) const;
    [[nodiscard]] long long integer64(const std::string& key) const;
    [[nodiscard]] double number(const std::string& key) const;
    [[nodiscard]] bool boolean(const std::string& key) const;
    /// kafka.rdkafka.* with the prefix removed.
    [[nodiscard]] const std::map<std::string, std::string>& rdkafka() const { return rdkafka_; }
    /// Every key = value, secrets masked, with where each value came from.
    [[nodiscard]] std::string describe() const;

    /// Sets one value after loading (tests, subcommands); checked like --set. Throws ConfigError.
    void set(const std::string& key, const std::string& value);

  private:
    std::map<std::string, std::string> values_;
    std::map<std::string, std::string> origins_;
    std::map<std::string, std::string> rdkafka_;
};

/// The environment variable that overrides a key: app.var_dir → TAXDESK_APP_VAR_DIR.
std::string envNameOf(const std::string& key);

/// The typed settings the engine's parts take, derived from a checked Config.
struct Settings {
    std::string varDir;
    std::string logLevel;
    std::string httpHost;
    int httpPort = 8080;
    int httpThreads = 16;
    long long httpMaxBodyBytes = 1 << 20;
    int httpHeaderTimeoutMs = 10000;
    int httpBodyTimeoutMs = 30000;
    int httpReadTimeoutMs = 5000;
    int httpKeepAliveTimeoutMs = 5000;
    int httpKeepAliveRequests = 100;
    int httpMaxConnectionsPerClient = 64;
    int httpMaxQueued = 256;
    int httpRequestTimeoutMs = 120000;
    int httpStreamTimeoutMs = 900000;
    int httpMaxConnections = 10000;

    connectors::kafka::KafkaSettings kafka;  ///< bootstrap resolved (from kafka.bootstrap or <var>/kafka-bootstrap)
    std::string topicPrefix;
    std::string groupId;
    int topicPartitions = 16;      ///< kafka.topic_partitions
    int replicationFactor = -1;    ///< kafka.replication_factor; -1: the cluster's default
    bool autoCreateTopics = true;  ///< kafka.auto_create_topics; false: serve checks its topics at start
    int adminTimeoutMs = 10000;    ///< kafka.admin_timeout_ms
    int brokerCount = 1;
    int brokerPartitions = 16;
    int brokerPort = 0;  ///< 0: any free port; else broker i listens on 127.0.0.1:brokerPort+i-1
    std::vector<std::string> brokerExtraPrefixes;

    connectors::RedisSettings redis;
    int cacheTtlSeconds = 3600;
    connectors::StoreSettings store;

    int batchSize = 2000;
    int batchTimeoutMs = 10;
    int concurrency = 32;
    int maxInFlight = 20000;
    /// pipeline.connector_attempts, pipeline.connector_backoff_ms, pipeline.connector_max_backoff_ms
    connectors::RetryPolicy connectorRetry{3, std::chrono::milliseconds(20), std::chrono::milliseconds(1000)};
    /// pipeline.retry_backoff_ms, pipeline.retry_max_backoff_ms; no limit on attempts
    connectors::RetryPolicy batchRetry{0, std::chrono::milliseconds(100), std::chrono::milliseconds(5000)};

    std::string connectorsMode;  ///< stub | http
    connectors::StubSettings stubs;
    connectors::HttpClientSettings http;
    int stubsPort = 8091;

    int paymentLeaseS = 60;             ///< payment.lease_s
    int paymentRecheckHours = 24;       ///< payment.recheck_hours
    int paymentRecheckIntervalS = 300;  ///< payment.recheck_interval_s
    long long feeProperty = 250;
    long long feeIncomeYear = 250;
    int batchRows = 100000;
    long long batchBytes = 32LL * 1024 * 1024;
    /// results.signing_key, resolved: the configured PEM file, or <app.var_dir>/results-signing-key.pem when empty.
    std::string resultsSigningKey;
    /// The key is the embedded default (results.signing_key empty): generated when its file does not exist yet.
    bool resultsSigningKeyGenerated = true;
    int dispatchBlockRows = 500;    ///< dispatch.block_rows
    int dispatchWindowRows = 5000;  ///< dispatch.window_rows (per partition)
    int dispatchChunkRows = 5000;   ///< dispatch.chunk_rows

    int smsDailyLimit = 5;
    int smsPickupBusinessDays = 3;
    int smsMaxAttempts = 3;
    int smsLockMaxSeconds = 14400;
    std::string smsOfficesFile;
    std::string smsHolidaysFile;
    int smsSchedulerIntervalS = 30;
    int smsProduceTimeoutMs = 2000;
    int smsBatchTimeoutMs = 20;  ///< sms.batch_timeout_ms
    int smsFetchWaitMaxMs = 2;   ///< sms.fetch_wait_max_ms
    int smsLingerMs = 1;         ///< sms.linger_ms
    int smsRequeueAfterS = 60;
    int smsInboxRequeueAfterS = 30;         ///< sms.inbox_requeue_after_s
    int smsInboxMaxAttempts = 10;           ///< sms.inbox_max_attempts
    int smsInboxRetentionS = 604800;        ///< sms.inbox_retention_s
    bool webhookAllowPrivateHosts = false;  ///< webhook.allow_private_hosts
    int webhookConcurrency = 4;             ///< webhook.concurrency
    int webhookQueueSize = 1000;            ///< webhook.queue_size
    int webhookTimeoutMs = 5000;            ///< webhook.timeout_ms
    int webhookAttempts = 3;                ///< webhook.attempts
    int webhookBackoffMs = 500;             ///< webhook.backoff_ms
    int webhookBackoffMaxMs = 8000;         ///< webhook.backoff_max_ms

    bool auditEnabled = true;       ///< audit.enabled
    std::string auditIdKey;         ///< audit.id_key ('' until auditKey() resolves the file)
    int auditRetentionDays = 3650;  ///< audit.retention_days

    /// The topic name with the configured prefix.
    [[nodiscard]] std::string topic(const std::string& name) const { return topicPrefix + name; }
    /// Every topic the engine needs (specTopics() with the prefix).
    [[nodiscard]] std::vector<std::string> neededTopics() const;
    /// The file where `taxdesk broker` writes its bootstrap list.
    [[nodiscard]] std::string bootstrapFile() const { return varDir + "/kafka-bootstrap"; }
};

/// Derives Settings. `needKafka`: resolve the bootstrap now, and fail with a clear message when there is none.
Settings makeSettings(const Config& config, bool needKafka);

/// The audit trail's key: audit.id_key, else the content of <app.var_dir>/audit-id.key, which the first call creates
/// (32 random bytes as hex, mode 0600). Throws std::runtime_error when the file cannot be read or written.
std::string auditKey(const Settings& settings);

/// The SPEC 6 topics (without prefix), each with its dead-letter topic.
const std::vector<std::string>& specTopics();

}  // namespace taxdesk::engine
