#include "engine/runtime/lookup_cache.hpp"

#include <charconv>
#include <string_view>

namespace taxdesk::engine::cache {
namespace {

constexpr char kField = '\x1f';
constexpr char kRecord = '\x1e';
// Bumped whenever a format below changes, so old entries read as misses.
constexpr const char* kVersion = "v1:";

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (;;) {
        const auto end = text.find(separator, start);
        parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) return parts;
        start = end + 1;
    }
}

template <typename T>
bool toNumber(std::string_view text, T& value) {
    const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
    return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

}  // namespace

std::string registryKey(const std::string& id) {
    return std::string(kVersion) + "reg:" + id;
}

std::string taxKey(const std::string& id, bool income, bool property, const std::vector<int>& years) {
    std::string key = std::string(kVersion) + "tax:" + id + ":" + (income ? "i" : "") + (property ? "p" : "") + ":";
    for (const int year : years) key += std::to_string(year) + ",";
    return key;
}

std::string encodeRegistry(const std::optional<connectors::RegistryRecord>& record) {
    if (!record) return "0";
    std::string out = "1";
    for (const std::string* field : {&record->id, &record->name, &record->birthDate, &record->district}) {
        out.push_back(kField);
        out += *field;
    }
    out.push_back(kField);
    out.push_back(record->deceased ? '1' : '0');
    out.push_back(kField);
    out.push_back(record->company ? '1' : '0');
    return out;
}

std::optional<std::optional<connectors::RegistryRecord>> decodeRegistry(const std::string& text) {
    if (text == "0") return std::optional<connectors::RegistryRecord>();
    const auto parts = split(text, kField);
    if (parts.size() != 7 || parts[0] != "1") return std::nullopt;
    connectors::RegistryRecord record;
    record.id = parts[1];
    record.name = parts[2];
    record.birthDate = parts[3];
    record.district = parts[4];
    record.deceased = parts[5] == "1";
    record.company = parts[6] == "1";
    return std::optional<connectors::RegistryRecord>(std::move(record));
}

std::string encodeTax(const connectors::TaxRecords& records) {
    std::string out = "T";
    for (const auto& income : records.income) {
        out.push_back(kRecord);
        out += "I";
        out.push_back(kField);
        out += std::to_string(income.year);
        for (const std::string* field : {&income.payerId, &income.payerName, &income.incomeType}) {
            out.push_back(kField);
            out += *field;
        }
        out.push_back(kField);
        out += std::to_string(income.amount);
    }
    for (const auto& property : records.property) {
        out.push_back(kRecord);
        out += "P";
        for (const std::string* field : {&property.kind, &property.description, &property.location}) {
            out.push_back(kField);
            out += *field;
        }
        out.push_back(kField);
        out += std::to_string(property.value);
    }
    return out;
}

std::optional<connectors::TaxRecords> decodeTax(const std::string& text) {
    const auto records = split(text, kRecord);
    if (records.empty() || records[0] != "T") return std::nullopt;
    connectors::TaxRecords result;
    for (std::size_t i = 1; i < records.size(); ++i) {
        const auto fields = split(records[i], kField);
        if (fields[0] == "I" && fields.size() == 6) {
            connectors::IncomeRecord income;
            if (!toNumber(fields[1], income.year) || !toNumber(fields[5], income.amount)) return std::nullopt;
            income.payerId = fields[2];
            income.payerName = fields[3];
            income.incomeType = fields[4];
            result.income.push_back(std::move(income));
        } else if (fields[0] == "P" && fields.size() == 5) {
            connectors::PropertyRecord property;
            if (!toNumber(fields[4], property.value)) return std::nullopt;
            property.kind = fields[1];
            property.description = fields[2];
            property.location = fields[3];
            result.property.push_back(std::move(property));
        } else {
            return std::nullopt;
        }
    }
    return result;
}

}  // namespace taxdesk::engine::cache
