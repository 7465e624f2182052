// GET /api/v1/batches/{id}/results (JSON or CSV, streamed page by page), signed when the batch is completed (issue
// 13: the .sig routes, the public /v/{batch_id}/{digest} and the key route), and POST /api/v1/batches/{id}/retry.
#include "engine/api/creditor_api.hpp"

#include <Poco/Logger.h>
#include <Poco/Net/HTTPServerRequest.h>

#include "engine/api/auth.hpp"
#include "engine/api/creditor_api_util.hpp"
#include "jobs/common/json.hpp"
#include "jobs/inquiry/batch_state.hpp"
#include "jobs/inquiry/codec.hpp"
#include "jobs/inquiry/results_csv.hpp"
#include "jobs/inquiry/results_signature.hpp"
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

namespace {

/// Writes the results download of `batchId` in `format` ("csv" or "json") to `sink`, page by page, in row order. The
/// bytes depend on the stored results only (no time, no request), so that a second pass gives the same bytes: the
/// digest is taken over one pass and the body sent from another.
template <typename Sink>
void writeResults(connectors::ResultStore& store, const std::string& batchId, const std::string& format, Sink&& sink) {
    constexpr int kPage = 1000;
    int after = 0;
    if (format == "json") {
        std::string text = "[";
        bool first = true;
        for (;;) {
            const auto page = store.resultsPage(batchId, after, kPage);
            for (const auto& result : page) {
                text += first ? "\n" : ",\n";
                text += result.payload;
                first = false;
            }
            sink(std::string_view(text));
            text.clear();
            if (page.size() < static_cast<std::size_t>(kPage)) break;
            after = page.back().row;
        }
        sink(std::string_view("\n]\n"));
        return;
    }
    std::string text = jobs::inquiry::resultsCsvHeader();
    for (;;) {
        const auto page = store.resultsPage(batchId, after, kPage);
        for (const auto& stored : page)
            jobs::inquiry::appendResultCsv(text, jobs::inquiry::decodeResult(stored.payload));
        sink(std::string_view(text));
        text.clear();
        if (page.size() < static_cast<std::size_t>(kPage)) break;
        after = page.back().row;
    }
}

jobs::inquiry::ResultsSignature signatureOf(const connectors::IssuedSignature& issued) {
    return {issued.batchId, issued.format, issued.sha256, issued.keyId, issued.signature};
}

}  // namespace

std::optional<connectors::IssuedSignature> CreditorApi::signedDownload(const connectors::BatchRecord& batch,
                                                                       const std::string& format) {
    if (!signer_ || signatures_ == nullptr || batch.state != jobs::inquiry::BatchState::completed) return std::nullopt;
    connectors::crypto::Sha256 digest;
    long long bytes = 0;
    writeResults(stores_.results, batch.batchId, format, [&](std::string_view piece) {
        digest.update(piece);
        bytes += static_cast<long long>(piece.size());
    });
    const std::string sha256 = digest.hex();
    if (auto issued = signatures_->findSignature(batch.batchId, sha256); issued && issued->format == format)
        return issued;
    connectors::IssuedSignature fresh;
    fresh.batchId = batch.batchId;
    fresh.format = format;
    fresh.sha256 = sha256;
    fresh.keyId = signer_->keyId();
    fresh.signature =
        connectors::crypto::base64Encode(signer_->sign(jobs::inquiry::signedMessage(batch.batchId, format, sha256)));
    fresh.bytes = bytes;
    auto stored = signatures_->recordSignature(fresh);
    Poco::Logger::get("api").information("batch %s: results %s signed, sha256 %s (key %s)", batch.batchId, format,
                                         sha256, stored.keyId);
    return stored;
}

HttpReply CreditorApi::results(HttpRequest& request) {
    const auto batch = ownBatch(request);
    const std::string format = request.queryValue("format", "json");
    if (format != "json" && format != "csv") throw HttpError(400, "bad_format", "format must be json or csv");
    HttpReply reply;
    auto& store = stores_.results;
    const std::string batchId = batch.batchId;
    reply.headers["Content-Disposition"] = "attachment; filename=\"" + batchId + "-results." + format + "\"";
    reply.contentType = format == "json" ? "application/json; charset=utf-8" : "text/csv; charset=utf-8";
    // A completed batch's download is signed (issue 13): the digest of the bytes about to be sent, in the headers.
    const auto issued = signedDownload(batch, format);
    std::string expected;
    if (issued) {
        expected = issued->sha256;
        reply.headers["Digest"] =
            "sha-256=" + connectors::crypto::base64Encode(connectors::crypto::hexToBytes(issued->sha256));
        reply.headers["X-Taxdesk-Digest"] = issued->sha256;
        reply.headers["X-Taxdesk-Signature"] = jobs::inquiry::formatSignature(signatureOf(*issued));
    }
    reply.stream = [&store, batchId, format, expected](std::ostream& out) {
        connectors::crypto::Sha256 sent;
        writeResults(store, batchId, format, [&](std::string_view piece) {
            if (!expected.empty()) sent.update(piece);
            out.write(piece.data(), static_cast<std::streamsize>(piece.size()));
        });
        // The results changed between the digest and the body (a retry began meanwhile): the headers are gone, so
        // the client's check fails; say so here.
        if (!expected.empty() && sent.hex() != expected)
            Poco::Logger::get("api").error(
                "batch %s: results %s changed while downloaded; the body does not match "
                "its signed digest %s",
                batchId, format, expected);
    };
    return reply;
}

HttpReply CreditorApi::resultsSignature(HttpRequest& request, const std::string& format) {
    const auto batch = ownBatch(request);
    if (!signer_ || signatures_ == nullptr) throw HttpError(404, "not_found", "results are not signed by this engine");
    if (batch.state != jobs::inquiry::BatchState::completed)
        throw HttpError(409, "not_completed",
                        "batch " + batch.batchId + " is " + std::string(jobs::inquiry::toString(batch.state)) +
                            ": its results are signed once it is completed");
    const auto issued = signedDownload(batch, format);
    HttpReply reply;
    reply.contentType = "text/plain; charset=utf-8";
    reply.headers["Content-Disposition"] = "attachment; filename=\"" + batch.batchId + "-results." + format + ".sig\"";
    reply.body = jobs::inquiry::formatSignature(signatureOf(*issued)) + "\n";
    return reply;
}

HttpReply CreditorApi::verifyDigest(HttpRequest& request) {
    // Public: no token; says nothing but whether this digest was issued for this batch (no creditor, no rows).
    const std::string& batchId = request.params.at("batch_id");
    const std::string& digest = request.params.at("digest");
    if (!jobs::inquiry::isBatchIdShape(batchId))
        throw HttpError(400, "bad_batch_id", "batch_id must be 1 to 64 letters, digits, '-' or '_'");
    if (!jobs::inquiry::isDigestHex(digest))
        throw HttpError(400, "bad_digest", "digest must be a SHA-256: 64 lowercase hex digits");
    std::optional<connectors::IssuedSignature> issued;
    if (signatures_ != nullptr) issued = signatures_->findSignature(batchId, digest);
    std::string body;
    jobs::json::ObjectWriter writer(body);
    writer.raw("valid", issued ? "true" : "false").field("batch_id", batchId).field("digest", digest);
    if (issued) {
        writer.field("issued_at", issued->issuedAt).field("format", issued->format).field("key_id", issued->keyId);
    } else {
        writer.raw("issued_at", "null").raw("format", "null");
    }
    writer.close();
    HttpReply reply = jsonReply(200, std::move(body));
    reply.headers["Cache-Control"] = "no-store";
    return reply;
}

HttpReply CreditorApi::resultsKey(HttpRequest& request) {
    if (!signer_) throw HttpError(404, "not_found", "results are not signed by this engine");
    const std::string format = request.queryValue("format", "pem");
    if (format != "pem" && format != "json") throw HttpError(400, "bad_format", "format must be pem or json");
    HttpReply reply;
    reply.headers["X-Taxdesk-Key-Id"] = signer_->keyId();
    if (format == "json") {
        std::string body;
        jobs::json::ObjectWriter(body)
            .field("key_id", signer_->keyId())
            .field("algorithm", "Ed25519")
            .field("public_key_pem", signer_->publicKeyPem())
            .close();
        reply.body = std::move(body);
        return reply;
    }
    reply.contentType = "application/x-pem-file";
    reply.body = signer_->publicKeyPem();
    return reply;
}

}  // namespace taxdesk::engine::api
