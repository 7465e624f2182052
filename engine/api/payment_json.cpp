#include "engine/api/payment_json.hpp"

#include "jobs/common/json.hpp"

namespace taxdesk::engine::api {

std::string paymentJson(const connectors::PaymentRecord& payment) {
    std::string out;
    jobs::json::ObjectWriter writer(out);
    writer.field("payment_id", payment.paymentId)
        .field("batch_id", payment.batchId)
        .field("creditor_id", payment.creditorId)
        .field("amount", payment.amount)
        .field("method", payment.method)
        .field("card", payment.card)
        .field("provider_txn_id", payment.providerTxnId)
        .field("status", std::string(jobs::payment::toString(payment.status)))
        .field("created_at", payment.createdAt);
    if (!payment.error.empty()) writer.field("error", payment.error);
    writer.close();
    return out;
}

}  // namespace taxdesk::engine::api
