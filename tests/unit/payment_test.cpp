// SPEC 3.2, the payment rules (jobs/payment): every outcome a payment request or a recovery can come to.
#include "jobs/payment/payment.hpp"

#include <gtest/gtest.h>

#include "jobs/inquiry/batch_state.hpp"
#include "jobs/payment/payment_status.hpp"

namespace taxdesk::jobs::payment {
namespace {

using inquiry::BatchState;
using Action = LedgerStep::Action;

PaymentRequest good() {
    return {"easycard", "EC-0001-0002", "key-1"};
}

TEST(PaymentRequestCheck, AWellFormedRequestGoesOn) {
    EXPECT_EQ(checkRequest(good()), std::nullopt);
    EXPECT_EQ(checkRequest({"easycard", "1234", "k"}), std::nullopt);
    EXPECT_EQ(checkRequest({"easycard", std::string(32, '9'), std::string(128, 'k')}), std::nullopt);
}

TEST(PaymentRequestCheck, OnlyEasyCardIsAMethod) {
    auto request = good();
    request.method = "visa";
    EXPECT_EQ(checkRequest(request), PaymentOutcome::bad_method);
    request.method = "";
    EXPECT_EQ(checkRequest(request), PaymentOutcome::bad_method);
    request.method = "EasyCard";
    EXPECT_EQ(checkRequest(request), PaymentOutcome::bad_method);
}

TEST(PaymentRequestCheck, ACardIsFourToThirtyTwoCharacters) {
    auto request = good();
    request.cardId = "123";
    EXPECT_EQ(checkRequest(request), PaymentOutcome::bad_card);
    request.cardId = std::string(33, '1');
    EXPECT_EQ(checkRequest(request), PaymentOutcome::bad_card);
}

TEST(PaymentRequestCheck, AKeyIsOneTo128Characters) {
    auto request = good();
    request.idempotencyKey = "";
    EXPECT_EQ(checkRequest(request), PaymentOutcome::bad_idempotency_key);
    request.idempotencyKey = std::string(129, 'k');
    EXPECT_EQ(checkRequest(request), PaymentOutcome::bad_idempotency_key);
}

TEST(PaymentAdmission, ANewKeyPaysABatchAwaitingPaymentWithAFee) {
    EXPECT_EQ(admit(BatchState::awaiting_payment, 750, false), std::nullopt);
}

TEST(PaymentAdmission, ANewKeyForABatchInAnyOtherStateIsNotAwaitingPayment) {
    for (const auto state : {BatchState::queued, BatchState::processing, BatchState::completed, BatchState::failed})
        EXPECT_EQ(admit(state, 750, false), PaymentOutcome::not_awaiting_payment) << toString(state);
}

TEST(PaymentAdmission, ANewKeyForABatchWithoutAFeeHasNothingToPay) {
    EXPECT_EQ(admit(BatchState::awaiting_payment, 0, false), PaymentOutcome::nothing_to_pay);
}

TEST(PaymentAdmission, AKnownKeyAlwaysGoesOnToItsRecordWhateverTheBatchIsNow) {
    // Already paid: the batch is queued (or further) now, and the same key must give the same record.
    for (const auto state : {BatchState::awaiting_payment, BatchState::queued, BatchState::processing,
                             BatchState::completed, BatchState::failed})
        EXPECT_EQ(admit(state, 750, true), std::nullopt) << toString(state);
    EXPECT_EQ(admit(BatchState::awaiting_payment, 0, true), std::nullopt);
}

TEST(CardMask, AllButTheLastFourCharactersAreHidden) {
    EXPECT_EQ(maskCard("EC-0001-0002"), "********0002");
    EXPECT_EQ(maskCard("12345"), "*2345");
    EXPECT_EQ(maskCard("1234"), "1234");
}

TEST(PaymentLease, AnotherRequestTakesOverOnlyAReleasedOrEndedLease) {
    EXPECT_TRUE(mayTakeOver("", 5000, 1000));           // released: at once, lease end or not
    EXPECT_TRUE(mayTakeOver("R-other", 999, 1000));     // ended
    EXPECT_FALSE(mayTakeOver("R-other", 1000, 1000));   // ends now: not yet
    EXPECT_FALSE(mayTakeOver("R-other", 60000, 1000));  // held
}

TEST(PaymentLease, ARequestWaitsTheLeaseAndASecondButNeverMoreThanFifteenSeconds) {
    EXPECT_EQ(waitBoundMs(2000), 3000);
    EXPECT_EQ(waitBoundMs(14000), 15000);
    EXPECT_EQ(waitBoundMs(60000), 15000);
}

TEST(ProviderAnswers, AChargeIsRecordedSucceeded) {
    EXPECT_EQ(afterCharge(ChargeAnswer::charged).action, Action::record_succeeded);
}

TEST(ProviderAnswers, AnInsufficientBalanceIsRecordedFailedWithItsReason) {
    const auto step = afterCharge(ChargeAnswer::insufficient_balance);
    EXPECT_EQ(step.action, Action::record_failed);
    EXPECT_EQ(step.reason, FailureReason::insufficient_balance);
    EXPECT_EQ(step.recheckUntilMs, 0);
}

TEST(ProviderAnswers, NoAnswerReleasesThePaymentPending) {
    EXPECT_EQ(afterCharge(ChargeAnswer::unavailable).action, Action::release);
}

TEST(ProviderAnswers, ARefusalIsNotTrustedUntilTheProviderSaysItHoldsNoCharge) {
    EXPECT_EQ(afterCharge(ChargeAnswer::refused).action, Action::ask_for_charge);
    EXPECT_EQ(afterRefusal(LookupAnswer::found).action, Action::record_succeeded);
    const auto refused = afterRefusal(LookupAnswer::not_found);
    EXPECT_EQ(refused.action, Action::record_failed);
    EXPECT_EQ(refused.reason, FailureReason::refused);
    EXPECT_EQ(afterRefusal(LookupAnswer::unavailable).action, Action::release);
}

TEST(PaymentRecovery, AnAbandonedPaymentTheProviderChargedSucceeds) {
    EXPECT_EQ(recoverAbandoned(LookupAnswer::found, 1000, 86'400'000).action, Action::record_succeeded);
}

TEST(PaymentRecovery, AnAbandonedPaymentNeverChargedFailsAndIsAskedAboutAgainForTheWindow) {
    EXPECT_EQ(recoverAbandoned(LookupAnswer::not_found, 1'000'000, 86'400'000),
              (LedgerStep{Action::record_failed, FailureReason::not_charged, 87'400'000}));
    // recheck_hours = 0: never asked about again.
    EXPECT_EQ(recoverAbandoned(LookupAnswer::not_found, 1'000'000, 0),
              (LedgerStep{Action::record_failed, FailureReason::not_charged, 0}));
}

TEST(PaymentRecovery, AnAbandonedPaymentStaysPendingWhileTheProviderIsAway) {
    EXPECT_EQ(recoverAbandoned(LookupAnswer::unavailable, 1000, 86'400'000).action, Action::release);
}

TEST(PaymentRecheck, AChargeFoundLateSucceedsAndNoneChangesNothing) {
    EXPECT_EQ(recheck(LookupAnswer::found).action, Action::record_succeeded);
    EXPECT_EQ(recheck(LookupAnswer::not_found).action, Action::nothing);
    EXPECT_EQ(recheck(LookupAnswer::unavailable).action, Action::release);
}

TEST(PaymentSuccess, IsCountedOnceAndALateChargeForABatchPaidOtherwiseIsOwedBack) {
    EXPECT_EQ(effectOfSuccess(true, false), SuccessEffect::counted);
    EXPECT_EQ(effectOfSuccess(false, false), SuccessEffect::none);  // another request or engine recorded it
    EXPECT_EQ(effectOfSuccess(true, true), SuccessEffect::refund_due);
}

TEST(PaymentOutcomes, ASuccessIsPaidForItsCreatorAndARepeatForEveryLaterRequest) {
    EXPECT_EQ(outcomeOf(PaymentStatus::succeeded, "", true), PaymentOutcome::paid);
    EXPECT_EQ(outcomeOf(PaymentStatus::succeeded, "", false), PaymentOutcome::repeated);
    EXPECT_EQ(outcomeOf(PaymentStatus::refund_due, "", false), PaymentOutcome::repeated);
}

TEST(PaymentOutcomes, AFailureIsInsufficientBalanceOnlyForThatReason) {
    EXPECT_EQ(outcomeOf(PaymentStatus::failed, "insufficient balance", true), PaymentOutcome::insufficient_balance);
    EXPECT_EQ(outcomeOf(PaymentStatus::failed, "insufficient balance", false), PaymentOutcome::insufficient_balance);
    EXPECT_EQ(outcomeOf(PaymentStatus::failed, "the EasyCard service refused the charge", true),
              PaymentOutcome::refused);
    EXPECT_EQ(outcomeOf(PaymentStatus::failed,
                        "not charged: the request stopped before the card was charged; pay again", false),
              PaymentOutcome::refused);
    EXPECT_EQ(outcomeOf(PaymentStatus::failed, "something an older engine wrote", false), PaymentOutcome::refused);
}

TEST(PaymentOutcomes, APendingPaymentIsInProgress) {
    EXPECT_EQ(outcomeOf(PaymentStatus::pending, "", false), PaymentOutcome::in_progress);
}

TEST(PaymentOutcomes, EachHasTheApisErrorCode) {
    EXPECT_STREQ(toString(PaymentOutcome::refused), "payment_failed");
    EXPECT_STREQ(toString(PaymentOutcome::insufficient_balance), "insufficient_balance");
    EXPECT_STREQ(toString(PaymentOutcome::in_progress), "payment_in_progress");
    EXPECT_STREQ(toString(PaymentOutcome::unavailable), "payment_unavailable");
    EXPECT_STREQ(toString(PaymentOutcome::idempotency_conflict), "idempotency_conflict");
    EXPECT_STREQ(toString(PaymentOutcome::not_awaiting_payment), "not_awaiting_payment");
    EXPECT_STREQ(toString(PaymentOutcome::nothing_to_pay), "nothing_to_pay");
    EXPECT_STREQ(toString(PaymentOutcome::not_found), "not_found");
}

TEST(FailureReasons, ReadBackTheLedgersText) {
    EXPECT_STREQ(failureText(FailureReason::insufficient_balance), "insufficient balance");
    for (const auto reason : {FailureReason::insufficient_balance, FailureReason::refused, FailureReason::not_charged})
        EXPECT_EQ(parseFailure(failureText(reason)), reason);
    EXPECT_EQ(parseFailure("Insufficient balance"), std::nullopt);
}

TEST(PaymentStatuses, HaveOneSpellingEach) {
    EXPECT_STREQ(toString(PaymentStatus::pending), "pending");
    EXPECT_STREQ(toString(PaymentStatus::succeeded), "succeeded");
    EXPECT_STREQ(toString(PaymentStatus::failed), "failed");
    EXPECT_STREQ(toString(PaymentStatus::refund_due), "refund_due");
    for (const auto status :
         {PaymentStatus::pending, PaymentStatus::succeeded, PaymentStatus::failed, PaymentStatus::refund_due})
        EXPECT_EQ(parsePaymentStatus(toString(status)), status);
    EXPECT_EQ(parsePaymentStatus("paid"), std::nullopt);
    EXPECT_EQ(parsePaymentStatus("Pending"), std::nullopt);
}

TEST(BatchStates, HaveOneSpellingEach) {
    EXPECT_STREQ(inquiry::toString(BatchState::awaiting_payment), "awaiting_payment");
    EXPECT_STREQ(inquiry::toString(BatchState::queued), "queued");
    EXPECT_STREQ(inquiry::toString(BatchState::processing), "processing");
    EXPECT_STREQ(inquiry::toString(BatchState::completed), "completed");
    EXPECT_STREQ(inquiry::toString(BatchState::failed), "failed");
    for (const auto state : {BatchState::awaiting_payment, BatchState::queued, BatchState::processing,
                             BatchState::completed, BatchState::failed})
        EXPECT_EQ(inquiry::parseBatchState(inquiry::toString(state)), state);
    EXPECT_EQ(inquiry::parseBatchState("paid"), std::nullopt);
    EXPECT_EQ(inquiry::parseBatchState(""), std::nullopt);
    EXPECT_TRUE(inquiry::isFinished(BatchState::completed));
    EXPECT_TRUE(inquiry::isFinished(BatchState::failed));
    EXPECT_FALSE(inquiry::isFinished(BatchState::processing));
}

}  // namespace
}  // namespace taxdesk::jobs::payment
