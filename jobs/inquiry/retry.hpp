#pragma once
// SPEC 3.3 `error` rows, replayed (POST /api/v1/batches/{id}/retry, an addition to SPEC 5): whether a batch's rows
// whose result is `error` (a connector kept failing) may be looked up again, and what the caller is told. A retry
// charges nothing: the fee was paid once, for every accepted row.
#include <string>
#include <variant>
#include <vector>

namespace taxdesk::jobs::inquiry {

/// What the decision needs to know of a batch.
struct RetryView {
    std::string batchId;
    std::string state;  ///< awaiting_payment | queued | processing | completed | failed
    bool paid = false;
    int errorRows = 0;  ///< its results with status error
    /// The look-up connectors (registry, tax data) whose circuit breaker is open now: their calls are refused at once,
    /// so rows retried now would be `error` again within milliseconds.
    std::vector<std::string> openConnectors;
};

/// The error rows go back to work: answer 202 with rows_retried = rows (the store may still find fewer, or none when
/// another request got there first).
struct RetryAccepted {
    int rows = 0;
};

/// Nothing is retried: the HTTP status (409, or 503 to ask again shortly), a code and a message for the caller, naming
/// the reason.
struct RetryRefused {
    int status = 409;
    std::string code;  ///< not_completed | batch_failed | not_paid | no_error_rows | connectors_unavailable
    std::string message;
};

using RetryDecision = std::variant<RetryAccepted, RetryRefused>;

/// Only a completed, paid batch with error rows is retried. A batch still awaiting payment, queued or processing
/// (a retry asked for twice finds the first one running) is `not_completed`; a batch that failed as a whole is
/// `batch_failed`; a completed batch never paid (it had no accepted row) is `not_paid`; one without error rows is
/// `no_error_rows`. A batch that could be retried while a look-up connector's breaker is open is 503
/// `connectors_unavailable` (ask again in a few seconds: the breaker lets a probe through after
/// connectors.breaker_open_ms). Pure; never throws except std::bad_alloc.
RetryDecision decideRetry(const RetryView& batch);

}  // namespace taxdesk::jobs::inquiry
