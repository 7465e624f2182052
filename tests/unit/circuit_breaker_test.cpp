// The circuit breaker with a fake clock, retries through it, and the JSON codec of the HTTP connectors.
#include "connectors/http/circuit_breaker.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "connectors/api/errors.hpp"
#include "connectors/api/payment.hpp"
#include "connectors/http/json_codec.hpp"
#include "connectors/retry/retry.hpp"

namespace taxdesk::connectors {
namespace {

using namespace std::chrono_literals;

class FakeClock {
  public:
    CircuitBreaker::Clock function() {
        return [this] { return now_; };
    }
    void advance(std::chrono::milliseconds by) { now_ += by; }

  private:
    std::chrono::steady_clock::time_point now_{std::chrono::hours(1)};
};

struct BreakerTest : ::testing::Test {
    FakeClock clock;
    CircuitBreaker breaker{"registry", 3, 1000ms, clock.function()};
    int calls = 0;

    void fail() {
        EXPECT_THROW(breaker.run([&] {
            ++calls;
            throw TransientError("down");
        }),
                     TransientError);
    }
    int succeed() {
        return breaker.run([&] {
            ++calls;
            return 42;
        });
    }
};

TEST_F(BreakerTest, StateNames) {
    EXPECT_EQ(toString(BreakerState::kClosed), "closed");
    EXPECT_EQ(toString(BreakerState::kOpen), "open");
    EXPECT_EQ(toString(BreakerState::kHalfOpen), "half_open");
}

TEST_F(BreakerTest, ClosedPassesCallsAndResults) {
    EXPECT_EQ(breaker.state(), BreakerState::kClosed);
    EXPECT_EQ(succeed(), 42);
    breaker.run([&] { ++calls; });
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(breaker.state(), BreakerState::kClosed);
}

TEST_F(BreakerTest, OpensAfterConsecutiveFailuresAndRefusesWithoutCalling) {
    fail();
    fail();
    EXPECT_EQ(breaker.state(), BreakerState::kClosed);
    EXPECT_EQ(breaker.consecutiveFailures(), 2);
    fail();
    EXPECT_EQ(breaker.state(), BreakerState::kOpen);
    EXPECT_EQ(breaker.timesOpened(), 1U);
    EXPECT_EQ(calls, 3);

    try {
        succeed();
        FAIL() << "an open circuit let a call through";
    } catch (const CircuitOpenError& error) {
        EXPECT_NE(std::string(error.what()).find("registry"), std::string::npos);
        EXPECT_TRUE(error.isRetryable());
    }
    clock.advance(999ms);
    EXPECT_THROW(succeed(), CircuitOpenError);
    EXPECT_EQ(calls, 3);
    EXPECT_EQ(breaker.state(), BreakerState::kOpen);
}

TEST_F(BreakerTest, SuccessResetsTheFailureCount) {
    fail();
    fail();
    succeed();
    EXPECT_EQ(breaker.consecutiveFailures(), 0);
    fail();
    fail();
    EXPECT_EQ(breaker.state(), BreakerState::kClosed);
}

TEST_F(BreakerTest, HalfOpenLetsOneProbeThroughAndSuccessCloses) {
    fail();
    fail();
    fail();
    clock.advance(1000ms);
    EXPECT_EQ(breaker.state(), BreakerState::kHalfOpen);
    const int result = breaker.run([&] {
        ++calls;
        // While the probe is out, every other caller is refused.
        EXPECT_EQ(breaker.state(), BreakerState::kHalfOpen);
        EXPECT_THROW(breaker.run([&] { ++calls; }), CircuitOpenError);
        return 7;
    });
    EXPECT_EQ(result, 7);
    EXPECT_EQ(calls, 4);
    EXPECT_EQ(breaker.state(), BreakerState::kClosed);
    EXPECT_EQ(succeed(), 42);
}

TEST_F(BreakerTest, FailedProbeReopensForAnotherFullPeriod) {
    fail();
    fail();
    fail();
    clock.advance(1500ms);
    fail();  // the probe
    EXPECT_EQ(breaker.state(), BreakerState::kOpen);
    EXPECT_EQ(breaker.timesOpened(), 2U);
    clock.advance(999ms);
    EXPECT_THROW(succeed(), CircuitOpenError);
    clock.advance(1ms);
    EXPECT_EQ(succeed(), 42);
    EXPECT_EQ(breaker.state(), BreakerState::kClosed);
}

TEST_F(BreakerTest, PermanentErrorsMeanTheOtherSideAnswered) {
    for (int i = 0; i < 5; ++i) {
        EXPECT_THROW(breaker.run([]() -> int { throw PermanentError("bad id"); }), PermanentError);
    }
    EXPECT_EQ(breaker.state(), BreakerState::kClosed);

    fail();
    fail();
    fail();
    clock.advance(1000ms);
    EXPECT_THROW(breaker.run([]() -> int { throw InsufficientBalance("poor"); }), InsufficientBalance);
    EXPECT_EQ(breaker.state(), BreakerState::kClosed);
}

TEST_F(BreakerTest, UnexpectedExceptionsCountAsFailures) {
    for (int i = 0; i < 3; ++i)
        EXPECT_THROW(breaker.run([]() -> int { throw std::runtime_error("bug"); }), std::runtime_error);
    EXPECT_EQ(breaker.state(), BreakerState::kOpen);
}

TEST_F(BreakerTest, ThresholdBelowOneCountsAsOne) {
    CircuitBreaker eager("sms", 0, 10ms, clock.function());
    EXPECT_THROW(eager.run([]() -> int { throw TransientError("x"); }), TransientError);
    EXPECT_EQ(eager.state(), BreakerState::kOpen);
}

TEST(CircuitBreaker, ManyThreadsAtOnce) {
    // Real clock: only the counters are checked, under contention (run with TSan/ASan in CI).
    CircuitBreaker breaker("taxdata", 1000000, 10ms);
    std::atomic<int> calls{0};
    std::vector<std::thread> threads;
    threads.reserve(8);
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 1000; ++i) {
                try {
                    breaker.run([&] {
                        ++calls;
                        if (i % 2 == 0) throw TransientError("flaky");
                    });
                } catch (const TransientError&) {
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(calls.load(), 8000);
    EXPECT_EQ(breaker.state(), BreakerState::kClosed);
}

TEST(CircuitBreaker, OnlyOneProbeAmongConcurrentCallers) {
    FakeClock clock;
    CircuitBreaker breaker("nhi", 1, 100ms, clock.function());
    EXPECT_THROW(breaker.run([]() -> int { throw TransientError("x"); }), TransientError);
    clock.advance(100ms);

    std::atomic<int> probes{0};
    std::atomic<int> refused{0};
    std::atomic<bool> release{false};
    std::vector<std::thread> threads;
    threads.reserve(8);
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            try {
                breaker.run([&] {
                    ++probes;
                    while (!release) std::this_thread::yield();
                });
            } catch (const CircuitOpenError&) {
                ++refused;
            }
        });
    }
    // Exactly one caller takes the probe and holds it; the other seven must be refused meanwhile.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (refused < 7 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    release = true;
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(probes.load(), 1);
    EXPECT_EQ(refused.load(), 7);
    EXPECT_EQ(breaker.state(), BreakerState::kClosed);
}

// ---- retries through the breaker (the network clients' hooks) ----

TEST(RetryThroughBreaker, BreakerSeesEveryAttemptAndStopsTheRetries) {
    CircuitBreaker breaker("registry", 3, 60s);
    RetryStats stats;
    RetryPolicy policy;
    policy.attempts = 6;
    policy.baseDelay = 10ms;
    RetryHooks hooks;
    hooks.stats = &stats;
    hooks.sleep = [](std::chrono::milliseconds) {};
    hooks.shouldRetry = worthRetryingThroughBreaker;
    int attempts = 0;
    EXPECT_THROW(retry(policy, hooks,
                       [&] {
                           return breaker.run([&]() -> int {
                               ++attempts;
                               throw TransientError("refused");
                           });
                       }),
                 CircuitOpenError);
    EXPECT_EQ(attempts, 3);  // the 4th attempt was refused by the breaker and not retried
    EXPECT_EQ(stats.attempts.load(), 4U);
    EXPECT_EQ(breaker.state(), BreakerState::kOpen);
}

TEST(RetryThroughBreaker, OnlyRetryableErrorsThatAreNotAnOpenCircuitAreWorthAnotherTry) {
    EXPECT_TRUE(worthRetryingThroughBreaker(TransientError("503")));
    EXPECT_FALSE(worthRetryingThroughBreaker(CircuitOpenError("payment")));
    EXPECT_FALSE(worthRetryingThroughBreaker(PermanentError("400")));
    EXPECT_FALSE(worthRetryingThroughBreaker(InsufficientBalance("poor")));
}

// ---- JSON codec ----

TEST(JsonCodec, RegistryRecordRoundTripKeepsUtf8) {
    const RegistryRecord record{"A123456789", "王小明", "1980-02-29", "信義區", true, false};
    const std::string text = toJsonString(toJson(record));
    EXPECT_NE(text.find("\"birth_date\":\"1980-02-29\""), std::string::npos) << text;
    EXPECT_NE(text.find("王小明"), std::string::npos) << text;
    EXPECT_EQ(registryRecordFromJson(parseJsonObject(text, "test")), record);
}

TEST(JsonCodec, TaxRecordsRoundTripWithSpecFieldNames) {
    TaxRecords records;
    records.income.push_back({2023, "12345678", "台積電", "50", 1'234'567});
    records.income.push_back({2022, "87654321", "某銀行", "5A", 9'000'000'000LL});
    records.property.push_back({"land", "台北市信義區某段 100 地號", "臺北市", 12'000'000});
    records.property.push_back({"vehicle", "ABC-1234", "", 0});
    const std::string text = toJsonString(toJson(records));
    for (const char* key : {"\"year\"", "\"payer_id\"", "\"payer_name\"", "\"income_type\"", "\"amount\"", "\"kind\"",
                            "\"description\"", "\"location\"", "\"value\""}) {
        EXPECT_NE(text.find(key), std::string::npos) << key << " in " << text;
    }
    EXPECT_EQ(taxRecordsFromJson(parseJsonObject(text, "test")), records);
    EXPECT_EQ(taxRecordsFromJson(toJson(TaxRecords{})), TaxRecords{});
}

TEST(JsonCodec, OtherTypesRoundTrip) {
    const ChargeResult charge{"txn-1", 750, 999'250};
    const auto charge2 = chargeResultFromJson(parseJsonObject(toJsonString(toJson(charge)), "t"));
    EXPECT_EQ(charge2.providerTxnId, "txn-1");
    EXPECT_EQ(charge2.amount, 750);
    EXPECT_EQ(charge2.balanceAfter, 999'250);

    const SendReceipt receipt = sendReceiptFromJson(toJson(SendReceipt{"gw-9", 3}));
    EXPECT_EQ(receipt.gatewayMsgId, "gw-9");
    EXPECT_EQ(receipt.segments, 3);

    const OutboundSms sms = outboundSmsFromJson(toJson(OutboundSms{"n-1", "0912345678", "您的驗證碼 123456"}));
    EXPECT_EQ(sms.notificationId, "n-1");
    EXPECT_EQ(sms.msisdn, "0912345678");
    EXPECT_EQ(sms.text, "您的驗證碼 123456");

    const auto taxRequest = taxDataRequestFromJson(toJson(TaxDataRequest{"B223456789", {2021, 2022}, true, false}));
    EXPECT_EQ(taxRequest.years, (std::vector<int>{2021, 2022}));
    EXPECT_TRUE(taxRequest.income);
    EXPECT_FALSE(taxRequest.property);

    const auto chargeRequest = chargeRequestFromJson(toJson(ChargeRequest{"card-1", 500, "key-1"}));
    EXPECT_EQ(chargeRequest.cardId, "card-1");
    EXPECT_EQ(chargeRequest.amount, 500);
    EXPECT_EQ(chargeRequest.idempotencyKey, "key-1");

    EXPECT_TRUE(nhiMatchFromJson(nhiMatchToJson(true)));
    EXPECT_EQ(nhiVerifyRequestFromJson(toJson(NhiVerifyRequest{"A1", "1234"})).last4, "1234");
    EXPECT_EQ(errorBodyFromJson(toJson(ErrorBody{"not_found", "no"})).code, "not_found");
}

// The message of a decoding failure, which must name the bad field.
template <class Decode>
std::string decodeError(const std::string& text, Decode decode) {
    try {
        decode(parseJsonObject(text, "payload"));
    } catch (const PermanentError& error) {
        return error.what();
    }
    return "(no error)";
}

TEST(JsonCodec, MalformedPayloadsThrowPermanentErrorNamingTheField) {
    const auto registry = [](const Poco::JSON::Object::Ptr& json) { return registryRecordFromJson(json); };
    const auto tax = [](const Poco::JSON::Object::Ptr& json) { return taxRecordsFromJson(json); };
    const auto charge = [](const Poco::JSON::Object::Ptr& json) { return chargeResultFromJson(json); };

    EXPECT_NE(decodeError(R"({"id":"A","name":"n","district":"d","deceased":false,"company":false})", registry)
                  .find("'birth_date' is missing"),
              std::string::npos);
    EXPECT_NE(decodeError(R"({"id":"A","name":"n","birth_date":null,"district":"d","deceased":false,"company":false})",
                          registry)
                  .find("'birth_date'"),
              std::string::npos);
    EXPECT_NE(decodeError(R"({"id":"A","name":"n","birth_date":"x","district":"d","deceased":"no","company":false})",
                          registry)
                  .find("'deceased' must be true or false"),
              std::string::npos);
    EXPECT_NE(
        decodeError(R"({"id":7,"name":"n","birth_date":"x","district":"d","deceased":true,"company":false})", registry)
            .find("'id' must be a string"),
        std::string::npos);
    EXPECT_NE(decodeError(R"({"income":[{"year":2023,"payer_id":"1","payer_name":"p","income_type":"50",
                              "amount":1.5}],"property":[]})",
                          tax)
                  .find("income[0]: field 'amount' must be an integer"),
              std::string::npos);
    EXPECT_NE(decodeError(R"({"income":[],"property":[7]})", tax).find("'property[0]' must be an object"),
              std::string::npos);
    EXPECT_NE(decodeError(R"({"income":{},"property":[]})", tax).find("'income' must be an array"), std::string::npos);
    EXPECT_NE(decodeError(R"({"provider_txn_id":"t","amount":18446744073709551615,"balance_after":0})", charge)
                  .find("'amount' is out of range"),
              std::string::npos);
    EXPECT_NE(decodeError(R"({"match":1})", nhiMatchFromJson).find("'match'"), std::string::npos);
    EXPECT_NE(decodeError(R"({"id":"A","years":[2023,"x"],"income":true,"property":true})", taxDataRequestFromJson)
                  .find("'years[1]' must be an integer"),
              std::string::npos);
    EXPECT_NE(decodeError(R"({"gateway_msg_id":"g","segments":99999999999})", sendReceiptFromJson)
                  .find("'segments' is out of range"),
              std::string::npos);

    EXPECT_THROW(parseJsonObject("not json", "body"), PermanentError);
    EXPECT_THROW(parseJsonObject("[1,2]", "body"), PermanentError);
    EXPECT_THROW(registryRecordFromJson(nullptr), PermanentError);
}

}  // namespace
}  // namespace taxdesk::connectors
