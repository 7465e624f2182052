#include "jobs/inquiry/results_csv.hpp"

#include "jobs/inquiry/csv.hpp"

namespace taxdesk::jobs::inquiry {

std::string resultsCsvHeader() {
    std::string text = "\xEF\xBB\xBF";  // BOM: spreadsheets in Taiwan then read UTF-8
    appendCsvLine(text, {"row", "debtor_id", "status", "reason", "record", "year", "payer_id", "payer_name",
                         "income_type", "amount", "kind", "description", "location", "value"});
    return text;
}

void appendResultCsv(std::string& out, const InquiryResult& result) {
    const std::vector<std::string> head{std::to_string(result.row), result.debtorId, toString(result.status),
                                        result.reason};
    auto line = [&](std::vector<std::string> rest) {
        std::vector<std::string> fields = head;
        fields.insert(fields.end(), rest.begin(), rest.end());
        appendCsvLine(out, fields);
    };
    for (const auto& income : result.income)
        line({"income", std::to_string(income.year), income.payerId, income.payerName, income.incomeType,
              std::to_string(income.amount), "", "", "", ""});
    for (const auto& property : result.property)
        line({"property", "", "", "", "", "", property.kind, property.description, property.location,
              std::to_string(property.value)});
    if (result.income.empty() && result.property.empty()) line({"", "", "", "", "", "", "", "", "", ""});
}

std::string resultsCsv(const std::vector<InquiryResult>& results) {
    std::string text = resultsCsvHeader();
    for (const auto& result : results) appendResultCsv(text, result);
    return text;
}

}  // namespace taxdesk::jobs::inquiry
