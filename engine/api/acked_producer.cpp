#include "engine/api/acked_producer.hpp"

#include <algorithm>
#include <chrono>

#include "engine/http/http_server.hpp"

namespace taxdesk::engine::api {

AcknowledgedProducer::AcknowledgedProducer(const connectors::kafka::KafkaSettings& kafka,
                                           const std::vector<std::string>& topics, int timeoutMs)
    : timeoutMs_(timeoutMs) {
    producer_ =
        std::make_unique<connectors::kafka::Producer>(kafka, [this](const connectors::kafka::DeliveryReport& r) {
            if (!r.ok) ++failedDeliveries_;  // under mutex_: only flush() inside produce() serves these
        });
    producer_->warmTopics(topics, 10000);
}

void AcknowledgedProducer::produce(const std::vector<std::pair<std::string, std::string>>& keyed,
                                   const std::string& topic, const std::string& requestId) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs_);
    const HttpError notQueued(503, "not_queued",
                              "the messages could not be queued; send them again (they are deduplicated)",
                              {{"Retry-After", "5"}});
    std::unique_lock lock(mutex_, deadline);
    if (!lock.owns_lock()) throw notQueued;  // requests before this one are waiting for the broker
    failedDeliveries_ = 0;
    const std::vector<connectors::kafka::Header> headers{{"request_id", requestId}};
    for (const auto& [key, value] : keyed) producer_->produce(topic, key, value, nullptr, headers);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (!producer_->flush(std::max(1, static_cast<int>(left.count()))) || failedDeliveries_ > 0) throw notQueued;
}

}  // namespace taxdesk::engine::api
