#include "connectors/http/json_codec.hpp"

#include <Poco/Dynamic/Var.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/JSONException.h>
#include <Poco/JSON/Parser.h>

#include <limits>
#include <sstream>

#include "connectors/api/errors.hpp"

namespace taxdesk::connectors {
namespace detail {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

// `where` names the payload ("registry record") and, inside arrays, the element ("tax records: income[2]"), so the
// error says exactly which field of which element was wrong.
[[noreturn]] void badField(const std::string& where, const std::string& key, const std::string& problem) {
    throw PermanentError(where + ": field '" + key + "' " + problem);
}

void requireObject(const Object::Ptr& json, const std::string& where) {
    if (json.isNull()) throw PermanentError(where + ": expected a JSON object");
}

Poco::Dynamic::Var field(const Object::Ptr& json, const std::string& where, const std::string& key) {
    Poco::Dynamic::Var value = json->get(key);
    // Poco represents both an absent key and JSON null as an empty Var.
    if (value.isEmpty()) badField(where, key, "is missing or null");
    return value;
}

std::string stringField(const Object::Ptr& json, const std::string& where, const std::string& key) {
    const Poco::Dynamic::Var value = field(json, where, key);
    if (!value.isString()) badField(where, key, "must be a string");
    return value.extract<std::string>();
}

bool boolField(const Object::Ptr& json, const std::string& where, const std::string& key) {
    const Poco::Dynamic::Var value = field(json, where, key);
    if (!value.isBoolean()) badField(where, key, "must be true or false");
    return value.extract<bool>();
}

long long integer(const Poco::Dynamic::Var& value, const std::string& where, const std::string& key, long long min,
                  long long max) {
    if (!value.isInteger() || value.isBoolean()) badField(where, key, "must be an integer");
    try {
        // A UInt64 beyond Int64 throws RangeException here.
        const auto number = value.convert<Poco::Int64>();
        if (number < min || number > max) badField(where, key, "is out of range");
        return number;
    } catch (const Poco::Exception&) {
        badField(where, key, "is out of range");
    }
}

long long int64Field(const Object::Ptr& json, const std::string& where, const std::string& key) {
    return integer(field(json, where, key), where, key, std::numeric_limits<long long>::min(),
                   std::numeric_limits<long long>::max());
}

int intField(const Object::Ptr& json, const std::string& where, const std::string& key) {
    return static_cast<int>(
        integer(field(json, where, key), where, key, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
}

Array::Ptr arrayField(const Object::Ptr& json, const std::string& where, const std::string& key) {
    field(json, where, key);
    Array::Ptr array = json->getArray(key);
    if (array.isNull()) badField(where, key, "must be an array");
    return array;
}

Object::Ptr elementObject(const Array::Ptr& array, std::size_t index, const std::string& where,
                          const std::string& key) {
    Object::Ptr element = array->getObject(static_cast<unsigned>(index));
    if (element.isNull()) badField(where, key + "[" + std::to_string(index) + "]", "must be an object");
    return element;
}

std::string elementWhere(const std::string& where, const std::string& key, std::size_t index) {
    return where + ": " + key + "[" + std::to_string(index) + "]";
}

IncomeRecord incomeFrom(const Object::Ptr& json, const std::string& where) {
    requireObject(json, where);
    IncomeRecord record;
    record.year = intField(json, where, "year");
    record.payerId = stringField(json, where, "payer_id");
    record.payerName = stringField(json, where, "payer_name");
    record.incomeType = stringField(json, where, "income_type");
    record.amount = int64Field(json, where, "amount");
    return record;
}

PropertyRecord propertyFrom(const Object::Ptr& json, const std::string& where) {
    requireObject(json, where);
    PropertyRecord record;
    record.kind = stringField(json, where, "kind");
    record.description = stringField(json, where, "description");
    record.location = stringField(json, where, "location");
    record.value = int64Field(json, where, "value");
    return record;
}

Object::Ptr newObject() {
    // Key order preserved so that the text on the wire reads in the order of SPEC 3.3.
    return new Object(Poco::JSON_PRESERVE_KEY_ORDER);
}

}  // namespace
}  // namespace detail

using detail::boolField;
using detail::int64Field;
using detail::intField;
using detail::newObject;
using detail::requireObject;
using detail::stringField;

Poco::JSON::Object::Ptr toJson(const RegistryRecord& record) {
    auto json = newObject();
    json->set("id", record.id);
    json->set("name", record.name);
    json->set("birth_date", record.birthDate);
    json->set("district", record.district);
    json->set("deceased", record.deceased);
    json->set("company", record.company);
    return json;
}

RegistryRecord registryRecordFromJson(const Poco::JSON::Object::Ptr& json) {
    const std::string where = "registry record";
    requireObject(json, where);
    RegistryRecord record;
    record.id = stringField(json, where, "id");
    record.name = stringField(json, where, "name");
    record.birthDate = stringField(json, where, "birth_date");
    record.district = stringField(json, where, "district");
    record.deceased = boolField(json, where, "deceased");
    record.company = boolField(json, where, "company");
    return record;
}

Poco::JSON::Object::Ptr toJson(const IncomeRecord& record) {
    auto json = newObject();
    json->set("year", record.year);
    json->set("payer_id", record.payerId);
    json->set("payer_name", record.payerName);
    json->set("income_type", record.incomeType);
    json->set("amount", static_cast<Poco::Int64>(record.amount));
    return json;
}

IncomeRecord incomeRecordFromJson(const Poco::JSON::Object::Ptr& json) {
    return detail::incomeFrom(json, "income");
}

Poco::JSON::Object::Ptr toJson(const PropertyRecord& record) {
    auto json = newObject();
    json->set("kind", record.kind);
    json->set("description", record.description);
    json->set("location", record.location);
    json->set("value", static_cast<Poco::Int64>(record.value));
    return json;
}

PropertyRecord propertyRecordFromJson(const Poco::JSON::Object::Ptr& json) {
    return detail::propertyFrom(json, "property");
}

Poco::JSON::Object::Ptr toJson(const TaxRecords& records) {
    Poco::JSON::Array::Ptr income = new Poco::JSON::Array;
    for (const auto& record : records.income) income->add(toJson(record));
    Poco::JSON::Array::Ptr property = new Poco::JSON::Array;
    for (const auto& record : records.property) property->add(toJson(record));
    auto json = newObject();
    json->set("income", income);
    json->set("property", property);
    return json;
}

TaxRecords taxRecordsFromJson(const Poco::JSON::Object::Ptr& json) {
    const std::string where = "tax records";
    requireObject(json, where);
    TaxRecords records;
    const auto income = detail::arrayField(json, where, "income");
    for (std::size_t i = 0; i < income->size(); ++i) {
        records.income.push_back(detail::incomeFrom(detail::elementObject(income, i, where, "income"),
                                                    detail::elementWhere(where, "income", i)));
    }
    const auto property = detail::arrayField(json, where, "property");
    for (std::size_t i = 0; i < property->size(); ++i) {
        records.property.push_back(detail::propertyFrom(detail::elementObject(property, i, where, "property"),
                                                        detail::elementWhere(where, "property", i)));
    }
    return records;
}

Poco::JSON::Object::Ptr toJson(const ChargeResult& result) {
    auto json = newObject();
    json->set("provider_txn_id", result.providerTxnId);
    json->set("amount", static_cast<Poco::Int64>(result.amount));
    json->set("balance_after", static_cast<Poco::Int64>(result.balanceAfter));
    return json;
}

ChargeResult chargeResultFromJson(const Poco::JSON::Object::Ptr& json) {
    const std::string where = "charge result";
    requireObject(json, where);
    ChargeResult result;
    result.providerTxnId = stringField(json, where, "provider_txn_id");
    result.amount = int64Field(json, where, "amount");
    result.balanceAfter = int64Field(json, where, "balance_after");
    return result;
}

Poco::JSON::Object::Ptr toJson(const SendReceipt& receipt) {
    auto json = newObject();
    json->set("gateway_msg_id", receipt.gatewayMsgId);
    json->set("segments", receipt.segments);
    return json;
}

SendReceipt sendReceiptFromJson(const Poco::JSON::Object::Ptr& json) {
    const std::string where = "send receipt";
    requireObject(json, where);
    SendReceipt receipt;
    receipt.gatewayMsgId = stringField(json, where, "gateway_msg_id");
    receipt.segments = intField(json, where, "segments");
    return receipt;
}

Poco::JSON::Object::Ptr toJson(const OutboundSms& sms) {
    auto json = newObject();
    json->set("notification_id", sms.notificationId);
    json->set("msisdn", sms.msisdn);
    json->set("text", sms.text);
    return json;
}

OutboundSms outboundSmsFromJson(const Poco::JSON::Object::Ptr& json) {
    const std::string where = "outbound sms";
    requireObject(json, where);
    OutboundSms sms;
    sms.notificationId = stringField(json, where, "notification_id");
    sms.msisdn = stringField(json, where, "msisdn");
    sms.text = stringField(json, where, "text");
    return sms;
}

Poco::JSON::Object::Ptr toJson(const NhiVerifyRequest& request) {
    auto json = newObject();
    json->set("id", request.id);
    json->set("last4", request.last4);
    return json;
}

NhiVerifyRequest nhiVerifyRequestFromJson(const Poco::JSON::Object::Ptr& json) {
    const std::string where = "nhi verify request";
    requireObject(json, where);
    NhiVerifyRequest request;
    request.id = stringField(json, where, "id");
    request.last4 = stringField(json, where, "last4");
    return request;
}

Poco::JSON::Object::Ptr nhiMatchToJson(bool match) {
    auto json = newObject();
    json->set("match", match);
    return json;
}

bool nhiMatchFromJson(const Poco::JSON::Object::Ptr& json) {
    const std::string where = "nhi verify result";
    requireObject(json, where);
    return boolField(json, where, "match");
}

Poco::JSON::Object::Ptr toJson(const TaxDataRequest& request) {
    Poco::JSON::Array::Ptr years = new Poco::JSON::Array;
    for (const int year : request.years) years->add(year);
    auto json = newObject();
    json->set("id", request.id);
    json->set("years", years);
    json->set("income", request.income);
    json->set("property", request.property);
    return json;
}

TaxDataRequest taxDataRequestFromJson(const Poco::JSON::Object::Ptr& json) {
    const std::string where = "tax data request";
    requireObject(json, where);
    TaxDataRequest request;
    request.id = stringField(json, where, "id");
    const auto years = detail::arrayField(json, where, "years");
    for (std::size_t i = 0; i < years->size(); ++i) {
        const std::string key = "years[" + std::to_string(i) + "]";
        request.years.push_back(
            static_cast<int>(detail::integer(years->get(static_cast<unsigned>(i)), where, key,
                                             std::numeric_limits<int>::min(), std::numeric_limits<int>::max())));
    }
    request.income = boolField(json, where, "income");
    request.property = boolField(json, where, "property");
    return request;
}

Poco::JSON::Object::Ptr toJson(const ChargeRequest& request) {
    auto json = newObject();
    json->set("card_id", request.cardId);
    json->set("amount", static_cast<Poco::Int64>(request.amount));
    json->set("idempotency_key", request.idempotencyKey);
    return json;
}

ChargeRequest chargeRequestFromJson(const Poco::JSON::Object::Ptr& json) {
    const std::string where = "charge request";
    requireObject(json, where);
    ChargeRequest request;
    request.cardId = stringField(json, where, "card_id");
    request.amount = int64Field(json, where, "amount");
    request.idempotencyKey = stringField(json, where, "idempotency_key");
    return request;
}

Poco::JSON::Object::Ptr toJson(const ErrorBody& error) {
    auto json = newObject();
    json->set("code", error.code);
    json->set("error", error.message);
    return json;
}

ErrorBody errorBodyFromJson(const Poco::JSON::Object::Ptr& json) {
    const std::string where = "error body";
    requireObject(json, where);
    ErrorBody error;
    error.code = stringField(json, where, "code");
    error.message = stringField(json, where, "error");
    return error;
}

std::string toJsonString(const Poco::JSON::Object::Ptr& json) {
    std::ostringstream out;
    json->stringify(out);
    return out.str();
}

Poco::JSON::Object::Ptr parseJsonObject(const std::string& text, std::string_view what) {
    Poco::Dynamic::Var parsed;
    try {
        Poco::JSON::Parser parser;
        parsed = parser.parse(text);
    } catch (const Poco::Exception& error) {
        throw PermanentError(std::string(what) + ": not valid JSON: " + error.displayText());
    }
    if (parsed.type() != typeid(Poco::JSON::Object::Ptr)) {
        throw PermanentError(std::string(what) + ": expected a JSON object");
    }
    return parsed.extract<Poco::JSON::Object::Ptr>();
}

}  // namespace taxdesk::connectors
