#pragma once
// SPEC 3.2: a payment's status in the ledger and on payments.records. The wire and SQL text is toString()'s, read
// back by parsePaymentStatus(): the one place either is spelled.
#include <optional>
#include <string_view>

namespace taxdesk::jobs::payment {

/// pending from before the provider is called until its answer is known; then succeeded or failed; refund_due for a
/// charge that landed after the batch was paid by another payment (owed back, not a payment of the batch).
enum class PaymentStatus { pending, succeeded, failed, refund_due };

/// "pending", "succeeded", "failed", "refund_due".
const char* toString(PaymentStatus status) noexcept;
/// The status named by `text` (exactly as toString() writes it), or nullopt.
std::optional<PaymentStatus> parsePaymentStatus(std::string_view text) noexcept;

}  // namespace taxdesk::jobs::payment
