#include "jobs/inquiry/codec.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <cmath>

#include "jobs/common/json.hpp"
#include "jobs/common/roc_year.hpp"
#include "jobs/identity/identifiers.hpp"

namespace taxdesk::jobs::inquiry {
namespace {

const std::string& asString(const json::Value& value, std::string_view field) {
    if (value.isArray || !std::holds_alternative<std::string>(value.scalar))
        throw DecodeError("field '" + std::string(field) + "' must be a string");
    return std::get<std::string>(value.scalar);
}

int asInt(const json::Scalar& scalar, std::string_view field) {
    if (const auto* number = std::get_if<double>(&scalar)) {
        if (std::floor(*number) == *number && std::abs(*number) < 1e9) return static_cast<int>(*number);
    } else if (const auto* text = std::get_if<std::string>(&scalar)) {
        try {
            std::size_t used = 0;
            const int value = std::stoi(*text, &used);
            if (used == text->size()) return value;
        } catch (const std::exception&) {
        }
    }
    throw DecodeError("field '" + std::string(field) + "' must be a whole number");
}

std::vector<int> parseYears(const json::Value& value) {
    std::vector<int> years;
    if (value.isArray) {
        for (const auto& item : value.array) years.push_back(gregorianYear(asInt(item, "income_years")));
    } else if (const auto* text = std::get_if<std::string>(&value.scalar)) {
        std::string_view rest = *text;
        while (!rest.empty()) {
            const auto cut = rest.find(';');
            const std::string part(rest.substr(0, cut));
            if (!part.empty()) years.push_back(gregorianYear(asInt(json::Scalar(part), "income_years")));
            if (cut == std::string_view::npos) break;
            rest.remove_prefix(cut + 1);
        }
    } else if (!std::holds_alternative<json::Null>(value.scalar)) {
        throw DecodeError("field 'income_years' must be an array of years or a ';'-separated string");
    }
    std::sort(years.begin(), years.end());
    years.erase(std::unique(years.begin(), years.end()), years.end());
    return years;
}

void appendIncome(std::string& out, const std::vector<records::IncomeRecord>& income) {
    out.push_back('[');
    for (std::size_t i = 0; i < income.size(); ++i) {
        if (i) out.push_back(',');
        json::ObjectWriter(out)
            .field("year", income[i].year)
            .field("payer_id", income[i].payerId)
            .field("payer_name", income[i].payerName)
            .field("income_type", income[i].incomeType)
            .field("amount", income[i].amount)
            .close();
    }
    out.push_back(']');
}

void appendProperty(std::string& out, const std::vector<records::PropertyRecord>& property) {
    out.push_back('[');
    for (std::size_t i = 0; i < property.size(); ++i) {
        if (i) out.push_back(',');
        json::ObjectWriter(out)
            .field("kind", property[i].kind)
            .field("description", property[i].description)
            .field("location", property[i].location)
            .field("value", property[i].value)
            .close();
    }
    out.push_back(']');
}

template <typename T>
T required(const Poco::JSON::Object::Ptr& object, const std::string& field) {
    if (!object->has(field)) throw DecodeError("missing field '" + field + "'");
    try {
        return object->getValue<T>(field);
    } catch (const Poco::Exception&) {
        throw DecodeError("field '" + field + "' has the wrong type");
    }
}

/// The i-th item of an array of records, which must be an object (Poco gives a null pointer for anything else).
Poco::JSON::Object::Ptr itemObject(const Poco::JSON::Array::Ptr& array, std::size_t i, const std::string& field) {
    const auto item = array->getObject(static_cast<unsigned>(i));
    if (!item) throw DecodeError("field '" + field + "' must be an array of objects");
    return item;
}

}  // namespace

InquiryRequest decodeRequest(std::string_view text) {
    std::vector<json::Field> fields;
    try {
        fields = json::parseFlatObject(text);
    } catch (const json::ParseError& error) {
        throw DecodeError(error.what());
    }
    InquiryRequest request;
    bool seen[7] = {};
    for (const auto& field : fields) {
        const std::string& name = field.name;
        if (name == "batch_id") {
            request.batchId = asString(field.value, name), seen[0] = true;
        } else if (name == "row") {
            if (field.value.isArray) throw DecodeError("field 'row' must be a whole number");
            request.row = asInt(field.value.scalar, name), seen[1] = true;
        } else if (name == "creditor_id") {
            request.creditorId = asString(field.value, name), seen[2] = true;
        } else if (name == "debtor_id") {
            request.debtorId = identity::normalize(asString(field.value, name)), seen[3] = true;
        } else if (name == "debtor_name") {
            request.debtorName = asString(field.value, name), seen[4] = true;
        } else if (name == "scope") {
            const auto scope = parseScope(asString(field.value, name));
            if (!scope) throw DecodeError("field 'scope' must be income, property or both");
            request.scope = *scope, seen[5] = true;
        } else if (name == "income_years") {
            request.incomeYears = parseYears(field.value), seen[6] = true;
        }
    }
    static constexpr const char* kRequired[] = {"batch_id", "row", "creditor_id", "debtor_id", "debtor_name"};
    for (int i = 0; i < 5; ++i)
        if (!seen[i]) throw DecodeError(std::string("missing field '") + kRequired[i] + "'");
    if (request.row < 1) throw DecodeError("field 'row' must be 1 or more");
    if (identity::classify(request.debtorId) == identity::IdKind::invalid)
        throw DecodeError("field 'debtor_id' is not a valid ID (" + identity::mask(request.debtorId) + ")");
    return request;
}

std::optional<RowRef> rowOfRequest(std::string_view text) {
    try {
        RowRef ref;
        for (const auto& field : json::parseFlatObject(text)) {
            if (field.value.isArray) continue;
            if (field.name == "batch_id") {
                if (const auto* id = std::get_if<std::string>(&field.value.scalar)) ref.batchId = *id;
            } else if (field.name == "row") {
                ref.row = asInt(field.value.scalar, "row");
            }
        }
        if (ref.batchId.empty() || ref.row < 1) return std::nullopt;
        return ref;
    } catch (const json::ParseError&) {
        return std::nullopt;
    } catch (const DecodeError&) {
        return std::nullopt;
    }
}

std::string encodeRequest(const InquiryRequest& request) {
    std::string out;
    out.reserve(256);
    std::string years = "[";
    for (std::size_t i = 0; i < request.incomeYears.size(); ++i) {
        if (i) years.push_back(',');
        years += std::to_string(request.incomeYears[i]);
    }
    years.push_back(']');
    json::ObjectWriter(out)
        .field("batch_id", request.batchId)
        .field("row", request.row)
        .field("creditor_id", request.creditorId)
        .field("debtor_id", request.debtorId)
        .field("debtor_name", request.debtorName)
        .field("scope", toString(request.scope))
        .raw("income_years", years)
        .close();
    return out;
}

std::string encodeResult(const InquiryResult& result) {
    std::string out;
    out.reserve(256 + 160 * (result.income.size() + result.property.size()));
    std::string income;
    appendIncome(income, result.income);
    std::string property;
    appendProperty(property, result.property);
    json::ObjectWriter writer(out);
    writer.field("batch_id", result.batchId)
        .field("row", result.row)
        .field("debtor_id", result.debtorId)
        .field("status", toString(result.status));
    if (!result.reason.empty()) writer.field("reason", result.reason);
    writer.raw("income", income).raw("property", property).close();
    return out;
}

InquiryResult decodeResult(std::string_view text) {
    Poco::JSON::Object::Ptr object;
    try {
        object = Poco::JSON::Parser().parse(std::string(text)).extract<Poco::JSON::Object::Ptr>();
    } catch (const Poco::Exception& error) {
        throw DecodeError("invalid JSON: " + error.displayText());
    }
    InquiryResult result;
    result.batchId = required<std::string>(object, "batch_id");
    result.row = required<int>(object, "row");
    result.debtorId = required<std::string>(object, "debtor_id");
    const auto status = parseResultStatus(required<std::string>(object, "status"));
    if (!status) throw DecodeError("field 'status' is not a known status");
    result.status = *status;
    if (object->has("reason")) result.reason = required<std::string>(object, "reason");
    if (const auto income = object->getArray("income")) {
        for (std::size_t i = 0; i < income->size(); ++i) {
            const auto item = itemObject(income, i, "income");
            result.income.push_back({required<int>(item, "year"), required<std::string>(item, "payer_id"),
                                     required<std::string>(item, "payer_name"),
                                     required<std::string>(item, "income_type"), required<long long>(item, "amount")});
        }
    }
    if (const auto property = object->getArray("property")) {
        for (std::size_t i = 0; i < property->size(); ++i) {
            const auto item = itemObject(property, i, "property");
            result.property.push_back({required<std::string>(item, "kind"), required<std::string>(item, "description"),
                                       required<std::string>(item, "location"), required<long long>(item, "value")});
        }
    }
    return result;
}

}  // namespace taxdesk::jobs::inquiry
