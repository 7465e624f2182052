#pragma once
// SPEC 3.2, the payment rules (POST /api/v1/batches/{id}/payment and the recovery of payments a crash left pending):
// what a request may pay, what the ledger records for each answer of the provider, and what the caller is told.
// Pure functions; the HTTP handler (engine/api/payment_api) and the dispatcher (engine/batch_dispatcher) do the
// talking to the store and the provider and map these typed outcomes to status codes and log lines.
#include <optional>
#include <string>
#include <string_view>

#include "jobs/inquiry/batch_state.hpp"
#include "jobs/payment/payment_status.hpp"

namespace taxdesk::jobs::payment {

/// What a payment request comes to for its caller. The handler maps each to one HTTP status and error code.
enum class PaymentOutcome {
    paid,      ///< this request created the payment and it succeeded (201)
    repeated,  ///< the key's payment was there already and is succeeded (or refund_due): the same record (200)
    insufficient_balance,  ///< the card's balance did not cover the fee; nothing charged (402)
    refused,               ///< the provider refused the charge and holds no charge under the key (402 payment_failed)
    in_progress,           ///< another request with the key is still talking to the provider (409, Retry-After)
    unavailable,           ///< the provider did not answer; the lease is released: ask again with the key (503)
    idempotency_conflict,  ///< the key is another batch's, amount's or card's, or the batch has another live payment
    not_awaiting_payment,  ///< a new key for a batch not awaiting payment (paid, queued, …) (409)
    nothing_to_pay,        ///< a new key for a batch without a fee (409)
    not_found,             ///< no such batch, or another creditor's (404)
    bad_method,            ///< method is not "easycard" (400)
    bad_card,              ///< card_id is not 4 to 32 characters (400)
    bad_idempotency_key,   ///< idempotency_key is not 1 to 128 characters (400)
};

/// The outcome's name as the API's error code spells it ("paid", "insufficient_balance", … ; refused is
/// "payment_failed").
const char* toString(PaymentOutcome outcome) noexcept;

/// Why a payment is failed in the ledger. The ledger keeps failureText()'s words in payments.error (unchanged text).
enum class FailureReason {
    insufficient_balance,  ///< "insufficient balance"
    refused,               ///< "the EasyCard service refused the charge"
    not_charged,           ///< recovery: "not charged: the request stopped before the card was charged; pay again"
};
const char* failureText(FailureReason reason) noexcept;
/// The reason whose text `error` is; nullopt for any other text (a ledger written by an older engine).
std::optional<FailureReason> parseFailure(std::string_view error) noexcept;

/// The body of a payment request, as the client sent it.
struct PaymentRequest {
    std::string method;
    std::string cardId;
    std::string idempotencyKey;
};

/// bad_method, bad_card or bad_idempotency_key (checked in that order), or nullopt when the request is well formed.
std::optional<PaymentOutcome> checkRequest(const PaymentRequest& request);

/// Whether a request may go on to the ledger. A key the ledger knows always may (it answers with the key's record,
/// whatever the batch's state now: the same key always gives the same payment). A new key may only for a batch
/// awaiting payment (else not_awaiting_payment) with a fee (else nothing_to_pay). nullopt: go on.
std::optional<PaymentOutcome> admit(inquiry::BatchState state, long long feeTotal, bool keyKnown);

/// The card as the ledger and the API show it: all but its last four characters as '*' (a card of four characters
/// or fewer is shown as it is).
std::string maskCard(std::string_view cardId);

/// Whether a request may take over a pending payment it did not create: nobody holds it (its holder released it) or
/// its lease ended before nowMs.
bool mayTakeOver(std::string_view leaseOwner, long long leaseUntilMs, long long nowMs) noexcept;
/// How long a request waits at most for another request's charge of the same payment: the lease and a second, but
/// never more than 15 s (an HTTP worker is held meanwhile).
long long waitBoundMs(long long leaseMs) noexcept;

/// The provider's answer to a charge (connectors::Payment::charge).
enum class ChargeAnswer {
    charged,               ///< it returned a charge
    insufficient_balance,  ///< InsufficientBalance
    unavailable,           ///< a retryable ConnectorError (timeout, 5xx, connection): it may or may not have charged
    refused,               ///< another permanent ConnectorError
};
/// The provider's answer when asked for the charge under a key (connectors::Payment::findCharge).
enum class LookupAnswer {
    found,        ///< a charge exists under the key
    not_found,    ///< none does
    unavailable,  ///< it did not answer (a ConnectorError)
};

/// What to do with the ledger after an answer of the provider.
struct LedgerStep {
    enum class Action {
        record_succeeded,  ///< completePayment(succeeded) with the charge's transaction id
        record_failed,     ///< completePayment(failed) with failureText(reason) (and recheckUntilMs when > 0)
        ask_for_charge,    ///< ask the provider for a charge under the key (findCharge) before concluding anything
        release,           ///< the provider is away: give up the lease (the payment stays pending; ask again later)
        nothing,           ///< leave the payment as it is
    };
    Action action = Action::nothing;
    FailureReason reason = FailureReason::refused;  ///< for record_failed
    long long recheckUntilMs = 0;                   ///< for record_failed: ask again about it until then (0: never)

    bool operator==(const LedgerStep&) const = default;
};

/// After a charge: charged → record_succeeded; insufficient_balance → record_failed(insufficient_balance);
/// unavailable → release (a charge may be under way; the same key charges at most once); refused → ask_for_charge
/// (a refusal is never trusted to mean "not charged" while a charge under the key may exist).
LedgerStep afterCharge(ChargeAnswer answer) noexcept;
/// After a refusal, the provider asked for the key's charge: found → record_succeeded; not_found →
/// record_failed(refused); unavailable → release.
LedgerStep afterRefusal(LookupAnswer answer) noexcept;
/// A pending payment whose request or engine is gone (lease ended), the provider asked by its key: found →
/// record_succeeded; not_found → record_failed(not_charged), asked about again until nowMs + recheckWindowMs (never
/// when the window is 0: a late charge may still land); unavailable → release (still pending, next round).
LedgerStep recoverAbandoned(LookupAnswer answer, long long nowMs, long long recheckWindowMs) noexcept;
/// A failed payment asked about again: found → record_succeeded; not_found → nothing; unavailable → release (the
/// round stops: the provider is away).
LedgerStep recheck(LookupAnswer answer) noexcept;

/// What a recorded success means for the counts (the ledger's PaymentChange).
enum class SuccessEffect {
    counted,     ///< the ledger moved to succeeded: count the payment once and wake the dispatcher
    refund_due,  ///< the charge landed after the batch was paid by another payment: owed back, an alert
    none,        ///< the ledger had it already (another request or engine recorded it): count nothing
};
SuccessEffect effectOfSuccess(bool changed, bool refundDue) noexcept;

/// The outcome of a request whose payment is no longer pending: succeeded or refund_due → paid when this request
/// created it, else repeated; failed → insufficient_balance when that is its reason, else refused. pending →
/// in_progress.
PaymentOutcome outcomeOf(PaymentStatus status, std::string_view error, bool created) noexcept;

}  // namespace taxdesk::jobs::payment
