#pragma once
// The payments ledger (SPEC 3.2): the store area the payment handler and the dispatcher (recovery, outbox) use.
#include <optional>
#include <string>
#include <vector>

#include "connectors/api/errors.hpp"
#include "jobs/payment/payment_status.hpp"

namespace taxdesk::connectors {

/// A payment's idempotency key was used before for another batch, creditor or amount (SPEC 3.2: 409). Retrying
/// cannot help.
class IdempotencyConflict : public PermanentError {
  public:
    explicit IdempotencyConflict(const std::string& what) : PermanentError("store: " + what) {}
};

/// One payment in the ledger (SPEC 3.2). It is `pending` from before the provider is called until the provider's
/// answer is known, then `succeeded` or `failed`; `published` once it is on payments.records (the outbox).
struct PaymentRecord {
    std::string paymentId;
    std::string idempotencyKey;  ///< the client's; unique per creditor (migration 5)
    std::string batchId;
    std::string creditorId;
    long long amount = 0;  ///< NT$
    std::string method;    ///< easycard
    std::string card;      ///< masked
    std::string providerTxnId;
    jobs::payment::PaymentStatus status = jobs::payment::PaymentStatus::pending;  ///< stored as its toString() text
    std::string error;                                                            ///< the provider's reason for failed
    std::string createdAt;
    std::string updatedAt;
    bool published = false;
    /// The idempotency key the provider sees: unique across the ledger. Empty on beginPayment: the payment id.
    std::string providerKey;
    std::string cardHash;        ///< hex SHA-256 of the card id: the same key with another card is 409
    std::string leaseOwner;      ///< who talks to the provider about this pending payment ("" when nobody)
    long long leaseUntilMs = 0;  ///< unix ms; after it another request or engine may take the payment over

    bool operator==(const PaymentRecord&) const = default;
};

/// What PaymentLedger::completePayment did: whether it changed the payment (a ledger transition, to count once), and
/// whether the charge it recorded is owed back (refund_due: the batch was paid by another payment meanwhile).
struct PaymentChange {
    bool changed = false;
    bool refundDue = false;
    explicit operator bool() const { return changed; }
};

/// What PaymentLedger::beginPayment found or made for an idempotency key.
struct PaymentIntent {
    PaymentRecord payment;  ///< the ledger's record for the key, as stored
    bool created = false;   ///< this call inserted it; false when the key was already there
};

/// The payments area. Implemented over SQL by SqlPaymentLedger; thread-safe. Every call throws StoreError when the
/// store fails.
class PaymentLedger {
  public:
    virtual ~PaymentLedger() = default;

    /// leaseUntilMs, so its creator holds it from the start. Idempotency keys are per creditor: another creditor's
    /// equal key is another payment. Throws IdempotencyConflict when the key's record is for another batch, amount or
    /// card (cardHash, when both are set), and when the key is new but the batch already has a payment that is not
    /// failed (pending or succeeded) under another key ("batch … already has a payment"; a unique index, migration 3,
    /// so that two keys can never both be live for one batch); the messages name only the creditor's own data. Safe to
    /// call concurrently: with one key exactly one call creates the record; with different keys for one batch at most
    /// one does while none of its payments is live.
    virtual PaymentIntent beginPayment(const PaymentRecord& pending) = 0;
    /// Takes over a pending payment for `owner` until nowMs + leaseMs when nobody holds it (its holder released it, or
    /// its lease ended before nowMs): a conditional update, so that of several requests or engines exactly one talks
    /// to the provider at a time. Returns whether `owner` holds it now. Requires a non-empty owner and leaseMs >= 1.
    virtual bool claimPayment(const std::string& paymentId, const std::string& owner, long long nowMs,
                              long long leaseMs) = 0;
    /// Gives up `owner`'s hold on a pending payment (the provider did not answer): a request with the same key may take
    /// over at once (the provider is idempotent by key), but the lease's end stays as it was, so recovery, which
    /// concludes "not charged" when the provider knows no charge, waits until a charge that timed out can no longer
    /// land. A lease held by someone else is left alone.
    virtual void releasePayment(const std::string& paymentId, const std::string& owner) = 0;
    /// The second half: records the provider's answer (status succeeded or failed, else std::invalid_argument) on a
    /// pending payment and, in the same transaction when it succeeded, marks its batch paid and moves it from
    /// awaiting_payment to queued (stamping queued_at). A payment no longer pending is left as it is (a refusal never
    /// overwrites a success), except that a success overwrites a failure: the provider's charge is what the ledger
    /// must show. Returns whether this call changed the payment (a ledger transition: count it once). Throws
    /// PermanentError for an unknown payment id.
    /// A success for a failed payment whose batch another payment paid meanwhile is recorded as `refund_due` (in the
    /// ledger, not live: the batch is not paid twice; PaymentChange::refundDue says so, for an alert).
    /// A failure with recheckUntilMs > 0 (recovery found no charge: a provider may still land one) is asked about
    /// again until then (paymentsToRecheck), set in the same step as the failure.
    virtual PaymentChange completePayment(const std::string& paymentId, jobs::payment::PaymentStatus status,
                                          const std::string& providerTxnId, const std::string& error = "",
                                          long long recheckUntilMs = 0) = 0;
    /// Failed payments to ask the provider about again (their recheckUntilMs later than nowMs) whose turn has come,
    /// the longest waiting first, at most `limit`; each one's next turn is pushed on to nextCheckMs in the same step,
    /// so that every such payment gets its turn however many there are.
    virtual std::vector<PaymentRecord> paymentsToRecheck(long long nowMs, int limit, long long nextCheckMs) = 0;
    /// Every pending payment, oldest first.
    virtual std::vector<PaymentRecord> pendingPayments() = 0;
    /// Pending payments whose lease ended before nowMs (their request or engine is gone), oldest first: recovery
    /// claims each (claimPayment) and asks the provider by its provider key.
    virtual std::vector<PaymentRecord> abandonedPayments(long long nowMs) = 0;
    /// Succeeded or failed payments not yet on payments.records, oldest first, at most `limit` (the outbox).
    virtual std::vector<PaymentRecord> unpublishedPayments(int limit) = 0;
    /// Marks payments as published to payments.records; unknown ids are ignored.
    virtual void markPublished(const std::vector<std::string>& paymentIds) = 0;
    /// NT$ charged for a batch: the sum of its succeeded and refund_due payments.
    virtual long long paidTotal(const std::string& batchId) = 0;
    /// The creditor's payment under its idempotency key.
    virtual std::optional<PaymentRecord> findPaymentByKey(const std::string& creditorId,
                                                          const std::string& idempotencyKey) = 0;
};

}  // namespace taxdesk::connectors
