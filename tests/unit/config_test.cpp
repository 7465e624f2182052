#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "connectors/kafka/kafka.hpp"
#include "engine/cli/cli.hpp"
#include "engine/runtime/config.hpp"
#include "fixtures/test_env.hpp"

using taxdesk::engine::ArgReader;
using taxdesk::engine::Config;
using taxdesk::engine::ConfigError;
using taxdesk::engine::ConfigSources;
using taxdesk::engine::parseCommandLine;
using taxdesk::engine::UsageError;

namespace {

std::vector<std::string> problemsOf(const ConfigSources& sources) {
    try {
        (void)Config::load(sources);
    } catch (const ConfigError& error) {
        return error.problems();
    }
    return {};
}

std::string writeFile(const std::string& text) {
    const std::string path = taxdesk::testing::tempDir("config") + "/taxdesk.properties";
    std::ofstream(path) << text;
    return path;
}

}  // namespace

TEST(Config, EmbeddedDefaultsLoadAndMatchTheSpec) {
    const Config config = Config::load({});
    EXPECT_EQ(config.integer("http.port"), 8080);
    EXPECT_EQ(config.string("store.backend"), "sqlite");
    EXPECT_EQ(config.integer("fee.property"), 250);
    EXPECT_EQ(config.integer("fee.income_year"), 250);
    EXPECT_EQ(config.integer("limits.batch_rows"), 100000);
    EXPECT_EQ(config.integer64("limits.batch_bytes"), 32LL * 1024 * 1024);
    EXPECT_EQ(config.integer("sms.daily_limit"), 5);
    EXPECT_EQ(config.integer("sms.pickup_business_days"), 3);
    EXPECT_EQ(config.integer("sms.max_attempts"), 3);
    EXPECT_EQ(config.integer64("payment.stub_balance"), 1000000);
}

TEST(Config, PrecedenceIsDefaultsFileEnvironmentSet) {
    ConfigSources sources;
    sources.file = writeFile("http.port = 9001\nredis.port = 7001\nstore.pool_size = 3\n");
    sources.env = {{"TAXDESK_REDIS_PORT", "7002"}, {"TAXDESK_STORE_POOL_SIZE", "4"}, {"PATH", "/usr/bin"}};
    sources.sets = {"store.pool_size=5"};
    const Config config = Config::load(sources);
    EXPECT_EQ(config.integer("http.port"), 9001);            // file
    EXPECT_EQ(config.integer("redis.port"), 7002);           // environment over file
    EXPECT_EQ(config.integer("store.pool_size"), 5);         // --set over environment
    EXPECT_EQ(config.integer("pipeline.batch_size"), 2000);  // default
}

TEST(Config, BadValuesAreNamedWithOriginAndAllowedValues) {
    ConfigSources sources;
    sources.sets = {"http.port=99999", "store.backend=oracle", "stubs.failure_rate=2", "redis.port=abc"};
    const auto problems = problemsOf(sources);
    ASSERT_EQ(problems.size(), 4u);
    const std::string all = problems[0] + problems[1] + problems[2] + problems[3];
    EXPECT_NE(all.find("'http.port' = '99999' (--set) must be from 1 to 65535"), std::string::npos) << all;
    EXPECT_NE(all.find("'store.backend' = 'oracle' (--set) must be one of: sqlite,postgresql"), std::string::npos);
    EXPECT_NE(all.find("'stubs.failure_rate'"), std::string::npos);
    EXPECT_NE(all.find("'redis.port' = 'abc' (--set) must be a whole number"), std::string::npos);
}

TEST(Config, TheLockMaximumIsNeverBelowSpecsTenMinutes) {
    ConfigSources sources;
    sources.sets = {"sms.lock_max_seconds=599"};
    const auto problems = problemsOf(sources);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("'sms.lock_max_seconds' = '599' (--set) must be from 600 to 604800"), std::string::npos)
        << problems[0];
    sources.sets = {"sms.lock_max_seconds=3600"};
    EXPECT_EQ(Config::load(sources).integer("sms.lock_max_seconds"), 3600);
    EXPECT_EQ(Config::load(ConfigSources{}).integer("sms.lock_max_seconds"), 14400);
}

TEST(Config, UnknownKeysAreErrorsEverywhere) {
    ConfigSources sources;
    sources.file = writeFile("# comment\nhttp.prot = 1\n");
    sources.env = {{"TAXDESK_HTTP_PROT", "1"}, {"TAXDESK_TEST_REDIS_PORT", "1"}, {"TAXDESK_CONFIG", "x"}};
    sources.sets = {"nosuch.key=1"};
    const auto problems = problemsOf(sources);
    ASSERT_EQ(problems.size(), 3u);
    EXPECT_NE(problems[0].find("unknown key 'http.prot'"), std::string::npos) << problems[0];
    EXPECT_NE(problems[0].find(":2"), std::string::npos) << "the file line is named: " << problems[0];
    EXPECT_NE(problems[1].find("TAXDESK_HTTP_PROT"), std::string::npos) << problems[1];
    EXPECT_NE(problems[2].find("unknown key 'nosuch.key'"), std::string::npos) << problems[2];
}

TEST(Config, RdkafkaPropertiesPassThrough) {
    ConfigSources sources;
    sources.sets = {"kafka.rdkafka.security.protocol=SASL_SSL"};
    const Config config = Config::load(sources);
    EXPECT_EQ(config.rdkafka().at("security.protocol"), "SASL_SSL");
}

TEST(Config, ConsumerGroupTimingAndStaticMembership) {
    // Defaults: a 6 s session (the lowest a Kafka broker accepts by default), dynamic membership.
    const auto defaults = taxdesk::engine::makeSettings(Config::load({}), false);
    EXPECT_EQ(defaults.kafka.sessionTimeoutMs, 6000);
    EXPECT_EQ(defaults.kafka.instanceId, "");
    EXPECT_EQ(taxdesk::connectors::kafka::staticMemberId(defaults.kafka, "taxdesk-engine"), "");
    ConfigSources sources;
    sources.sets = {"kafka.session_timeout_ms=3000", "kafka.instance_id=host-a"};
    const auto settings = taxdesk::engine::makeSettings(Config::load(sources), false);
    EXPECT_EQ(settings.kafka.sessionTimeoutMs, 3000);
    // One consumer per group in an engine: the group names the member, the instance id the engine.
    EXPECT_EQ(taxdesk::connectors::kafka::staticMemberId(settings.kafka, "taxdesk-engine-sms"),
              "host-a.taxdesk-engine-sms");
    // Below 1 s a session would expire between two busy polls.
    ConfigSources tooShort;
    tooShort.sets = {"kafka.session_timeout_ms=999"};
    ASSERT_EQ(problemsOf(tooShort).size(), 1u);
    EXPECT_NE(problemsOf(tooShort)[0].find("kafka.session_timeout_ms"), std::string::npos);
}

TEST(Config, HeartbeatsAreAtMostAThirdOfTheSession) {
    using taxdesk::connectors::kafka::heartbeatIntervalMs;
    EXPECT_EQ(heartbeatIntervalMs(6000), 1000);    // a third is 2000: capped at 1 s
    EXPECT_EQ(heartbeatIntervalMs(3000), 1000);    // exactly a third
    EXPECT_EQ(heartbeatIntervalMs(1500), 500);     // a third
    EXPECT_EQ(heartbeatIntervalMs(1000), 333);     // a third, rounded down
    EXPECT_EQ(heartbeatIntervalMs(300000), 1000);  // capped
    EXPECT_EQ(heartbeatIntervalMs(200), 100);      // floor (below the configurable range)
}

TEST(Config, SecretsAreMaskedInTheDescription) {
    ConfigSources sources;
    sources.sets = {"store.backend=postgresql", "store.postgresql=host=db password=hunter2"};
    const std::string text = Config::load(sources).describe();
    EXPECT_EQ(text.find("hunter2"), std::string::npos);
    EXPECT_NE(text.find("store.postgresql = *****"), std::string::npos);
}

TEST(Config, PostgresqlBackendNeedsAConnectionString) {
    ConfigSources sources;
    sources.sets = {"store.backend=postgresql"};
    const auto problems = problemsOf(sources);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("store.postgresql"), std::string::npos);
}

TEST(Config, APaymentLeaseOutlastsTheLongestCharge) {
    EXPECT_EQ(Config::load({}).integer("payment.lease_s"), 60);
    // Defaults: 4 attempts of 2 s plus back-off 50 ms x 2^4 = 8.8 s; the lease must be 13.8 s at least.
    ConfigSources shortLease;
    shortLease.sets = {"payment.lease_s=13"};
    const auto problems = problemsOf(shortLease);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("payment.lease_s"), std::string::npos) << problems[0];
    EXPECT_NE(problems[0].find("8 s"), std::string::npos) << problems[0];
    ConfigSources enough;
    enough.sets = {"payment.lease_s=14"};
    EXPECT_TRUE(problemsOf(enough).empty());
    // 5 attempts of 10 s plus 50 ms x 2^5 = 51.6 s: 55 is too short, 57 is enough.
    ConfigSources slow;
    slow.sets = {"connectors.timeout_ms=10000", "connectors.retries=4", "payment.lease_s=55"};
    EXPECT_EQ(problemsOf(slow).size(), 1u);
    slow.sets.back() = "payment.lease_s=57";
    EXPECT_TRUE(problemsOf(slow).empty());
}

TEST(Config, EnvironmentNamesFollowSectionKey) {
    EXPECT_EQ(taxdesk::engine::envNameOf("app.var_dir"), "TAXDESK_APP_VAR_DIR");
    EXPECT_EQ(taxdesk::engine::envNameOf("http.port"), "TAXDESK_HTTP_PORT");
}

TEST(Config, ShippedFileDocumentsEveryKeyWithItsDefault) {
    // config/taxdesk.properties is the documentation: every key of the schema, with the embedded default.
    std::ifstream in(std::string(TAXDESK_SOURCE_DIR) + "/config/taxdesk.properties");
    ASSERT_TRUE(in) << "config/taxdesk.properties is missing";
    std::set<std::string> documented;
    std::string line;
    std::string previous;
    while (std::getline(in, line)) {
        if (!line.empty() && line[0] != '#') {
            const auto eq = line.find(" = ");
            ASSERT_NE(eq, std::string::npos) << line;
            const std::string key = line.substr(0, eq);
            documented.insert(key);
            EXPECT_EQ(previous.rfind("# ", 0), 0u) << key << " has no comment above it";
            bool found = false;
            for (const auto& spec : taxdesk::engine::configSchema()) {
                if (key != spec.key) continue;
                found = true;
                EXPECT_EQ(line.substr(eq + 3), spec.defaultValue) << key;
            }
            EXPECT_TRUE(found) << key << " is documented but not in the schema";
        }
        previous = line;
    }
    for (const auto& spec : taxdesk::engine::configSchema())
        EXPECT_TRUE(documented.count(spec.key)) << spec.key << " is not documented in config/taxdesk.properties";
    // And the file loads as a configuration.
    ConfigSources sources;
    sources.file = std::string(TAXDESK_SOURCE_DIR) + "/config/taxdesk.properties";
    EXPECT_NO_THROW((void)Config::load(sources));
}

TEST(CommandLine, GlobalOptionsStandAnywhere) {
    const auto line = parseCommandLine({"taxdesk", "--set", "a=1", "serve", "--set=b=2", "--config", "f.properties"});
    EXPECT_EQ(line.command, "serve");
    EXPECT_EQ(line.config.sets, (std::vector<std::string>{"a=1", "b=2"}));
    EXPECT_EQ(line.config.file, "f.properties");
    EXPECT_TRUE(line.args.empty());
    EXPECT_THROW(parseCommandLine({"taxdesk", "--bogus", "serve"}), UsageError);
    EXPECT_THROW(parseCommandLine({"taxdesk", "serve", "--set"}), UsageError);
}

TEST(CommandLine, SubcommandOptionsAreChecked) {
    const ArgReader reader({"--rows", "10", "--bad-fraction=0.1"}, {"rows", "bad-fraction"}, {});
    EXPECT_EQ(reader.integer("rows", 0, 1, 100), 10);
    EXPECT_DOUBLE_EQ(reader.number("bad-fraction", 0, 0, 1), 0.1);
    EXPECT_EQ(reader.integer("missing", 7, 1, 100), 7);
    EXPECT_THROW(ArgReader({"--nope"}, {"rows"}, {}), UsageError);
    EXPECT_THROW(ArgReader({"--rows"}, {"rows"}, {}), UsageError);
    const ArgReader bad({"--rows", "0"}, {"rows"}, {});
    EXPECT_THROW((void)bad.integer("rows", 0, 1, 100), UsageError);
}

// Issue 9 finding 13: the inbox's sweeper and retention.
TEST(Config, TheInboxKeysHaveTheirDefaultsAndRangesAndReachTheSettings) {
    const Config config = Config::load({});
    EXPECT_EQ(config.integer("sms.inbox_requeue_after_s"), 30);
    EXPECT_EQ(config.integer("sms.inbox_max_attempts"), 10);
    EXPECT_EQ(config.integer("sms.inbox_retention_s"), 7 * 24 * 3600);
    ConfigSources sources;
    sources.sets = {"sms.inbox_requeue_after_s=0", "sms.inbox_max_attempts=0", "sms.inbox_retention_s=59"};
    const auto problems = problemsOf(sources);
    ASSERT_EQ(problems.size(), 3u);
    for (const char* key : {"sms.inbox_requeue_after_s", "sms.inbox_max_attempts", "sms.inbox_retention_s"}) {
        EXPECT_TRUE(std::any_of(problems.begin(), problems.end(), [&](const std::string& problem) {
            return problem.find(key) != std::string::npos;
        })) << key;
    }
    ConfigSources set;
    set.sets = {"sms.inbox_requeue_after_s=5", "sms.inbox_max_attempts=4", "sms.inbox_retention_s=3600"};
    const auto settings = taxdesk::engine::makeSettings(Config::load(set), false);
    EXPECT_EQ(settings.smsInboxRequeueAfterS, 5);
    EXPECT_EQ(settings.smsInboxMaxAttempts, 4);
    EXPECT_EQ(settings.smsInboxRetentionS, 3600);
}

TEST(Config, TheSmsLatencyKeysHaveTheirDefaultsAndRangesAndReachTheSettings) {
    // Issue 11: the SMS pipelines' own batch wait, fetch wait and linger.
    const Config config = Config::load({});
    EXPECT_EQ(config.integer("sms.batch_timeout_ms"), 20);
    EXPECT_EQ(config.integer("sms.fetch_wait_max_ms"), 2);
    EXPECT_EQ(config.integer("sms.linger_ms"), 1);
    ConfigSources sources;
    sources.sets = {"sms.batch_timeout_ms=0", "sms.fetch_wait_max_ms=-1", "sms.linger_ms=1001"};
    const auto problems = problemsOf(sources);
    ASSERT_EQ(problems.size(), 3u);
    for (const char* key : {"sms.batch_timeout_ms", "sms.fetch_wait_max_ms", "sms.linger_ms"}) {
        EXPECT_TRUE(std::any_of(problems.begin(), problems.end(), [&](const std::string& problem) {
            return problem.find(key) != std::string::npos;
        })) << key;
    }
    ConfigSources set;
    set.sets = {"sms.batch_timeout_ms=7", "sms.fetch_wait_max_ms=0", "sms.linger_ms=3"};
    const auto settings = taxdesk::engine::makeSettings(Config::load(set), false);
    EXPECT_EQ(settings.smsBatchTimeoutMs, 7);
    EXPECT_EQ(settings.smsFetchWaitMaxMs, 0);
    EXPECT_EQ(settings.smsLingerMs, 3);
    EXPECT_EQ(settings.batchTimeoutMs, 10) << "the other pipelines keep pipeline.batch_timeout_ms";
}

TEST(Config, EachRetryPolicyComesFromItsKeys) {
    using namespace std::chrono_literals;
    const auto defaults = taxdesk::engine::makeSettings(Config::load({}), false);
    EXPECT_EQ(defaults.connectorRetry.attempts, 3);
    EXPECT_EQ(defaults.connectorRetry.baseDelay, 20ms);
    EXPECT_EQ(defaults.connectorRetry.maxDelay, 1000ms);
    EXPECT_EQ(defaults.batchRetry.attempts, 0);  // no limit: until the batch succeeds or the engine stops
    EXPECT_EQ(defaults.batchRetry.baseDelay, 100ms);
    EXPECT_EQ(defaults.batchRetry.maxDelay, 5000ms);
    EXPECT_EQ(defaults.http.retries, 3);
    EXPECT_EQ(defaults.http.backoffMs, 50);
    EXPECT_EQ(defaults.http.maxBackoffMs, 10000);

    ConfigSources set;
    set.sets = {"pipeline.connector_attempts=5",        "pipeline.connector_backoff_ms=7",
                "pipeline.connector_max_backoff_ms=70", "pipeline.retry_backoff_ms=300",
                "pipeline.retry_max_backoff_ms=900",    "connectors.max_backoff_ms=400"};
    const auto settings = taxdesk::engine::makeSettings(Config::load(set), false);
    EXPECT_EQ(settings.connectorRetry.attempts, 5);
    EXPECT_EQ(settings.connectorRetry.baseDelay, 7ms);
    EXPECT_EQ(settings.connectorRetry.maxDelay, 70ms);
    EXPECT_EQ(settings.batchRetry.baseDelay, 300ms);
    EXPECT_EQ(settings.batchRetry.maxDelay, 900ms);
    EXPECT_EQ(settings.http.maxBackoffMs, 400);
}

TEST(Config, ABackoffCeilingBelowItsFirstPauseIsRefused) {
    ConfigSources sources;
    sources.sets = {"connectors.backoff_ms=100", "connectors.max_backoff_ms=99", "pipeline.retry_backoff_ms=200",
                    "pipeline.retry_max_backoff_ms=200"};
    const auto problems = problemsOf(sources);
    ASSERT_EQ(problems.size(), 1u) << problems.front();
    EXPECT_NE(problems.front().find("'connectors.max_backoff_ms' must be at least 'connectors.backoff_ms'"),
              std::string::npos)
        << problems.front();
}

TEST(Config, TheTopicKeysHaveTheirDefaultsAndRangesAndReachTheSettings) {
    const auto defaults = taxdesk::engine::makeSettings(Config::load({}), false);
    EXPECT_EQ(defaults.topicPartitions, 16);
    EXPECT_EQ(defaults.replicationFactor, -1);  // the cluster's default.replication.factor
    EXPECT_TRUE(defaults.autoCreateTopics);     // today's embedded default: no start-up check
    EXPECT_EQ(defaults.adminTimeoutMs, 10000);
    ConfigSources sources;
    sources.sets = {"kafka.topic_partitions=48", "kafka.replication_factor=3", "kafka.auto_create_topics=false",
                    "kafka.admin_timeout_ms=2500", "kafka.topic_prefix=prod."};
    const auto settings = taxdesk::engine::makeSettings(Config::load(sources), false);
    EXPECT_EQ(settings.topicPartitions, 48);
    EXPECT_EQ(settings.replicationFactor, 3);
    EXPECT_FALSE(settings.autoCreateTopics);
    EXPECT_EQ(settings.adminTimeoutMs, 2500);
    // Every SPEC 6 topic and its dead-letter topic, with the prefix.
    const std::vector<std::string> expected{"prod.inquiry.requests",
                                            "prod.inquiry.requests.dlq",
                                            "prod.inquiry.results",
                                            "prod.inquiry.results.dlq",
                                            "prod.sms.inbound",
                                            "prod.sms.inbound.dlq",
                                            "prod.notifications.outbound",
                                            "prod.notifications.outbound.dlq",
                                            "prod.payments.records",
                                            "prod.payments.records.dlq"};
    EXPECT_EQ(settings.neededTopics(), expected);
    sources.sets = {"kafka.topic_partitions=0", "kafka.replication_factor=-2", "kafka.auto_create_topics=no"};
    const auto problems = problemsOf(sources);
    ASSERT_EQ(problems.size(), 3u);
    EXPECT_NE(problems[0].find("'kafka.topic_partitions' = '0' (--set) must be from 1 to 10000"), std::string::npos)
        << problems[0];
    EXPECT_NE(problems[1].find("'kafka.replication_factor' = '-2' (--set) must be from -1 to 32"), std::string::npos)
        << problems[1];
    EXPECT_NE(problems[2].find("'kafka.auto_create_topics' = 'no' (--set) must be true or false"), std::string::npos)
        << problems[2];
}

TEST(Config, KafkaSecretsAreMaskedInTheDescriptionAndReachTheSettings) {
    ConfigSources sources;
    sources.sets = {"kafka.rdkafka.security.protocol=SASL_SSL",     "kafka.rdkafka.sasl.mechanism=SCRAM-SHA-512",
                    "kafka.rdkafka.sasl.username=taxdesk",          "kafka.rdkafka.sasl.password=Pw-S3cret-42",
                    "kafka.rdkafka.ssl.key.password=Key-S3cret-7",  "kafka.rdkafka.sasl.jaas.config=J-S3cret",
                    "kafka.rdkafka.ssl.ca.location=/etc/ssl/ca.pem"};
    const Config config = Config::load(sources);
    const std::string text = config.describe();
    EXPECT_NE(text.find("kafka.rdkafka.sasl.password = *****\n"), std::string::npos) << text;
    EXPECT_NE(text.find("kafka.rdkafka.ssl.key.password = *****\n"), std::string::npos) << text;
    EXPECT_NE(text.find("kafka.rdkafka.sasl.jaas.config = *****\n"), std::string::npos) << text;
    EXPECT_NE(text.find("kafka.rdkafka.sasl.username = taxdesk\n"), std::string::npos) << text;
    EXPECT_NE(text.find("kafka.rdkafka.ssl.ca.location = /etc/ssl/ca.pem\n"), std::string::npos) << text;
    for (const char* secret : {"Pw-S3cret-42", "Key-S3cret-7", "J-S3cret"})
        EXPECT_EQ(text.find(secret), std::string::npos) << secret;
    // Every Kafka client the engine makes takes Settings::kafka: the values are there, unmasked.
    const auto settings = taxdesk::engine::makeSettings(config, false);
    EXPECT_EQ(settings.kafka.rdkafka.at("sasl.password"), "Pw-S3cret-42");
    EXPECT_EQ(settings.kafka.rdkafka.at("security.protocol"), "SASL_SSL");
}
