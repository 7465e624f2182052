// The Kafka connector against the embedded broker process (taxdesk broker) that scripts/test started.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "connectors/kafka/kafka.hpp"
#include "fixtures/kafka_helpers.hpp"

using namespace taxdesk::connectors::kafka;
using taxdesk::testing::kafkaSettings;
using taxdesk::testing::uniqueName;

TEST(Kafka, ProducedMessagesArriveWithKeysHeadersAndDeliveryReports) {
    const std::string topic = uniqueName("kafka-roundtrip");
    std::vector<void*> reported;
    Producer producer(kafkaSettings(), [&](const DeliveryReport& report) {
        EXPECT_TRUE(report.ok) << report.error;
        reported.push_back(report.opaque);
    });
    producer.warmTopics({topic}, 10000);
    int tokens[3];
    for (int i = 0; i < 3; ++i)
        producer.produce(topic, "key-" + std::to_string(i), "value-" + std::to_string(i), &tokens[i],
                         {{"request_id", "req-" + std::to_string(i)}});
    ASSERT_TRUE(producer.flush(10000));
    ASSERT_EQ(reported.size(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_NE(std::find(reported.begin(), reported.end(), &tokens[i]), reported.end());
    EXPECT_EQ(producer.outstanding(), 0);

    Consumer consumer(taxdesk::testing::consumerSettings(), uniqueName("group"));
    consumer.subscribe({topic});
    std::vector<Message> got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (got.size() < 3 && std::chrono::steady_clock::now() < deadline)
        for (auto& message : consumer.consume(10, 100)) got.push_back(std::move(message));
    ASSERT_EQ(got.size(), 3u);
    for (const auto& message : got) {
        const std::string key(message.key());
        const std::string suffix = key.substr(4);
        EXPECT_EQ(message.value(), "value-" + suffix);
        EXPECT_EQ(message.header("request_id"), "req-" + suffix);
        EXPECT_EQ(message.topic(), topic);
    }
}

TEST(Kafka, ABatchIsProducedUnderOneLockAndItsReportsAreFollowedByTheServedHook) {
    // produceBatch queues every message as produce() would (keys, values, headers, opaques), and onDeliveriesServed
    // runs after the call that handled reports: every report comes before a hook call, and none after the last one.
    const std::string topic = uniqueName("kafka-batch");
    const std::string other = uniqueName("kafka-batch-other");
    std::vector<void*> reported;
    std::size_t reportedAtLastHook = 0;
    int hooks = 0;
    Producer producer(kafkaSettings(), [&](const DeliveryReport& report) {
        EXPECT_TRUE(report.ok) << report.error;
        reported.push_back(report.opaque);
    });
    producer.onDeliveriesServed([&] {
        ++hooks;
        reportedAtLastHook = reported.size();
    });
    producer.warmTopics({topic, other}, 10000);
    int tokens[4];
    const std::vector<Header> headers{{"request_id", "req-batch"}};
    const std::vector<std::string> keys{"k0", "k1", "k2", "k3"};
    const std::vector<std::string> values{"v0", "v1", "v2", "v3"};
    std::vector<Outgoing> batch;
    for (int i = 0; i < 4; ++i)
        batch.push_back({i == 3 ? &other : &topic, keys[static_cast<std::size_t>(i)],
                         values[static_cast<std::size_t>(i)], &tokens[i], i == 0 ? &headers : nullptr});
    producer.produceBatch(batch);
    ASSERT_TRUE(producer.flush(10000));
    ASSERT_EQ(reported.size(), 4u);
    EXPECT_GE(hooks, 1);
    EXPECT_EQ(reportedAtLastHook, 4u) << "the last report is followed by a hook call";
    for (int i = 0; i < 4; ++i) EXPECT_NE(std::find(reported.begin(), reported.end(), &tokens[i]), reported.end());
    const int hooksBefore = hooks;
    producer.poll(0);  // nothing served: no hook call
    EXPECT_EQ(hooks, hooksBefore);

    Consumer consumer(taxdesk::testing::consumerSettings(), uniqueName("group"));
    consumer.subscribe({topic, other});
    std::vector<Message> got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (got.size() < 4 && std::chrono::steady_clock::now() < deadline)
        for (auto& message : consumer.consume(10, 100)) got.push_back(std::move(message));
    ASSERT_EQ(got.size(), 4u);
    for (const auto& message : got) {
        const std::string key(message.key());
        EXPECT_EQ(message.value(), "v" + key.substr(1));
        EXPECT_EQ(message.topic(), key == "k3" ? other : topic);
        EXPECT_EQ(message.header("request_id"), key == "k0" ? "req-batch" : "");
    }
}

TEST(Kafka, ACommittedPositionIsWhereTheGroupResumes) {
    const std::string topic = uniqueName("kafka-commit");
    const std::string group = uniqueName("group");
    std::vector<std::pair<std::string, std::string>> messages;
    for (int i = 0; i < 10; ++i) messages.emplace_back("same-key", std::to_string(i));  // one partition, in order
    taxdesk::testing::produceAll(topic, messages);

    {
        Consumer consumer(taxdesk::testing::consumerSettings(), group);
        consumer.subscribe({topic});
        std::vector<Message> got;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (got.size() < 10 && std::chrono::steady_clock::now() < deadline)
            for (auto& message : consumer.consume(100, 100)) got.push_back(std::move(message));
        ASSERT_EQ(got.size(), 10u);
        // Commit after the 4th message only (offset of the 5th is the next to read).
        consumer.commit({{topic, got[4].partition(), got[4].offset()}}, false);
        consumer.close();
    }
    Consumer again(taxdesk::testing::consumerSettings(), group);
    again.subscribe({topic});
    std::vector<std::string> values;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (values.size() < 6 && std::chrono::steady_clock::now() < deadline)
        for (auto& message : again.consume(100, 100)) values.emplace_back(message.value());
    EXPECT_EQ(values, (std::vector<std::string>{"4", "5", "6", "7", "8", "9"}));
}

TEST(Kafka, ConsumeReadyTakesWhatIsQueuedInOrderAndAtMostMax) {
    // consumeReady (issue 11, the SMS pipelines): what is queued, at most `max` a call, nothing lost or repeated, in
    // partition order; with nothing queued it returns empty once its wait is over.
    const std::string topic = uniqueName("kafka-ready");
    std::vector<std::pair<std::string, std::string>> messages;
    for (int i = 0; i < 7; ++i) messages.emplace_back("same-key", std::to_string(i));  // one partition, in order
    taxdesk::testing::produceAll(topic, messages);

    Consumer consumer(taxdesk::testing::consumerSettings(), uniqueName("group"));
    consumer.subscribe({topic});
    std::vector<std::string> values;
    std::size_t largest = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (values.size() < 7 && std::chrono::steady_clock::now() < deadline) {
        auto batch = consumer.consumeReady(3, 100);
        largest = std::max(largest, batch.size());
        for (auto& message : batch) values.emplace_back(message.value());
    }
    EXPECT_EQ(values, (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6"}));
    EXPECT_LE(largest, 3u);
    EXPECT_TRUE(consumer.consumeReady(10, 50).empty()) << "all seven were taken";
    EXPECT_TRUE(consumer.consumeReady(0, 50).empty());
}

TEST(Kafka, TheProducerTellsWhenReportsAreQueuedWithoutBeingPolled) {
    // onReportsQueued (issue 11): a thread serving reports waits for this instead of polling on a timer. It is called
    // from librdkafka's own threads while nobody polls; the reports it announces are then served by poll().
    const std::string topic = uniqueName("kafka-queued");
    std::atomic<int> announced{0};
    int reported = 0;
    Producer producer(kafkaSettings(), [&](const DeliveryReport& report) {
        EXPECT_TRUE(report.ok) << report.error;
        ++reported;
    });
    producer.onReportsQueued([&] { ++announced; });
    producer.warmTopics({topic}, 10000);
    const int before = announced.load();  // warmTopics may have queued events of its own
    for (int i = 0; i < 3; ++i) producer.produce(topic, "key", "value-" + std::to_string(i));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (announced.load() == before && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_GT(announced.load(), before) << "no call while reports were queued and not polled";
    EXPECT_EQ(reported, 0) << "nothing is served before a poll";
    while (reported < 3 && std::chrono::steady_clock::now() < deadline) producer.poll(100);
    EXPECT_EQ(reported, 3);
}

TEST(Kafka, AnUnreachableBrokerIsARetryableError) {
    KafkaSettings settings;
    settings.bootstrap = "127.0.0.1:1";  // nothing listens there
    Producer producer(settings, nullptr);
    try {
        producer.checkReachable(500);
        FAIL() << "no broker, yet reachable";
    } catch (const KafkaError& error) {
        EXPECT_TRUE(error.isRetryable());
    }
}

TEST(Kafka, BadClientPropertiesAreRejectedByName) {
    KafkaSettings settings = kafkaSettings();
    settings.rdkafka["no.such.property"] = "1";
    try {
        Producer producer(settings, nullptr);
        FAIL() << "accepted";
    } catch (const KafkaError& error) {
        EXPECT_NE(std::string(error.what()).find("no.such.property"), std::string::npos);
        EXPECT_FALSE(error.isRetryable());
    }
}

TEST(Kafka, AnInProcessMockClusterServesClients) {
    MockCluster cluster(1);
    cluster.createTopic("mock-topic", 6, 1);
    KafkaSettings settings;
    settings.bootstrap = cluster.bootstraps();
    taxdesk::connectors::kafka::Producer producer(settings, nullptr);
    EXPECT_NO_THROW(producer.checkReachable(5000));
    EXPECT_FALSE(cluster.bootstraps().empty());
}
