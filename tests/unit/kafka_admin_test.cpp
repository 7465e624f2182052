// Topic administration and the Kafka client configuration: what `taxdesk topics check` concludes from a cluster's
// topics, what a CreateTopics result code means, which librdkafka properties are secrets, that SASL/SSL properties
// reach the client configuration every handle is made from, and the admin client against an in-process mock cluster
// (librdkafka's, no servers needed): listing never creates, creating is idempotent, and a SASL client against the
// plaintext mock fails with librdkafka's own reason and without its password anywhere.
#include <Poco/AutoPtr.h>
#include <Poco/Channel.h>
#include <Poco/Logger.h>
#include <Poco/Message.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <mutex>
#include <string>
#include <vector>

#include "connectors/kafka/admin.hpp"
#include "connectors/kafka/kafka.hpp"

using taxdesk::connectors::kafka::Admin;
using taxdesk::connectors::kafka::compareTopics;
using taxdesk::connectors::kafka::createOutcome;
using taxdesk::connectors::kafka::KafkaError;
using taxdesk::connectors::kafka::KafkaSettings;
using taxdesk::connectors::kafka::MockCluster;
using taxdesk::connectors::kafka::TopicInfo;
namespace detail = taxdesk::connectors::kafka::detail;

namespace {

/// The value librdkafka holds for `name` in a configuration, as a client made from it would see it.
std::string confValue(rd_kafka_conf_s* conf, const char* name) {
    char value[1024];
    std::size_t size = sizeof value;
    if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK) return "<unknown property>";
    return value;
}

/// Collects what is logged to the "kafka" logger (librdkafka's own lines go there).
class Capture : public Poco::Channel {
  public:
    void log(const Poco::Message& message) override {
        const std::lock_guard lock(mutex_);
        lines_.push_back(message.getText());
    }
    std::vector<std::string> lines() {
        const std::lock_guard lock(mutex_);
        return lines_;
    }

  private:
    std::mutex mutex_;
    std::vector<std::string> lines_;
};

}  // namespace

TEST(TopicReport, MissingTopicsAreErrorsAndOtherCountsWarnings) {
    const std::vector<std::string> needed{"p.a", "p.b", "p.c", "p.d"};
    const std::map<std::string, TopicInfo> found{
        {"p.a", {16, 3}}, {"p.b", {4, 3}}, {"p.d", {16, 1}}, {"other", {1, 1}}};
    const auto report = compareTopics(needed, found, 16, 3);
    EXPECT_EQ(report.missing, std::vector<std::string>{"p.c"});
    ASSERT_EQ(report.lines.size(), 4u);
    EXPECT_EQ(report.lines[0], "p.a partitions=16 replicas=3 ok");
    EXPECT_EQ(report.lines[1], "p.b partitions=4 replicas=3 differs");
    EXPECT_EQ(report.lines[2], "p.c missing");
    EXPECT_EQ(report.lines[3], "p.d partitions=16 replicas=1 differs");
    ASSERT_EQ(report.warnings.size(), 2u);
    EXPECT_EQ(report.warnings[0], "p.b: partitions 4, configured 16 (kafka.topic_partitions)");
    EXPECT_EQ(report.warnings[1], "p.d: replication factor 1, configured 3 (kafka.replication_factor)");
    EXPECT_FALSE(report.ok());
    EXPECT_FALSE(report.ok(true));
}

TEST(TopicReport, OtherPartitionCountsFailOnlyWhenStrict) {
    const auto report = compareTopics({"p.a"}, {{"p.a", {4, 1}}}, 16, -1);
    EXPECT_TRUE(report.missing.empty());
    EXPECT_EQ(report.warnings.size(), 1u);
    EXPECT_TRUE(report.ok());
    EXPECT_FALSE(report.ok(true));
    // -1 (the cluster's default replication factor) is not compared.
    const auto same = compareTopics({"p.a"}, {{"p.a", {16, 1}}}, 16, -1);
    EXPECT_TRUE(same.warnings.empty());
    EXPECT_TRUE(same.ok(true));
}

TEST(TopicReport, ATopicThatAlreadyExistsIsSuccess) {
    EXPECT_STREQ(createOutcome(RD_KAFKA_RESP_ERR_NO_ERROR), "created");
    EXPECT_STREQ(createOutcome(RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS), "exists");
    EXPECT_STREQ(createOutcome(RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR), "error");
    EXPECT_STREQ(createOutcome(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED), "error");
}

TEST(KafkaSecurity, SecretPropertiesAreRecognised) {
    for (const char* name : {"sasl.password", "ssl.key.password", "ssl.keystore.password", "sasl.jaas.config",
                             "sasl.oauthbearer.client.secret", "ssl.key.pem", "sasl.oauthbearer.config",
                             "sasl.oauthbearer.token.endpoint.url.token"})
        EXPECT_TRUE(detail::isSecretProperty(name)) << name;
    for (const char* name : {"security.protocol", "sasl.mechanisms", "sasl.username", "ssl.ca.location",
                             "ssl.key.location", "ssl.certificate.location", "bootstrap.servers"})
        EXPECT_FALSE(detail::isSecretProperty(name)) << name;
}

TEST(KafkaSecurity, SaslAndSslPropertiesReachTheClientConfiguration) {
    KafkaSettings settings;
    settings.bootstrap = "broker-1:9093";
    settings.rdkafka = {{"security.protocol", "SASL_SSL"},
                        {"sasl.mechanisms", "SCRAM-SHA-512"},
                        {"sasl.username", "taxdesk"},
                        {"sasl.password", "Pw-S3cret-42"},
                        {"ssl.ca.location", "/etc/ssl/ca.pem"},
                        {"ssl.key.password", "Key-S3cret-7"},
                        {"ssl.endpoint.identification.algorithm", "https"}};
    // The producers', consumers' and admin client's defaults are passed as `defaults`; the raw properties win.
    const detail::ConfPtr conf = detail::makeConf(settings, {{"enable.idempotence", "true"}});
    EXPECT_EQ(confValue(conf.get(), "bootstrap.servers"), "broker-1:9093");
    EXPECT_EQ(confValue(conf.get(), "security.protocol"), "sasl_ssl");
    EXPECT_EQ(confValue(conf.get(), "sasl.mechanisms"), "SCRAM-SHA-512");
    EXPECT_EQ(confValue(conf.get(), "sasl.username"), "taxdesk");
    EXPECT_EQ(confValue(conf.get(), "sasl.password"), "Pw-S3cret-42");
    EXPECT_EQ(confValue(conf.get(), "ssl.ca.location"), "/etc/ssl/ca.pem");
    EXPECT_EQ(confValue(conf.get(), "ssl.key.password"), "Key-S3cret-7");
    EXPECT_EQ(confValue(conf.get(), "enable.idempotence"), "true");
    // A kafka.rdkafka.* property overrides one of the engine's own defaults.
    settings.rdkafka["enable.idempotence"] = "false";
    EXPECT_EQ(confValue(detail::makeConf(settings, {{"enable.idempotence", "true"}}).get(), "enable.idempotence"),
              "false");
}

TEST(KafkaSecurity, ARejectedSecretIsNamedButNotShown) {
    // librdkafka may quote a rejected value in its reason: for a secret property only the name is given.
    KafkaSettings settings;
    settings.rdkafka = {{"sasl.no.such.password", "Pw-S3cret-42"}};
    try {
        (void)detail::makeConf(settings, {});
        FAIL() << "accepted";
    } catch (const KafkaError& error) {
        const std::string text = error.what();
        EXPECT_NE(text.find("'sasl.no.such.password': rejected (value not shown)"), std::string::npos) << text;
        EXPECT_EQ(text.find("Pw-S3cret-42"), std::string::npos) << text;
    }
    // Any other property keeps librdkafka's reason.
    settings.rdkafka = {{"security.protocol", "no-such-protocol"}};
    try {
        (void)detail::makeConf(settings, {});
        FAIL() << "accepted";
    } catch (const KafkaError& error) {
        const std::string text = error.what();
        EXPECT_NE(text.find("'security.protocol'"), std::string::npos) << text;
        EXPECT_NE(text.find("no-such-protocol"), std::string::npos) << text;
    }
}

TEST(KafkaAdmin, ListingNeverCreatesAndCreatingIsIdempotent) {
    MockCluster cluster(1);
    cluster.createTopic("t.one", 6, 1);
    KafkaSettings settings;
    settings.bootstrap = cluster.bootstraps();
    Admin admin(settings);
    auto topics = admin.listTopics(10000);
    ASSERT_EQ(topics.count("t.one"), 1u);
    EXPECT_EQ(topics.at("t.one").partitions, 6);
    EXPECT_EQ(topics.at("t.one").replicas, 1);
    EXPECT_EQ(topics.count("t.two"), 0u);
    EXPECT_EQ(admin.listTopics(10000).count("t.two"), 0u) << "listing made a topic";

    const auto first = admin.createTopics({"t.one", "t.two"}, 8, -1, 10000);
    ASSERT_EQ(first.size(), 2u);
    EXPECT_EQ(first[0].topic, "t.one");
    EXPECT_FALSE(first[0].created);
    EXPECT_EQ(first[1].topic, "t.two");
    EXPECT_TRUE(first[1].created);
    EXPECT_NE(first[1].note.find("no CreateTopics"), std::string::npos) << first[1].note;
    EXPECT_EQ(admin.listTopics(10000).count("t.two"), 1u);

    const auto again = admin.createTopics({"t.one", "t.two"}, 8, -1, 10000);
    ASSERT_EQ(again.size(), 2u);
    EXPECT_FALSE(again[0].created);
    EXPECT_FALSE(again[1].created);
}

TEST(KafkaSecurity, ASaslClientAgainstAPlaintextBrokerFailsWithLibrdkafkasReasonAndNoPassword) {
    MockCluster cluster(1);
    Poco::AutoPtr<Capture> capture(new Capture);
    auto& logger = Poco::Logger::get("kafka");
    const Poco::AutoPtr<Poco::Channel> previous(logger.getChannel());
    const int previousLevel = logger.getLevel();
    logger.setChannel(capture);
    logger.setLevel(Poco::Message::PRIO_DEBUG);
    KafkaSettings settings;
    settings.bootstrap = cluster.bootstraps();
    settings.rdkafka = {{"security.protocol", "SASL_PLAINTEXT"},
                        {"sasl.mechanisms", "PLAIN"},
                        {"sasl.username", "alice"},
                        {"sasl.password", "Pw-S3cret-42"},
                        {"debug", "security,broker,protocol,conf"}};
    std::string failure;
    {
        Admin admin(settings);
        try {
            (void)admin.listTopics(3000);
        } catch (const KafkaError& error) {
            failure = error.what();
        }
    }
    logger.setChannel(previous);
    logger.setLevel(previousLevel);
    EXPECT_FALSE(failure.empty()) << "a SASL client got metadata from a plaintext broker";
    EXPECT_EQ(failure.find("Pw-S3cret-42"), std::string::npos) << failure;
    bool saslReason = false;
    for (const auto& line : capture->lines()) {
        EXPECT_EQ(line.find("Pw-S3cret-42"), std::string::npos) << line;
        saslReason = saslReason || line.find("SASL") != std::string::npos;
    }
    EXPECT_TRUE(saslReason) << "librdkafka did not say why";
}
