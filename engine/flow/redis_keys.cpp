#include "engine/flow/redis_keys.hpp"

namespace taxdesk::engine::redis_keys {
namespace {

constexpr const char* kStrikesTag = "sms:{sms-strikes}:";

}  // namespace

std::string smsDaily(const std::string& msisdn, const std::string& day) {
    return "sms:daily:{" + msisdn + ":" + day + "}";
}

std::string smsCounted(const std::string& msisdn, const std::string& day, const std::string& gatewayMsgId) {
    return "sms:counted:{" + msisdn + ":" + day + "}:" + gatewayMsgId;
}

std::string smsLock(const std::string& kind, const std::string& subject) {
    return std::string(kStrikesTag) + "lock:" + kind + ":" + subject;
}

connectors::StrikeSubject smsStrikes(const std::string& kind, const std::string& subject) {
    return {std::string(kStrikesTag) + "fail:" + kind + ":" + subject, smsLock(kind, subject),
            std::string(kStrikesTag) + "locks:" + kind + ":" + subject};
}

}  // namespace taxdesk::engine::redis_keys
