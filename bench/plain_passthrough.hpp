#pragma once
// The ceiling of bench/run: a tuned no-work passthrough in plain librdkafka (C API, no taxdesk class), measured in the
// same invocation as the Pipeline modes.
#include <chrono>
#include <cstdint>
#include <string>

namespace taxdesk::bench {

struct PlainSettings {
    std::string bootstrap;
    std::string inputTopic;
    std::string outputTopic;
    std::string groupId;
    std::int64_t rows = 0;  ///< stop once this many outputs are acknowledged
    std::chrono::seconds timeout{600};
};

struct PlainResult {
    std::chrono::steady_clock::time_point assigned;   ///< the group's assignment (the clock starts)
    std::chrono::steady_clock::time_point lastAcked;  ///< the last output acknowledged (the clock stops)
    std::int64_t delivered = 0;                       ///< outputs acknowledged by the broker
};

/// Group consumer (rd_kafka_consume_batch_queue, queued.min.messages 1,000,000, auto commit off, the consumed
/// positions committed asynchronously every 200 ms) → idempotent producer (enable.idempotence=true: acks=all;
/// linger.ms 5, batch.num.messages 10,000), one thread. Runs until `rows` outputs are acknowledged or the timeout.
/// Throws std::runtime_error when librdkafka refuses the configuration or a delivery fails.
PlainResult runPlainPassthrough(const PlainSettings& settings);

}  // namespace taxdesk::bench
