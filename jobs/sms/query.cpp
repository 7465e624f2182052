#include "jobs/sms/query.hpp"

#include <algorithm>
#include <stdexcept>
#include <tuple>

#include "jobs/sms/replies.hpp"
#include "jobs/sms/segments.hpp"

namespace taxdesk::jobs::sms {
namespace {

std::string entryText(const OpenPickup& open) {
    const auto service = serviceFromCode(open.service);
    if (!service) throw std::invalid_argument("openPickupsText: service code " + std::to_string(open.service));
    return std::string(serviceName(*service)) + "，" + open.office + "，" + deadlineText(deadlineOf(open.deadlineAt)) +
           "前，取件碼" + open.code;
}

/// The reply naming the first `named` of `entries` and counting the rest.
std::string listText(const std::vector<std::string>& entries, std::size_t named) {
    std::string text = std::string(kSenderTag) + "您有" + std::to_string(entries.size()) + "件文件待領取";
    if (named == 0) return text + "，請持身分證至快速取件櫃台查詢";
    text += "：";
    for (std::size_t i = 0; i < named; ++i) {
        if (i > 0) text += "；";
        text += entries[i];
    }
    if (named < entries.size()) text += "；另有" + std::to_string(entries.size() - named) + "件未列出";
    return text;
}

}  // namespace

std::string noOpenPickupsText() {
    return std::string(kSenderTag) + "目前查無待領取的文件（已領取或已逾期者不列入）";
}

std::string openPickupsText(std::vector<OpenPickup> open, int maxSegments) {
    if (maxSegments < 1) throw std::invalid_argument("openPickupsText: maxSegments " + std::to_string(maxSegments));
    if (open.empty()) return noOpenPickupsText();
    // Due first: the pickup the citizen must collect soonest is the one a shortened list keeps.
    std::sort(open.begin(), open.end(), [](const OpenPickup& a, const OpenPickup& b) {
        return std::tie(a.deadlineAt, a.service, a.code) < std::tie(b.deadlineAt, b.service, b.code);
    });
    std::vector<std::string> entries;
    entries.reserve(open.size());
    for (const OpenPickup& pickup : open) entries.push_back(entryText(pickup));
    for (std::size_t named = entries.size();; --named) {
        std::string text = listText(entries, named);
        if (named == 0 || countSegments(text) <= maxSegments) return text;
    }
}

std::string queryMalformedText() {
    return std::string(kSenderTag) + "格式有誤，查詢待領取文件請以空白隔開傳送：" + kQueryFormat;
}

std::string queryInvalidIdText() {
    return std::string(kSenderTag) + "身分證字號有誤，請查明後依「" + kQueryFormat + "」重新傳送";
}

}  // namespace taxdesk::jobs::sms
