// POST /api/v1/batches/{id}/payment (SPEC 3.2): the rules are jobs::payment's; this handler talks to the ledger and
// the provider and maps the typed outcomes to status codes and JSON.
#include "engine/api/creditor_api.hpp"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Logger.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/UUIDGenerator.h>

#include <chrono>
#include <thread>

#include "engine/api/auth.hpp"
#include "engine/api/payment_json.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/payment/payment.hpp"

namespace taxdesk::engine::api {
namespace {

/// Unix time in ms: payment leases are compared across engines (and hosts) in the store.
long long epochMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

HttpReply paymentReply(jobs::payment::PaymentOutcome outcome, const connectors::PaymentRecord& record,
                       const std::string& detail) {
    using jobs::payment::PaymentOutcome;
    const std::string code = jobs::payment::toString(outcome);
    switch (outcome) {
        case PaymentOutcome::paid:
            return jsonReply(201, paymentJson(record));
        case PaymentOutcome::repeated:
            return jsonReply(200, paymentJson(record));
        case PaymentOutcome::insufficient_balance:
            return errorReply(
                402, code,
                "the card's balance does not cover NT$" + std::to_string(record.amount) + "; nothing was charged");
        case PaymentOutcome::refused:
            return errorReply(402, code, record.error);
        case PaymentOutcome::in_progress: {
            HttpReply busy = errorReply(409, code,
                                        "another request with this idempotency_key is still being charged; try again "
                                        "with the same idempotency_key");
            busy.headers["Retry-After"] = "1";
            return busy;
        }
        case PaymentOutcome::unavailable:
            return errorReply(503, code,
                              "the EasyCard service did not answer; try again with the same idempotency_key");
        case PaymentOutcome::idempotency_conflict:
        case PaymentOutcome::not_awaiting_payment:
        case PaymentOutcome::nothing_to_pay:
            return errorReply(409, code, detail);
        case PaymentOutcome::not_found:
            return errorReply(404, code, detail);
        case PaymentOutcome::bad_method:
            return errorReply(400, code, "method must be \"easycard\"");
        case PaymentOutcome::bad_card:
            return errorReply(400, code, "card_id must be 4 to 32 characters");
        case PaymentOutcome::bad_idempotency_key:
            return errorReply(400, code, "idempotency_key must be 1 to 128 characters");
    }
    return errorReply(500, "internal", "internal error");
}

HttpReply CreditorApi::pay(HttpRequest& request) {
    using jobs::payment::PaymentOutcome;
    const Principal who = authenticate(request, stores_.tokens, {"creditor"});
    const connectors::PaymentRecord none;
    auto batch = stores_.batches.findBatch(request.params.at("id"));
    if (!batch || batch->creditorId != who.creditorId)
        return paymentReply(PaymentOutcome::not_found, none, "no batch " + request.params.at("id"));

    jobs::payment::PaymentRequest body;
    try {
        const auto fields = Poco::JSON::Parser().parse(request.raw.stream()).extract<Poco::JSON::Object::Ptr>();
        body.method = fields->optValue<std::string>("method", "");
        body.cardId = fields->optValue<std::string>("card_id", "");
        body.idempotencyKey = fields->optValue<std::string>("idempotency_key", "");
    } catch (const Poco::Exception& error) {
        throw HttpError(400, "bad_json", "the body must be a JSON object: " + error.displayText());
    }
    if (const auto problem = jobs::payment::checkRequest(body)) return paymentReply(*problem, none, "");
    const std::string& key = body.idempotencyKey;

    if (const auto refusal = jobs::payment::admit(batch->state, batch->feeTotal,
                                                  stores_.payments.findPaymentByKey(who.creditorId, key).has_value())) {
        const std::string detail = *refusal == PaymentOutcome::nothing_to_pay
                                       ? "batch " + batch->batchId + " has no fee"
                                       : "batch " + batch->batchId + " is " + jobs::inquiry::toString(batch->state);
        return paymentReply(*refusal, none, detail);
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
    pending.method = body.method;
    pending.card = jobs::payment::maskCard(body.cardId);
    pending.cardHash = hashToken("card:" + body.cardId);
    pending.status = jobs::payment::PaymentStatus::pending;
    pending.leaseOwner = owner;
    pending.leaseUntilMs = epochMs() + leaseMs;
    connectors::PaymentIntent intent;
    try {
        intent = stores_.payments.beginPayment(pending);
    } catch (const connectors::IdempotencyConflict& error) {
        // The key was used for another batch, amount or card, or the batch already has a live payment: the message
        // names the creditor's own data only (keys are per creditor).
        std::string message = error.what();
        if (message.rfind("store: ", 0) == 0) message.erase(0, 7);
        return paymentReply(PaymentOutcome::idempotency_conflict, none, message);
    }
    auto record = intent.payment;
    // Exactly one request talks to the provider about a payment: the one that created it, or one that took it over
    // after its holder gave up (the provider did not answer) or vanished (the lease ended). The others wait for the
    // outcome, bounded by the lease, and answer with the same record.
    bool mine = intent.created;
    const auto waitUntil =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(jobs::payment::waitBoundMs(leaseMs));
    while (record.status == jobs::payment::PaymentStatus::pending) {
        if (!mine && jobs::payment::mayTakeOver(record.leaseOwner, record.leaseUntilMs, epochMs()))
            mine = stores_.payments.claimPayment(record.paymentId, owner, epochMs(), leaseMs);
        if (mine) {
            if (!chargeOnce(record, body.cardId, owner, request.requestId))
                return paymentReply(PaymentOutcome::unavailable, record, "");
        } else {
            if (std::chrono::steady_clock::now() > waitUntil)
                return paymentReply(PaymentOutcome::in_progress, record, "");
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        record = stores_.payments.findPaymentByKey(who.creditorId, key).value();
    }
    return paymentReply(jobs::payment::outcomeOf(record.status, record.error, intent.created), record, "");
}

bool CreditorApi::chargeOnce(const connectors::PaymentRecord& record, const std::string& cardId,
                             const std::string& owner, const std::string& requestId) {
    using jobs::payment::ChargeAnswer;
    using jobs::payment::LookupAnswer;
    using Action = jobs::payment::LedgerStep::Action;
    // The provider's key is the ledger row's (provider_key), never the client's alone: another creditor's equal key
    // is another payment. The provider never charges twice for it, so a retry after a lost answer is safe.
    std::optional<connectors::ChargeResult> charge;
    ChargeAnswer answer = ChargeAnswer::charged;
    std::string refusal;
    try {
        charge = payment_->charge(cardId, record.amount, record.providerKey);
    } catch (const connectors::InsufficientBalance&) {
        answer = ChargeAnswer::insufficient_balance;
    } catch (const connectors::ConnectorError& error) {
        answer = error.isRetryable() ? ChargeAnswer::unavailable : ChargeAnswer::refused;
        refusal = error.what();
    }
    auto step = jobs::payment::afterCharge(answer);
    if (step.action == Action::ask_for_charge) {
        LookupAnswer lookup = LookupAnswer::unavailable;
        try {
            charge = payment_->findCharge(record.providerKey);
            lookup = charge ? LookupAnswer::found : LookupAnswer::not_found;
        } catch (const connectors::ConnectorError&) {
        }
        if (lookup == LookupAnswer::not_found)
            Poco::Logger::get("api").warning("payment %s refused by the provider: %s", record.paymentId, refusal);
        step = jobs::payment::afterRefusal(lookup);
    }
    // Recording the answer may fail too (the store locked or away): a retryable failure is answered as the provider's
    // silence is (503, the lease released), so that a retry with the same key records the charge; the provider never
    // charges twice for the key. A permanent one is a bug: 500.
    try {
        switch (step.action) {
            case Action::record_succeeded: {
                // Counted (and the dispatcher woken) once: by the call that moved the ledger, not by every request.
                const auto change = stores_.payments.completePayment(
                    record.paymentId, jobs::payment::PaymentStatus::succeeded, charge->providerTxnId, "");
                switch (jobs::payment::effectOfSuccess(change.changed, change.refundDue)) {
                    case jobs::payment::SuccessEffect::refund_due:
                        // The batch was paid by another payment meanwhile (this one's lease ended mid-charge and it was
                        // given up): the charge is owed back, not a payment of the batch.
                        Poco::Logger::get("api").error(
                            "payment %s for batch %s was charged after it was given up, and the batch "
                            "is paid by another payment: NT$%s to refund (refund_due in the ledger)",
                            record.paymentId, record.batchId, std::to_string(record.amount));
                        if (onRefundDue_) onRefundDue_(record.amount);
                        break;
                    case jobs::payment::SuccessEffect::counted:
                        if (onPaid_) onPaid_(record.batchId, record.amount, requestId);
                        break;
                    case jobs::payment::SuccessEffect::none:
                        break;
                }
                return true;
            }
            case Action::record_failed:
                stores_.payments.completePayment(record.paymentId, jobs::payment::PaymentStatus::failed, "",
                                                 jobs::payment::failureText(step.reason), step.recheckUntilMs);
                return true;
            case Action::release:
            case Action::ask_for_charge:  // not after afterRefusal(); treated as no answer
                stores_.payments.releasePayment(record.paymentId, owner);
                return false;
            case Action::nothing:
                return true;
        }
    } catch (const connectors::ConnectorError& error) {
        if (!error.isRetryable()) throw;
        Poco::Logger::get("api").warning("payment %s not recorded (released for a retry with the same key): %s",
                                         record.paymentId, jobs::identity::maskIdsIn(error.what()));
        try {
            stores_.payments.releasePayment(record.paymentId, owner);
        } catch (const std::exception&) {
            // The store is away: the lease ends by itself (a retry waits for it, recovery takes it over).
        }
        return false;
    }
    return true;
}

}  // namespace taxdesk::engine::api
