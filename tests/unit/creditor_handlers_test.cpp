// The creditor API's handlers without a database: the payment outcomes mapped to replies (engine/api/creditor_payment)
// and bearer-token authentication (engine/api/auth) over an in-memory fake of the one store area it uses, TokenStore.
// The authentication cases go through a real HttpServer on a loopback port of its own; no other server is needed.
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Timespan.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>

#include "connectors/store/token_store.hpp"
#include "engine/api/auth.hpp"
#include "engine/api/creditor_api.hpp"
#include "engine/http/http_server.hpp"

namespace taxdesk::engine::api {
namespace {

using jobs::payment::PaymentOutcome;

connectors::PaymentRecord aPayment() {
    connectors::PaymentRecord payment;
    payment.paymentId = "P1";
    payment.batchId = "B1";
    payment.creditorId = "C1";
    payment.amount = 750;
    payment.method = "easycard";
    payment.card = "********0002";
    payment.providerTxnId = "T9";
    payment.status = jobs::payment::PaymentStatus::succeeded;
    payment.createdAt = "2026-12-01T09:00:00.000Z";
    return payment;
}

bool names(const HttpReply& reply, const std::string& code) {
    return reply.body.find("\"code\":\"" + code + "\"") != std::string::npos;
}

TEST(PaymentReply, ThePaymentIs201ForItsCreatorAnd200ForARepeat) {
    const auto paid = paymentReply(PaymentOutcome::paid, aPayment(), "");
    EXPECT_EQ(paid.status, 201);
    EXPECT_NE(paid.body.find(R"("payment_id":"P1")"), std::string::npos) << paid.body;
    EXPECT_NE(paid.body.find(R"("amount":750)"), std::string::npos) << paid.body;
    EXPECT_NE(paid.body.find(R"("card":"********0002")"), std::string::npos) << paid.body;
    const auto repeated = paymentReply(PaymentOutcome::repeated, aPayment(), "");
    EXPECT_EQ(repeated.status, 200);
    EXPECT_EQ(repeated.body, paid.body);
}

TEST(PaymentReply, AnInsufficientBalanceIs402NamingTheFee) {
    auto payment = aPayment();
    payment.status = jobs::payment::PaymentStatus::failed;
    payment.error = "insufficient balance";
    const auto reply = paymentReply(PaymentOutcome::insufficient_balance, payment, "");
    EXPECT_EQ(reply.status, 402);
    EXPECT_TRUE(names(reply, "insufficient_balance")) << reply.body;
    EXPECT_NE(reply.body.find("NT$750; nothing was charged"), std::string::npos) << reply.body;
}

TEST(PaymentReply, ARefusalIs402PaymentFailedWithTheLedgersReason) {
    auto payment = aPayment();
    payment.status = jobs::payment::PaymentStatus::failed;
    payment.error = "the EasyCard service refused the charge";
    const auto reply = paymentReply(PaymentOutcome::refused, payment, "");
    EXPECT_EQ(reply.status, 402);
    EXPECT_TRUE(names(reply, "payment_failed")) << reply.body;
    EXPECT_NE(reply.body.find("refused the charge"), std::string::npos) << reply.body;
}

TEST(PaymentReply, AChargeInProgressIs409WithRetryAfterAndNoAnswerIs503) {
    const auto busy = paymentReply(PaymentOutcome::in_progress, aPayment(), "");
    EXPECT_EQ(busy.status, 409);
    EXPECT_TRUE(names(busy, "payment_in_progress")) << busy.body;
    EXPECT_EQ(busy.headers.at("Retry-After"), "1");
    const auto away = paymentReply(PaymentOutcome::unavailable, aPayment(), "");
    EXPECT_EQ(away.status, 503);
    EXPECT_TRUE(names(away, "payment_unavailable")) << away.body;
    EXPECT_NE(away.body.find("same idempotency_key"), std::string::npos) << away.body;
}

TEST(PaymentReply, ConflictsAndStatesAre409AndAnotherCreditorsBatchIs404) {
    const connectors::PaymentRecord none;
    const std::map<PaymentOutcome, std::pair<int, std::string>> expected{
        {PaymentOutcome::idempotency_conflict, {409, "idempotency_conflict"}},
        {PaymentOutcome::not_awaiting_payment, {409, "not_awaiting_payment"}},
        {PaymentOutcome::nothing_to_pay, {409, "nothing_to_pay"}},
        {PaymentOutcome::not_found, {404, "not_found"}},
    };
    for (const auto& [outcome, want] : expected) {
        const auto reply = paymentReply(outcome, none, "batch B1 is queued");
        EXPECT_EQ(reply.status, want.first) << want.second;
        EXPECT_TRUE(names(reply, want.second)) << reply.body;
        EXPECT_NE(reply.body.find("batch B1 is queued"), std::string::npos) << reply.body;
    }
}

TEST(PaymentReply, AMalformedRequestIs400NamingTheField) {
    const connectors::PaymentRecord none;
    const std::map<PaymentOutcome, std::string> expected{{PaymentOutcome::bad_method, "bad_method"},
                                                         {PaymentOutcome::bad_card, "bad_card"},
                                                         {PaymentOutcome::bad_idempotency_key, "bad_idempotency_key"}};
    for (const auto& [outcome, code] : expected) {
        const auto reply = paymentReply(outcome, none, "");
        EXPECT_EQ(reply.status, 400) << code;
        EXPECT_TRUE(names(reply, code)) << reply.body;
    }
}

/// Tokens in memory, by hash; counts the look-ups.
class FakeTokenStore final : public connectors::TokenStore {
  public:
    void insertToken(const connectors::TokenRecord& token) override { tokens_[token.tokenHash] = token; }
    std::optional<connectors::TokenRecord> findToken(const std::string& tokenHash) override {
        ++lookups;
        const auto found = tokens_.find(tokenHash);
        if (found == tokens_.end()) return std::nullopt;
        return found->second;
    }
    std::vector<connectors::TokenRecord> listTokens() override { return {}; }
    connectors::RevokeOutcome revokeToken(const std::string&, const std::string&) override {
        return connectors::RevokeOutcome::unknown;
    }
    std::atomic<int> lookups{0};

  private:
    std::map<std::string, connectors::TokenRecord> tokens_;
};

/// The status line and body of one GET /who with this Authorization header ("" = none).
std::string ask(int port, const std::string& authorization) {
    Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", static_cast<Poco::UInt16>(port)));
    socket.setReceiveTimeout(Poco::Timespan(30, 0));
    std::string request = "GET /who HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    if (!authorization.empty()) request += "Authorization: " + authorization + "\r\n";
    request += "\r\n";
    socket.sendBytes(request.data(), static_cast<int>(request.size()));
    std::string answer;
    char buffer[4096];
    for (;;) {
        const int n = socket.receiveBytes(buffer, sizeof buffer);
        if (n <= 0) break;
        answer.append(buffer, static_cast<std::size_t>(n));
    }
    return answer;
}

class Authentication : public ::testing::Test {
  protected:
    void SetUp() override {
        tokens_.insertToken({hashToken("tdk_creditor"), "creditor", "C1", "2026-01-01T00:00:00.000Z", "id1", "", ""});
        tokens_.insertToken({hashToken("tdk_ops"), "ops", "", "2026-01-01T00:00:00.000Z", "id2", "", ""});
        tokens_.insertToken({hashToken("tdk_revoked"), "creditor", "C1", "2026-01-01T00:00:00.000Z", "id3", "",
                             "2026-02-01T00:00:00.000Z"});
        tokens_.insertToken({hashToken("tdk_expired"), "creditor", "C1", "2026-01-01T00:00:00.000Z", "id4",
                             "2026-01-02T00:00:00.000Z", ""});
        std::vector<Route> routes;
        routes.push_back({"GET", "/who", [this](HttpRequest& request) {
                              const Principal who = authenticate(request, tokens_, {"creditor"});
                              return jsonReply(200, R"({"creditor":")" + who.creditorId + R"("})");
                          }});
        server_ = std::make_unique<HttpServer>("127.0.0.1", 0, 2, std::move(routes));
    }

    FakeTokenStore tokens_;
    std::unique_ptr<HttpServer> server_;
};

TEST_F(Authentication, ACreditorTokenNamesItsCreditor) {
    const auto answer = ask(server_->port(), "Bearer tdk_creditor");
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0U) << answer;
    EXPECT_NE(answer.find(R"({"creditor":"C1"})"), std::string::npos) << answer;
}

TEST_F(Authentication, NoUnknownRevokedOrExpiredTokenIs401AndAnotherRoleIs403) {
    const std::map<std::string, std::pair<std::string, std::string>> expected{
        {"", {"401", "unauthorized"}},
        {"Basic dXNlcjpwYXNz", {"401", "unauthorized"}},
        {"Bearer tdk_unknown", {"401", "unauthorized"}},
        {"Bearer tdk_revoked", {"401", "token_revoked"}},
        {"Bearer tdk_expired", {"401", "token_expired"}},
        {"Bearer tdk_ops", {"403", "forbidden"}},
    };
    for (const auto& [header, want] : expected) {
        const auto answer = ask(server_->port(), header);
        EXPECT_EQ(answer.rfind("HTTP/1.1 " + want.first, 0), 0U) << header << ": " << answer;
        EXPECT_NE(answer.find("\"code\":\"" + want.second + "\""), std::string::npos) << header << ": " << answer;
    }
}

TEST_F(Authentication, TheStoreIsAskedOnEveryRequest) {
    ask(server_->port(), "Bearer tdk_creditor");
    ask(server_->port(), "Bearer tdk_creditor");
    EXPECT_EQ(tokens_.lookups.load(), 2) << "a revocation must hold from the next request: no cache";
}

}  // namespace
}  // namespace taxdesk::engine::api
