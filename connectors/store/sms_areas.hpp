#pragma once
// The three SMS areas of the store together (SPEC 4): what the SMS stage, the scheduler and the SMS API each use all
// of.
#include "connectors/store/notification_store.hpp"
#include "connectors/store/pickup_store.hpp"
#include "connectors/store/sms_inbox.hpp"

namespace taxdesk::connectors {

/// References to the SMS areas (Store::sms() in the engine; fakes in tests). Copyable; must not outlive them.
struct SmsAreas {
    PickupStore& pickups;
    NotificationStore& notifications;
    SmsInbox& inbox;
};

}  // namespace taxdesk::connectors
