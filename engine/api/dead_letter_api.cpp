#include "engine/api/dead_letter_api.hpp"

#include "engine/api/auth.hpp"
#include "engine/flow/sms_stage.hpp"
#include "jobs/common/json.hpp"
#include "jobs/sms/inbound.hpp"

namespace taxdesk::engine::api {

DeadLetterApi::DeadLetterApi(DeadLetterApiSettings settings, connectors::NotificationStore& store,
                             connectors::TokenStore& tokens, std::shared_ptr<AcknowledgedProducer> producer)
    : settings_(std::move(settings)), store_(store), tokens_(tokens), producer_(std::move(producer)) {}

std::vector<Route> DeadLetterApi::routes() {
    return {
        {"GET", "/api/v1/ops/dead-letters", [this](HttpRequest& r) { return deadLetters(r); }},
        {"POST", "/api/v1/ops/dead-letters/{id}/replay", [this](HttpRequest& r) { return replay(r); }},
    };
}

HttpReply DeadLetterApi::deadLetters(HttpRequest& request) {
    authenticate(request, tokens_, {"ops"});
    std::string items = "[";
    for (const auto& dead : store_.deadNotifications(200)) {
        if (items.size() > 1) items.push_back(',');
        // No message text or whole number: operations staff need the id, the kind and why.
        jobs::json::ObjectWriter(items)
            .field("id", dead.notificationId)
            .field("topic", settings_.outboundTopic)
            .field("kind", dead.kind)
            .field("msisdn", jobs::sms::maskMsisdn(dead.msisdn))
            .field("attempts", dead.attempt)
            .field("error", dead.error)
            .field("failed_at", dead.updatedAt)
            .close();
    }
    items.push_back(']');
    std::string body;
    jobs::json::ObjectWriter(body).raw("dead_letters", items).close();
    return jsonReply(200, std::move(body));
}

HttpReply DeadLetterApi::replay(HttpRequest& request) {
    authenticate(request, tokens_, {"ops"});
    const auto dead = store_.findNotification(request.params.at("id"));
    if (!dead || dead->status != connectors::toString(connectors::NotificationStatus::dead))
        throw HttpError(404, "not_found", "no dead letter " + request.params.at("id"));
    // The replay has an id of its own, the same however often it is asked for: the sender sends an id once.
    connectors::NotificationRecord again = *dead;
    again.notificationId = dead->notificationId.substr(0, dead->notificationId.find('~')) + "~replay";
    again.attempt = 0;
    again.status = connectors::toString(connectors::NotificationStatus::queued);
    again.gatewayMsgId.clear();
    again.segments = 0;
    again.error.clear();
    store_.insertNotification(again);
    const auto stored = store_.findNotification(again.notificationId);
    const bool fresh = stored && stored->status == connectors::toString(connectors::NotificationStatus::queued);
    if (fresh)
        producer_->produce({{again.msisdn, notificationJson(*stored)}}, settings_.outboundTopic, request.requestId);
    std::string body;
    jobs::json::ObjectWriter(body)
        .field("id", dead->notificationId)
        .field("replay_id", again.notificationId)
        .field("state", fresh ? "queued" : (stored ? stored->status : "unknown"))
        .close();
    return jsonReply(202, std::move(body));
}

}  // namespace taxdesk::engine::api
