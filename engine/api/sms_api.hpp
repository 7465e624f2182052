#pragma once
// SPEC 4 and 5, the SMS side: the gateway hands in inbound SMS and delivery reports; the counter collects pickups.
#include <memory>
#include <mutex>
#include <vector>

#include "connectors/kafka/kafka.hpp"
#include "connectors/store/sms_areas.hpp"
#include "connectors/store/store.hpp"
#include "engine/http_server.hpp"

namespace taxdesk::engine::api {

struct SmsApiSettings {
    std::string inboundTopic;        ///< sms.inbound
    std::string outboundTopic;       ///< notifications.outbound
    std::string outboundDeadLetter;  ///< notifications.outbound.dlq
    int maxAttempts = 3;
    std::size_t maxMessages = 1000;  ///< messages in one POST
    /// sms.produce_timeout_ms: the most a request waits for the broker (its turn at the producer included) before it
    /// is answered 503 with Retry-After, so that a broker outage never holds the HTTP workers.
    int produceTimeoutMs = 2000;
};

class SmsApi {
  public:
    /// `tokens` authenticates the requests (authenticate()); `store` holds what the routes read and write.
    SmsApi(SmsApiSettings settings, connectors::SmsAreas store, connectors::Store& tokens,
           const connectors::kafka::KafkaSettings& kafka);
    [[nodiscard]] std::vector<Route> routes();

  private:
    HttpReply inbound(HttpRequest& request);
    HttpReply deliveryReport(HttpRequest& request);
    HttpReply collect(HttpRequest& request);
    /// GET /api/v1/ops/dead-letters: notifications that were given up on (ops role).
    HttpReply deadLetters(HttpRequest& request);
    /// POST /api/v1/ops/dead-letters/{id}/replay: sends a dead notification again, once however often it is asked.
    HttpReply replay(HttpRequest& request);
    /// Produces and waits until the broker acknowledged every message, at most settings_.produceTimeoutMs; throws
    /// HttpError 503 (with Retry-After) otherwise.
    void produceAcknowledged(const std::vector<std::pair<std::string, std::string>>& keyed, const std::string& topic,
                             const std::string& requestId);

    SmsApiSettings settings_;
    connectors::SmsAreas store_;
    connectors::Store& tokens_;
    std::timed_mutex producerMutex_;
    int failedDeliveries_ = 0;
    std::unique_ptr<connectors::kafka::Producer> producer_;
};

}  // namespace taxdesk::engine::api
