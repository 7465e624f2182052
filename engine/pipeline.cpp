#include "engine/pipeline.hpp"

#include <Poco/Logger.h>

#include <chrono>
#include <memory>
#include <thread>

namespace taxdesk::engine {
namespace {

/// One consumed message whose outputs are on their way to the broker.
struct Pending {
    std::string topic;
    int partition;
    std::int64_t offset;
    int remaining;  ///< outputs not yet acknowledged
};

using Clock = std::chrono::steady_clock;

}  // namespace

Pipeline::Pipeline(PipelineSettings settings, BatchStage& stage, PipelineMetrics metrics)
    : settings_(std::move(settings)), stage_(stage), metrics_(metrics) {}

void Pipeline::commitDone(connectors::kafka::Consumer& consumer, bool async) {
    const auto offsets = tracker_.takeCommittable();
    if (offsets.empty()) return;
    try {
        consumer.commit(offsets, async);
    } catch (const connectors::kafka::KafkaError& error) {
        // Not fatal: the offsets stay uncommitted and the messages may be redelivered, which is harmless.
        Poco::Logger::get("pipeline." + settings_.name).warning("commit failed: %s", std::string(error.what()));
    }
}

void Pipeline::run(const std::atomic<bool>& stop) {
    auto& log = Poco::Logger::get("pipeline." + settings_.name);
    std::string deliveryFailure;
    connectors::kafka::Producer producer(settings_.kafka, [&](const connectors::kafka::DeliveryReport& report) {
        std::unique_ptr<Pending> pending(static_cast<Pending*>(report.opaque));
        if (!report.ok) {
            // librdkafka has already retried; the message stays uncommitted and this pipeline stops.
            if (deliveryFailure.empty()) deliveryFailure = report.error;
            return;
        }
        metrics_.messagesOut.Increment();
        if (--pending->remaining > 0) {
            (void)pending.release();  // still waiting for its other outputs
            return;
        }
        tracker_.done(pending->topic, pending->partition, pending->offset);
    });
    connectors::kafka::Consumer consumer(
        settings_.kafka, settings_.groupId,
        [&](bool revoked, const std::vector<connectors::kafka::TopicPartitionOffset>& partitions) {
            if (!revoked) {
                assigned_ = true;
                log.information("assigned %z partitions of %s", partitions.size(), settings_.inputTopic);
                return;
            }
            // Deliver what is on its way, commit what is done, then let the partitions go.
            producer.flush(5000);
            commitDone(consumer, false);
            for (const auto& partition : partitions) tracker_.forget(partition.topic, partition.partition);
            log.information("revoked %z partitions of %s", partitions.size(), settings_.inputTopic);
        });
    consumer.onError = [&](const std::string& error) { log.warning("consumer: %s", error); };

    if (!settings_.warmTopics.empty()) producer.warmTopics(settings_.warmTopics, 10000);
    consumer.subscribe({settings_.inputTopic});
    log.information("consuming %s as group %s", settings_.inputTopic, settings_.groupId);

    std::vector<std::vector<OutMessage>> outputs;
    auto lastCommit = Clock::now();
    while (!stop.load() && deliveryFailure.empty()) {
        producer.poll(0);
        const auto room = static_cast<int>(settings_.maxInFlight) - static_cast<int>(tracker_.inFlight());
        if (room <= 0) {
            // Backpressure: nothing more is consumed until deliveries free room.
            producer.poll(20);
            commitDone(consumer, true);
            continue;
        }
        auto batch = consumer.consume(static_cast<std::size_t>(std::min(room, settings_.batchSize)),
                                      settings_.batchTimeoutMs);
        if (!batch.empty()) {
            const auto started = Clock::now();
            consumed_ += batch.size();
            metrics_.messagesIn.Increment(static_cast<double>(batch.size()));
            for (const auto& message : batch)
                tracker_.add(std::string(message.topic()), message.partition(), message.offset());
            outputs.assign(batch.size(), {});
            int backoffMs = 100;
            bool processed = false;
            while (!processed && !stop.load()) {
                try {
                    stage_.process(batch, outputs);
                    processed = true;
                } catch (const connectors::ConnectorError& error) {
                    if (!error.isRetryable()) throw;
                    metrics_.batchRetries.Increment();
                    log.warning("batch of %z failed, retrying in %d ms: %s", batch.size(), backoffMs,
                                std::string(error.what()));
                    std::this_thread::sleep_for(std::chrono::milliseconds(backoffMs));
                    backoffMs = std::min(backoffMs * 2, 5000);
                    for (auto& out : outputs) out.clear();
                }
            }
            if (!processed) break;  // stopping: the batch stays uncommitted and is redelivered
            for (std::size_t i = 0; i < batch.size(); ++i) {
                const auto& message = batch[i];
                if (outputs[i].empty()) {
                    tracker_.done(std::string(message.topic()), message.partition(), message.offset());
                    continue;
                }
                auto* pending = new Pending{std::string(message.topic()), message.partition(), message.offset(),
                                            static_cast<int>(outputs[i].size())};
                for (const auto& out : outputs[i]) producer.produce(out.topic, out.key, out.value, pending);
            }
            metrics_.batchSeconds.Observe(std::chrono::duration<double>(Clock::now() - started).count());
        }
        metrics_.inFlight.Set(static_cast<double>(tracker_.inFlight()));
        if (Clock::now() - lastCommit >= std::chrono::milliseconds(settings_.commitIntervalMs)) {
            commitDone(consumer, true);
            lastCommit = Clock::now();
        }
    }

    log.information("stopping: delivering %d outstanding messages", producer.outstanding());
    if (!producer.flush(10000)) log.warning("some messages were not delivered in time; they will be redelivered");
    commitDone(consumer, false);
    consumer.close();
    if (!deliveryFailure.empty())
        throw connectors::kafka::KafkaError("delivery failed: " + deliveryFailure + " (uncommitted work is redelivered)",
                                            false);
}

}  // namespace taxdesk::engine
