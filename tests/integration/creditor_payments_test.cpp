// The creditor's payment over real HTTP (SPEC 3.2): idempotency, the ledger and payments.records, an insufficient
// balance, and the ledger equal to what the card was charged whatever the race (issue 9).
#include <chrono>
#include <thread>

#include "creditor_fixture.hpp"

using taxdesk::testing::HttpResult;
using taxdesk::testing::ServeProcess;
using namespace taxdesk::testing::creditor;

namespace {

TEST_F(CreditorApiTest, PaymentIsIdempotentByKey) {
    const auto a = json(upload(generate(20, 0, "utf-8", 11).bytes))->getValue<std::string>("batch_id");
    const auto b = json(upload(generate(20, 0, "utf-8", 12).bytes))->getValue<std::string>("batch_id");
    const auto first = pay(a, "same-key-" + a);
    ASSERT_EQ(first.status, 201) << first.body;
    const auto second = pay(a, "same-key-" + a);
    ASSERT_EQ(second.status, 200) << second.body;
    EXPECT_EQ(json(second)->getValue<std::string>("payment_id"), json(first)->getValue<std::string>("payment_id"));
    EXPECT_EQ(pay(b, "same-key-" + a).status, 409) << "a key reused with another batch";
    EXPECT_EQ(pay(a, "another-key-" + a).status, 409) << "a paid batch is not paid again";
    EXPECT_EQ(pay(a, "").status, 400);
    const auto badMethod = engine_->request("POST", "/api/v1/batches/" + b + "/payment", creditor_,
                                            R"({"method":"cash","card_id":"EC-1","idempotency_key":"k"})");
    EXPECT_EQ(badMethod.status, 400);
}

TEST_F(CreditorApiTest, EveryPaymentIsPublishedToPaymentsRecordsFromTheLedger) {
    const auto id = json(upload(generate(10, 0, "utf-8", 16).bytes))->getValue<std::string>("batch_id");
    const auto paid = pay(id, "records-" + id);
    ASSERT_EQ(paid.status, 201) << paid.body;
    const std::string paymentId = json(paid)->getValue<std::string>("payment_id");
    const auto records =
        taxdesk::testing::readRecords(engine_->prefix() + "payments.records", 1000, std::chrono::seconds(8));
    std::size_t seen = 0;
    for (const auto& record : records) {
        if (record.value.find(paymentId) == std::string::npos) continue;
        ++seen;
        EXPECT_EQ(record.key, id) << "keyed by batch_id";
        const auto value = Poco::JSON::Parser().parse(record.value).extract<Poco::JSON::Object::Ptr>();
        EXPECT_EQ(value->getValue<std::string>("status"), "succeeded");
        EXPECT_EQ(value->getValue<std::string>("card"), "***0001");
        EXPECT_FALSE(value->getValue<std::string>("provider_txn_id").empty());
    }
    EXPECT_EQ(seen, 1u) << "published once";
}

TEST_F(CreditorApiTest, ThePaymentsRequestIdFollowsTheRowsIntoTheInquirysLogLines) {
    const auto id = json(upload(generate(30, 0, "utf-8", 18).bytes))->getValue<std::string>("batch_id");
    const std::string requestId = "pay-" + id;
    const auto paid =
        engine_->request("POST", "/api/v1/batches/" + id + "/payment", creditor_,
                         R"({"method":"easycard","card_id":"EC-0001","idempotency_key":"rid-)" + id + "\"}",
                         "application/json", requestId);
    ASSERT_EQ(paid.status, 201) << paid.body;
    waitCompleted(id);
    // The inquiry logs its results after they are stored: wait for every row's line, bounded.
    int results = 0;
    bool httpLine = false;
    taxdesk::testing::eventually([&] {
        results = 0;
        httpLine = false;
        std::ifstream in(engine_->logFile());
        for (std::string line; std::getline(in, line);) {
            if (line.find("request_id=" + requestId) == std::string::npos) continue;
            if (line.find("source=http") != std::string::npos) httpLine = true;
            const auto at = line.find("batch=" + id + " results=");
            if (at != std::string::npos) results += std::stoi(line.substr(at + id.size() + 15));
        }
        return httpLine && results >= 30;
    });
    EXPECT_TRUE(httpLine) << "the payment's own log line";
    EXPECT_EQ(results, 30) << "every row's result logged under the payment's request id";
}

TEST_F(CreditorApiTest, AnInsufficientBalanceIs402AndNothingIsPaid) {
    ServeProcess poor({"payment.stub_balance=1000"});
    const std::string token = poor.createToken("creditor", "C9");
    const auto file = generate(20, 0, "utf-8", 13);
    const auto uploaded = poor.request("POST", "/api/v1/batches", token, file.bytes, "text/csv");
    ASSERT_EQ(uploaded.status, 201) << uploaded.body;
    const auto id = json(uploaded)->getValue<std::string>("batch_id");
    ASSERT_GT(json(uploaded)->getValue<long long>("fee_total"), 1000);
    const auto refused = poor.request("POST", "/api/v1/batches/" + id + "/payment", token,
                                      R"({"method":"easycard","card_id":"EC-POOR","idempotency_key":"k1"})");
    EXPECT_EQ(refused.status, 402) << refused.body;
    EXPECT_EQ(json(refused)->getObject("error")->getValue<std::string>("code"), "insufficient_balance");
    const auto status = json(poor.request("GET", "/api/v1/batches/" + id, token));
    EXPECT_FALSE(status->getValue<bool>("paid"));
    EXPECT_EQ(status->getValue<std::string>("state"), "awaiting_payment");
}

/// An engine whose payment provider (the payment stub, a little slow, as a real one is) runs in this process, served
/// over HTTP, so that a test can ask it what it charged.
class CreditorPayments : public ::testing::Test {
  protected:
    static constexpr long long kBalance = 100'000'000;

    static taxdesk::connectors::ConnectorSet stubConnectors() {
        taxdesk::connectors::StubSettings settings;
        settings.paymentBalance = kBalance;
        settings.latencyMs = 20;
        settings.jitterMs = 20;
        return taxdesk::connectors::makeStubConnectors(settings);
    }
    static taxdesk::connectors::StoreSettings ledgerOf(const ServeProcess& engine) {
        taxdesk::connectors::StoreSettings settings;
        settings.sqlitePath = engine.varDir() + "/taxdesk.db";
        return settings;
    }

    std::string upload(std::uint64_t seed) {
        const auto uploaded =
            engine_.request("POST", "/api/v1/batches", token_, generate(4, 0, "utf-8", seed).bytes, "text/csv");
        EXPECT_EQ(uploaded.status, 201) << uploaded.body;
        return json(uploaded)->getValue<std::string>("batch_id");
    }
    HttpResult pay(const std::string& batch, const std::string& card, const std::string& key) {
        return engine_.request("POST", "/api/v1/batches/" + batch + "/payment", token_, payBody(card, key),
                               "application/json");
    }

    taxdesk::connectors::ConnectorSet stubs_ = stubConnectors();
    std::shared_ptr<taxdesk::connectors::StubPayment> provider_ =
        std::dynamic_pointer_cast<taxdesk::connectors::StubPayment>(stubs_.payment);
    taxdesk::connectors::StubHttpServer stubServer_{stubs_};
    ServeProcess engine_{{"connectors.mode=http", "connectors.base_url=" + stubServer_.baseUrl()}};
    std::string token_ = engine_.createToken("creditor", "C1");
    taxdesk::connectors::Store ledger_{ledgerOf(engine_)};
};

TEST_F(CreditorPayments, ConcurrentPaymentsWithOneKeyAndDifferentCardsNeverLeaveAChargeOutOfTheLedger) {
    ASSERT_TRUE(provider_);
    constexpr int kThreads = 8;
    constexpr int kRounds = 6;
    long long ledgerTotal = 0;
    long long chargedTotal = 0;
    for (int round = 0; round < kRounds; ++round) {
        const auto batch = upload(900 + static_cast<std::uint64_t>(round));
        const std::string key = "race-" + batch;
        auto card = [&](int t) { return "EC-R" + std::to_string(round) + "-" + std::to_string(t); };
        std::vector<HttpResult> answers(kThreads);
        const auto errors = taxdesk::testing::atOnce(kThreads, [&](int t, std::latch& start) {
            start.arrive_and_wait();
            answers[static_cast<std::size_t>(t)] = pay(batch, card(t), key);
        });
        // A charge whose answer did not come within connectors.timeout_ms (a loaded machine) is 503
        // payment_unavailable, "try again with the same idempotency_key": the client does so, as the contract tells
        // it, until the key's outcome is known (bounded). Only then must the ledger equal what was charged.
        for (int t = 0; t < kThreads; ++t) {
            auto& answer = answers[static_cast<std::size_t>(t)];
            for (int again = 0; again < 40 && answer.status == 503; ++again) {
                std::this_thread::sleep_for(std::chrono::milliseconds(250));
                answer = pay(batch, card(t), key);
            }
        }
        int succeeded = 0;
        for (int t = 0; t < kThreads; ++t) {
            EXPECT_EQ(errors[static_cast<std::size_t>(t)], "");
            const auto& answer = answers[static_cast<std::size_t>(t)];
            if (answer.status == 200 || answer.status == 201) {
                EXPECT_EQ(json(answer)->getValue<std::string>("status"), "succeeded") << answer.body;
                ++succeeded;
            } else {
                EXPECT_EQ(answer.status, 409) << "another card under the same key: " << answer.body;
            }
        }
        EXPECT_EQ(succeeded, 1) << "round " << round << ": only the request whose card was charged succeeds";
        long long charged = 0;
        int cardsCharged = 0;
        for (int t = 0; t < kThreads; ++t) {
            const long long spent = kBalance - provider_->balance(card(t));
            charged += spent;
            cardsCharged += spent > 0 ? 1 : 0;
        }
        EXPECT_EQ(cardsCharged, 1) << "round " << round << ": one charge for the key";
        const long long inLedger = ledger_.payments().paidTotal(batch);
        EXPECT_EQ(inLedger, charged) << "round " << round << ": the ledger says what the card was charged";
        EXPECT_TRUE(json(engine_.request("GET", "/api/v1/batches/" + batch, token_))->getValue<bool>("paid"));
        ledgerTotal += inLedger;
        chargedTotal += charged;
    }
    EXPECT_EQ(ledgerTotal, chargedTotal);
}

TEST_F(CreditorPayments, TwentyIdenticalPaymentsAtOnceCountAsOnePayment) {
    const auto batch = upload(31);
    const std::string count = R"(taxdesk_payments_total{unit="count"})";
    const std::string ntd = R"(taxdesk_payments_total{unit="ntd"})";
    const double countBefore = metric(engine_, count);
    const double ntdBefore = metric(engine_, ntd);
    std::vector<int> statuses(20);
    taxdesk::testing::atOnce(20, [&](int t, std::latch& start) {
        start.arrive_and_wait();
        statuses[static_cast<std::size_t>(t)] = pay(batch, "EC-0020", "twenty-" + batch).status;
    });
    for (const int status : statuses) EXPECT_TRUE(status == 200 || status == 201) << status;
    EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 201), 1) << "one request made the payment";
    const auto fee = json(engine_.request("GET", "/api/v1/batches/" + batch, token_))->getValue<long long>("fee_total");
    EXPECT_EQ(kBalance - provider_->balance("EC-0020"), fee) << "charged once";
    EXPECT_EQ(metric(engine_, count) - countBefore, 1) << "one ledger transition, not one per request";
    EXPECT_EQ(metric(engine_, ntd) - ntdBefore, static_cast<double>(fee));
}

TEST_F(CreditorApiTest, IdempotencyKeysBelongToOneCreditor) {
    const auto mine = json(upload(generate(5, 0, "utf-8", 32).bytes))->getValue<std::string>("batch_id");
    const auto theirs = json(upload(generate(7, 0, "utf-8", 33).bytes, "", other_))->getValue<std::string>("batch_id");
    const auto theirsToo =
        json(upload(generate(8, 0, "utf-8", 34).bytes, "", other_))->getValue<std::string>("batch_id");
    const std::string key = taxdesk::testing::uniqueName("shared-key");  // names no batch
    const auto first = pay(mine, key);
    ASSERT_EQ(first.status, 201) << first.body;
    const std::string myPayment = json(first)->getValue<std::string>("payment_id");

    // C2 reusing C1's key: a payment of C2's own, nothing of C1's in the answer.
    const auto other = engine_->request("POST", "/api/v1/batches/" + theirs + "/payment", other_,
                                        payBody("EC-0002", key), "application/json");
    ASSERT_EQ(other.status, 201) << other.body;
    EXPECT_EQ(json(other)->getValue<std::string>("batch_id"), theirs);
    EXPECT_NE(json(other)->getValue<std::string>("payment_id"), myPayment);
    EXPECT_TRUE(json(engine_->request("GET", "/api/v1/batches/" + theirs, other_))->getValue<bool>("paid"));

    // C2 reusing the key with another of its batches: 409 about C2's own data only.
    const auto conflict = engine_->request("POST", "/api/v1/batches/" + theirsToo + "/payment", other_,
                                           payBody("EC-0002", key), "application/json");
    EXPECT_EQ(conflict.status, 409) << conflict.body;
    for (const std::string& secret : {mine, myPayment, std::string("C1")})
        EXPECT_EQ(conflict.body.find(secret), std::string::npos) << secret << " in " << conflict.body;
    // And C1 still gets its own record for its key.
    const auto again = pay(mine, key);
    EXPECT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(json(again)->getValue<std::string>("payment_id"), myPayment);
}

TEST(TwoEngines, AStartingEngineNeverResolvesThePaymentAnotherEngineIsCharging) {
    // One provider (slow: a charge takes 15 s, so that the second engine's start-up, 3-5 s, ends well within it on a
    // busy machine) and one store for two engines, as in production.
    taxdesk::connectors::StubSettings stubSettings;
    stubSettings.paymentBalance = 1'000'000;
    stubSettings.latencyMs = 15000;
    auto stubs = taxdesk::connectors::makeStubConnectors(stubSettings);
    const auto provider = std::dynamic_pointer_cast<taxdesk::connectors::StubPayment>(stubs.payment);
    ASSERT_TRUE(provider);
    taxdesk::connectors::StubHttpServer stubServer(stubs);
    const std::string storePath = taxdesk::testing::tempDir("two-engines") + "/taxdesk.db";
    const std::vector<std::string> sets{"connectors.mode=http", "connectors.base_url=" + stubServer.baseUrl(),
                                        "connectors.timeout_ms=40000", "connectors.retries=0",
                                        "store.sqlite_path=" + storePath};
    ServeProcess first(sets);
    std::string token;  // in the shared store
    ASSERT_EQ(first.runTool({"--set", "store.sqlite_path=" + storePath, "token", "create", "--role", "creditor",
                             "--creditor", "C1"},
                            &token),
              0);
    token.erase(token.find_last_not_of("\r\n") + 1);
    const auto uploaded =
        first.request("POST", "/api/v1/batches", token, generate(1, 0, "utf-8", 41).bytes, "text/csv");
    ASSERT_EQ(uploaded.status, 201) << uploaded.body;
    const auto batch = json(uploaded)->getValue<std::string>("batch_id");
    taxdesk::connectors::StoreSettings storeSettings;
    storeSettings.sqlitePath = storePath;
    taxdesk::connectors::Store ledger(storeSettings);

    HttpResult paid;
    std::thread paying([&] {
        paid = first.request("POST", "/api/v1/batches/" + batch + "/payment", token, payBody("EC-TWO", "two-" + batch),
                             "application/json");
    });
    // The first engine's request has reserved the key and is waiting for the provider: start the second engine now.
    bool reserved = false;
    taxdesk::testing::eventually([&] {
        const auto payment = ledger.payments().findPaymentByKey("C1", "two-" + batch);
        reserved = payment && payment->status == taxdesk::jobs::payment::PaymentStatus::pending;
        return reserved;
    });
    ASSERT_TRUE(reserved);
    ServeProcess second(sets);
    const auto during = ledger.payments().findPaymentByKey("C1", "two-" + batch).value();
    paying.join();

    EXPECT_EQ(during.status, taxdesk::jobs::payment::PaymentStatus::pending)
        << "the second engine's start-up left the payment in flight alone";
    EXPECT_EQ(paid.status, 201) << paid.body;
    const auto fee = json(uploaded)->getValue<long long>("fee_total");
    EXPECT_EQ(1'000'000 - provider->balance("EC-TWO"), fee);
    EXPECT_EQ(ledger.payments().paidTotal(batch), fee) << "the ledger says what the card was charged";
    EXPECT_EQ(ledger.payments().findPaymentByKey("C1", "two-" + batch)->status,
              taxdesk::jobs::payment::PaymentStatus::succeeded);
}

}  // namespace
