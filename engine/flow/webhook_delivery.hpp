#pragma once
// Issue 13: the sender's webhook channel (SenderStage::sendWebhook is defined in webhook_delivery.cpp).
#include "connectors/store/notification_store.hpp"

namespace taxdesk::engine {

/// A batch notification for a webhook (kind batch_done, msisdn `webhook:<token id>`) rather than an SMS.
bool isWebhookNotification(const connectors::NotificationRecord& notification);

}  // namespace taxdesk::engine
