// Connectors failing and timing out (issue 9, fault suite): `taxdesk stubs` as a process of its own with injected
// failures or hangs, the engine talking to it over HTTP (connectors.mode=http). Every row ends exactly once, as a
// result or as `error` with a reason code; the circuit breaker opens and closes again; error rows are retried
// (POST /api/v1/batches/{id}/retry) into real results without charging again.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "connectors/stubs/demo_data/batch_generator.hpp"
#include "fixtures/fault_report.hpp"
#include "fixtures/serve_process.hpp"
#include "fixtures/test_env.hpp"

using taxdesk::testing::FaultFigures;
using taxdesk::testing::ServeProcess;
using taxdesk::testing::StubsProcess;

namespace {

Poco::JSON::Object::Ptr json(const std::string& text) {
    return Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

/// taxdesk_circuit_breaker_state by connector, from /metrics (0 closed, 1 half open, 2 open).
std::map<std::string, int> breakerStates(const ServeProcess& engine) {
    std::map<std::string, int> states;
    std::istringstream lines(engine.request("GET", "/metrics").body);
    const std::string prefix = "taxdesk_circuit_breaker_state{connector=\"";
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(prefix, 0) != 0) continue;
        const auto quote = line.find('"', prefix.size());
        const auto space = line.rfind(' ');
        if (quote == std::string::npos || space == std::string::npos) continue;
        states[line.substr(prefix.size(), quote - prefix.size())] = static_cast<int>(std::stod(line.substr(space + 1)));
    }
    return states;
}

/// Pays the batch's fee, asking again with the same key while the provider fails or hangs (503, or 409 while
/// another request with the key is still charging). Returns the payment record.
Poco::JSON::Object::Ptr payPatiently(const ServeProcess& engine, const std::string& token, const std::string& batch,
                                     const std::string& key) {
    const std::string body = R"({"method":"easycard","card_id":"EC-FAULT-1","idempotency_key":")" + key + "\"}";
    for (int attempt = 0; attempt < 200; ++attempt) {
        const auto paid = engine.request("POST", "/api/v1/batches/" + batch + "/payment", token, body);
        if (paid.status == 200 || paid.status == 201) return json(paid.body);
        EXPECT_TRUE(paid.status == 503 || paid.status == 409) << paid.status << " " << paid.body;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ADD_FAILURE() << "the payment never went through";
    return json("{}");
}

/// Waits (bounded) until the batch is completed; returns its status.
Poco::JSON::Object::Ptr waitCompleted(const ServeProcess& engine, const std::string& token, const std::string& batch,
                                      const std::function<void()>& meanwhile = {}) {
    Poco::JSON::Object::Ptr status;
    const bool completed = taxdesk::testing::eventually(
        [&] {
            if (meanwhile) meanwhile();
            status = json(engine.request("GET", "/api/v1/batches/" + batch, token).body);
            return status->getValue<std::string>("state") == "completed";
        },
        std::chrono::seconds(400));
    EXPECT_TRUE(completed) << "batch " << batch << " is still " << status->getValue<std::string>("state");
    return status;
}

/// What the results download says.
struct Results {
    long long entries = 0;   // results in the download
    long long distinct = 0;  // distinct rows among them
    long long inOrder = 0;   // entries whose row is the one expected at that place (1, 2, 3, …)
    std::map<std::string, long long> statuses;
    std::set<std::string> errorReasons;
    bool mentionsAnAddress = false;  // an internal URL or address anywhere in the results
};

Results readResults(const ServeProcess& engine, const std::string& token, const std::string& batch) {
    const auto download = engine.request("GET", "/api/v1/batches/" + batch + "/results?format=json", token);
    EXPECT_EQ(download.status, 200);
    Results results;
    results.mentionsAnAddress =
        download.body.find("http://") != std::string::npos || download.body.find("127.0.0.1") != std::string::npos;
    const auto array = Poco::JSON::Parser().parse(download.body).extract<Poco::JSON::Array::Ptr>();
    std::set<int> rows;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const auto result = array->getObject(i);
        const int row = result->getValue<int>("row");
        ++results.entries;
        rows.insert(row);
        if (row == static_cast<int>(i) + 1) ++results.inOrder;
        const auto status = result->getValue<std::string>("status");
        ++results.statuses[status];
        if (status == "error") results.errorReasons.insert(result->optValue<std::string>("reason", ""));
    }
    results.distinct = static_cast<long long>(rows.size());
    return results;
}

/// The figures every connector fault test reports: rows sent and seen, charged and in the ledger.
FaultFigures rowFigures(const std::string& name, std::size_t rows, const Results& last, long long charged,
                        long long ledger) {
    FaultFigures figures;
    figures.name = name;
    figures.sent = static_cast<long long>(rows);
    figures.done = last.distinct;
    figures.lost = static_cast<long long>(rows) - last.distinct;
    figures.duplicated = last.entries - last.distinct;
    figures.charged = charged;
    figures.ledger = ledger;
    return figures;
}

long long totalCharged(const StubsProcess& stubs) {
    long long total = 0;
    for (const auto& [key, amount] : stubs.charges()) total += amount;
    return total;
}

std::string uploadBatch(const ServeProcess& engine, const std::string& token, std::size_t rows,
                        taxdesk::demo_data::BatchGenReport& report, long long& fee) {
    taxdesk::demo_data::BatchGenOptions options;
    options.rows = rows;
    options.badFraction = 0.01;
    std::ostringstream file;
    report = taxdesk::demo_data::writeBatchCsv(file, options);
    const auto uploaded = engine.request("POST", "/api/v1/batches", token, file.str(), "text/csv");
    EXPECT_EQ(uploaded.status, 201) << uploaded.body;
    fee = json(uploaded.body)->getValue<long long>("fee_total");
    return json(uploaded.body)->getValue<std::string>("batch_id");
}

/// Retries the batch's error rows until none is left (at most `rounds` times); returns the rounds it took. While a
/// breaker is open the engine answers 503 connectors_unavailable: asked again shortly (bounded), not a round.
int retryUntilNoErrors(const ServeProcess& engine, const std::string& token, const std::string& batch, int rounds,
                       int* refusedWhileOpen = nullptr) {
    int waits = 0;
    for (int round = 1; round <= rounds; ++round) {
        const auto retried = engine.request("POST", "/api/v1/batches/" + batch + "/retry", token);
        if (retried.status == 409 && retried.body.find("no_error_rows") != std::string::npos) return round - 1;
        if (retried.status == 503 && retried.body.find("connectors_unavailable") != std::string::npos && waits < 600) {
            ++waits;
            if (refusedWhileOpen) ++*refusedWhileOpen;
            --round;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            continue;
        }
        EXPECT_EQ(retried.status, 202) << retried.body;
        if (retried.status != 202) return round;
        EXPECT_GT(json(retried.body)->getValue<int>("rows_retried"), 0);
        waitCompleted(engine, token, batch);
    }
    return rounds;
}

}  // namespace

TEST(ConnectorFaults, TwentyPercentFailuresEndAsErrorRowsThatARetryTurnsIntoResultsWithoutACharge) {
    StubsProcess stubs({"stubs.failure_rate=0.2", "payment.stub_balance=100000000"});
    // Fewer tries than the defaults (1 retry in the client, 1 try in the stage), so that some rows keep failing: a
    // call fails for good with 4% chance, and the breaker opens on 5 failures in a row.
    ServeProcess engine(concat(stubs.connectorSets(), {"connectors.retries=1", "pipeline.connector_attempts=1",
                                                       "connectors.breaker_open_ms=1000"}));
    const auto creditor = engine.createToken("creditor", "C1");
    constexpr std::size_t kRows = 3000;
    taxdesk::demo_data::BatchGenReport report;
    long long fee = 0;
    const auto id = uploadBatch(engine, creditor, kRows, report, fee);
    ASSERT_FALSE(id.empty());
    const auto payment = payPatiently(engine, creditor, id, "faults-" + id);
    ASSERT_EQ(payment->getValue<std::string>("status"), "succeeded");
    int breakerMax = 0;
    auto watchBreakers = [&] {
        for (const auto& [connector, state] : breakerStates(engine)) breakerMax = std::max(breakerMax, state);
    };
    const auto done = waitCompleted(engine, creditor, id, watchBreakers);
    EXPECT_EQ(done->getValue<int>("rows_done"), static_cast<int>(kRows));

    const auto first = readResults(engine, creditor, id);
    EXPECT_EQ(first.entries, static_cast<long long>(kRows));
    EXPECT_EQ(first.distinct, static_cast<long long>(kRows));
    EXPECT_EQ(first.inOrder, static_cast<long long>(kRows));
    const long long errorRows = first.statuses.count("error") ? first.statuses.at("error") : 0;
    EXPECT_GT(errorRows, 0) << "no row kept failing: the retry below proves nothing";
    for (const auto& reason : first.errorReasons)
        EXPECT_TRUE(reason == "registry_unavailable" || reason == "tax_data_unavailable") << reason;
    EXPECT_FALSE(first.mentionsAnAddress) << "a result names an internal address";
    const long long chargedBefore = totalCharged(stubs);

    // Still at 20% failures: a retried row may fail again (many, when the breaker opens during the round), so retry
    // until none is left.
    int refusedWhileOpen = 0;
    const int rounds = retryUntilNoErrors(engine, creditor, id, 40, &refusedWhileOpen);
    const auto last = readResults(engine, creditor, id);
    EXPECT_EQ(last.entries, static_cast<long long>(kRows));
    EXPECT_EQ(last.distinct, static_cast<long long>(kRows));
    EXPECT_EQ(last.statuses.count("error"), 0u) << "error rows left after " << rounds << " retries";
    // Real results: the statuses the generated file implies.
    EXPECT_EQ(last.statuses.count("not_registered") ? last.statuses.at("not_registered") : 0,
              static_cast<long long>(report.notRegistered));
    EXPECT_EQ(last.statuses.count("deceased") ? last.statuses.at("deceased") : 0,
              static_cast<long long>(report.deceased));
    EXPECT_EQ(last.statuses.count("name_mismatch") ? last.statuses.at("name_mismatch") : 0,
              static_cast<long long>(report.nameMismatches));
    const auto status = json(engine.request("GET", "/api/v1/batches/" + id, creditor).body);
    EXPECT_EQ(status->getValue<int>("rows_done"), static_cast<int>(kRows)) << "retried rows counted once";

    const long long charged = totalCharged(stubs);
    const auto ledger = payPatiently(engine, creditor, id, "faults-" + id);  // the same key: the ledger's record
    EXPECT_EQ(charged, chargedBefore) << "a retry charged the card";
    EXPECT_EQ(charged, fee);
    EXPECT_EQ(ledger->getValue<long long>("amount"), fee);
    EXPECT_EQ(ledger->getValue<std::string>("payment_id"), payment->getValue<std::string>("payment_id"));

    FaultFigures figures =
        rowFigures("connectors at 20% failures", kRows, last, charged, ledger->getValue<long long>("amount"));
    figures.more = "rows_error=" + std::to_string(errorRows) + " retry_rounds=" + std::to_string(rounds) +
                   " rows_error_after=" + std::to_string(last.statuses.count("error")) +
                   " breaker_max=" + std::to_string(breakerMax) +
                   " retry_503_breaker_open=" + std::to_string(refusedWhileOpen);
    taxdesk::testing::reportFault(figures);
}

TEST(ConnectorFaults, TimeoutsOpenTheBreakerWhichClosesOnceTheStubsAreHealthyAndNoRowIsLostOrTwice) {
    // Half the calls hang 1.5 s, far longer than the client waits (250 ms): timeouts, retries, the breaker open.
    StubsProcess stubs({"stubs.timeout_rate=0.5", "stubs.timeout_ms=1500", "payment.stub_balance=100000000"});
    ServeProcess engine(
        concat(stubs.connectorSets(), {"connectors.timeout_ms=250", "connectors.breaker_open_ms=1500"}));
    const auto creditor = engine.createToken("creditor", "C1");
    constexpr std::size_t kRows = 1500;
    taxdesk::demo_data::BatchGenReport report;
    long long fee = 0;
    const auto id = uploadBatch(engine, creditor, kRows, report, fee);
    ASSERT_FALSE(id.empty());
    const auto payment = payPatiently(engine, creditor, id, "timeouts-" + id);
    ASSERT_EQ(payment->getValue<std::string>("status"), "succeeded");

    const auto started = std::chrono::steady_clock::now();
    std::string opened;
    EXPECT_TRUE(taxdesk::testing::eventually(
        [&] {
            for (const auto& [connector, state] : breakerStates(engine))
                if (state == 2) opened = connector;
            return !opened.empty();
        },
        std::chrono::seconds(120)))
        << "no circuit breaker opened";
    const double openedAfterS = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    waitCompleted(engine, creditor, id);
    const auto first = readResults(engine, creditor, id);
    EXPECT_EQ(first.entries, static_cast<long long>(kRows));
    EXPECT_EQ(first.distinct, static_cast<long long>(kRows));
    EXPECT_EQ(first.inOrder, static_cast<long long>(kRows));
    EXPECT_FALSE(first.mentionsAnAddress) << "a result names an internal address";
    const long long errorRows = first.statuses.count("error") ? first.statuses.at("error") : 0;
    for (const auto& reason : first.errorReasons)
        EXPECT_TRUE(reason == "registry_unavailable" || reason == "tax_data_unavailable") << reason;
    const long long chargedBefore = totalCharged(stubs);

    // The provider is healthy again (the same port, no faults): the next calls go through, the breakers close.
    stubs.restart({"payment.stub_balance=100000000"});
    const auto healthyAt = std::chrono::steady_clock::now();
    // While the breaker is still open (breaker_open_ms after its last failure) a retry is refused with 503; once it is
    // half open, the retried rows' first call is its probe. Rows refused while the probe is out are error again,
    // and the next round retries them.
    int rounds = 0;
    int refusedWhileOpen = 0;
    if (errorRows > 0) rounds = retryUntilNoErrors(engine, creditor, id, 8, &refusedWhileOpen);
    std::map<std::string, int> finalStates;
    EXPECT_TRUE(taxdesk::testing::eventually(
        [&] {
            finalStates = breakerStates(engine);
            return finalStates.count(opened) && finalStates.at(opened) == 0;
        },
        std::chrono::seconds(60)))
        << "the " << opened << " breaker did not close once the stubs were healthy";
    const double closedAfterS = std::chrono::duration<double>(std::chrono::steady_clock::now() - healthyAt).count();

    const auto last = readResults(engine, creditor, id);
    EXPECT_EQ(last.entries, static_cast<long long>(kRows));
    EXPECT_EQ(last.distinct, static_cast<long long>(kRows));
    EXPECT_EQ(last.statuses.count("error"), 0u) << "healthy stubs, and still error rows";
    EXPECT_EQ(last.statuses.count("not_registered") ? last.statuses.at("not_registered") : 0,
              static_cast<long long>(report.notRegistered));
    const long long charged = totalCharged(stubs);
    const auto ledger = payPatiently(engine, creditor, id, "timeouts-" + id);
    EXPECT_EQ(charged, chargedBefore) << "a retry charged the card";
    EXPECT_EQ(charged, fee);
    EXPECT_EQ(ledger->getValue<long long>("amount"), fee);

    char timing[96];
    std::snprintf(timing, sizeof timing, " breaker_open_after_s=%.1f breaker_closed_after_s=%.1f", openedAfterS,
                  closedAfterS);
    FaultFigures figures = rowFigures("connectors timing out (50% of calls hang)", kRows, last, charged,
                                      ledger->getValue<long long>("amount"));
    figures.more = "rows_error=" + std::to_string(errorRows) + " retry_rounds=" + std::to_string(rounds) +
                   " retry_503_breaker_open=" + std::to_string(refusedWhileOpen) + " breaker_opened=" + opened + timing;
    taxdesk::testing::reportFault(figures);
}
