// The payment handler when the store fails while recording the provider's answer (review of the issue-10 refactor):
// the card was charged but completePayment threw a retryable StoreError. The request answers 503 payment_unavailable
// with the payment's lease released, and a retry with the same key records the charge that was made (200: the key's
// payment existed), the card charged once. CreditorApi in-process over a temporary SQLite store, the in-process payment
// stub and a real HttpServer on a loopback port of its own; no other server is needed.
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Timespan.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "connectors/store/store.hpp"
#include "connectors/stubs/stub_connectors.hpp"
#include "engine/api/auth.hpp"
#include "engine/api/creditor_api.hpp"
#include "engine/http/http_server.hpp"
#include "fixtures/awaiting_batch.hpp"
#include "fixtures/flaky_ledger.hpp"
#include "fixtures/test_env.hpp"

using namespace taxdesk;
namespace td_testing = taxdesk::testing;

namespace {

constexpr long long kBalance = 1'000'000;

struct Answer {
    int status = 0;
    std::string body;
};

/// One POST over a fresh connection: the status code and the body.
Answer post(int port, const std::string& path, const std::string& token, const std::string& body) {
    Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", static_cast<Poco::UInt16>(port)));
    socket.setReceiveTimeout(Poco::Timespan(60, 0));
    const std::string request = "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" +
                                "Authorization: Bearer " + token + "\r\nContent-Type: application/json\r\n" +
                                "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    socket.sendBytes(request.data(), static_cast<int>(request.size()));
    std::string raw;
    char buffer[4096];
    for (;;) {
        const int n = socket.receiveBytes(buffer, sizeof buffer);
        if (n <= 0) break;
        raw.append(buffer, static_cast<std::size_t>(n));
    }
    Answer answer;
    if (raw.rfind("HTTP/1.1 ", 0) == 0) answer.status = std::stoi(raw.substr(9, 3));
    const auto split = raw.find("\r\n\r\n");
    if (split != std::string::npos) answer.body = raw.substr(split + 4);
    return answer;
}

class CreditorPaymentFaults : public ::testing::Test {
  protected:
    void SetUp() override {
        connectors::StoreSettings storeSettings;
        storeSettings.sqlitePath = td_testing::tempDir("creditor-payment-faults") + "/taxdesk.db";
        store_ = std::make_unique<connectors::Store>(storeSettings);
        store_->tokens().insertToken(
            {engine::api::hashToken(token_), "creditor", "C1", "2026-01-01T00:00:00.000Z", "tid1", "", ""});
        payment_ = std::make_shared<connectors::StubPayment>(kBalance, connectors::StubFaults(0, 0, 0.0));
    }

    std::string makeBatch(int rows) { return td_testing::writeAwaitingBatch(store_->batches(), rows); }

    const std::string token_ = "tdk_faults_creditor";
    std::unique_ptr<connectors::Store> store_;
    std::shared_ptr<connectors::StubPayment> payment_;
};

TEST_F(CreditorPaymentFaults, AStoreFailureAfterTheChargeIs503AndTheRetryRecordsTheOneCharge) {
    const auto batchId = makeBatch(3);  // NT$750
    td_testing::FlakyLedger flaky(store_->payments(), 1);
    engine::api::CreditorApiSettings settings;
    settings.spoolDir = td_testing::tempDir("creditor-payment-faults-spool");
    std::atomic<int> paid{0};
    engine::api::CreditorApi api(
        settings, engine::api::CreditorStores{store_->batches(), store_->results(), flaky, store_->tokens()}, payment_,
        [&](const std::string&, long long, const std::string&) { ++paid; });
    engine::HttpServer server("127.0.0.1", 0, 2, api.routes());
    const std::string path = "/api/v1/batches/" + batchId + "/payment";
    const std::string body = R"({"method":"easycard","card_id":"EC-0001","idempotency_key":"k-)" + batchId + "\"}";

    const auto first = post(server.port(), path, token_, body);
    EXPECT_EQ(first.status, 503) << first.body;
    EXPECT_NE(first.body.find(R"("code":"payment_unavailable")"), std::string::npos) << first.body;
    ASSERT_EQ(flaky.completeCalls(), 1);
    const auto pending = store_->payments().findPaymentByKey("C1", "k-" + batchId).value();
    EXPECT_EQ(pending.status, jobs::payment::PaymentStatus::pending);
    EXPECT_EQ(pending.leaseOwner, "") << "released: a retry takes it over at once";
    EXPECT_EQ(payment_->balance("EC-0001"), kBalance - 750) << "the card was charged before the store failed";

    const auto retry = post(server.port(), path, token_, body);
    // 200, not 201: the key's payment existed before the retry (jobs::payment::outcomeOf; as before the refactor).
    EXPECT_EQ(retry.status, 200) << retry.body;
    EXPECT_NE(retry.body.find(R"("status":"succeeded")"), std::string::npos) << retry.body;
    const auto recorded = store_->payments().findPaymentByKey("C1", "k-" + batchId).value();
    EXPECT_EQ(recorded.status, jobs::payment::PaymentStatus::succeeded);
    const auto charge = payment_->findCharge(recorded.providerKey);
    ASSERT_TRUE(charge.has_value());
    EXPECT_EQ(recorded.providerTxnId, charge->providerTxnId) << "the charge that was made, not a new one";
    EXPECT_EQ(payment_->balance("EC-0001"), kBalance - 750) << "charged once";
    EXPECT_EQ(store_->payments().paidTotal(batchId), 750);
    EXPECT_TRUE(store_->batches().findBatch(batchId)->paid);
    EXPECT_EQ(paid.load(), 1) << "counted once";
}

}  // namespace
