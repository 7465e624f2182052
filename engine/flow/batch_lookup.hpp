#pragma once
// Retries per request over batch calls (connectors/api/batch.hpp): a set of requests is asked in one batch call;
// the requests whose answer is a retryable error are asked again, together, after one back-off pause, until each
// has an answer or has used up its tries. Each request gets exactly the tries, the back-off and the deadline that
// connectors::retry() would give it alone (the same RetryPolicy and RetryHooks), but a round costs one pause and one
// batch call, not one per request.
#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "connectors/api/batch.hpp"
#include "connectors/api/errors.hpp"
#include "connectors/retry/retry.hpp"

namespace taxdesk::engine {

/// What lookUpEach found: per request, its value or (when it failed for good) the text of its last error.
template <typename T>
struct EachResult {
    std::vector<std::optional<T>> values;
    std::vector<std::string> errors;  ///< empty for a request that got its value
};

/// Answers requests 0..count-1 with `callSet(which)`, a batch call that returns one BatchAnswer<T> for each request
/// index in `which` (ascending), in that order. A request whose answer is an error that retry() would retry
/// (hooks.shouldRetry, else ConnectorError::isRetryable) is asked again in the next round, after the pause
/// retry() would take (policy, attempt number), while it has tries left (policy.attempts) and the pause ends within
/// policy.deadline; hooks.onRetry is called for each such request. Other errors, and every exception that is not a
/// ConnectorError, end the request's tries at once. hooks.stats counts a call, attempts and exhaustion per request.
/// A batch call that returns the wrong number of answers fails the requests it was asked (not retried). Throws what
/// `callSet` throws, and RetryStopped (hooks.stopped) between rounds.
template <typename T, typename CallSet>
EachResult<T> lookUpEach(std::size_t count, const connectors::RetryPolicy& policy, const connectors::RetryHooks& hooks,
                         CallSet&& callSet) {
    namespace rd = connectors::detail;
    EachResult<T> result;
    result.values.resize(count);
    result.errors.resize(count);
    std::vector<std::size_t> pending(count);
    for (std::size_t i = 0; i < count; ++i) {
        pending[i] = i;
        rd::countCall(hooks);
    }
    const auto started = rd::now(hooks);
    for (int attempt = 1; !pending.empty(); ++attempt) {
        for (std::size_t i = 0; i < pending.size(); ++i) rd::countAttempt(hooks, attempt == 1);
        std::vector<connectors::BatchAnswer<T>> answers =
            callSet(static_cast<const std::vector<std::size_t>&>(pending));
        if (answers.size() != pending.size()) {
            for (const std::size_t request : pending)
                result.errors[request] = "connector answered " + std::to_string(answers.size()) + " of " +
                                         std::to_string(pending.size()) + " requests";
            break;
        }
        std::vector<std::size_t> again;
        std::chrono::milliseconds pause{0};
        bool paused = false;
        for (std::size_t j = 0; j < pending.size(); ++j) {
            const std::size_t request = pending[j];
            auto& answer = answers[j];
            if (answer.ok()) {
                result.values[request] = std::move(answer.value);
                continue;
            }
            try {
                std::rethrow_exception(answer.error);
            } catch (const connectors::ConnectorError& error) {
                result.errors[request] = error.what();
                if (!rd::shouldRetry(hooks, error)) continue;
                if (policy.attempts > 0 && attempt >= policy.attempts) {
                    rd::countExhausted(hooks);
                    continue;
                }
                // One pause for the round, drawn as retry() draws it for this attempt number.
                if (!paused) {
                    pause = rd::pauseBefore(policy, attempt);
                    paused = true;
                }
                if (rd::pastDeadline(policy, hooks, started, pause)) {
                    rd::countExhausted(hooks);
                    continue;
                }
                if (hooks.onRetry) hooks.onRetry(error, attempt, pause);
                again.push_back(request);
            } catch (const std::exception& error) {
                result.errors[request] = error.what();
            } catch (...) {
                result.errors[request] = "unknown error";
            }
        }
        if (again.empty()) break;
        rd::pauseFor(hooks, pause);
        for (const std::size_t request : again) result.errors[request].clear();
        pending = std::move(again);
    }
    return result;
}

}  // namespace taxdesk::engine
