#pragma once
// The operations staff's dead letters (ops role): the outbound SMS given up on, and their replay.
#include <memory>
#include <string>
#include <vector>

#include "connectors/store/notification_store.hpp"
#include "connectors/store/token_store.hpp"
#include "engine/api/acked_producer.hpp"
#include "engine/http/http_server.hpp"

namespace taxdesk::engine::api {

struct DeadLetterApiSettings {
    std::string outboundTopic;  ///< notifications.outbound: where a replay goes, and the topic each dead letter names
};

class DeadLetterApi {
  public:
    /// `tokens` authenticates the requests (authenticate()).
    DeadLetterApi(DeadLetterApiSettings settings, connectors::NotificationStore& store, connectors::TokenStore& tokens,
                  std::shared_ptr<AcknowledgedProducer> producer);
    [[nodiscard]] std::vector<Route> routes();

  private:
    /// GET /api/v1/ops/dead-letters: notifications that were given up on.
    HttpReply deadLetters(HttpRequest& request);
    /// POST /api/v1/ops/dead-letters/{id}/replay: sends a dead notification again, once however often it is asked.
    HttpReply replay(HttpRequest& request);

    DeadLetterApiSettings settings_;
    connectors::NotificationStore& store_;
    connectors::TokenStore& tokens_;
    std::shared_ptr<AcknowledgedProducer> producer_;
};

}  // namespace taxdesk::engine::api
