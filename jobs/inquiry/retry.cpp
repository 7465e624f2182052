#include "jobs/inquiry/retry.hpp"

#include "jobs/inquiry/batch_state.hpp"

namespace taxdesk::jobs::inquiry {

RetryDecision decideRetry(const RetryView& batch) {
    const std::string name = "batch " + batch.batchId;
    const auto state = parseBatchState(batch.state);
    if (!state) return RetryRefused{409, "not_completed", name + " is " + batch.state + ", not completed"};
    switch (*state) {
        case BatchState::awaiting_payment:
            return RetryRefused{409, "not_completed", name + " is awaiting payment: nothing has been looked up yet"};
        case BatchState::queued:
        case BatchState::processing:
            return RetryRefused{409, "not_completed",
                                name + " is " + batch.state +
                                    ": its rows are still being looked up (a retry may be running); ask again once it "
                                    "is completed"};
        case BatchState::failed:
            return RetryRefused{409, "batch_failed",
                                name + " failed as a whole; its rows cannot be retried one by one"};
        case BatchState::completed:
            break;
    }
    if (!batch.paid) return RetryRefused{409, "not_paid", name + " was never paid: it has no rows looked up to retry"};
    if (batch.errorRows <= 0)
        return RetryRefused{409, "no_error_rows", name + " has no rows whose result is error: nothing to retry"};
    if (!batch.openConnectors.empty()) {
        std::string names;
        for (const auto& connector : batch.openConnectors) names += (names.empty() ? "" : ", ") + connector;
        return RetryRefused{503, "connectors_unavailable",
                            "the circuit breaker of " + names +
                                " is open: retried now, the rows would fail again; ask again in a few seconds"};
    }
    return RetryAccepted{batch.errorRows};
}

}  // namespace taxdesk::jobs::inquiry
