#pragma once
// The consume → process → produce → commit loop, shared by every pipeline. A BatchStage does the work of a whole
// batch (one Redis round trip, one SQL transaction…); the pipeline tracks each message until its outputs are
// acknowledged by the broker and only then lets its offset be committed.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/kafka/kafka.hpp"
#include "connectors/retry/retry.hpp"
#include "engine/runtime/metrics.hpp"
#include "engine/runtime/offsets.hpp"

namespace Poco {
class Logger;
}

namespace taxdesk::engine {

struct OutMessage {
    std::string topic;
    std::string key;
    std::string value;
    std::vector<connectors::kafka::Header> headers;  ///< e.g. request_id, carried from the message that caused it
};

/// The work a stage prepared for one batch: the messages to produce (out[i] for the batch's i-th message, none is
/// fine) and whatever the stage needs to make its effects durable in commit().
struct PreparedBatch {
    virtual ~PreparedBatch() = default;
    std::vector<std::vector<OutMessage>> out;
};

/// The work of one pipeline, in two phases so that the durable part of batch N (one SQL transaction) overlaps the
/// look-ups of batch N+1. The pipeline calls prepare() from its consumer thread and commit() from its committer
/// thread, each in batch order; implementations must allow one prepare() and one commit() to run at once.
class BatchStage {
  public:
    virtual ~BatchStage() = default;
    /// Reads and looks up a batch; no durable effect yet. Throws ConnectorError when the batch as a whole must be
    /// tried again (a bad single message is not an error here but an output to the dead-letter topic).
    virtual std::unique_ptr<PreparedBatch> prepare(const std::vector<connectors::kafka::Message>& batch) = 0;
    /// Makes every effect other than the outputs durable and idempotent (store rows). Throws ConnectorError when it
    /// must be tried again. The default has nothing to make durable.
    virtual void commit(PreparedBatch& /*prepared*/) {}
    /// `message` failed for good and goes to the dead-letter topic (called before its dead letter is produced, from
    /// the thread that found it, holding no lock of the stage): make durable what a user must see of it, idempotently
    /// — the inquiry stage gives its row an `error` result so that the batch completes — and return what to produce
    /// with the dead letter (that result, for inquiry.results). Throws ConnectorError when it must be tried again
    /// (retryable); after a permanent failure it is logged and the dead letter goes out alone. The default does
    /// nothing.
    virtual std::vector<OutMessage> deadLettered(const connectors::kafka::Message& /*message*/,
                                                 const std::string& /*error*/) {
        return {};
    }
};

struct PipelineSettings {
    std::string name;  ///< metrics label and log source
    std::string inputTopic;
    std::string groupId;
    connectors::kafka::KafkaSettings kafka;
    int batchSize = 2000;
    /// false: a batch is what comes within batchTimeoutMs, or batchSize messages (Consumer::consume). true: a batch is
    /// what is queued when the previous one is handed over, taken at once; batchTimeoutMs then bounds only the wait
    /// for a first message while nothing is queued (Consumer::consumeReady). For a latency-bound pipeline (the SMS
    /// stage and the sender): no fixed wait a batch, and no polling while idle.
    bool takeWhatIsQueued = false;
    /// With takeWhatIsQueued: after a wait for a first message, what comes within this many ms joins it (a batch of
    /// one a message costs its fixed costs, a transaction, a Redis round trip, a produce, each time).
    int gatherMs = 0;
    int batchTimeoutMs = 10;
    int maxInFlight = 20000;
    int commitIntervalMs = 200;
    int preparedAhead = 2;                ///< batches prepared and waiting for the committer, at most
    std::vector<std::string> warmTopics;  ///< looked up at start so the first produce does not stall (and, on the
                                          ///< embedded broker, created)
    std::string deadLetterTopic;          ///< where a message that fails permanently goes; empty: inputTopic + ".dlq"
    /// How a batch is tried again after a transient failure (pipeline.retry_backoff_ms, pipeline.retry_max_backoff_ms):
    /// no limit on attempts, until it succeeds or the pipeline stops. The stage's own connector retries are inside
    /// one try of this (they end in a row status, not in a failed batch), so the two never multiply.
    connectors::RetryPolicy retry{0, std::chrono::milliseconds(100), std::chrono::milliseconds(5000)};
};

class Pipeline {
  public:
    Pipeline(PipelineSettings settings, BatchStage& stage, PipelineMetrics metrics);

    /// Runs until `stop` is set: then stops consuming, waits for outstanding deliveries, commits what is done and
    /// leaves the group. Work in flight whose outputs were not acknowledged is left uncommitted (it is redelivered).
    /// Throws KafkaError when a delivery fails for good (after librdkafka's own retries): the process should
    /// exit and be restarted; everything not committed is redelivered then.
    ///
    /// Errors of the stage are classified: a retryable ConnectorError (store or Redis away, a timeout) retries the
    /// batch with back-off; anything else (a PermanentError such as a constraint violation, std::invalid_argument…)
    /// is permanent: the batch is then processed one message at a time, and each message that still fails
    /// permanently goes to the dead-letter topic (the original with `error`, `attempts`, `failed_at`) while the
    /// pipeline goes on. One bad message never stops a pipeline.
    ///
    /// A broker replaced under it (the cluster id changed: the embedded broker restarted, empty) or a producer that
    /// hit a fatal error ends the session instead: nothing more is committed (the offsets are of the old broker's
    /// messages), the consumer leaves, and a new session starts — after a replacement, from the beginning of every
    /// partition of the new broker (whatever the group's committed offsets say). The store-driven senders send again
    /// what the old broker lost.
    void run(const std::atomic<bool>& stop);

    /// Messages consumed so far (for tests and the bench).
    [[nodiscard]] std::uint64_t consumed() const { return consumed_.load(); }
    /// True once the consumer has been assigned partitions.
    [[nodiscard]] bool assigned() const { return assigned_.load(); }

    /// Sessions started again after a broker replacement or a fatal producer error (for tests and logs).
    [[nodiscard]] int restarts() const { return restarts_.load(); }

  private:
    enum class SessionEnd { stopped, brokerReplaced, producerFatal, consumerFailed };
    /// One consumer and producer, from subscribe to close.
    SessionEnd runSession(const std::atomic<bool>& stop, bool fromBeginning);
    void commitDone(connectors::kafka::Consumer& consumer, bool async);
    [[nodiscard]] std::string deadLetterTopic() const;
    /// The dead letter of a message that failed for good, counted in messagesFailed.
    OutMessage deadLetter(const connectors::kafka::Message& message, const std::string& error);
    /// Lets the stage record what the message's failure means for users (BatchStage::deadLettered), with retries, and
    /// sets `out` to the dead letter and what the stage returned. False when `stop` was set first (the message is
    /// then left uncommitted and redelivered).
    bool noteDeadLetter(const connectors::kafka::Message& message, const std::string& error,
                        const std::atomic<bool>& stop, Poco::Logger& log, std::vector<OutMessage>& out);
    /// Prepares each message alone (the caller holds prepareMutex_): a message whose prepare() fails permanently gets
    /// its dead letter as its output. Null when `stop` was set first. Throws what is not permanent.
    std::unique_ptr<PreparedBatch> isolate(std::vector<connectors::kafka::Message>& messages,
                                           const std::atomic<bool>& stop, Poco::Logger& log);
    /// Commits a prepared batch with retries; after a permanent failure it prepares and commits the messages one at a
    /// time, dead-lettering those that fail permanently. False when `stop` was set first.
    bool commitIsolating(std::unique_ptr<PreparedBatch>& prepared, std::vector<connectors::kafka::Message>& messages,
                         const std::atomic<bool>& stop, Poco::Logger& log);

    /// The input topic's name as a string that lives as long as the pipeline: a message's position points to it
    /// instead of copying it (the consumer thread's; others only read the strings, which never move).
    const std::string* intern(std::string_view topic);
    std::set<std::string, std::less<>> topicNames_;
    const std::string* lastTopic_ = nullptr;

    std::mutex prepareMutex_;  // one prepare() at a time: the consumer thread's, or the committer's when it isolates

    PipelineSettings settings_;
    BatchStage& stage_;
    PipelineMetrics metrics_;
    std::mutex trackerMutex_;  // the consumer thread adds and commits, delivery reports mark done
    OffsetTracker tracker_;
    std::atomic<std::uint64_t> consumed_{0};
    std::atomic<bool> assigned_{false};
    std::atomic<int> restarts_{0};
    std::atomic<bool> committed_{false};    // this session committed offsets (its start position is settled)
    std::atomic<bool> sessionOver_{false};  // this session must not commit any more (broker replaced, fatal producer)
};

}  // namespace taxdesk::engine
