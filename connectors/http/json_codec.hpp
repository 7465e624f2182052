#pragma once
// The JSON forms of the connector types on the wire between the network clients and `taxdesk stubs`. Field names
// are snake_case as in SPEC 3.3: income {year, payer_id, payer_name, income_type, amount}, property {kind,
// description, location, value}. Decoding is strict: a missing field, a null or a value of the wrong type throws
// PermanentError naming the field, since the same payload would fail on every retry.
// All functions are thread-safe (they share no state).
#include <Poco/JSON/Object.h>

#include <string>
#include <string_view>
#include <vector>

#include "connectors/api/payment.hpp"
#include "connectors/api/registry.hpp"
#include "connectors/api/sms_gateway.hpp"
#include "connectors/api/taxdata.hpp"

namespace taxdesk::connectors {

/// Body of POST /nhi/v1/verify.
struct NhiVerifyRequest {
    std::string id;
    std::string last4;
};

/// Body of POST /taxdata/v1/records.
struct TaxDataRequest {
    std::string id;
    std::vector<int> years;
    bool income = true;
    bool property = true;
};

/// Body of POST /payment/v1/charges.
struct ChargeRequest {
    std::string cardId;
    long long amount = 0;
    std::string idempotencyKey;
};

/// Body of every error response: {"code": "...", "error": "..."}.
struct ErrorBody {
    std::string code;     ///< machine-readable: not_found, no_route, bad_request, transient, insufficient_balance, ...
    std::string message;  ///< for people and logs
};

// Encoders never throw except std::bad_alloc. Decoders throw PermanentError naming the field.

Poco::JSON::Object::Ptr toJson(const RegistryRecord& record);
RegistryRecord registryRecordFromJson(const Poco::JSON::Object::Ptr& json);

Poco::JSON::Object::Ptr toJson(const IncomeRecord& record);
IncomeRecord incomeRecordFromJson(const Poco::JSON::Object::Ptr& json);

Poco::JSON::Object::Ptr toJson(const PropertyRecord& record);
PropertyRecord propertyRecordFromJson(const Poco::JSON::Object::Ptr& json);

/// {"income": [...], "property": [...]}
Poco::JSON::Object::Ptr toJson(const TaxRecords& records);
TaxRecords taxRecordsFromJson(const Poco::JSON::Object::Ptr& json);

/// {"provider_txn_id", "amount", "balance_after"}
Poco::JSON::Object::Ptr toJson(const ChargeResult& result);
ChargeResult chargeResultFromJson(const Poco::JSON::Object::Ptr& json);

/// {"gateway_msg_id", "segments"}
Poco::JSON::Object::Ptr toJson(const SendReceipt& receipt);
SendReceipt sendReceiptFromJson(const Poco::JSON::Object::Ptr& json);

/// {"notification_id", "msisdn", "text"}
Poco::JSON::Object::Ptr toJson(const OutboundSms& sms);
OutboundSms outboundSmsFromJson(const Poco::JSON::Object::Ptr& json);

/// {"id", "last4"}
Poco::JSON::Object::Ptr toJson(const NhiVerifyRequest& request);
NhiVerifyRequest nhiVerifyRequestFromJson(const Poco::JSON::Object::Ptr& json);

/// {"match": bool}
Poco::JSON::Object::Ptr nhiMatchToJson(bool match);
bool nhiMatchFromJson(const Poco::JSON::Object::Ptr& json);

/// {"id", "years": [int], "income": bool, "property": bool}
Poco::JSON::Object::Ptr toJson(const TaxDataRequest& request);
TaxDataRequest taxDataRequestFromJson(const Poco::JSON::Object::Ptr& json);

/// {"card_id", "amount", "idempotency_key"}
Poco::JSON::Object::Ptr toJson(const ChargeRequest& request);
ChargeRequest chargeRequestFromJson(const Poco::JSON::Object::Ptr& json);

/// {"code", "error"}
Poco::JSON::Object::Ptr toJson(const ErrorBody& error);
ErrorBody errorBodyFromJson(const Poco::JSON::Object::Ptr& json);

/// Compact JSON text, UTF-8 kept as is.
std::string toJsonString(const Poco::JSON::Object::Ptr& json);
/// Parses `text` that must be one JSON object. Throws PermanentError starting with `what` when it is not.
Poco::JSON::Object::Ptr parseJsonObject(const std::string& text, std::string_view what);

}  // namespace taxdesk::connectors
