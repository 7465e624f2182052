#include "jobs/inquiry/inquiry.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "jobs/identity/identifiers.hpp"

namespace taxdesk::jobs::inquiry {
namespace {

constexpr std::array<std::pair<Scope, const char*>, 3> kScopes{
    {{Scope::income, "income"}, {Scope::property, "property"}, {Scope::both, "both"}}};

constexpr std::array<std::pair<ResultStatus, const char*>, 7> kStatuses{{
    {ResultStatus::found, "found"},
    {ResultStatus::no_records, "no_records"},
    {ResultStatus::not_registered, "not_registered"},
    {ResultStatus::name_mismatch, "name_mismatch"},
    {ResultStatus::deceased, "deceased"},
    {ResultStatus::rejected, "rejected"},
    {ResultStatus::error, "error"},
}};

std::string comparableName(std::string_view name) {
    std::string folded = identity::foldFullWidth(name);
    std::erase_if(folded, [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
    return folded;
}

InquiryResult baseResult(const InquiryRequest& request, ResultStatus status) {
    InquiryResult result;
    result.batchId = request.batchId;
    result.row = request.row;
    result.debtorId = request.debtorId;
    result.status = status;
    return result;
}

}  // namespace

const char* toString(Scope scope) {
    for (const auto& [value, name] : kScopes)
        if (value == scope) return name;
    return "both";
}

std::optional<Scope> parseScope(std::string_view text) {
    for (const auto& [value, name] : kScopes)
        if (text == name) return value;
    return std::nullopt;
}

const char* toString(ResultStatus status) {
    for (const auto& [value, name] : kStatuses)
        if (value == status) return name;
    return "error";
}

std::optional<ResultStatus> parseResultStatus(std::string_view text) {
    for (const auto& [value, name] : kStatuses)
        if (text == name) return value;
    return std::nullopt;
}

bool namesMatch(std::string_view given, std::string_view registered) {
    return comparableName(given) == comparableName(registered);
}

std::optional<InquiryResult> decideFromRegistry(const InquiryRequest& request,
                                                const std::optional<connectors::RegistryRecord>& record) {
    if (!record) return baseResult(request, ResultStatus::not_registered);
    if (!namesMatch(request.debtorName, record->name)) return baseResult(request, ResultStatus::name_mismatch);
    if (record->deceased) return baseResult(request, ResultStatus::deceased);
    return std::nullopt;
}

InquiryResult decideFromTaxData(const InquiryRequest& request, connectors::TaxRecords records) {
    InquiryResult result = baseResult(request, ResultStatus::no_records);
    if (request.wantsIncome()) result.income = std::move(records.income);
    if (request.wantsProperty()) result.property = std::move(records.property);
    if (!result.income.empty() || !result.property.empty()) result.status = ResultStatus::found;
    return result;
}

InquiryResult errorResult(const InquiryRequest& request, std::string reason) {
    InquiryResult result = baseResult(request, ResultStatus::error);
    result.reason = std::move(reason);
    return result;
}

}  // namespace taxdesk::jobs::inquiry
