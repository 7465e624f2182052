// The network clients of makeHttpConnectors against StubHttpServer on 127.0.0.1: every connector's round trip gives
// what the in-process connector gives; failures become the right typed errors, retries and an open circuit.
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "connectors/api/connector_set.hpp"
#include "connectors/api/errors.hpp"
#include "connectors/http/http_clients.hpp"
#include "connectors/http/stub_server.hpp"
#include "connectors/stubs/demo_data/population.hpp"

namespace taxdesk::connectors {
namespace {

using demo_data::Population;

using namespace std::chrono_literals;

// ---- a small fake ConnectorSet whose failures the test controls ----

enum class Fault { kNone, kTransient, kPermanent, kUnexpected };

struct FaultState {
    std::atomic<Fault> fault{Fault::kNone};
    std::atomic<int> calls{0};

    void hit(const char* connector) {
        ++calls;
        switch (fault.load()) {
            case Fault::kNone:
                return;
            case Fault::kTransient:
                throw TransientError(std::string("fake ") + connector + ": down");
            case Fault::kPermanent:
                throw PermanentError(std::string("fake ") + connector + ": rejected");
            case Fault::kUnexpected:
                throw std::runtime_error(std::string("fake ") + connector + ": bug");
        }
    }
};

class FakeRegistry final : public Registry {
  public:
    explicit FakeRegistry(FaultState& state) : state_(state) {}
    std::optional<RegistryRecord> lookup(const std::string& id) override {
        state_.hit("registry");
        if (id == "A123456789") return RegistryRecord{id, "王小明", "1980-02-29", "信義區", false, false};
        if (id == "12345675") return RegistryRecord{id, "好公司股份有限公司", "1999-01-01", "大安區", true, true};
        return std::nullopt;
    }

  private:
    FaultState& state_;
};

class FakeNhi final : public NhiCard {
  public:
    explicit FakeNhi(FaultState& state) : state_(state) {}
    bool verifyLast4(const std::string& id, const std::string& last4) override {
        state_.hit("nhi");
        return id == "A123456789" && last4 == "0042";
    }

  private:
    FaultState& state_;
};

class FakeTaxData final : public TaxData {
  public:
    explicit FakeTaxData(FaultState& state) : state_(state) {}
    TaxRecords lookup(const std::string& id, const std::vector<int>& years, bool income, bool property) override {
        state_.hit("taxdata");
        TaxRecords records;
        if (income) {
            for (const int year : years) records.income.push_back({year, "12345675", "好公司", "50", 1000LL * year});
        }
        if (property) records.property.push_back({"building", "房屋 " + id, "臺北市信義區", 9'876'543'210LL});
        return records;
    }

  private:
    FaultState& state_;
};

class FakePayment final : public Payment {
  public:
    explicit FakePayment(FaultState& state) : state_(state) {}
    ChargeResult charge(const std::string& cardId, long long amount, const std::string& key) override {
        state_.hit("payment");
        std::lock_guard lock(mutex_);
        if (const auto found = charges_.find(key); found != charges_.end()) {
            if (found->second.amount != amount) throw PermanentError("key reused");
            return found->second;
        }
        if (amount > 1000) throw InsufficientBalance("balance 1000 does not cover " + std::to_string(amount));
        ChargeResult result{"txn-" + cardId + "-" + key, amount, 1000 - amount};
        charges_.emplace(key, result);
        return result;
    }
    std::optional<ChargeResult> findCharge(const std::string& key) override {
        std::lock_guard lock(mutex_);
        const auto found = charges_.find(key);
        if (found == charges_.end()) return std::nullopt;
        return found->second;
    }

  private:
    FaultState& state_;
    std::mutex mutex_;
    std::map<std::string, ChargeResult> charges_;
};

class FakeSms final : public SmsGateway {
  public:
    explicit FakeSms(FaultState& state) : state_(state) {}
    SendReceipt send(const OutboundSms& sms) override {
        state_.hit("sms");
        return SendReceipt{"gw-" + sms.notificationId + "-" + sms.msisdn, static_cast<int>(sms.text.size())};
    }

  private:
    FaultState& state_;
};

ConnectorSet fakeConnectors(FaultState& state) {
    ConnectorSet set;
    set.registry = std::make_shared<FakeRegistry>(state);
    set.nhi = std::make_shared<FakeNhi>(state);
    set.taxData = std::make_shared<FakeTaxData>(state);
    set.payment = std::make_shared<FakePayment>(state);
    set.sms = std::make_shared<FakeSms>(state);
    return set;
}

HttpClientSettings clientSettings(const std::string& baseUrl) {
    HttpClientSettings settings;
    settings.baseUrl = baseUrl;
    settings.timeoutMs = 2000;
    settings.retries = 2;
    settings.backoffMs = 1;
    settings.breakerFailures = 1000;
    settings.breakerOpenMs = 60'000;
    return settings;
}

const HttpConnectorStatus& statusOf(const std::shared_ptr<Registry>& registry) {
    const auto* status = dynamic_cast<const HttpConnectorStatus*>(registry.get());
    if (status == nullptr) throw std::logic_error("not a network client");
    return *status;
}

struct RawResponse {
    int status = 0;
    std::string body;
    std::string allow;
};

// A request as any HTTP client would send it, to check the server side on its own.
RawResponse rawRequest(std::uint16_t port, const std::string& method, const std::string& path,
                       const std::string& body = "") {
    Poco::Net::HTTPClientSession session("127.0.0.1", port);
    session.setTimeout(Poco::Timespan(5, 0));
    Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    if (!body.empty()) {
        request.setContentType("application/json");
        request.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    session.sendRequest(request) << body;
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    RawResponse raw;
    raw.status = static_cast<int>(response.getStatus());
    Poco::StreamCopier::copyToString(in, raw.body);
    raw.allow = response.get("Allow", "");
    return raw;
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// ---- round trips over the fake set ----

struct FakeServerTest : ::testing::Test {
    FaultState state;
    StubHttpServer server{fakeConnectors(state)};
    FaultState referenceState;
    ConnectorSet reference = fakeConnectors(referenceState);
};

TEST_F(FakeServerTest, EveryConnectorRoundTrips) {
    const ConnectorSet clients = makeHttpConnectors(clientSettings(server.baseUrl()));
    ASSERT_NE(server.port(), 0);

    EXPECT_EQ(clients.registry->lookup("A123456789"), reference.registry->lookup("A123456789"));
    EXPECT_EQ(clients.registry->lookup("12345675"), reference.registry->lookup("12345675"));
    EXPECT_EQ(clients.registry->lookup("B987654321"), std::nullopt);

    EXPECT_TRUE(clients.nhi->verifyLast4("A123456789", "0042"));
    EXPECT_FALSE(clients.nhi->verifyLast4("A123456789", "0043"));

    for (const bool income : {true, false}) {
        for (const bool property : {true, false}) {
            EXPECT_EQ(clients.taxData->lookup("A123456789", {2021, 2022, 2023}, income, property),
                      reference.taxData->lookup("A123456789", {2021, 2022, 2023}, income, property));
        }
    }

    const ChargeResult first = clients.payment->charge("card-1", 300, "key-1");
    EXPECT_EQ(first.providerTxnId, "txn-card-1-key-1");
    EXPECT_EQ(first.amount, 300);
    EXPECT_EQ(first.balanceAfter, 700);
    EXPECT_EQ(clients.payment->charge("card-1", 300, "key-1").providerTxnId, first.providerTxnId);
    EXPECT_THROW(clients.payment->charge("card-1", 5000, "key-2"), InsufficientBalance);
    EXPECT_THROW(clients.payment->charge("card-1", 200, "key-1"), PermanentError);

    const SendReceipt receipt = clients.sms->send({"n-1", "0912345678", "您好"});
    EXPECT_EQ(receipt.gatewayMsgId, "gw-n-1-0912345678");
    EXPECT_EQ(receipt.segments, 6);  // the fake counts bytes

    EXPECT_EQ(state.calls.load(), 14);  // nothing was retried
    for (const auto* status : httpConnectorStatuses(clients)) {
        EXPECT_EQ(status->breakerState(), BreakerState::kClosed) << status->connectorName();
        EXPECT_EQ(status->retryStats().retries.load(), 0U) << status->connectorName();
    }
    EXPECT_EQ(httpConnectorStatuses(clients).size(), 5U);
    EXPECT_TRUE(httpConnectorStatuses(reference).empty());
}

TEST_F(FakeServerTest, TransientFailuresAreRetriedThenThrown) {
    state.fault = Fault::kTransient;
    auto settings = clientSettings(server.baseUrl());
    settings.retries = 3;
    const ConnectorSet clients = makeHttpConnectors(settings);
    try {
        clients.registry->lookup("A123456789");
        FAIL() << "no exception";
    } catch (const CircuitOpenError&) {
        FAIL() << "the circuit should still be closed";
    } catch (const TransientError& error) {
        EXPECT_TRUE(contains(error.what(), "HTTP 503")) << error.what();
        EXPECT_TRUE(contains(error.what(), "fake registry: down")) << error.what();
    }
    EXPECT_EQ(state.calls.load(), 4);
    const auto& stats = statusOf(clients.registry).retryStats();
    EXPECT_EQ(stats.attempts.load(), 4U);
    EXPECT_EQ(stats.retries.load(), 3U);
    EXPECT_EQ(stats.exhausted.load(), 1U);

    // Unexpected exceptions on the server are 500, also retryable.
    state.fault = Fault::kUnexpected;
    state.calls = 0;
    EXPECT_THROW(clients.nhi->verifyLast4("A123456789", "0042"), TransientError);
    EXPECT_EQ(state.calls.load(), 4);
}

TEST_F(FakeServerTest, PermanentFailuresAreNotRetried) {
    state.fault = Fault::kPermanent;
    const ConnectorSet clients = makeHttpConnectors(clientSettings(server.baseUrl()));
    EXPECT_THROW(clients.registry->lookup("A123456789"), PermanentError);
    EXPECT_THROW(clients.taxData->lookup("A123456789", {2023}, true, true), PermanentError);
    try {
        clients.payment->charge("card", 1, "k");
        FAIL() << "no exception";
    } catch (const InsufficientBalance&) {
        FAIL() << "a key conflict is not an insufficient balance";
    } catch (const PermanentError& error) {
        EXPECT_TRUE(contains(error.what(), "HTTP 409")) << error.what();
    }
    EXPECT_EQ(state.calls.load(), 3);
    EXPECT_EQ(statusOf(clients.registry).breakerState(), BreakerState::kClosed);
}

TEST_F(FakeServerTest, BreakerOpensAfterFailedAttemptsAndRefusesWithoutCallingTheServer) {
    state.fault = Fault::kTransient;
    auto settings = clientSettings(server.baseUrl());
    settings.retries = 2;
    settings.breakerFailures = 3;
    settings.breakerOpenMs = 60'000;
    const ConnectorSet clients = makeHttpConnectors(settings);

    EXPECT_THROW(clients.registry->lookup("A123456789"), TransientError);  // 3 attempts, the 3rd opens the circuit
    EXPECT_EQ(state.calls.load(), 3);
    EXPECT_EQ(statusOf(clients.registry).breakerState(), BreakerState::kOpen);
    const auto served = server.requestsServed();

    EXPECT_THROW(clients.registry->lookup("A123456789"), CircuitOpenError);
    EXPECT_THROW(clients.registry->lookup("B123456789"), CircuitOpenError);
    EXPECT_EQ(state.calls.load(), 3);
    EXPECT_EQ(server.requestsServed(), served);

    // Each connector has its own breaker.
    state.fault = Fault::kNone;
    EXPECT_TRUE(clients.nhi->verifyLast4("A123456789", "0042"));
}

TEST_F(FakeServerTest, HalfOpenProbeClosesTheCircuitOnceTheServerIsBack) {
    state.fault = Fault::kTransient;
    auto settings = clientSettings(server.baseUrl());
    settings.retries = 0;
    settings.breakerFailures = 2;
    settings.breakerOpenMs = 1000;  // long enough that a busy machine's pause does not half-open it early
    const ConnectorSet clients = makeHttpConnectors(settings);
    EXPECT_THROW(clients.sms->send({"n", "0912345678", "x"}), TransientError);
    EXPECT_THROW(clients.sms->send({"n", "0912345678", "x"}), TransientError);
    EXPECT_THROW(clients.sms->send({"n", "0912345678", "x"}), CircuitOpenError);

    std::this_thread::sleep_for(1200ms);
    EXPECT_THROW(clients.sms->send({"n", "0912345678", "x"}), TransientError);  // the probe fails: open again
    EXPECT_THROW(clients.sms->send({"n", "0912345678", "x"}), CircuitOpenError);

    state.fault = Fault::kNone;
    std::this_thread::sleep_for(1200ms);
    const auto* status = httpConnectorStatuses(clients).back();
    ASSERT_EQ(status->connectorName(), "sms");
    EXPECT_EQ(status->breakerState(), BreakerState::kHalfOpen);
    EXPECT_EQ(clients.sms->send({"n", "0912345678", "x"}).segments, 1);
    EXPECT_EQ(status->breakerState(), BreakerState::kClosed);
    EXPECT_EQ(status->breaker().timesOpened(), 2U);
}

TEST_F(FakeServerTest, ServerRoutesAndErrorBodies) {
    const auto health = rawRequest(server.port(), "GET", "/healthz");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.body, R"({"status":"ok"})");

    const auto found = rawRequest(server.port(), "GET", "/registry/v1/persons/A123456789");
    EXPECT_EQ(found.status, 200);
    EXPECT_TRUE(contains(found.body, R"("birth_date":"1980-02-29")")) << found.body;

    const auto missing = rawRequest(server.port(), "GET", "/registry/v1/persons/B987654321");
    EXPECT_EQ(missing.status, 404);
    EXPECT_TRUE(contains(missing.body, R"("code":"not_found")")) << missing.body;

    const auto noRoute = rawRequest(server.port(), "GET", "/registry/v2/persons/A123456789");
    EXPECT_EQ(noRoute.status, 404);
    EXPECT_TRUE(contains(noRoute.body, R"("code":"no_route")")) << noRoute.body;

    const auto wrongMethod = rawRequest(server.port(), "GET", "/payment/v1/charges");
    EXPECT_EQ(wrongMethod.status, 405);
    EXPECT_EQ(wrongMethod.allow, "POST");

    const auto badJson = rawRequest(server.port(), "POST", "/payment/v1/charges", "{nope");
    EXPECT_EQ(badJson.status, 400);
    EXPECT_TRUE(contains(badJson.body, R"("code":"bad_request")")) << badJson.body;

    const auto badField = rawRequest(server.port(), "POST", "/payment/v1/charges",
                                     R"({"card_id":"c","amount":"10","idempotency_key":"k"})");
    EXPECT_EQ(badField.status, 400);
    EXPECT_TRUE(contains(badField.body, "'amount' must be an integer")) << badField.body;

    const auto poor = rawRequest(server.port(), "POST", "/payment/v1/charges",
                                 R"({"card_id":"c","amount":1001,"idempotency_key":"k"})");
    EXPECT_EQ(poor.status, 402);
    EXPECT_TRUE(contains(poor.body, R"("code":"insufficient_balance")")) << poor.body;

    state.fault = Fault::kTransient;
    EXPECT_EQ(rawRequest(server.port(), "POST", "/nhi/v1/verify", R"({"id":"A","last4":"1234"})").status, 503);
    state.fault = Fault::kUnexpected;
    const auto bug = rawRequest(server.port(), "POST", "/sms/v1/messages",
                                R"({"notification_id":"n","msisdn":"0912345678","text":"x"})");
    EXPECT_EQ(bug.status, 500);
    EXPECT_TRUE(contains(bug.body, R"("code":"internal")")) << bug.body;
}

TEST_F(FakeServerTest, AWrongBaseUrlIsAnErrorNotAnEmptyRegistry) {
    const ConnectorSet clients = makeHttpConnectors(clientSettings(server.baseUrl() + "/elsewhere"));
    EXPECT_THROW(clients.registry->lookup("A123456789"), PermanentError);
    EXPECT_EQ(state.calls.load(), 0);
}

TEST(HttpServer, AMissingConnectorIs501AndPermanent) {
    FaultState state;
    ConnectorSet partial = fakeConnectors(state);
    partial.sms.reset();
    StubHttpServer server(partial);
    const ConnectorSet clients = makeHttpConnectors(clientSettings(server.baseUrl()));
    EXPECT_THROW(clients.sms->send({"n", "0912345678", "x"}), PermanentError);
    EXPECT_EQ(statusOf(clients.registry).retryStats().retries.load(), 0U);
}

TEST_F(FakeServerTest, ManyThreadsShareOneClient) {
    const ConnectorSet clients = makeHttpConnectors(clientSettings(server.baseUrl()));
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    threads.reserve(8);
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 40; ++i) {
                const std::string id = (i + t) % 2 == 0 ? "A123456789" : "C100000001";
                if (clients.registry->lookup(id) != reference.registry->lookup(id)) ++wrong;
                const auto records = clients.taxData->lookup(id, {2020 + t}, true, false);
                if (records.income.size() != 1 || records.income[0].year != 2020 + t) ++wrong;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(statusOf(clients.registry).retryStats().retries.load(), 0U);
}

TEST(HttpServer, IdleConnectionsClosedByTheServerAreReopenedWithoutAFailure) {
    FaultState state;
    StubServerOptions options;
    options.keepAliveTimeoutMs = 100;
    StubHttpServer server(fakeConnectors(state), options);
    auto settings = clientSettings(server.baseUrl());
    settings.breakerFailures = 1;
    const ConnectorSet clients = makeHttpConnectors(settings);
    ASSERT_TRUE(clients.registry->lookup("A123456789"));
    std::this_thread::sleep_for(400ms);  // the server drops the pooled connection meanwhile
    ASSERT_TRUE(clients.registry->lookup("A123456789"));
    EXPECT_EQ(statusOf(clients.registry).retryStats().retries.load(), 0U);
    EXPECT_EQ(statusOf(clients.registry).breakerState(), BreakerState::kClosed);
}

// ---- network failures ----

TEST(HttpClients, AClosedPortIsATransientErrorWithinTheTimeout) {
    std::uint16_t port = 0;
    {
        Poco::Net::ServerSocket probe(Poco::Net::SocketAddress("127.0.0.1", 0));
        port = probe.address().port();
    }
    auto settings = clientSettings("http://127.0.0.1:" + std::to_string(port));
    settings.timeoutMs = 5000;
    settings.retries = 1;
    const ConnectorSet clients = makeHttpConnectors(settings);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(clients.registry->lookup("A123456789"), TransientError);
    EXPECT_THROW(clients.payment->charge("c", 1, "k"), TransientError);
    // Four refused connects (and a back-off) end well within one timeout: none of them waited for it. The margin is
    // for a busy machine.
    EXPECT_LT(std::chrono::steady_clock::now() - start, 4000ms);
    EXPECT_EQ(statusOf(clients.registry).retryStats().attempts.load(), 2U);
}

TEST(HttpClients, ASilentServerIsATimeout) {
    // Listens (the kernel completes the handshake) but never accepts, so no response ever comes.
    Poco::Net::ServerSocket silent(Poco::Net::SocketAddress("127.0.0.1", 0));
    auto settings = clientSettings("http://127.0.0.1:" + std::to_string(silent.address().port()));
    settings.timeoutMs = 300;
    settings.retries = 0;
    const ConnectorSet clients = makeHttpConnectors(settings);
    std::string message;
    const auto start = std::chrono::steady_clock::now();
    try {
        clients.taxData->lookup("A123456789", {2023}, true, true);
    } catch (const TransientError& error) {
        message = error.what();
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_TRUE(contains(message, "timed out")) << message;
    EXPECT_GE(elapsed, 250ms);
    EXPECT_LT(elapsed, 2000ms);
}

TEST(HttpClients, ABaseUrlThatIsNotHttpIsRejected) {
    EXPECT_THROW(makeHttpConnectors(clientSettings("https://127.0.0.1:1")), std::invalid_argument);
    EXPECT_THROW(makeHttpConnectors(clientSettings("127.0.0.1:8091")), std::invalid_argument);
}

// ---- the in-process stubs (connectors/stubs) served over HTTP ----

constexpr std::uint64_t kSeed = 4242;

struct StubServerTest : ::testing::Test {
    static StubSettings stubSettings() {
        StubSettings settings;
        settings.seed = kSeed;
        settings.paymentBalance = 10'000;
        return settings;
    }

    Population population{kSeed};
    ConnectorSet reference = makeStubConnectors(stubSettings());
    StubHttpServer server{makeStubConnectors(stubSettings())};
    ConnectorSet clients = makeHttpConnectors(clientSettings(server.baseUrl()));
};

TEST_F(StubServerTest, RegistryAnswersLikeTheInProcessStub) {
    std::vector<std::string> ids;
    for (std::uint64_t i = 0; i < 20; ++i) {
        ids.push_back(population.nationalIdAt(i));
        ids.push_back(population.residentCertificateAt(i));
        ids.push_back(population.businessNumberAt(i));
        ids.push_back(population.deceasedIdAt(i));
        ids.push_back(population.unregisteredIdAt(i));
    }
    ids.emplace_back("not-an-id");
    int found = 0;
    for (const auto& id : ids) {
        const auto expected = reference.registry->lookup(id);
        EXPECT_EQ(clients.registry->lookup(id), expected) << id;
        found += expected ? 1 : 0;
    }
    EXPECT_EQ(found, 80);
    EXPECT_TRUE(clients.registry->lookup(population.deceasedIdAt(0))->deceased);
    EXPECT_EQ(clients.registry->lookup(population.unregisteredIdAt(0)), std::nullopt);
}

TEST_F(StubServerTest, NhiMatchAndMismatch) {
    for (std::uint64_t i = 0; i < 10; ++i) {
        const std::string id = population.nationalIdAt(i);
        const std::string card = population.nhiCardNumber(id);
        ASSERT_EQ(card.size(), 12U);
        const std::string last4 = card.substr(8);
        std::string wrong = last4;
        wrong[3] = wrong[3] == '9' ? '0' : static_cast<char>(wrong[3] + 1);
        EXPECT_TRUE(clients.nhi->verifyLast4(id, last4)) << id;
        EXPECT_FALSE(clients.nhi->verifyLast4(id, wrong)) << id;
        EXPECT_EQ(clients.nhi->verifyLast4(id, "12a4"), reference.nhi->verifyLast4(id, "12a4"));
    }
    EXPECT_FALSE(clients.nhi->verifyLast4(population.unregisteredIdAt(1), "1234"));
}

TEST_F(StubServerTest, TaxRecordsEqualTheInProcessStub) {
    int nonEmpty = 0;
    for (std::uint64_t i = 0; i < 20; ++i) {
        for (const auto& id : {population.nationalIdAt(i), population.businessNumberAt(i)}) {
            for (const bool income : {true, false}) {
                for (const bool property : {true, false}) {
                    const std::vector<int> years{2021, 2022, 2023, 2024, 2025};
                    const auto expected = reference.taxData->lookup(id, years, income, property);
                    EXPECT_EQ(clients.taxData->lookup(id, years, income, property), expected) << id;
                    nonEmpty += expected.income.empty() && expected.property.empty() ? 0 : 1;
                }
            }
        }
    }
    EXPECT_GT(nonEmpty, 40);
}

TEST_F(StubServerTest, PaymentIsIdempotentAndInsufficientBalanceIs402) {
    const ChargeResult first = clients.payment->charge("card-A", 750, "batch-1");
    EXPECT_EQ(first.amount, 750);
    EXPECT_EQ(first.balanceAfter, 9'250);
    EXPECT_EQ(first.balanceAfter, reference.payment->charge("card-A", 750, "batch-1").balanceAfter);

    const ChargeResult again = clients.payment->charge("card-A", 750, "batch-1");
    EXPECT_EQ(again.providerTxnId, first.providerTxnId);
    EXPECT_EQ(again.balanceAfter, 9'250);

    EXPECT_THROW(clients.payment->charge("card-A", 500, "batch-1"), PermanentError);
    EXPECT_THROW(clients.payment->charge("card-A", 9'251, "batch-2"), InsufficientBalance);
    EXPECT_EQ(clients.payment->charge("card-A", 9'250, "batch-2").balanceAfter, 0);
    EXPECT_THROW(clients.payment->charge("card-A", 0, "batch-3"), PermanentError);

    // A lost answer is found again by its key; a key never charged is not.
    const auto found = clients.payment->findCharge("batch-1");
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->providerTxnId, first.providerTxnId);
    EXPECT_EQ(clients.payment->findCharge("never-charged"), std::nullopt);
}

TEST_F(StubServerTest, SmsReceiptsAreIdempotent) {
    const OutboundSms sms{"notif-1", "0912345678", "您的查詢結果已完成，請於七日內至本局領取。"};
    const SendReceipt receipt = clients.sms->send(sms);
    EXPECT_EQ(receipt.segments, reference.sms->send(sms).segments);
    EXPECT_FALSE(receipt.gatewayMsgId.empty());
    const SendReceipt again = clients.sms->send(sms);
    EXPECT_EQ(again.gatewayMsgId, receipt.gatewayMsgId);
    EXPECT_EQ(clients.sms->send({"notif-2", "0912345678", std::string(161, 'a')}).segments, 2);
    EXPECT_THROW(clients.sms->send({"notif-3", "12345", "x"}), PermanentError);
}

TEST(StubServer, RetriesThroughInjectedFailuresChargeOnce) {
    // The stub loses half of its injected failures after charging; the retry with the same key must not charge again.
    StubSettings stub;
    stub.seed = kSeed;
    stub.failureRate = 0.3;
    stub.paymentBalance = 1'000'000;
    StubHttpServer server(makeStubConnectors(stub));
    auto settings = clientSettings(server.baseUrl());
    settings.retries = 20;
    const ConnectorSet clients = makeHttpConnectors(settings);

    long long charged = 0;
    for (int i = 0; i < 30; ++i) {
        const auto result = clients.payment->charge("card-R", 100, "key-" + std::to_string(i));
        charged += result.amount;
        EXPECT_EQ(result.balanceAfter, 1'000'000 - charged) << i;
    }
    EXPECT_GT(httpConnectorStatuses(clients)[3]->retryStats().retries.load(), 0U);
}

TEST(StubServer, APortAnotherServerListensOnIsRefusedNotShared) {
    // As the engine's listener (HttpRouter's HttpServerListener tests): no SO_REUSEPORT, so a second `taxdesk stubs`
    // on a taken port fails to start instead of answering half of the first one's callers.
    FaultState state;
    StubHttpServer first{fakeConnectors(state)};
    StubServerOptions options;
    options.port = static_cast<std::uint16_t>(first.port());
    FaultState otherState;
    EXPECT_THROW(StubHttpServer(fakeConnectors(otherState), options), Poco::Net::NetException);
}

}  // namespace
}  // namespace taxdesk::connectors
