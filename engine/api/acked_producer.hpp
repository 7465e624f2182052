#pragma once
// A Kafka producer for HTTP handlers: produce and wait for the broker's acknowledgement, bounded in time, so that a
// broker outage is answered 503 with Retry-After and never holds the HTTP workers. Shared by the SMS API and the
// dead-letter API.
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "connectors/kafka/kafka.hpp"

namespace taxdesk::engine::api {

class AcknowledgedProducer {
  public:
    /// Warms `topics` (at most 10 s). `timeoutMs` (sms.produce_timeout_ms) is the most produce() waits, its turn at
    /// the producer included.
    AcknowledgedProducer(const connectors::kafka::KafkaSettings& kafka, const std::vector<std::string>& topics,
                         int timeoutMs);

    /// Produces `keyed` (key, value) to `topic` with the request id as a header and waits until the broker
    /// acknowledged every message; throws HttpError 503 (with Retry-After) otherwise. Thread-safe (one at a time).
    void produce(const std::vector<std::pair<std::string, std::string>>& keyed, const std::string& topic,
                 const std::string& requestId);

  private:
    int timeoutMs_;
    std::timed_mutex mutex_;
    int failedDeliveries_ = 0;  ///< under mutex_: only flush() inside produce() serves delivery reports
    std::unique_ptr<connectors::kafka::Producer> producer_;
};

}  // namespace taxdesk::engine::api
