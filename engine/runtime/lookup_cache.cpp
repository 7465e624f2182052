#include "engine/runtime/lookup_cache.hpp"

#include <charconv>

namespace taxdesk::engine::cache {
namespace {

constexpr char kField = '\x1f';
constexpr char kRecord = '\x1e';
constexpr char kAnswer = '\x1d';
// Bumped whenever a format below changes, so old entries read as misses (v1: a key for each answer).
constexpr std::string_view kEntryPrefix = "v2:q:";

/// The next part of `text` up to `separator` (all of it when there is none); `text` keeps what follows.
std::string_view nextPart(std::string_view& text, char separator) {
    const auto end = text.find(separator);
    const std::string_view part = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    return part;
}

/// Splits `text` into exactly `count` parts at `separator`; false when it has another number of parts.
template <std::size_t N>
bool splitExactly(std::string_view text, char separator, std::string_view (&parts)[N]) {
    for (std::size_t i = 0; i < N; ++i) {
        const auto end = text.find(separator);
        if ((end == std::string_view::npos) != (i + 1 == N)) return false;
        parts[i] = text.substr(0, end);
        if (end != std::string_view::npos) text.remove_prefix(end + 1);
    }
    return true;
}

template <typename T>
bool toNumber(std::string_view text, T& value) {
    const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
    return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

template <typename T>
void appendNumber(std::string& out, T value) {
    char buffer[24];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    out.append(buffer, result.ptr);
}

void appendRegistry(std::string& out, const std::optional<connectors::RegistryRecord>& record) {
    if (!record) {
        out.push_back('0');
        return;
    }
    out.push_back('1');
    for (const std::string* field : {&record->id, &record->name, &record->birthDate, &record->district}) {
        out.push_back(kField);
        out += *field;
    }
    out.push_back(kField);
    out.push_back(record->deceased ? '1' : '0');
    out.push_back(kField);
    out.push_back(record->company ? '1' : '0');
}

void appendTax(std::string& out, const connectors::TaxRecords& records) {
    out.push_back('T');
    for (const auto& income : records.income) {
        out.push_back(kRecord);
        out.push_back('I');
        out.push_back(kField);
        appendNumber(out, income.year);
        for (const std::string* field : {&income.payerId, &income.payerName, &income.incomeType}) {
            out.push_back(kField);
            out += *field;
        }
        out.push_back(kField);
        appendNumber(out, income.amount);
    }
    for (const auto& property : records.property) {
        out.push_back(kRecord);
        out.push_back('P');
        for (const std::string* field : {&property.kind, &property.description, &property.location}) {
            out.push_back(kField);
            out += *field;
        }
        out.push_back(kField);
        appendNumber(out, property.value);
    }
}

}  // namespace

void appendEntryKey(std::string& key, std::string_view id, bool income, bool property, std::span<const int> years) {
    key += kEntryPrefix;
    key += id;
    key.push_back(':');
    if (income) key.push_back('i');
    if (property) key.push_back('p');
    key.push_back(':');
    for (const int year : years) {
        appendNumber(key, year);
        key.push_back(',');
    }
}

std::string entryKey(std::string_view id, bool income, bool property, std::span<const int> years) {
    std::string key;
    key.reserve(kEntryPrefix.size() + id.size() + 4 + years.size() * 5);
    appendEntryKey(key, id, income, property, years);
    return key;
}

std::string encodeRegistry(const std::optional<connectors::RegistryRecord>& record) {
    std::string out;
    appendRegistry(out, record);
    return out;
}

std::optional<std::optional<connectors::RegistryRecord>> decodeRegistry(std::string_view text) {
    if (text == "0") return std::optional<connectors::RegistryRecord>();
    std::string_view parts[7];
    if (!splitExactly(text, kField, parts) || parts[0] != "1") return std::nullopt;
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
    std::string out;
    appendTax(out, records);
    return out;
}

std::optional<connectors::TaxRecords> decodeTax(std::string_view text) {
    std::size_t end = text.find(kRecord);
    if (text.substr(0, end) != "T") return std::nullopt;
    connectors::TaxRecords result;
    while (end != std::string_view::npos) {
        const std::size_t start = end + 1;
        end = text.find(kRecord, start);
        const std::string_view record = text.substr(start, end == std::string_view::npos ? end : end - start);
        std::string_view income[6];
        std::string_view property[5];
        if (splitExactly(record, kField, income) && income[0] == "I") {
            connectors::IncomeRecord item;
            if (!toNumber(income[1], item.year) || !toNumber(income[5], item.amount)) return std::nullopt;
            item.payerId = income[2];
            item.payerName = income[3];
            item.incomeType = income[4];
            result.income.push_back(std::move(item));
        } else if (splitExactly(record, kField, property) && property[0] == "P") {
            connectors::PropertyRecord item;
            if (!toNumber(property[4], item.value)) return std::nullopt;
            item.kind = property[1];
            item.description = property[2];
            item.location = property[3];
            result.property.push_back(std::move(item));
        } else {
            return std::nullopt;
        }
    }
    return result;
}

void appendEntry(std::string& out, const std::optional<connectors::RegistryRecord>& registry,
                 const connectors::TaxRecords* tax) {
    appendRegistry(out, registry);
    if (tax) {
        out.push_back(kAnswer);
        appendTax(out, *tax);
    }
}

std::string encodeEntry(const std::optional<connectors::RegistryRecord>& registry, const connectors::TaxRecords* tax) {
    std::string out;
    out.reserve(96 + (tax ? 96 * (tax->income.size() + tax->property.size()) : 0));
    appendEntry(out, registry, tax);
    return out;
}

Entry decodeEntry(std::string_view text) {
    Entry entry;
    entry.registry = decodeRegistry(nextPart(text, kAnswer));
    if (entry.registry && !text.empty()) entry.tax = decodeTax(text);
    return entry;
}

}  // namespace taxdesk::engine::cache
