#include "engine/api/creditor_api.hpp"

#include <Poco/DateTime.h>
#include <Poco/DigestEngine.h>
#include <Poco/File.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/LocalDateTime.h>
#include <Poco/Logger.h>
#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/MessageHeader.h>
#include <Poco/Net/NameValueCollection.h>
#include <Poco/Net/PartHandler.h>
#include <Poco/RandomStream.h>
#include <Poco/Timezone.h>
#include <Poco/UUIDGenerator.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/api/auth.hpp"
#include "engine/api/json_body.hpp"
#include "engine/api/payment_json.hpp"
#include "engine/pages/pages.hpp"
#include "jobs/common/json.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/inquiry/batch_file.hpp"
#include "jobs/inquiry/codec.hpp"
#include "jobs/inquiry/csv.hpp"
#include "jobs/inquiry/retry.hpp"

namespace taxdesk::engine::api {
namespace {

/// Unix time in ms: payment leases are compared across engines (and hosts) in the store.
long long epochMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// A request waits this long at most for another request's charge of the same payment (an HTTP thread is held).
constexpr long long kMaxPaymentWaitMs = 15000;

constexpr std::size_t kChunkRows = 2000;
constexpr std::size_t kErrorsShown = 100;
constexpr int kMaxParts = 100;             // of a multipart upload (Poco's default, said out loud)
constexpr int kMaxFieldBytes = 64 * 1024;  // a form field other than the file

std::string randomHex(std::size_t bytes) {
    Poco::RandomInputStream random;
    Poco::DigestEngine::Digest data(bytes);
    random.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(data.size()));
    return Poco::DigestEngine::digestToHex(data);
}

/// Taipei has no daylight saving time: UTC+8 all year.
Poco::DateTime taipeiNow() {
    Poco::DateTime now;
    now.makeLocal(8 * 3600);
    return now;
}

std::string newBatchId() {
    const auto now = taipeiNow();
    char date[32];
    std::snprintf(date, sizeof date, "%04d%02d%02d", now.year(), now.month(), now.day());
    return std::string("B") + date + "-" + randomHex(5);
}

/// Copies at most `limit` bytes of `in` to `out`; HttpError 413 beyond.
void copyLimited(std::istream& in, std::ostream& out, long long limit) {
    std::vector<char> buffer(64 * 1024);
    long long total = 0;
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        const auto got = in.gcount();
        if (got <= 0) break;
        total += got;
        if (total > limit)
            throw HttpError(413, "too_large", "the file is larger than " + std::to_string(limit) + " bytes");
        out.write(buffer.data(), got);
    }
    if (!out) throw std::runtime_error("cannot write the upload to the spool folder");
}

/// Receives the multipart field `file` into the spool file.
class SpoolPartHandler : public Poco::Net::PartHandler {
  public:
    SpoolPartHandler(std::ostream& out, long long limit) : out_(out), limit_(limit) {}
    void handlePart(const Poco::Net::MessageHeader& header, std::istream& stream) override {
        std::string disposition;
        Poco::Net::NameValueCollection params;
        Poco::Net::MessageHeader::splitParameters(header.get("Content-Disposition", ""), disposition, params);
        if (params.get("name", "") != "file" || found_) {
            stream.ignore(std::numeric_limits<std::streamsize>::max());
            return;
        }
        found_ = true;
        filename_ = params.get("filename", "");
        copyLimited(stream, out_, limit_);
    }
    [[nodiscard]] bool found() const { return found_; }
    [[nodiscard]] const std::string& filename() const { return filename_; }

  private:
    std::ostream& out_;
    long long limit_;
    bool found_ = false;
    std::string filename_;
};

/// Removes the spool file however the request ends.
struct SpoolFile {
    std::string path;
    ~SpoolFile() {
        try {
            Poco::File(path).remove();
        } catch (...) {
        }
    }
};

std::string joinYears(const std::vector<int>& years) {
    std::string out;
    for (const int year : years) out += (out.empty() ? "" : ";") + std::to_string(year);
    return out;
}

int intParam(const HttpRequest& request, const std::string& name, int fallback, int min, int max) {
    const std::string text = request.queryValue(name);
    if (text.empty()) return fallback;
    try {
        std::size_t used = 0;
        const int value = std::stoi(text, &used);
        if (used == text.size() && value >= min && value <= max) return value;
    } catch (const std::exception&) {
    }
    throw HttpError(400, "bad_parameter",
                    name + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max));
}

/// The URL the caller reached us by, for the links and the receipt's QR code. A Host header that is not a host name
/// (and port) is a 400: it would otherwise be written into pages and QR codes (which cannot hold 8 KB).
std::string baseUrl(const HttpRequest& request) {
    const std::string host = request.header("Host");
    if (host.empty()) return "http://127.0.0.1";
    if (host.size() > 261 ||
        host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") !=
            std::string::npos)
        throw HttpError(400, "bad_host", "the Host header must be a host name or address with an optional port");
    return "http://" + host;
}

}  // namespace

std::string batchJson(const connectors::BatchRecord& batch) {
    const double progress = batch.rowsTotal > 0 ? 100.0 * batch.rowsDone / batch.rowsTotal : 100.0;
    char percent[16];
    std::snprintf(percent, sizeof percent, "%.1f", progress);
    std::string out;
    jobs::json::ObjectWriter writer(out);
    writer.field("batch_id", batch.batchId)
        .field("state", batch.state)
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

CreditorApi::CreditorApi(CreditorApiSettings settings, connectors::Store& store,
                         std::shared_ptr<connectors::Payment> payment, PaidHandler onPaid)
    : settings_(std::move(settings)), store_(store), payment_(std::move(payment)), onPaid_(std::move(onPaid)) {
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
        {"GET", "/r/{token}", bind(&CreditorApi::publicProgress)},
    };
}

connectors::BatchRecord CreditorApi::ownBatch(HttpRequest& request) {
    const Principal who = authenticate(request, store_, {"creditor"});
    auto batch = store_.findBatch(request.params.at("id"));
    if (!batch || batch->creditorId != who.creditorId)
        throw HttpError(404, "not_found", "no batch " + request.params.at("id"));
    return *batch;
}

HttpReply CreditorApi::upload(HttpRequest& request) {
    const Principal who = authenticate(request, store_, {"creditor"});
    const std::string base = baseUrl(request);
    std::optional<jobs::inquiry::Charset> declared;
    if (const std::string charset = request.queryValue("charset"); !charset.empty()) {
        declared = jobs::inquiry::parseCharset(charset);
        if (!declared) throw HttpError(400, "bad_charset", "charset must be utf-8 or big5, not '" + charset + "'");
    }
    // Refused bodies are read (up to twice the limit) before the answer, so that a client still sending sees the
    // 413 instead of a broken connection; anything larger is cut off.
    auto tooLarge = [&] {
        request.raw.stream().ignore(static_cast<std::streamsize>(2 * settings_.maxBytes));
        return HttpError(413, "too_large", "the file is larger than " + std::to_string(settings_.maxBytes) + " bytes");
    };
    if (request.raw.hasContentLength() && request.raw.getContentLength64() > settings_.maxBytes + 64 * 1024)
        throw tooLarge();

    SpoolFile spool{settings_.spoolDir + "/upload-" + randomHex(8) + ".csv"};
    std::string filename;
    {
        std::ofstream out(spool.path, std::ios::binary | std::ios::trunc);
        const std::string type = Poco::toLower(request.raw.getContentType());
        if (type.rfind("multipart/form-data", 0) == 0) {
            SpoolPartHandler handler(out, settings_.maxBytes);
            Poco::Net::HTMLForm form;
            form.setFieldLimit(kMaxParts);
            form.setValueLengthLimit(kMaxFieldBytes);
            try {
                form.load(request.raw, request.raw.stream(), handler);
            } catch (const Poco::Exception& error) {
                // No boundary, a wrong one, too many parts, a field too long: the client's form, not our fault.
                throw HttpError(400, "bad_multipart",
                                "the multipart/form-data body cannot be read (one field 'file', at most " +
                                    std::to_string(kMaxParts) + " parts): " + error.message());
            }
            if (!handler.found()) throw HttpError(400, "missing_file", "the multipart field 'file' is missing");
            filename = handler.filename();
        } else if (type.rfind("text/csv", 0) == 0 || type.rfind("application/csv", 0) == 0 ||
                   type.rfind("text/plain", 0) == 0) {
            try {
                copyLimited(request.raw.stream(), out, settings_.maxBytes);
            } catch (const HttpError&) {
                throw tooLarge();
            }
            // A charset parameter on the content type counts as declared, unless ?charset= said otherwise.
            std::string mediaType;
            Poco::Net::NameValueCollection params;
            Poco::Net::MessageHeader::splitParameters(request.raw.getContentType(), mediaType, params);
            if (!declared && params.has("charset")) declared = jobs::inquiry::parseCharset(params.get("charset"));
        } else {
            request.raw.stream().ignore(static_cast<std::streamsize>(settings_.maxBytes));
            throw HttpError(415, "unsupported_media_type",
                            "send the file as multipart/form-data (field 'file') or as a text/csv body");
        }
    }

    std::ifstream in(spool.path, std::ios::binary);
    const auto charset = jobs::inquiry::detectCharset(in, declared);
    in.clear();
    in.seekg(0);

    const auto now = taipeiNow();
    jobs::inquiry::BatchRules rules;
    rules.maxRows = settings_.maxRows;
    // Taipei's calendar year: it has no income data yet, so the year before it is the latest one accepted (SPEC 3.1).
    rules.currentYear = now.year();
    rules.latestTaxYear = now.year() - 1;
    rules.feeProperty = settings_.feeProperty;
    rules.feeIncomeYear = settings_.feeIncomeYear;

    connectors::BatchRecord batch;
    batch.batchId = newBatchId();
    batch.creditorId = who.creditorId;
    batch.state = "awaiting_payment";
    batch.filename = filename;
    batch.charset = jobs::inquiry::toString(charset);
    batch.receiptToken = randomHex(16);

    std::string errors = "[";
    std::size_t errorCount = 0;
    jobs::inquiry::BatchTotals totals;
    try {
        auto writer = store_.beginBatch(batch);
        std::vector<connectors::BatchRowRecord> chunk;
        chunk.reserve(kChunkRows);
        totals = jobs::inquiry::BatchFileReader(rules, charset).read(in, [&](const jobs::inquiry::BatchRow& row) {
            chunk.push_back({batch.batchId, row.row, row.debtorId, row.debtorName, row.titleRef,
                             jobs::inquiry::toString(row.scope), joinYears(row.incomeYears), row.accepted, row.reason,
                             row.column, row.fee});
            if (!row.accepted && errorCount < kErrorsShown) {
                if (errorCount++) errors.push_back(',');
                jobs::json::ObjectWriter(errors)
                    .field("row", row.row)
                    .field("column", row.column)
                    .field("reason", row.reason)
                    .close();
            }
            if (chunk.size() >= kChunkRows) {
                writer->addRows(chunk);
                chunk.clear();
            }
        });
        writer->addRows(chunk);
        writer->commit(totals.rows, totals.accepted, totals.rejected, totals.feeTotal);
    } catch (const jobs::inquiry::FileError& error) {
        // The writer rolled everything back: nothing stored, nothing to pay.
        throw HttpError(error.status(), error.code(), error.what());
    }
    errors.push_back(']');
    if (totals.accepted == 0) store_.setBatchState(batch.batchId, "awaiting_payment", "completed", "");
    const auto stored = store_.findBatch(batch.batchId);
    // The fee as text: Poco's %Ld wants a Poco::Int64 (a long here), and the long long printed "NT$[ERRFMT]".
    Poco::Logger::get("api").information("batch %s uploaded by creditor %s: %d rows, %d accepted, NT$%s", batch.batchId,
                                         who.creditorId, totals.rows, totals.accepted, std::to_string(totals.feeTotal));

    std::string body;
    jobs::json::ObjectWriter(body)
        .field("batch_id", batch.batchId)
        .field("state", stored ? stored->state : batch.state)
        .field("rows_total", totals.rows)
        .field("rows_accepted", totals.accepted)
        .field("rows_rejected", totals.rejected)
        .field("fee_total", totals.feeTotal)
        .raw("errors", errors)
        .field("status_url", base + "/api/v1/batches/" + batch.batchId)
        .field("receipt_url", base + "/api/v1/batches/" + batch.batchId + "/receipt")
        .field("public_url", base + "/r/" + batch.receiptToken)
        .close();
    return jsonReply(201, std::move(body));
}

HttpReply CreditorApi::pay(HttpRequest& request) {
    const Principal who = authenticate(request, store_, {"creditor"});
    auto batch = store_.findBatch(request.params.at("id"));
    if (!batch || batch->creditorId != who.creditorId)
        throw HttpError(404, "not_found", "no batch " + request.params.at("id"));

    std::string method;
    std::string cardId;
    std::string key;
    try {
        const auto body = Poco::JSON::Parser().parse(request.raw.stream()).extract<Poco::JSON::Object::Ptr>();
        method = body->optValue<std::string>("method", "");
        cardId = body->optValue<std::string>("card_id", "");
        key = body->optValue<std::string>("idempotency_key", "");
    } catch (const Poco::Exception& error) {
        throw HttpError(400, "bad_json", "the body must be a JSON object: " + error.displayText());
    }
    if (method != "easycard") throw HttpError(400, "bad_method", "method must be \"easycard\"");
    if (cardId.size() < 4 || cardId.size() > 32) throw HttpError(400, "bad_card", "card_id must be 4 to 32 characters");
    if (key.empty() || key.size() > 128)
        throw HttpError(400, "bad_idempotency_key", "idempotency_key must be 1 to 128 characters");

    if (const auto existing = store_.findPaymentByKey(who.creditorId, key); !existing) {
        if (batch->state != "awaiting_payment")
            throw HttpError(409, "not_awaiting_payment", "batch " + batch->batchId + " is " + batch->state);
        if (batch->feeTotal <= 0) throw HttpError(409, "nothing_to_pay", "batch " + batch->batchId + " has no fee");
    }

    // This request's name while it holds the payment's lease (the one request talking to the provider about it).
    const std::string owner = "R" + Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
    const long long leaseMs = settings_.paymentLeaseMs;
    connectors::PaymentRecord pending;
    pending.paymentId = "P" + Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
    pending.idempotencyKey = key;
    pending.batchId = batch->batchId;
    pending.creditorId = who.creditorId;
    pending.amount = batch->feeTotal;
    pending.method = method;
    pending.card = cardId.size() > 4 ? std::string(cardId.size() - 4, '*') + cardId.substr(cardId.size() - 4) : cardId;
    pending.cardHash = hashToken("card:" + cardId);
    pending.status = "pending";
    pending.leaseOwner = owner;
    pending.leaseUntilMs = epochMs() + leaseMs;
    connectors::PaymentIntent intent;
    try {
        intent = store_.beginPayment(pending);
    } catch (const connectors::IdempotencyConflict& error) {
        // The key was used for another batch, amount or card, or the batch already has a live payment: the message
        // names the creditor's own data only (keys are per creditor).
        std::string message = error.what();
        if (message.rfind("store: ", 0) == 0) message.erase(0, 7);
        throw HttpError(409, "idempotency_conflict", message);
    }
    auto record = intent.payment;
    // Exactly one request talks to the provider about a payment: the one that created it, or one that took it over
    // after its holder gave up (the provider did not answer) or vanished (the lease ended). The others wait for the
    // outcome, bounded by the lease, and answer with the same record.
    bool mine = intent.created;
    const auto waitUntil =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(std::min(leaseMs + 1000, kMaxPaymentWaitMs));
    while (record.status == "pending") {
        if (!mine && (record.leaseOwner.empty() || record.leaseUntilMs < epochMs()))
            mine = store_.claimPayment(record.paymentId, owner, epochMs(), leaseMs);
        if (mine) {
            chargeOnce(record, cardId, owner, request.requestId);
        } else {
            if (std::chrono::steady_clock::now() > waitUntil) {
                HttpReply busy = errorReply(409, "payment_in_progress",
                                            "another request with this idempotency_key is still being charged; try "
                                            "again with the same idempotency_key");
                busy.headers["Retry-After"] = "1";
                return busy;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        record = store_.findPaymentByKey(who.creditorId, key).value();
    }
    if (record.status == "failed" && record.error == "insufficient balance")
        return errorReply(
            402, "insufficient_balance",
            "the card's balance does not cover NT$" + std::to_string(record.amount) + "; nothing was charged");
    if (record.status == "failed") return errorReply(402, "payment_failed", record.error);
    return jsonReply(intent.created ? 201 : 200, paymentJson(record));
}

void CreditorApi::chargeOnce(const connectors::PaymentRecord& record, const std::string& cardId,
                             const std::string& owner, const std::string& requestId) {
    // The provider's key is the ledger row's (provider_key), never the client's alone: another creditor's equal key
    // is another payment. The provider never charges twice for it, so a retry after a lost answer is safe.
    const auto succeeded = [&](const connectors::ChargeResult& charge) {
        // Counted (and the dispatcher woken) once: by the call that moved the ledger, not by every request.
        const auto change = store_.completePayment(record.paymentId, "succeeded", charge.providerTxnId, "");
        if (change.refundDue) {
            // The batch was paid by another payment meanwhile (this one's lease ended mid-charge and it was given
            // up): the charge is owed back, not a payment of the batch.
            Poco::Logger::get("api").error(
                "payment %s for batch %s was charged after it was given up, and the batch "
                "is paid by another payment: NT$%s to refund (refund_due in the ledger)",
                record.paymentId, record.batchId, std::to_string(record.amount));
            if (onRefundDue_) onRefundDue_(record.amount);
        } else if (change && onPaid_) {
            onPaid_(record.batchId, record.amount, requestId);
        }
    };
    try {
        succeeded(payment_->charge(cardId, record.amount, record.providerKey));
    } catch (const connectors::InsufficientBalance&) {
        store_.completePayment(record.paymentId, "failed", "", "insufficient balance");
    } catch (const connectors::ConnectorError& error) {
        if (error.isRetryable()) {
            store_.releasePayment(record.paymentId, owner);
            throw HttpError(503, "payment_unavailable",
                            "the EasyCard service did not answer; try again with the same idempotency_key");
        }
        // A refusal: never trusted to mean "not charged" while a charge under the key may exist.
        std::optional<connectors::ChargeResult> charge;
        try {
            charge = payment_->findCharge(record.providerKey);
        } catch (const connectors::ConnectorError&) {
            store_.releasePayment(record.paymentId, owner);
            throw HttpError(503, "payment_unavailable",
                            "the EasyCard service did not answer; try again with the same idempotency_key");
        }
        if (charge) {
            succeeded(*charge);
        } else {
            Poco::Logger::get("api").warning("payment %s refused by the provider: %s", record.paymentId,
                                             std::string(error.what()));
            store_.completePayment(record.paymentId, "failed", "", "the EasyCard service refused the charge");
        }
    }
}

HttpReply CreditorApi::retry(HttpRequest& request) {
    // A creditor retries its own batches (another's is 404, as everywhere); operations staff any batch.
    const Principal who = authenticate(request, store_, {"creditor", "ops"});
    const std::string& batchId = request.params.at("id");
    auto decide = [&]() -> jobs::inquiry::RetryDecision {
        const auto batch = store_.findBatch(batchId);
        if (!batch || (who.role == "creditor" && batch->creditorId != who.creditorId))
            throw HttpError(404, "not_found", "no batch " + batchId);
        return jobs::inquiry::decideRetry({batch->batchId, batch->state, batch->paid,
                                           store_.countResultsWithStatus(batch->batchId, "error"),
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
    const int rows = store_.retryErrorRows(batchId);
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
        .field("state", std::string("processing"))
        .field("rows_retried", rows)
        .field("status_url", baseUrl(request) + "/api/v1/batches/" + batchId)
        .close();
    return jsonReply(202, std::move(body));
}

HttpReply CreditorApi::list(HttpRequest& request) {
    const Principal who = authenticate(request, store_, {"creditor"});
    const int limit = intParam(request, "limit", 20, 1, 100);
    const int offset = intParam(request, "offset", 0, 0, 1'000'000'000);
    const auto batches = store_.listBatches(who.creditorId, limit + 1, offset);
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

HttpReply CreditorApi::results(HttpRequest& request) {
    const auto batch = ownBatch(request);
    const std::string format = request.queryValue("format", "json");
    if (format != "json" && format != "csv") throw HttpError(400, "bad_format", "format must be json or csv");
    HttpReply reply;
    auto& store = store_;
    const std::string batchId = batch.batchId;
    reply.headers["Content-Disposition"] = "attachment; filename=\"" + batchId + "-results." + format + "\"";
    if (format == "json") {
        reply.contentType = "application/json; charset=utf-8";
        reply.stream = [&store, batchId](std::ostream& out) {
            out << "[";
            int after = 0;
            bool first = true;
            for (;;) {
                const auto page = store.resultsPage(batchId, after, 1000);
                for (const auto& result : page) {
                    out << (first ? "\n" : ",\n") << result.payload;
                    first = false;
                }
                if (page.size() < 1000) break;
                after = page.back().row;
            }
            out << "\n]\n";
        };
    } else {
        reply.contentType = "text/csv; charset=utf-8";
        reply.stream = [&store, batchId](std::ostream& out) {
            std::string text = "\xEF\xBB\xBF";  // BOM: spreadsheets in Taiwan then read UTF-8
            jobs::inquiry::appendCsvLine(
                text, {"row", "debtor_id", "status", "reason", "record", "year", "payer_id", "payer_name",
                       "income_type", "amount", "kind", "description", "location", "value"});
            int after = 0;
            for (;;) {
                const auto page = store.resultsPage(batchId, after, 1000);
                for (const auto& stored : page) {
                    const auto result = jobs::inquiry::decodeResult(stored.payload);
                    const std::vector<std::string> head{std::to_string(result.row), result.debtorId,
                                                        jobs::inquiry::toString(result.status), result.reason};
                    auto line = [&](std::vector<std::string> rest) {
                        std::vector<std::string> fields = head;
                        fields.insert(fields.end(), rest.begin(), rest.end());
                        jobs::inquiry::appendCsvLine(text, fields);
                    };
                    for (const auto& income : result.income)
                        line({"income", std::to_string(income.year), income.payerId, income.payerName,
                              income.incomeType, std::to_string(income.amount), "", "", "", ""});
                    for (const auto& property : result.property)
                        line({"property", "", "", "", "", "", property.kind, property.description, property.location,
                              std::to_string(property.value)});
                    if (result.income.empty() && result.property.empty())
                        line({"", "", "", "", "", "", "", "", "", ""});
                }
                out << text;
                text.clear();
                if (page.size() < 1000) break;
                after = page.back().row;
            }
        };
    }
    return reply;
}

HttpReply CreditorApi::receipt(HttpRequest& request) {
    const auto batch = ownBatch(request);
    HttpReply reply;
    reply.contentType = "text/html; charset=utf-8";
    reply.body = pages::receiptPage(batch, baseUrl(request) + "/r/" + batch.receiptToken);
    return reply;
}

HttpReply CreditorApi::publicProgress(HttpRequest& request) {
    const auto batch = store_.findBatchByReceiptToken(request.params.at("token"));
    if (!batch) throw HttpError(404, "not_found", "no such receipt");
    HttpReply reply;
    reply.contentType = "text/html; charset=utf-8";
    reply.body = pages::publicProgressPage(*batch);
    return reply;
}

}  // namespace taxdesk::engine::api
