#pragma once
// The consume → process → produce → commit loop, shared by every pipeline. A BatchStage does the work of a whole
// batch (one Redis round trip, one SQL transaction…); the pipeline tracks each message until its outputs are
// acknowledged by the broker and only then lets its offset be committed.
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "connectors/kafka/kafka.hpp"
#include "engine/metrics.hpp"
#include "engine/offsets.hpp"

namespace taxdesk::engine {

struct OutMessage {
    std::string topic;
    std::string key;
    std::string value;
};

/// The work of one pipeline. Implementations need not be thread-safe: the pipeline calls them from its thread.
class BatchStage {
public:
    virtual ~BatchStage() = default;
    /// Handles a batch: out[i] receives the messages to produce for batch[i] (none is fine). Every effect other than
    /// those messages (store rows…) must be durable and idempotent when this returns. Throws ConnectorError when
    /// the batch as a whole must be tried again (the store or the cache is down); a bad single message is not an
    /// error here but an output to the dead-letter topic.
    virtual void process(const std::vector<connectors::kafka::Message>& batch,
                         std::vector<std::vector<OutMessage>>& out) = 0;
};

struct PipelineSettings {
    std::string name;  ///< metrics label and log source
    std::string inputTopic;
    std::string groupId;
    connectors::kafka::KafkaSettings kafka;
    int batchSize = 2000;
    int batchTimeoutMs = 10;
    int maxInFlight = 20000;
    int commitIntervalMs = 200;
    std::vector<std::string> warmTopics;  ///< looked up at start so the first produce does not stall (and, on the
                                          ///< embedded broker, created)
};

class Pipeline {
public:
    Pipeline(PipelineSettings settings, BatchStage& stage, PipelineMetrics metrics);

    /// Runs until `stop` is set: then stops consuming, waits for outstanding deliveries, commits what is done and
    /// leaves the group. Work in flight whose outputs were not acknowledged is left uncommitted (it is redelivered).
    /// Throws KafkaError when a delivery fails for good (after librdkafka's own retries): the process should
    /// exit and be restarted; everything not committed is redelivered then.
    void run(const std::atomic<bool>& stop);

    /// Messages consumed so far (for tests and the bench).
    [[nodiscard]] std::uint64_t consumed() const { return consumed_.load(); }
    /// True once the consumer has been assigned partitions.
    [[nodiscard]] bool assigned() const { return assigned_.load(); }

private:
    void commitDone(connectors::kafka::Consumer& consumer, bool async);

    PipelineSettings settings_;
    BatchStage& stage_;
    PipelineMetrics metrics_;
    OffsetTracker tracker_;
    std::atomic<std::uint64_t> consumed_{0};
    std::atomic<bool> assigned_{false};
};

}  // namespace taxdesk::engine
