#pragma once
// What a fault test does as a client: uploads and pays batches, sends SMS applications, and retries as a real
// client would when the engine is away (the same idempotency key, the same gateway_msg_id); then counts what came
// out. Header-only: each fault test is its own executable.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "connectors/stubs/demo_data/batch_generator.hpp"
#include "connectors/stubs/demo_data/population.hpp"
#include "fixtures/fault_report.hpp"
#include "fixtures/serve_process.hpp"
#include "fixtures/test_env.hpp"

namespace taxdesk::testing::faults {

using Clock = std::chrono::steady_clock;

inline double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

inline Poco::JSON::Object::Ptr json(const std::string& text) {
    return Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
}

/// A size from the environment variable `name` (e.g. a test's row count), or `fallback` when it is unset or empty.
inline std::size_t envSize(const char* name, std::size_t fallback) {
    const char* text = std::getenv(name);
    return text != nullptr && *text != '\0' ? std::strtoull(text, nullptr, 10) : fallback;
}

/// The seed of a test's random moments: $TAXDESK_TEST_FAULT_SEED when set (to replay a run), else the clock.
inline std::uint64_t faultSeed() {
    if (const char* text = std::getenv("TAXDESK_TEST_FAULT_SEED"); text != nullptr && *text != '\0')
        return std::strtoull(text, nullptr, 10);
    return static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) % 1000000007ULL;
}

/// More engine settings for a measuring run, from $TAXDESK_TEST_FAULT_SETS (key=value, space-separated), e.g.
/// "kafka.session_timeout_ms=10000" to measure the old default. Empty by default.
inline std::vector<std::string> measuringSets() {
    std::vector<std::string> sets;
    const char* text = std::getenv("TAXDESK_TEST_FAULT_SETS");
    std::istringstream in(text != nullptr ? text : "");
    for (std::string set; in >> set;) sets.push_back(set);
    return sets;
}

/// A request that may meet a dead engine: status 0 when nothing answered (refused, reset, timed out).
inline HttpResult tryRequest(const ServeProcess& engine, const std::string& method, const std::string& path,
                             const std::string& token, const std::string& body = "",
                             const std::string& contentType = "") {
    try {
        return engine.request(method, path, token, body, contentType);
    } catch (const std::exception& error) {
        return HttpResult{0, error.what(), ""};
    }
}

struct Batch {
    std::string id;
    long long fee = 0;
    std::size_t rows = 0;
};

/// Uploads `rows` generated rows; `firstIndex` (BatchGenOptions::firstIndex) gives batches debtors of their own.
inline Batch uploadBatch(const ServeProcess& engine, const std::string& token, std::size_t rows,
                         std::uint64_t firstIndex = 0) {
    demo_data::BatchGenOptions options;
    options.rows = rows;
    options.firstIndex = firstIndex;
    options.badFraction = 0.01;
    std::ostringstream file;
    demo_data::writeBatchCsv(file, options);
    const auto uploaded = engine.request("POST", "/api/v1/batches", token, file.str(), "text/csv");
    if (uploaded.status != 201) throw std::runtime_error("upload: " + std::to_string(uploaded.status) + uploaded.body);
    return {json(uploaded.body)->getValue<std::string>("batch_id"),
            json(uploaded.body)->getValue<long long>("fee_total"), rows};
}

inline std::string payBody(const std::string& card, const std::string& key) {
    return R"({"method":"easycard","card_id":")" + card + R"(","idempotency_key":")" + key + "\"}";
}

/// Pays as a client whose connection may break: the same key again after every failure (no answer, 5xx, 409 "in
/// flight"), until a payment record comes back or `timeout` passes. Returns the last answer; `attempts` counts tries.
inline HttpResult payUntilAnswered(const ServeProcess& engine, const std::string& token, const Batch& batch,
                                   const std::string& key, int* attempts, std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    HttpResult last;
    while (Clock::now() < deadline) {
        ++*attempts;
        last = tryRequest(engine, "POST", "/api/v1/batches/" + batch.id + "/payment", token, payBody("EC-7", key),
                          "application/json");
        if (last.status == 200 || last.status == 201) return last;
        if (last.status != 0 && last.status != 409 && last.status < 500) return last;  // a client error: stop
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return last;
}

/// `count` SMS applications (application type 1, each by another citizen from another phone), `tag` in their
/// gateway_msg_ids, as JSON bodies of at most `perRequest` messages.
inline std::vector<std::string> smsBodies(int first, int count, int perRequest, const std::string& tag) {
    const demo_data::Population population(connectors::StubSettings{}.seed);
    std::vector<std::string> bodies;
    for (int start = first; start < first + count; start += perRequest) {
        std::string body = R"({"messages":[)";
        for (int i = start; i < std::min(first + count, start + perRequest); ++i) {
            const auto person = population.nationalIdAt(700000 + static_cast<std::uint64_t>(i));
            if (i != start) body += ",";
            body += R"({"msisdn":"0966)" + std::to_string(100000 + i) + R"(","text":"1 )" + person + " " +
                    population.nhiCardNumber(person).substr(8) + R"(","gateway_msg_id":")" + tag + "-" +
                    std::to_string(i) + "\"}";
        }
        bodies.push_back(body + "]}");
    }
    return bodies;
}

/// Sends one body as the SMS gateway does: again after every failure until 202 (the engine deduplicates by
/// gateway_msg_id). Returns the tries it took, or -1 when `timeout` passed.
inline int sendSmsUntilAccepted(const ServeProcess& engine, const std::string& token, const std::string& body,
                                std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (int attempt = 1; Clock::now() < deadline; ++attempt) {
        if (tryRequest(engine, "POST", "/api/v1/sms/inbound", token, body, "application/json").status == 202)
            return attempt;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return -1;
}

/// rows_done of a batch, or -1 when the engine did not answer.
inline long long rowsDone(const ServeProcess& engine, const std::string& token, const std::string& batchId) {
    const auto status = tryRequest(engine, "GET", "/api/v1/batches/" + batchId, token);
    if (status.status != 200) return -1;
    return json(status.body)->getValue<long long>("rows_done");
}

/// Waits (bounded) until the batch is completed; returns its last state.
inline std::string waitCompleted(const ServeProcess& engine, const std::string& token, const std::string& batchId,
                                 std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::string state;
    while (Clock::now() < deadline) {
        const auto status = tryRequest(engine, "GET", "/api/v1/batches/" + batchId, token);
        if (status.status == 200) state = json(status.body)->getValue<std::string>("state");
        if (state == "completed" || state == "failed") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return state;
}

/// The batch's results as the creditor downloads them: rows lost (never there), duplicated (there more than once)
/// and whether they come in row order.
struct RowCheck {
    long long done = 0;
    long long lost = 0;
    long long duplicated = 0;
    bool inOrder = true;
};

inline RowCheck checkRows(const ServeProcess& engine, const std::string& token, const Batch& batch) {
    const auto results = engine.request("GET", "/api/v1/batches/" + batch.id + "/results?format=json", token);
    const auto array = Poco::JSON::Parser().parse(results.body).extract<Poco::JSON::Array::Ptr>();
    RowCheck check;
    std::map<long long, int> seen;
    long long previous = 0;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const auto row = array->getObject(static_cast<unsigned>(i))->getValue<long long>("row");
        if (++seen[row] > 1) ++check.duplicated;
        if (row <= previous) check.inOrder = false;
        previous = row;
    }
    check.done = static_cast<long long>(array->size());
    for (long long row = 1; row <= static_cast<long long>(batch.rows); ++row)
        if (seen.count(row) == 0) ++check.lost;
    return check;
}

/// What the SMS provider sent: applications answered (distinct notification ids) and answers sent more than once,
/// once `expected` replies are there or `timeout` passed.
struct ReplyCheck {
    long long replies = 0;
    long long duplicated = 0;
};

/// The engine settings under which a reply or an inbound SMS the broker lost is produced again within seconds (the
/// scheduler's sweeps), so that waitReplies' settling time sees a duplicate such a re-drive would make.
inline std::vector<std::string> quickSweeps() {
    return {"sms.scheduler_interval_s=1", "sms.requeue_after_s=5", "sms.inbox_requeue_after_s=5"};
}

/// Waits until `expected` applications have a reply, then `settle` longer (more than a sweep with quickSweeps()), so
/// that a second send of one of them, by a re-drive a few seconds later, is counted too.
inline ReplyCheck waitReplies(const StubsProcess& stubs, std::size_t expected, std::chrono::seconds timeout,
                              std::chrono::seconds settle = std::chrono::seconds(8)) {
    const auto deadline = Clock::now() + timeout;
    ReplyCheck check;
    auto read = [&] {
        const auto sent = stubs.sentNotificationIds();
        const std::set<std::string> unique(sent.begin(), sent.end());
        check.replies = static_cast<long long>(unique.size());
        check.duplicated = static_cast<long long>(sent.size() - unique.size());
        return unique.size();
    };
    while (read() < expected && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    std::this_thread::sleep_for(settle);
    read();
    return check;
}

/// NT$ the provider charged for these idempotency keys (its own record).
inline long long charged(const StubsProcess& stubs) {
    long long total = 0;
    for (const auto& [key, amount] : stubs.charges()) total += amount;
    return total;
}

}  // namespace taxdesk::testing::faults
