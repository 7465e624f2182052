#include "engine/api/creditor_api.hpp"

#include <Poco/File.h>

#include "engine/api/auth.hpp"
#include "engine/api/creditor_api_util.hpp"
#include "engine/api/json_body.hpp"
#include "engine/pages/pages.hpp"
#include "jobs/common/json.hpp"

namespace taxdesk::engine::api {

std::string batchJson(const connectors::BatchRecord& batch) {
    const double progress = batch.rowsTotal > 0 ? 100.0 * batch.rowsDone / batch.rowsTotal : 100.0;
    char percent[16];
    std::snprintf(percent, sizeof percent, "%.1f", progress);
    std::string out;
    jobs::json::ObjectWriter writer(out);
    writer.field("batch_id", batch.batchId)
        .field("state", std::string(jobs::inquiry::toString(batch.state)))
        .field("rows_total", batch.rowsTotal)
        .field("rows_accepted", batch.rowsAccepted)
        .field("rows_rejected", batch.rowsRejected)
        .field("rows_done", batch.rowsDone)
        .raw("progress", percent)
        .field("fee_total", batch.feeTotal)
        .raw("paid", batch.paid ? "true" : "false")
        .field("created_at", batch.createdAt);
    writer.raw("completed_at", batch.completedAt.empty() ? "null" : "\"" + batch.completedAt + "\"");
    if (!batch.failureReason.empty()) writer.field("failure_reason", batch.failureReason);
    writer.close();
    return out;
}

CreditorApi::CreditorApi(CreditorApiSettings settings, CreditorStores stores,
                         std::shared_ptr<connectors::Payment> payment, PaidHandler onPaid)
    : settings_(std::move(settings)), stores_(stores), payment_(std::move(payment)), onPaid_(std::move(onPaid)) {
    Poco::File(settings_.spoolDir).createDirectories();
}

std::vector<Route> CreditorApi::routes() {
    auto bind = [this](HttpReply (CreditorApi::*method)(HttpRequest&)) {
        return [this, method](HttpRequest& request) { return (this->*method)(request); };
    };
    return {
        {"POST", "/api/v1/batches", bind(&CreditorApi::upload), true},  // streams its body: limits.batch_bytes
        {"GET", "/api/v1/batches", bind(&CreditorApi::list)},
        {"GET", "/api/v1/batches/{id}", bind(&CreditorApi::status)},
        {"POST", "/api/v1/batches/{id}/payment",
         [this](HttpRequest& request) {
             // `card_id` as an object must not be charged as a card: every field of the body is a string.
             requireStringFields(request, {"method", "card_id", "idempotency_key"});
             return pay(request);
         }},
        {"POST", "/api/v1/batches/{id}/retry", bind(&CreditorApi::retry)},
        {"GET", "/api/v1/batches/{id}/results", bind(&CreditorApi::results)},
        {"GET", "/api/v1/batches/{id}/receipt", bind(&CreditorApi::receipt)},
        {"GET", "/api/v1/batches/{id}/results.csv.sig",
         [this](HttpRequest& request) { return resultsSignature(request, "csv"); }},
        {"GET", "/api/v1/batches/{id}/results.json.sig",
         [this](HttpRequest& request) { return resultsSignature(request, "json"); }},
        {"GET", "/v/{batch_id}/{digest}", bind(&CreditorApi::verifyDigest)},
        {"GET", "/.well-known/taxdesk-results-key", bind(&CreditorApi::resultsKey)},
        {"GET", "/r/{token}", bind(&CreditorApi::publicProgress)},
    };
}

connectors::BatchRecord CreditorApi::ownBatch(HttpRequest& request) {
    const Principal who = authenticate(request, stores_.tokens, {"creditor"});
    auto batch = stores_.batches.findBatch(request.params.at("id"));
    if (!batch || batch->creditorId != who.creditorId)
        throw HttpError(404, "not_found", "no batch " + request.params.at("id"));
    return *batch;
}

HttpReply CreditorApi::list(HttpRequest& request) {
    const Principal who = authenticate(request, stores_.tokens, {"creditor"});
    const int limit = intParam(request, "limit", 20, 1, 100);
    const int offset = intParam(request, "offset", 0, 0, 1'000'000'000);
    const auto batches = stores_.batches.listBatches(who.creditorId, limit + 1, offset);
    std::string items = "[";
    for (std::size_t i = 0; i < batches.size() && i < static_cast<std::size_t>(limit); ++i)
        items += (i ? "," : "") + batchJson(batches[i]);
    items.push_back(']');
    std::string body;
    jobs::json::ObjectWriter writer(body);
    writer.raw("batches", items).field("limit", limit).field("offset", offset);
    writer.raw("next_offset",
               batches.size() > static_cast<std::size_t>(limit) ? std::to_string(offset + limit) : "null");
    writer.close();
    return jsonReply(200, std::move(body));
}

HttpReply CreditorApi::status(HttpRequest& request) {
    return jsonReply(200, batchJson(ownBatch(request)));
}

HttpReply CreditorApi::receipt(HttpRequest& request) {
    const auto batch = ownBatch(request);
    HttpReply reply;
    reply.contentType = "text/html; charset=utf-8";
    // A completed batch's receipt carries the digests of its signed downloads (issue 13), CSV first.
    std::vector<pages::ReceiptDigest> digests;
    for (const char* format : {"csv", "json"})
        if (const auto issued = signedDownload(batch, format))
            digests.push_back(
                {format, issued->sha256, baseUrl(request) + "/v/" + batch.batchId + "/" + issued->sha256});
    reply.body = pages::receiptPage(batch, baseUrl(request) + "/r/" + batch.receiptToken, digests);
    return reply;
}

HttpReply CreditorApi::publicProgress(HttpRequest& request) {
    const auto batch = stores_.batches.findBatchByReceiptToken(request.params.at("token"));
    if (!batch) throw HttpError(404, "not_found", "no such receipt");
    HttpReply reply;
    reply.contentType = "text/html; charset=utf-8";
    reply.body = pages::publicProgressPage(*batch);
    return reply;
}

}  // namespace taxdesk::engine::api
