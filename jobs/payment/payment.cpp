#include "jobs/payment/payment.hpp"

#include <algorithm>

namespace taxdesk::jobs::payment {

const char* toString(PaymentOutcome outcome) noexcept {
    switch (outcome) {
        case PaymentOutcome::paid:
            return "paid";
        case PaymentOutcome::repeated:
            return "repeated";
        case PaymentOutcome::insufficient_balance:
            return "insufficient_balance";
        case PaymentOutcome::refused:
            return "payment_failed";
        case PaymentOutcome::in_progress:
            return "payment_in_progress";
        case PaymentOutcome::unavailable:
            return "payment_unavailable";
        case PaymentOutcome::idempotency_conflict:
            return "idempotency_conflict";
        case PaymentOutcome::not_awaiting_payment:
            return "not_awaiting_payment";
        case PaymentOutcome::nothing_to_pay:
            return "nothing_to_pay";
        case PaymentOutcome::not_found:
            return "not_found";
        case PaymentOutcome::bad_method:
            return "bad_method";
        case PaymentOutcome::bad_card:
            return "bad_card";
        case PaymentOutcome::bad_idempotency_key:
            return "bad_idempotency_key";
    }
    return "unknown";
}

const char* failureText(FailureReason reason) noexcept {
    switch (reason) {
        case FailureReason::insufficient_balance:
            return "insufficient balance";
        case FailureReason::refused:
            return "the EasyCard service refused the charge";
        case FailureReason::not_charged:
            return "not charged: the request stopped before the card was charged; pay again";
    }
    return "unknown";
}

std::optional<FailureReason> parseFailure(std::string_view error) noexcept {
    for (const auto reason : {FailureReason::insufficient_balance, FailureReason::refused, FailureReason::not_charged})
        if (error == failureText(reason)) return reason;
    return std::nullopt;
}

std::optional<PaymentOutcome> checkRequest(const PaymentRequest& request) {
    if (request.method != "easycard") return PaymentOutcome::bad_method;
    if (request.cardId.size() < 4 || request.cardId.size() > 32) return PaymentOutcome::bad_card;
    if (request.idempotencyKey.empty() || request.idempotencyKey.size() > 128)
        return PaymentOutcome::bad_idempotency_key;
    return std::nullopt;
}

std::optional<PaymentOutcome> admit(inquiry::BatchState state, long long feeTotal, bool keyKnown) {
    if (keyKnown) return std::nullopt;
    if (state != inquiry::BatchState::awaiting_payment) return PaymentOutcome::not_awaiting_payment;
    if (feeTotal <= 0) return PaymentOutcome::nothing_to_pay;
    return std::nullopt;
}

std::string maskCard(std::string_view cardId) {
    if (cardId.size() <= 4) return std::string(cardId);
    return std::string(cardId.size() - 4, '*') + std::string(cardId.substr(cardId.size() - 4));
}

bool mayTakeOver(std::string_view leaseOwner, long long leaseUntilMs, long long nowMs) noexcept {
    return leaseOwner.empty() || leaseUntilMs < nowMs;
}

long long waitBoundMs(long long leaseMs) noexcept {
    constexpr long long kMaxPaymentWaitMs = 15000;
    return std::min(leaseMs + 1000, kMaxPaymentWaitMs);
}

namespace {

LedgerStep step(LedgerStep::Action action, FailureReason reason = FailureReason::refused, long long until = 0) {
    return LedgerStep{action, reason, until};
}

}  // namespace

LedgerStep afterCharge(ChargeAnswer answer) noexcept {
    using Action = LedgerStep::Action;
    switch (answer) {
        case ChargeAnswer::charged:
            return step(Action::record_succeeded);
        case ChargeAnswer::insufficient_balance:
            return step(Action::record_failed, FailureReason::insufficient_balance);
        case ChargeAnswer::unavailable:
            return step(Action::release);
        case ChargeAnswer::refused:
            return step(Action::ask_for_charge);
    }
    return step(Action::release);
}

LedgerStep afterRefusal(LookupAnswer answer) noexcept {
    using Action = LedgerStep::Action;
    switch (answer) {
        case LookupAnswer::found:
            return step(Action::record_succeeded);
        case LookupAnswer::not_found:
            return step(Action::record_failed, FailureReason::refused);
        case LookupAnswer::unavailable:
            return step(Action::release);
    }
    return step(Action::release);
}

LedgerStep recoverAbandoned(LookupAnswer answer, long long nowMs, long long recheckWindowMs) noexcept {
    using Action = LedgerStep::Action;
    switch (answer) {
        case LookupAnswer::found:
            return step(Action::record_succeeded);
        case LookupAnswer::not_found:
            return step(Action::record_failed, FailureReason::not_charged,
                        recheckWindowMs > 0 ? nowMs + recheckWindowMs : 0);
        case LookupAnswer::unavailable:
            return step(Action::release);
    }
    return step(Action::release);
}

LedgerStep recheck(LookupAnswer answer) noexcept {
    using Action = LedgerStep::Action;
    switch (answer) {
        case LookupAnswer::found:
            return step(Action::record_succeeded);
        case LookupAnswer::not_found:
            return step(Action::nothing);
        case LookupAnswer::unavailable:
            return step(Action::release);
    }
    return step(Action::release);
}

SuccessEffect effectOfSuccess(bool changed, bool refundDue) noexcept {
    if (refundDue) return SuccessEffect::refund_due;
    return changed ? SuccessEffect::counted : SuccessEffect::none;
}

PaymentOutcome outcomeOf(PaymentStatus status, std::string_view error, bool created) noexcept {
    switch (status) {
        case PaymentStatus::pending:
            return PaymentOutcome::in_progress;
        case PaymentStatus::succeeded:
        case PaymentStatus::refund_due:
            return created ? PaymentOutcome::paid : PaymentOutcome::repeated;
        case PaymentStatus::failed:
            return parseFailure(error) == FailureReason::insufficient_balance ? PaymentOutcome::insufficient_balance
                                                                              : PaymentOutcome::refused;
    }
    return PaymentOutcome::refused;
}

}  // namespace taxdesk::jobs::payment
