#include "jobs/inquiry/codec.hpp"

#include <simdjson.h>
#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>

#include "jobs/common/json.hpp"
#include "jobs/common/roc_year.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/inquiry/batch_row.hpp"

namespace taxdesk::jobs::inquiry {
namespace {

/// A year of income_years (ROC or Gregorian) as a Gregorian year; not a year (0 or negative) is a DecodeError, so
/// that what decodes encodes back the same (json_fuzz).
int checkedYear(int year) {
    if (year < 1) throw DecodeError("field 'income_years' must hold positive years");
    // A year is written back as a number, which asInt() reads only below 1e9; a string may hold more (json_fuzz).
    if (year >= 1'000'000'000) throw DecodeError("field 'income_years' must be a whole number");
    return gregorianYear(year);
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
        for (const auto& item : value.array) years.push_back(checkedYear(asInt(item, "income_years")));
    } else if (const auto* text = std::get_if<std::string>(&value.scalar)) {
        std::string_view rest = *text;
        while (!rest.empty()) {
            const auto cut = rest.find(';');
            const std::string part(rest.substr(0, cut));
            if (!part.empty()) years.push_back(checkedYear(asInt(json::Scalar(part), "income_years")));
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

// ---- reading with simdjson's DOM parser: it validates the whole document (RFC 8259 strictly: UTF-8, escapes,
// surrogate pairs, numbers, no raw control characters) at several hundred MB/s, five to fifteen times the
// hand-written reader and Poco on these messages (BENCHMARKS.md, Micro-benchmarks).

using simdjson::dom::element;
using simdjson::dom::element_type;

/// One parser a thread: a parser reuses its buffers from message to message and is not thread-safe.
element parseDocument(std::string_view text) {
    thread_local simdjson::dom::parser parser;
    element root;
    if (const auto error = parser.parse(text.data(), text.size()).get(root)) {
        throw DecodeError(std::string("invalid JSON: ") + simdjson::error_message(error));
    }
    return root;
}

simdjson::dom::object rootObject(std::string_view text) {
    simdjson::dom::object object;
    if (parseDocument(text).get(object)) throw DecodeError("invalid JSON: the message is not an object");
    return object;
}

/// A whole number in int range, as a number (2024, 2024.0) or a string of digits ("2024"); nullopt otherwise.
std::optional<long long> wholeNumber(element value) {
    switch (value.type()) {
        case element_type::INT64:
            return value.get_int64().value_unsafe();
        case element_type::UINT64:
            return std::nullopt;  // above INT64_MAX
        case element_type::DOUBLE: {
            const double number = value.get_double().value_unsafe();
            if (std::floor(number) == number && std::abs(number) < 9e18) return static_cast<long long>(number);
            return std::nullopt;
        }
        case element_type::STRING: {
            const std::string_view text = value.get_string().value_unsafe();
            long long parsed = 0;
            const auto result = std::from_chars(text.data(), text.data() + text.size(), parsed);
            if (result.ec == std::errc() && result.ptr == text.data() + text.size() && !text.empty()) return parsed;
            return std::nullopt;
        }
        default:
            return std::nullopt;
    }
}

/// What the request's fields allow: asInt() of the flat reader (a whole number below 1e9, or a string std::stoi reads
/// whole).
int requestInt(element value, std::string_view field) {
    if (value.is_string()) return asInt(json::Scalar(std::string(value.get_string().value_unsafe())), field);
    if (value.is_number()) return asInt(json::Scalar(value.get_double().value_unsafe()), field);
    throw DecodeError("field '" + std::string(field) + "' must be a whole number");
}

std::string requestString(element value, std::string_view field) {
    std::string_view text;
    if (value.get_string().get(text)) throw DecodeError("field '" + std::string(field) + "' must be a string");
    return std::string(text);
}

std::vector<int> requestYears(element value) {
    if (value.is_null()) return {};
    if (value.is_string()) {
        json::Value scalar;
        scalar.scalar = std::string(value.get_string().value_unsafe());
        return parseYears(scalar);
    }
    simdjson::dom::array items;
    if (value.get_array().get(items)) {
        throw DecodeError("field 'income_years' must be an array of years or a ';'-separated string");
    }
    // Read straight into the years (no array of scalars first), with asInt()'s rules item by item; then sorted and
    // made unique as parseYears() does.
    std::vector<int> years;
    years.reserve(items.size());
    for (const element item : items) {
        if (item.is_string()) {
            years.push_back(
                checkedYear(asInt(json::Scalar(std::string(item.get_string().value_unsafe())), "income_years")));
        } else if (item.is_number()) {
            years.push_back(checkedYear(asInt(json::Scalar(item.get_double().value_unsafe()), "income_years")));
        } else {
            throw DecodeError("field 'income_years' must be a whole number");
        }
    }
    std::sort(years.begin(), years.end());
    years.erase(std::unique(years.begin(), years.end()), years.end());
    return years;
}

/// A result's field as decodeResult() has always required it: present, and of its type.
element requiredField(simdjson::dom::object object, std::string_view field) {
    element value;
    if (object.at_key(field).get(value)) throw DecodeError("missing field '" + std::string(field) + "'");
    return value;
}

std::string requiredString(simdjson::dom::object object, std::string_view field) {
    std::string_view text;
    if (requiredField(object, field).get_string().get(text)) {
        throw DecodeError("field '" + std::string(field) + "' has the wrong type");
    }
    return std::string(text);
}

long long requiredNumber(simdjson::dom::object object, std::string_view field, long long lowest, long long highest) {
    const auto number = wholeNumber(requiredField(object, field));
    if (!number || *number < lowest || *number > highest) {
        throw DecodeError("field '" + std::string(field) + "' has the wrong type");
    }
    return *number;
}

int requiredInt(simdjson::dom::object object, std::string_view field) {
    return static_cast<int>(requiredNumber(object, field, INT_MIN, INT_MAX));
}

long long requiredLong(simdjson::dom::object object, std::string_view field) {
    return requiredNumber(object, field, LLONG_MIN, LLONG_MAX);
}

/// The i-th records of `field` when it is an array (anything else there is ignored, as it always was); each must
/// be an object.
template <typename Each>
void forEachRecord(simdjson::dom::object object, std::string_view field, Each each) {
    simdjson::dom::array items;
    if (object.at_key(field).get_array().get(items)) return;
    for (const element item : items) {
        simdjson::dom::object record;
        if (item.get_object().get(record)) {
            throw DecodeError("field '" + std::string(field) + "' must be an array of objects");
        }
        each(record);
    }
}

}  // namespace

InquiryRequest decodeRequest(std::string_view text) {
    const simdjson::dom::object object = rootObject(text);
    InquiryRequest request;
    bool seen[7] = {};
    // In document order, so that a repeated field's last value wins, as with the flat reader.
    for (const auto field : object) {
        const std::string_view name = field.key;
        const element value = field.value;
        if (name == "batch_id") {
            request.batchId = requestString(value, name), seen[0] = true;
        } else if (name == "row") {
            request.row = requestInt(value, name), seen[1] = true;
        } else if (name == "creditor_id") {
            request.creditorId = requestString(value, name), seen[2] = true;
        } else if (name == "debtor_id") {
            request.debtorId = identity::normalize(requestString(value, name)), seen[3] = true;
        } else if (name == "debtor_name") {
            request.debtorName = requestString(value, name), seen[4] = true;
        } else if (name == "scope") {
            const auto scope = parseScope(requestString(value, name));
            if (!scope) throw DecodeError("field 'scope' must be income, property or both");
            request.scope = *scope, seen[5] = true;
        } else if (name == "income_years") {
            request.incomeYears = requestYears(value), seen[6] = true;
        } else if (name == "title_ref") {
            // Optional (issue 13), for the audit trail alone: a row is never refused for it. A value that is not text
            // of at most SPEC 3.1's 200 characters is not taken (the trail then reads the stored row's title).
            std::string_view title;
            request.titleRef.clear();
            if (!value.get_string().get(title) && !hasTooManyChars(title)) request.titleRef = std::string(title);
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
    // First with the reader decodeRequest() uses, so that a request it reads names the same row whatever else it
    // holds (fields of objects, which the flat reader refuses); the flat reader then reads what simdjson refuses
    // (bytes that are not UTF-8 among them).
    simdjson::dom::object object;
    bool strict = false;
    try {
        strict = !parseDocument(text).get(object);
    } catch (const DecodeError&) {
    }
    RowRef ref;
    try {
        if (strict) {
            for (const auto field : object) {
                if (field.key == "batch_id") {
                    std::string_view id;
                    if (!field.value.get_string().get(id)) ref.batchId = std::string(id);
                } else if (field.key == "row") {
                    ref.row = requestInt(field.value, "row");
                }
            }
        } else {
            for (const auto& field : json::parseFlatObject(text)) {
                if (field.value.isArray) continue;
                if (field.name == "batch_id") {
                    if (const auto* id = std::get_if<std::string>(&field.value.scalar)) ref.batchId = *id;
                } else if (field.name == "row") {
                    ref.row = asInt(field.value.scalar, "row");
                }
            }
        }
    } catch (const json::ParseError&) {
        return std::nullopt;
    } catch (const DecodeError&) {
        return std::nullopt;
    }
    if (ref.batchId.empty() || ref.row < 1) return std::nullopt;
    return ref;
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
    json::ObjectWriter writer(out);
    writer.field("batch_id", request.batchId)
        .field("row", request.row)
        .field("creditor_id", request.creditorId)
        .field("debtor_id", request.debtorId)
        .field("debtor_name", request.debtorName)
        .field("scope", toString(request.scope))
        .raw("income_years", years);
    if (!request.titleRef.empty()) writer.field("title_ref", request.titleRef);
    writer.close();
    return out;
}

std::string encodeResult(const InquiryResult& result) {
    std::string out;
    out.reserve(256 + 160 * (result.income.size() + result.property.size()));
    json::ObjectWriter writer(out);
    writer.field("batch_id", result.batchId)
        .field("row", result.row)
        .field("debtor_id", result.debtorId)
        .field("status", toString(result.status));
    if (!result.reason.empty()) writer.field("reason", result.reason);
    // The record arrays are written in place: no string of their own, no second copy.
    writer.raw("income", {});
    appendIncome(out, result.income);
    writer.raw("property", {});
    appendProperty(out, result.property);
    writer.close();
    return out;
}

InquiryResult decodeResult(std::string_view text) {
    const simdjson::dom::object object = rootObject(text);
    InquiryResult result;
    result.batchId = requiredString(object, "batch_id");
    result.row = requiredInt(object, "row");
    result.debtorId = requiredString(object, "debtor_id");
    const auto status = parseResultStatus(requiredString(object, "status"));
    if (!status) throw DecodeError("field 'status' is not a known status");
    result.status = *status;
    if (element reason; !object.at_key("reason").get(reason)) result.reason = requiredString(object, "reason");
    forEachRecord(object, "income", [&](simdjson::dom::object item) {
        result.income.push_back({requiredInt(item, "year"), requiredString(item, "payer_id"),
                                 requiredString(item, "payer_name"), requiredString(item, "income_type"),
                                 requiredLong(item, "amount")});
    });
    forEachRecord(object, "property", [&](simdjson::dom::object item) {
        result.property.push_back({requiredString(item, "kind"), requiredString(item, "description"),
                                   requiredString(item, "location"), requiredLong(item, "value")});
    });
    return result;
}

}  // namespace taxdesk::jobs::inquiry
