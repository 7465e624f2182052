#pragma once
// Payment (悠遊卡 EasyCard) connector: charge a card, idempotent by key.
#include <optional>
#include <string>

#include "connectors/api/errors.hpp"

namespace taxdesk::connectors {

struct ChargeResult {
    std::string providerTxnId;  ///< the provider's transaction id; the same for a repeated idempotency key
    long long amount = 0;       ///< NT$ charged
    long long balanceAfter = 0;
};

/// The card's balance does not cover the amount. Nothing was charged. Not retryable.
class InsufficientBalance : public PermanentError {
  public:
    explicit InsufficientBalance(const std::string& what) : PermanentError(what) {}
};

/// Thread-safe.
class Payment {
  public:
    virtual ~Payment() = default;
    /// Charges `amount` NT$ to `cardId`. The same `idempotencyKey` returns the first charge's result and never
    /// charges twice; the same key with another card or amount throws PermanentError.
    /// Throws InsufficientBalance, or ConnectorError.
    virtual ChargeResult charge(const std::string& cardId, long long amount, const std::string& idempotencyKey) = 0;
    /// The charge made under `idempotencyKey`, or nullopt when none was. Used to resolve a payment whose outcome was
    /// lost (the engine stopped between the charge and the ledger). Throws ConnectorError.
    virtual std::optional<ChargeResult> findCharge(const std::string& idempotencyKey) = 0;
};

}  // namespace taxdesk::connectors
