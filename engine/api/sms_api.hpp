#pragma once
// SPEC 4 and 5, the SMS side: the gateway hands in inbound SMS and delivery reports; the counter collects pickups.
#include <memory>
#include <vector>

#include "connectors/store/database.hpp"
#include "connectors/store/sms_areas.hpp"
#include "connectors/store/token_store.hpp"
#include "engine/api/acked_producer.hpp"
#include "engine/http/http_server.hpp"

namespace taxdesk::engine::api {

struct SmsApiSettings {
    std::string inboundTopic;        ///< sms.inbound
    std::string outboundTopic;       ///< notifications.outbound
    std::string outboundDeadLetter;  ///< notifications.outbound.dlq
    int maxAttempts = 3;
    std::size_t maxMessages = 1000;  ///< messages in one POST
};

class SmsApi {
  public:
    /// `tokens` authenticates the requests (authenticate()); `store` holds what the routes read and write;
    /// `producer` produces to sms.inbound and notifications.outbound.
    SmsApi(SmsApiSettings settings, connectors::SmsAreas store, connectors::TokenStore& tokens,
           std::shared_ptr<AcknowledgedProducer> producer);
    [[nodiscard]] std::vector<Route> routes();

  private:
    HttpReply inbound(HttpRequest& request);
    HttpReply deliveryReport(HttpRequest& request);
    HttpReply collect(HttpRequest& request);

    SmsApiSettings settings_;
    connectors::SmsAreas store_;
    connectors::TokenStore& tokens_;
    std::shared_ptr<AcknowledgedProducer> producer_;
};

}  // namespace taxdesk::engine::api
