// A producer that hits a fatal idempotence error (as against a broker restarted empty, which does not know its
// producer id) is replaced in place: what it still held is reported not delivered and `fatal`, so that its owner sends
// it again; the next produce goes through a new producer. In-process (librdkafka's mock cluster), no servers needed.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "connectors/kafka/kafka.hpp"
#include "fixtures/test_env.hpp"

using taxdesk::connectors::kafka::DeliveryReport;
using taxdesk::connectors::kafka::KafkaSettings;
using taxdesk::connectors::kafka::MockCluster;
using taxdesk::connectors::kafka::Producer;

namespace {

struct Reports {
    std::mutex mutex;
    std::vector<DeliveryReport> all;
    void add(const DeliveryReport& report) {
        std::lock_guard lock(mutex);
        all.push_back(report);
    }
    int count(bool ok, bool fatal) {
        std::lock_guard lock(mutex);
        int n = 0;
        for (const auto& report : all) n += report.ok == ok && report.fatal == fatal ? 1 : 0;
        return n;
    }
};

}  // namespace

TEST(KafkaFatal, AFatalProducerIsReplacedAndItsMessagesReportedFatal) {
    MockCluster cluster(1);
    cluster.createTopic("fatal.t", 1, 1);
    KafkaSettings settings;
    settings.bootstrap = cluster.bootstraps();
    Reports reports;
    Producer producer(settings, [&](const DeliveryReport& report) { reports.add(report); });
    producer.warmTopics({"fatal.t"}, 5000);

    producer.produce("fatal.t", "k", "before");
    ASSERT_TRUE(producer.flush(5000));
    EXPECT_EQ(reports.count(true, false), 1);

    producer.simulateFatalError("test: the broker lost our sequence");
    // A message queued on the broken producer: librdkafka refuses it (ERR__FATAL), the producer is replaced, and
    // the message goes through the new one.
    producer.produce("fatal.t", "k", "after");
    EXPECT_EQ(producer.replacements(), 1);
    ASSERT_TRUE(producer.flush(5000));
    EXPECT_EQ(reports.count(true, false), 2) << "the message after the fatal error was delivered by the new producer";
    EXPECT_EQ(reports.count(false, false), 0) << "no failure reported as anything but fatal";

    // And it keeps working.
    producer.produce("fatal.t", "k", "later");
    ASSERT_TRUE(producer.flush(5000));
    EXPECT_EQ(reports.count(true, false), 3);
    EXPECT_EQ(producer.replacements(), 1);
}

TEST(KafkaFatal, MessagesHeldByTheBrokenProducerAreReportedFatal) {
    // No broker at all: messages stay queued; the fatal error then fails them, each reported once and `fatal`.
    KafkaSettings settings;
    settings.bootstrap = "127.0.0.1:" + std::to_string(taxdesk::testing::freePort());
    Reports reports;
    Producer producer(settings, [&](const DeliveryReport& report) { reports.add(report); });
    for (int i = 0; i < 3; ++i) producer.produce("fatal.t", "k", "queued " + std::to_string(i));
    EXPECT_GE(producer.outstanding(), 3);  // librdkafka counts its own requests here too
    producer.simulateFatalError("test: fatal while messages are queued");
    (void)producer.flush(1000);  // notices the fatal error and replaces the producer
    EXPECT_EQ(producer.replacements(), 1);
    EXPECT_EQ(reports.count(false, true), 3);
    EXPECT_EQ(reports.count(true, false) + reports.count(false, false), 0);
}

TEST(KafkaFatal, AbandonReportsWhatAFlushLeftSoItsOwnersFreeIt) {
    // Shutdown with no broker answering: the flush times out with messages still queued. abandon() fails them, each
    // reported once (not delivered) with the opaque its owner attached, so that the owner frees it; nothing is left.
    KafkaSettings settings;
    settings.bootstrap = "127.0.0.1:" + std::to_string(taxdesk::testing::freePort());
    std::vector<void*> opaques;
    std::mutex mutex;
    std::vector<DeliveryReport> reported;
    Producer producer(settings, [&](const DeliveryReport& report) {
        const std::lock_guard lock(mutex);
        reported.push_back(report);
    });
    int owned[4] = {0, 1, 2, 3};
    for (int& item : owned) producer.produce("abandon.t", "k", "queued", &item);
    EXPECT_FALSE(producer.flush(200)) << "no broker: the flush cannot finish";
    producer.abandon();
    const std::lock_guard lock(mutex);
    ASSERT_EQ(reported.size(), 4U);
    for (std::size_t i = 0; i < reported.size(); ++i) {
        EXPECT_FALSE(reported[i].ok);
        EXPECT_EQ(reported[i].opaque, &owned[i]) << "each message's own opaque, in order";
    }
    EXPECT_EQ(producer.outstanding(), 0);
}

TEST(KafkaFatal, ABatchRefusedPartWayReportsEveryMessageItDidNotQueue) {
    // produceBatch refused at its second message (larger than message.max.bytes, which librdkafka refuses at once):
    // the first is queued and delivered; the second and third were never queued, and are reported not delivered
    // before produceBatch throws, so that every opaque gets exactly one report (its owner frees what it attached).
    MockCluster cluster(1);
    cluster.createTopic("batch.t", 1, 1);
    KafkaSettings settings;
    settings.bootstrap = cluster.bootstraps();
    std::mutex mutex;
    std::vector<DeliveryReport> reported;
    int served = 0;
    Producer producer(settings, [&](const DeliveryReport& report) {
        const std::lock_guard lock(mutex);
        reported.push_back(report);
    });
    producer.onDeliveriesServed([&] { ++served; });
    producer.warmTopics({"batch.t"}, 5000);
    const std::string topic = "batch.t";
    const std::string huge(2 * 1024 * 1024, 'x');  // message.max.bytes is 1,000,000 by default
    int owned[3] = {0, 1, 2};
    const std::vector<taxdesk::connectors::kafka::Outgoing> batch = {
        {&topic, "k", "small", &owned[0], nullptr},
        {&topic, "k", huge, &owned[1], nullptr},
        {&topic, "k", "after", &owned[2], nullptr},
    };
    EXPECT_THROW(producer.produceBatch(batch), taxdesk::connectors::kafka::KafkaError);
    {
        const std::lock_guard lock(mutex);
        ASSERT_EQ(reported.size(), 2U) << "the two messages never queued are reported before the throw";
        EXPECT_EQ(reported[0].opaque, &owned[1]);
        EXPECT_EQ(reported[1].opaque, &owned[2]);
        for (const auto& report : reported) {
            EXPECT_FALSE(report.ok);
            EXPECT_FALSE(report.fatal);
            EXPECT_FALSE(report.retryable);
            EXPECT_NE(report.error.find("batch.t"), std::string::npos) << report.error;
        }
    }
    EXPECT_GE(served, 1) << "onDeliveriesServed ran for those reports";
    ASSERT_TRUE(producer.flush(5000));
    const std::lock_guard lock(mutex);
    ASSERT_EQ(reported.size(), 3U) << "the queued message reported once more, and nothing else";
    EXPECT_EQ(reported[2].opaque, &owned[0]);
    EXPECT_TRUE(reported[2].ok);
}
