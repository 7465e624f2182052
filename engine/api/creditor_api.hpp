#pragma once
// SPEC 3 and 5, the creditor's side: upload a batch file, pay its fee by EasyCard, follow its progress, download the
// results, show a receipt; and the public progress page behind a receipt's QR code.
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "connectors/api/payment.hpp"
#include "connectors/crypto/signer.hpp"
#include "connectors/store/batch_store.hpp"
#include "connectors/store/payment_ledger.hpp"
#include "connectors/store/result_store.hpp"
#include "connectors/store/signature_store.hpp"
#include "connectors/store/token_store.hpp"
#include "engine/http/http_server.hpp"
#include "engine/runtime/config.hpp"
#include "jobs/payment/payment.hpp"

namespace taxdesk::engine::api {

struct CreditorApiSettings {
    std::string spoolDir;  ///< uploads are spooled here (a file each, removed after reading)
    std::size_t maxRows = 100000;
    long long maxBytes = 32LL * 1024 * 1024;
    long long feeProperty = 250;
    long long feeIncomeYear = 250;
    /// How long a request may talk to the provider about a payment before another request or engine may take it over
    /// (payment.lease_s): longer than a charge can take, retries included.
    long long paymentLeaseMs = 60000;
};

/// The store areas the creditor API uses.
struct CreditorStores {
    connectors::BatchStore& batches;
    connectors::ResultStore& results;
    connectors::PaymentLedger& payments;
    connectors::TokenStore& tokens;  ///< for authenticate()
};

class CreditorApi {
  public:
    /// Called once per payment that succeeded (the request that moved the ledger): to count it and wake the dispatcher.
    using PaidHandler = std::function<void(const std::string& batchId, long long amount, const std::string& requestId)>;
    CreditorApi(CreditorApiSettings settings, CreditorStores stores, std::shared_ptr<connectors::Payment> payment,
                PaidHandler onPaid);
    [[nodiscard]] std::vector<Route> routes();
    /// Called once a retry put a batch's error rows back to work (to wake the dispatcher). Set before serving.
    void onRetry(std::function<void(const std::string& batchId, const std::string& requestId)> handler) {
        onRetry_ = std::move(handler);
    }
    /// Called once per charge that turned out owed back (refund_due: the batch paid by another payment meanwhile), to
    /// count it. Set before serving.
    void onRefundDue(std::function<void(long long amount)> handler) { onRefundDue_ = std::move(handler); }
    /// The look-up connectors whose circuit breaker is open now (none for in-process stubs). Set before serving.
    void openConnectors(std::function<std::vector<std::string>()> query) { openConnectors_ = std::move(query); }
    /// Signs the results downloads of completed batches (issue 13): `signer` signs, `signatures` records what was
    /// issued. Set before serving; without it downloads carry no signature, /v/ answers valid: false and the key route
    /// 404s.
    void signResults(std::shared_ptr<const connectors::crypto::Signer> signer, connectors::SignatureStore* signatures) {
        signer_ = std::move(signer);
        signatures_ = signatures;
    }

  private:
    HttpReply upload(HttpRequest& request);
    HttpReply pay(HttpRequest& request);
    /// Charges a pending payment whose lease `owner` holds and records the provider's answer (jobs::payment decides
    /// what the ledger records). Returns false, the lease released, when the provider did not answer or the store
    /// could not record its answer (a retryable ConnectorError; a permanent one is thrown).
    bool chargeOnce(const connectors::PaymentRecord& record, const std::string& cardId, const std::string& owner,
                    const std::string& requestId);
    HttpReply list(HttpRequest& request);
    HttpReply status(HttpRequest& request);
    HttpReply results(HttpRequest& request);
    /// GET /api/v1/batches/{id}/results.{csv,json}.sig: the download's signature line (taxdesk verify's input).
    HttpReply resultsSignature(HttpRequest& request, const std::string& format);
    /// GET /v/{batch_id}/{digest}: public, whether the bureau issued that digest for that batch.
    HttpReply verifyDigest(HttpRequest& request);
    /// GET /.well-known/taxdesk-results-key: the public key as PEM (?format=json: with its id).
    HttpReply resultsKey(HttpRequest& request);
    /// The signature of the download of `batch` in `format` as it is now: its bytes are hashed (a pass over the
    /// results), and signed and recorded unless that digest was issued already. nullopt when the batch is not
    /// completed or no signer is set.
    std::optional<connectors::IssuedSignature> signedDownload(const connectors::BatchRecord& batch,
                                                              const std::string& format);
    HttpReply receipt(HttpRequest& request);
    HttpReply publicProgress(HttpRequest& request);
    /// POST /api/v1/batches/{id}/retry: the batch's `error` rows looked up again, nothing charged
    /// (jobs::inquiry::decideRetry decides; the store puts the rows back to work).
    HttpReply retry(HttpRequest& request);
    /// The creditor's own batch, or HttpError 404 (another creditor's batch does not exist for them).
    connectors::BatchRecord ownBatch(HttpRequest& request);

    CreditorApiSettings settings_;
    CreditorStores stores_;
    std::shared_ptr<connectors::Payment> payment_;
    PaidHandler onPaid_;
    std::function<void(long long amount)> onRefundDue_;
    std::function<void(const std::string& batchId, const std::string& requestId)> onRetry_;
    std::function<std::vector<std::string>()> openConnectors_;
    std::shared_ptr<const connectors::crypto::Signer> signer_;
    connectors::SignatureStore* signatures_ = nullptr;
};

/// The reply for a payment request's outcome (jobs::payment): the payment record (201 when this request created it,
/// 200 for a repeat) or an error naming what is wrong: 400 for a malformed request, 402 insufficient_balance or
/// payment_failed, 404, 409 (payment_in_progress with Retry-After, idempotency_conflict, not_awaiting_payment,
/// nothing_to_pay), 503 payment_unavailable. `record` is the key's payment for the outcomes that have one; `detail`
/// names the batch for not_found and the state outcomes and is the ledger's message for a conflict.
HttpReply paymentReply(jobs::payment::PaymentOutcome outcome, const connectors::PaymentRecord& record,
                       const std::string& detail);

/// The JSON of a batch's status (GET /api/v1/batches/{id}).
std::string batchJson(const connectors::BatchRecord& batch);

}  // namespace taxdesk::engine::api
