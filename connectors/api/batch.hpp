#pragma once
// Batch look-ups (issue 11): one call asks a connector about a set of requests and gets one answer per request, in
// the requests' order. Each request keeps its own fate: its own latency, its own injected failure, its own error
// (which a caller may retry for that request alone). A connector whose batch call answers a whole set in about the
// time of one request (the in-process stubs: one timer for the set, not a thread per request) says so with
// answersSetsAtOnce(); for the others (the network clients: one request per HTTP call) a caller spreads the set over
// a bounded pool of threads, each giving the connector a slice.
#include <cstddef>
#include <exception>
#include <optional>
#include <vector>

namespace taxdesk::connectors {

/// The answer to one request of a batch call: its value, or what its call threw, kept as thrown (a ConnectorError
/// says through isRetryable() whether another try can help).
template <typename T>
struct BatchAnswer {
    std::optional<T> value;
    std::exception_ptr error;

    [[nodiscard]] bool ok() const noexcept { return error == nullptr; }
};

/// The default batch call: `call(i)` for each request i in [0, count), one after another on the calling thread,
/// each exception caught and kept in that request's answer. Throws only std::bad_alloc.
template <typename T, typename Call>
std::vector<BatchAnswer<T>> answerEach(std::size_t count, Call&& call) {
    std::vector<BatchAnswer<T>> answers(count);
    for (std::size_t i = 0; i < count; ++i) {
        try {
            answers[i].value.emplace(call(i));
        } catch (...) {
            answers[i].error = std::current_exception();
        }
    }
    return answers;
}

}  // namespace taxdesk::connectors
