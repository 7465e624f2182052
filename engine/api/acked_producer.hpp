#pragma once
// A Kafka producer for HTTP handlers: produce and wait for the broker's acknowledgement, bounded in time, so that a
// broker outage is answered 503 with Retry-After and never holds the HTTP workers. Shared by the SMS API and the
// dead-letter API.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "connectors/kafka/kafka.hpp"

namespace taxdesk::engine::api {

class AcknowledgedProducer {
  public:
    /// Warms `topics` (at most 10 s). `timeoutMs` (sms.produce_timeout_ms) is the most produce() waits. linger.ms is
    /// 1 unless kafka.rdkafka.linger.ms says otherwise: a caller waits for its acknowledgement, so its messages should
    /// leave at once, and the requests in flight together still go in one batch.
    AcknowledgedProducer(const connectors::kafka::KafkaSettings& kafka, const std::vector<std::string>& topics,
                         int timeoutMs);
    /// Stops the reports' thread; messages still queued are flushed (at most timeoutMs) and reported.
    ~AcknowledgedProducer();
    AcknowledgedProducer(const AcknowledgedProducer&) = delete;
    AcknowledgedProducer& operator=(const AcknowledgedProducer&) = delete;

    /// Produces `keyed` (key, value) to `topic` with the request id as a header and waits until the broker
    /// acknowledged every message; throws HttpError 503 (with Retry-After) otherwise. Thread-safe: callers' messages
    /// are in flight together (issue 11), each caller waits for its own.
    void produce(const std::vector<std::pair<std::string, std::string>>& keyed, const std::string& topic,
                 const std::string& requestId);

  private:
    /// One produce() call's messages: how many are not reported yet, how many failed. Under mutex_. Its caller waits on
    /// its own condition variable, woken once, when its last report is served (not with every other caller's).
    struct Waiter {
        int pending = 0;
        int failed = 0;
        std::condition_variable done;
    };

    /// The reports' thread: while messages are in flight, waits until librdkafka says a report is queued
    /// (Producer::onReportsQueued; bounded, in case a wake-up is missed), then serves them (Producer::poll(0): a poll
    /// that waits would hold the producer's lock, and every produce() with it, for its whole wait).
    void serveReports();

    int timeoutMs_;
    std::mutex mutex_;
    std::condition_variable work_;                   ///< messages are in flight, reports are queued, or stop_
    int inFlight_ = 0;                               ///< under mutex_: messages produced and not reported
    bool queued_ = false;                            ///< under mutex_: librdkafka queued a report since the last poll
    bool stop_ = false;                              ///< under mutex_
    std::vector<std::shared_ptr<Waiter>> finished_;  ///< under mutex_: waiters whose last report this poll served
    std::unique_ptr<connectors::kafka::Producer> producer_;
    std::thread reports_;
};

}  // namespace taxdesk::engine::api
