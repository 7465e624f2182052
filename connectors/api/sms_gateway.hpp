#pragma once
// SMS gateway connector: send a message, learn of its delivery.
#include <string>

namespace taxdesk::connectors {

struct OutboundSms {
    std::string notificationId;  ///< idempotency key: the same id is sent once
    std::string msisdn;          ///< 09xxxxxxxx
    std::string text;
};

struct SendReceipt {
    std::string gatewayMsgId;
    int segments = 0;  ///< SMS segments the gateway sent (GSM-7 / UCS-2 rules of SPEC 4.2)
};

/// Thread-safe.
class SmsGateway {
  public:
    virtual ~SmsGateway() = default;
    /// Sends one message. Sending the same notificationId again returns the first receipt. Throws ConnectorError.
    virtual SendReceipt send(const OutboundSms& sms) = 0;
};

}  // namespace taxdesk::connectors
