#include "engine/flow/webhook_delivery.hpp"

#include "connectors/api/errors.hpp"
#include "engine/flow/sms_stage.hpp"
#include "jobs/notify/notify.hpp"

namespace taxdesk::engine {

bool isWebhookNotification(const connectors::NotificationRecord& notification) {
    return notification.kind == jobs::notify::kBatchDoneKind &&
           notification.msisdn.rfind(jobs::notify::kWebhookTarget, 0) == 0;
}

connectors::SendReceipt SenderStage::sendWebhook(const connectors::NotificationRecord& notification) {
    if (!webhookSender_ || webhooks_ == nullptr)
        throw connectors::PermanentError("webhook delivery is not configured in this engine");
    const std::string tokenId = notification.msisdn.substr(jobs::notify::kWebhookTarget.size());
    // Read at send time: a URL or secret changed since the batch completed is the one used; one removed is not told.
    const auto registration = webhooks_->findWebhook(tokenId);
    if (!registration || registration->url.empty())
        throw connectors::PermanentError("the token's webhook was removed before the notification was sent");
    const int status = webhookSender_->deliver(
        {registration->url, registration->secret, notification.notificationId, notification.text});
    return {"http-" + std::to_string(status), 0};
}

}  // namespace taxdesk::engine
