#pragma once
// The JSON form of a payment record (SPEC 3.2), for the API and for `payments.records`.
#include <string>

#include "connectors/store/store.hpp"

namespace taxdesk::engine::api {

/// {payment_id, batch_id, creditor_id, amount, method, card, provider_txn_id, status, created_at} (+ error when set).
std::string paymentJson(const connectors::PaymentRecord& payment);

}  // namespace taxdesk::engine::api
