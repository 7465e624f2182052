#include "jobs/sms/replies.hpp"

#include <stdexcept>

namespace taxdesk::jobs::sms {
namespace {

constexpr const char* kFormat = "服務代碼 身分證字號 健保卡末4碼";

std::string tagged(const std::string& text) {
    return kSenderTag + text;
}

}  // namespace

std::string deadlineText(const PickupDeadline& deadline) {
    // Month and day without zero padding, as people write dates in an SMS.
    std::string hour = std::to_string(deadline.hour);
    if (hour.size() < 2) hour.insert(0, "0");
    return std::to_string(deadline.date.month) + "/" + std::to_string(deadline.date.day) + " " + hour + ":00";
}

std::string pickupAlert(Service service, const std::string& office, const PickupDeadline& deadline,
                        const std::string& code) {
    return tagged("您申請的" + std::string(serviceName(service)) + "已備妥，請於" + deadlineText(deadline) +
                  "前持身分證至" + office + "快速取件櫃台領取，取件碼" + code);
}

std::string reminderText(Service service, const std::string& office, const PickupDeadline& deadline,
                         const std::string& code) {
    return tagged("提醒您：申請的" + std::string(serviceName(service)) + "今日" + deadlineText(deadline) +
                  "前未領即失效，請持身分證至" + office + "快速取件櫃台領取，取件碼" + code);
}

std::string helpText() {
    std::string services;
    for (Service service : kAllServices) {
        if (!services.empty()) services += " ";
        services += std::to_string(serviceCode(service)) + serviceName(service);
    }
    return tagged("請回傳：" + std::string(kFormat) + "。" + services);
}

std::string invalidIdText() {
    return tagged("身分證字號有誤，請查明後依「" + std::string(kFormat) + "」重新傳送");
}

std::string identityFailedText() {
    return tagged("身分驗證未通過，請確認身分證字號及健保卡末4碼後重新傳送");
}

std::string lockedText(int minutes) {
    return tagged("驗證失敗次數過多，請於" + std::to_string(minutes) + "分鐘後再試");
}

std::string dailyLimitText(int limit) {
    return tagged("今日申請已達" + std::to_string(limit) + "次上限，請明日再試");
}

std::string unknownServiceText() {
    return tagged("查無此服務代碼，請傳送0或「說明」查詢服務項目及格式");
}

std::string malformedText() {
    return tagged("格式有誤，請以空白隔開傳送：" + std::string(kFormat) + "，傳送0可查服務代碼");
}

std::string unavailableText() {
    return tagged("系統忙碌，暫時無法受理，請稍後再試");
}

std::string replyForParse(ParsedSms::Kind kind) {
    switch (kind) {
        case ParsedSms::Kind::help:
            return helpText();
        case ParsedSms::Kind::unknownService:
            return unknownServiceText();
        case ParsedSms::Kind::malformed:
            return malformedText();
        case ParsedSms::Kind::invalidId:
            return invalidIdText();
        case ParsedSms::Kind::application:
        case ParsedSms::Kind::query:
            break;
    }
    throw std::invalid_argument("replyForParse: an application's or a query's reply depends on the identity checks");
}

}  // namespace taxdesk::jobs::sms
