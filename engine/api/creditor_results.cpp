// GET /api/v1/batches/{id}/results (JSON or CSV, streamed page by page) and POST /api/v1/batches/{id}/retry.
#include "engine/api/creditor_api.hpp"

#include <Poco/Logger.h>
#include <Poco/Net/HTTPServerRequest.h>

#include "engine/api/auth.hpp"
#include "engine/api/creditor_api_util.hpp"
#include "jobs/common/json.hpp"
#include "jobs/inquiry/batch_state.hpp"
#include "jobs/inquiry/codec.hpp"
#include "jobs/inquiry/results_csv.hpp"
#include "jobs/inquiry/retry.hpp"

namespace taxdesk::engine::api {

HttpReply CreditorApi::retry(HttpRequest& request) {
    // A creditor retries its own batches (another's is 404, as everywhere); operations staff any batch.
    const Principal who = authenticate(request, stores_.tokens, {"creditor", "ops"});
    const std::string& batchId = request.params.at("id");
    auto decide = [&]() -> jobs::inquiry::RetryDecision {
        const auto batch = stores_.batches.findBatch(batchId);
        if (!batch || (who.role == "creditor" && batch->creditorId != who.creditorId))
            throw HttpError(404, "not_found", "no batch " + batchId);
        return jobs::inquiry::decideRetry({batch->batchId, jobs::inquiry::toString(batch->state), batch->paid,
                                           stores_.results.countResultsWithStatus(batch->batchId, "error"),
                                           openConnectors_ ? openConnectors_() : std::vector<std::string>{}});
    };
    auto refusal = [](const jobs::inquiry::RetryDecision& decision) {
        const auto& refused = std::get<jobs::inquiry::RetryRefused>(decision);
        HttpReply reply = errorReply(refused.status, refused.code, refused.message);
        if (refused.status == 503) reply.headers["Retry-After"] = "2";
        return reply;
    };
    const auto decision = decide();
    if (std::holds_alternative<jobs::inquiry::RetryRefused>(decision)) return refusal(decision);
    // Conditional in the store: of two requests at once, one puts the rows back and the other finds the batch
    // processing (decided again, it is told why).
    const int rows = stores_.results.retryErrorRows(batchId);
    if (rows == 0) {
        const auto again = decide();
        if (std::holds_alternative<jobs::inquiry::RetryRefused>(again)) return refusal(again);
        return errorReply(409, "not_completed", "batch " + batchId + " changed while it was being retried; ask again");
    }
    Poco::Logger::get("api").information("batch %s: %d error rows retried (asked by %s); nothing charged", batchId,
                                         rows, who.role == "ops" ? std::string("ops") : "creditor " + who.creditorId);
    if (onRetry_) onRetry_(batchId, request.requestId);
    std::string body;
    jobs::json::ObjectWriter(body)
        .field("batch_id", batchId)
        .field("state", std::string(jobs::inquiry::toString(jobs::inquiry::BatchState::processing)))
        .field("rows_retried", rows)
        .field("status_url", baseUrl(request) + "/api/v1/batches/" + batchId)
        .close();
    return jsonReply(202, std::move(body));
}

HttpReply CreditorApi::results(HttpRequest& request) {
    const auto batch = ownBatch(request);
    const std::string format = request.queryValue("format", "json");
    if (format != "json" && format != "csv") throw HttpError(400, "bad_format", "format must be json or csv");
    HttpReply reply;
    auto& store = stores_.results;
    const std::string batchId = batch.batchId;
    // The audit trail records the download once it was streamed whole, with the rows it held.
    auto downloaded = [handler = onDownload_, creditorId = batch.creditorId, batchId, format,
                       requestId = request.requestId](int rows) {
        if (handler) handler(creditorId, batchId, format, rows, requestId);
    };
    reply.headers["Content-Disposition"] = "attachment; filename=\"" + batchId + "-results." + format + "\"";
    if (format == "json") {
        reply.contentType = "application/json; charset=utf-8";
        reply.stream = [&store, batchId, downloaded](std::ostream& out) {
            out << "[";
            int after = 0;
            int rows = 0;
            bool first = true;
            for (;;) {
                const auto page = store.resultsPage(batchId, after, 1000);
                for (const auto& result : page) {
                    out << (first ? "\n" : ",\n") << result.payload;
                    first = false;
                }
                rows += static_cast<int>(page.size());
                if (page.size() < 1000) break;
                after = page.back().row;
            }
            out << "\n]\n";
            out.flush();
            downloaded(rows);
        };
    } else {
        reply.contentType = "text/csv; charset=utf-8";
        reply.stream = [&store, batchId, downloaded](std::ostream& out) {
            std::string text = jobs::inquiry::resultsCsvHeader();
            int after = 0;
            int rows = 0;
            for (;;) {
                const auto page = store.resultsPage(batchId, after, 1000);
                for (const auto& stored : page)
                    jobs::inquiry::appendResultCsv(text, jobs::inquiry::decodeResult(stored.payload));
                out << text;
                text.clear();
                rows += static_cast<int>(page.size());
                if (page.size() < 1000) break;
                after = page.back().row;
            }
            out.flush();
            downloaded(rows);
        };
    }
    return reply;
}

}  // namespace taxdesk::engine::api
