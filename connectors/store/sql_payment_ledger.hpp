#pragma once
// The payments area over SQL (table payments; a success marks its batch paid and queued in the same transaction).
#include "connectors/store/database.hpp"
#include "connectors/store/payment_ledger.hpp"

namespace taxdesk::connectors {

class SqlPaymentLedger final : public PaymentLedger {
  public:
    /// Over an open database; must not outlive it.
    explicit SqlPaymentLedger(Database& db) : db_(db) {}

    PaymentIntent beginPayment(const PaymentRecord& pending) override;
    bool claimPayment(const std::string& paymentId, const std::string& owner, long long nowMs,
                      long long leaseMs) override;
    void releasePayment(const std::string& paymentId, const std::string& owner) override;
    PaymentChange completePayment(const std::string& paymentId, jobs::payment::PaymentStatus status,
                                  const std::string& providerTxnId, const std::string& error = "",
                                  long long recheckUntilMs = 0) override;
    std::vector<PaymentRecord> paymentsToRecheck(long long nowMs, int limit, long long nextCheckMs) override;
    std::vector<PaymentRecord> pendingPayments() override;
    std::vector<PaymentRecord> abandonedPayments(long long nowMs) override;
    std::vector<PaymentRecord> unpublishedPayments(int limit) override;
    void markPublished(const std::vector<std::string>& paymentIds) override;
    long long paidTotal(const std::string& batchId) override;
    std::optional<PaymentRecord> findPaymentByKey(const std::string& creditorId,
                                                  const std::string& idempotencyKey) override;

  private:
    Database& db_;
};

}  // namespace taxdesk::connectors
