// Issue 13: PUT/GET/DELETE /api/v1/webhook (engine/api/webhook_api) over in-memory fakes of the token and webhook
// stores, through a real HttpServer on a loopback port; and the webhook client (connectors/http/webhook_client)
// against a local Poco HTTP receiver that answers as told: signed, idempotency id, attempts with back-off.
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/Timespan.h>
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "connectors/api/errors.hpp"
#include "connectors/http/webhook_client.hpp"
#include "connectors/store/token_store.hpp"
#include "connectors/store/webhook_store.hpp"
#include "engine/api/auth.hpp"
#include "engine/api/webhook_api.hpp"
#include "engine/http/http_server.hpp"
#include "jobs/notify/notify.hpp"

namespace taxdesk::engine::api {
namespace {

class FakeTokenStore final : public connectors::TokenStore {
  public:
    void insertToken(const connectors::TokenRecord& token) override { tokens_[token.tokenHash] = token; }
    std::optional<connectors::TokenRecord> findToken(const std::string& tokenHash) override {
        const auto found = tokens_.find(tokenHash);
        if (found == tokens_.end()) return std::nullopt;
        return found->second;
    }
    std::vector<connectors::TokenRecord> listTokens() override { return {}; }
    connectors::RevokeOutcome revokeToken(const std::string&, const std::string&) override {
        return connectors::RevokeOutcome::unknown;
    }

  private:
    std::map<std::string, connectors::TokenRecord> tokens_;
};

class FakeWebhookStore final : public connectors::WebhookStore {
  public:
    void putWebhook(const connectors::WebhookRecord& webhook) override {
        std::lock_guard lock(mutex_);
        auto stored = webhook;
        if (stored.updatedAt.empty()) stored.updatedAt = "2026-12-02T03:00:00.000Z";
        hooks[webhook.tokenId] = stored;
    }
    std::optional<connectors::WebhookRecord> findWebhook(const std::string& tokenId) override {
        std::lock_guard lock(mutex_);
        const auto found = hooks.find(tokenId);
        if (found == hooks.end()) return std::nullopt;
        return found->second;
    }
    bool removeWebhook(const std::string& tokenId) override {
        std::lock_guard lock(mutex_);
        return hooks.erase(tokenId) > 0;
    }
    std::map<std::string, connectors::WebhookRecord> hooks;

  private:
    std::mutex mutex_;
};

struct Answer {
    int status = 0;
    std::string body;
};

Answer call(int port, const std::string& method, const std::string& token, const std::string& body = "") {
    Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", static_cast<Poco::UInt16>(port)));
    socket.setReceiveTimeout(Poco::Timespan(30, 0));
    std::string request = method + " /api/v1/webhook HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    request += "Authorization: Bearer " + token + "\r\n";
    if (!body.empty())
        request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    request += "\r\n" + body;
    socket.sendBytes(request.data(), static_cast<int>(request.size()));
    std::string answer;
    char buffer[4096];
    for (;;) {
        const int n = socket.receiveBytes(buffer, sizeof buffer);
        if (n <= 0) break;
        answer.append(buffer, static_cast<std::size_t>(n));
    }
    Answer out;
    out.status = std::stoi(answer.substr(9, 3));
    const auto split = answer.find("\r\n\r\n");
    out.body = split == std::string::npos ? "" : answer.substr(split + 4);
    return out;
}

class WebhookRoutes : public ::testing::Test {
  protected:
    void SetUp() override {
        tokens_.insertToken({hashToken("tdk_c1"), "creditor", "C1", "2026-01-01T00:00:00.000Z", "tok1", "", ""});
        tokens_.insertToken({hashToken("tdk_c1b"), "creditor", "C1", "2026-01-01T00:00:00.000Z", "tok2", "", ""});
        tokens_.insertToken({hashToken("tdk_ops"), "ops", "", "2026-01-01T00:00:00.000Z", "tok3", "", ""});
        api_ = std::make_unique<WebhookApi>(WebhookApiSettings{true}, tokens_, hooks_);
        server_ = std::make_unique<HttpServer>("127.0.0.1", 0, 2, api_->routes());
    }
    int port() { return server_->port(); }

    FakeTokenStore tokens_;
    FakeWebhookStore hooks_;
    std::unique_ptr<WebhookApi> api_;
    std::unique_ptr<HttpServer> server_;
};

TEST_F(WebhookRoutes, BadBodiesAre400NamingTheField) {
    const std::map<std::string, std::pair<std::string, std::string>> cases{
        {"not json", {"bad_json", ""}},
        {"{}", {"bad_field", "url or sms is required"}},
        {R"({"url": 5})", {"bad_field", "url"}},
        {R"({"url": "ftp://x.example/"})", {"bad_url", "url must begin with https://"}},
        {R"({"url": "http://8.8.8.8/"})", {"bad_url", "only for a loopback or private address"}},
        {R"({"url": "https://x.example/", "secret": "short"})", {"bad_secret", "secret must be 16 to 128"}},
        {R"({"secret": "0123456789abcdef0"})", {"bad_field", "url or sms is required"}},
        {R"({"sms": "0212345678"})", {"bad_sms", "sms must be a mobile number"}},
        {R"({"sms": ["0912345678"]})", {"bad_field", "sms"}},
    };
    for (const auto& [body, want] : cases) {
        const auto answer = call(port(), "PUT", "tdk_c1", body);
        EXPECT_EQ(answer.status, 400) << body << ": " << answer.body;
        EXPECT_NE(answer.body.find("\"code\":\"" + want.first + "\""), std::string::npos)
            << body << ": " << answer.body;
        EXPECT_NE(answer.body.find(want.second), std::string::npos) << body << ": " << answer.body;
    }
    EXPECT_TRUE(hooks_.hooks.empty());
    EXPECT_EQ(call(port(), "PUT", "tdk_ops", R"({"url":"https://x.example/"})").status, 403);
}

TEST_F(WebhookRoutes, PutGetDeletePerToken) {
    const auto put = call(port(), "PUT", "tdk_c1", R"({"url":"https://hooks.example/t","sms":"+886 912-345-678"})");
    ASSERT_EQ(put.status, 200) << put.body;
    ASSERT_EQ(hooks_.hooks.count("tok1"), 1U);
    const auto stored = hooks_.hooks["tok1"];
    EXPECT_EQ(stored.creditorId, "C1");
    EXPECT_EQ(stored.url, "https://hooks.example/t");
    EXPECT_EQ(stored.sms, "0912345678");
    // A secret made for the creditor: "whsec_" and 48 hex digits, shown whole in this reply only.
    ASSERT_EQ(stored.secret.size(), 54U);
    EXPECT_EQ(stored.secret.rfind("whsec_", 0), 0U);
    EXPECT_NE(put.body.find("\"secret\":\"" + stored.secret + "\""), std::string::npos) << put.body;

    const auto get = call(port(), "GET", "tdk_c1");
    EXPECT_EQ(get.status, 200);
    EXPECT_NE(get.body.find(R"("secret":"whse****")"), std::string::npos) << get.body;
    EXPECT_EQ(get.body.find(stored.secret), std::string::npos) << get.body;
    EXPECT_NE(get.body.find(R"("sms":"0912345678")"), std::string::npos) << get.body;

    // A new URL without a secret keeps the secret; one given replaces it.
    ASSERT_EQ(call(port(), "PUT", "tdk_c1", R"({"url":"https://hooks.example/u"})").status, 200);
    EXPECT_EQ(hooks_.hooks["tok1"].secret, stored.secret);
    EXPECT_EQ(hooks_.hooks["tok1"].sms, "");
    ASSERT_EQ(
        call(port(), "PUT", "tdk_c1", R"({"url":"https://hooks.example/u","secret":"my-own-secret-0001"})").status,
        200);
    EXPECT_EQ(hooks_.hooks["tok1"].secret, "my-own-secret-0001");

    // Another token of the same creditor has its own registration.
    EXPECT_EQ(call(port(), "GET", "tdk_c1b").status, 404);
    EXPECT_EQ(call(port(), "DELETE", "tdk_c1").status, 204);
    EXPECT_EQ(call(port(), "DELETE", "tdk_c1").status, 404);
    EXPECT_EQ(call(port(), "GET", "tdk_c1").status, 404);
}

/// A webhook receiver: answers each POST with the next status of `statuses` (then 200), recording what it got.
class Receiver {
  public:
    struct Got {
        std::string id;
        std::string signature;
        std::string body;
    };
    explicit Receiver(std::deque<int> statuses) : statuses_(std::move(statuses)), socket_(0) {
        auto* params = new Poco::Net::HTTPServerParams;
        params->setMaxThreads(2);
        server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), socket_, params);
        server_->start();
    }
    ~Receiver() { server_->stopAll(true); }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(socket_.address().port()) + "/hook"; }
    std::vector<Got> got() {
        std::lock_guard lock(mutex_);
        return got_;
    }

  private:
    class Handler : public Poco::Net::HTTPRequestHandler {
      public:
        explicit Handler(Receiver& receiver) : receiver_(receiver) {}
        void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
            std::string body;
            Poco::StreamCopier::copyToString(request.stream(), body);
            int status = 200;
            {
                std::lock_guard lock(receiver_.mutex_);
                receiver_.got_.push_back(
                    {request.get("X-Taxdesk-Idempotency-Id", ""), request.get("X-Taxdesk-Signature", ""), body});
                if (!receiver_.statuses_.empty()) {
                    status = receiver_.statuses_.front();
                    receiver_.statuses_.pop_front();
                }
            }
            response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
            response.setContentLength(0);
            response.send();
        }

      private:
        Receiver& receiver_;
    };
    class Factory : public Poco::Net::HTTPRequestHandlerFactory {
      public:
        explicit Factory(Receiver& receiver) : receiver_(receiver) {}
        Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
            return new Handler(receiver_);
        }

      private:
        Receiver& receiver_;
    };

    std::mutex mutex_;
    std::deque<int> statuses_;
    std::vector<Got> got_;
    Poco::Net::ServerSocket socket_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
};

connectors::WebhookClientSettings clientSettings(std::vector<std::chrono::milliseconds>& waits) {
    connectors::WebhookClientSettings settings;
    settings.timeout = std::chrono::milliseconds(10000);
    settings.attempts = 3;
    settings.backoff = std::chrono::milliseconds(500);
    settings.backoffMax = std::chrono::milliseconds(8000);
    settings.sleep = [&waits](std::chrono::milliseconds wait) { waits.push_back(wait); };  // no real waiting
    return settings;
}

TEST(WebhookClient, FiveHundredTwiceThenDeliveredWithBackOffSignedAndOneId) {
    Receiver receiver({500, 500, 200});
    std::vector<std::chrono::milliseconds> waits;
    connectors::HttpWebhookSender sender(clientSettings(waits));
    const std::string body = R"({"event":"batch.completed","batch_id":"b1"})";
    EXPECT_EQ(sender.deliver({receiver.url(), "whsec_0123456789abcdef", "bd-b1-completed-wtok1", body}), 200);
    const auto got = receiver.got();
    ASSERT_EQ(got.size(), 3U);
    for (const auto& one : got) {
        EXPECT_EQ(one.id, "bd-b1-completed-wtok1");
        EXPECT_EQ(one.body, body);
        EXPECT_TRUE(jobs::notify::verifySignature("whsec_0123456789abcdef", one.signature, one.body)) << one.signature;
        EXPECT_FALSE(jobs::notify::verifySignature("whsec_other-secret-000", one.signature, one.body));
    }
    EXPECT_EQ(waits, (std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(500),
                                                             std::chrono::milliseconds(1000)}));
}

TEST(WebhookClient, AlwaysFiveHundredIsPermanentAfterTheLastAttemptAndA4xxAtOnce) {
    std::vector<std::chrono::milliseconds> waits;
    {
        Receiver receiver({503, 503, 503, 503});
        connectors::HttpWebhookSender sender(clientSettings(waits));
        EXPECT_THROW(sender.deliver({receiver.url(), "whsec_0123456789abcdef", "n1", "{}"}),
                     connectors::PermanentError);
        EXPECT_EQ(receiver.got().size(), 3U);
    }
    {
        Receiver receiver({410});
        connectors::HttpWebhookSender sender(clientSettings(waits));
        EXPECT_THROW(sender.deliver({receiver.url(), "whsec_0123456789abcdef", "n2", "{}"}),
                     connectors::PermanentError);
        EXPECT_EQ(receiver.got().size(), 1U);
    }
    // Nobody listening: no answer, three attempts, then a dead letter.
    connectors::HttpWebhookSender sender(clientSettings(waits));
    EXPECT_THROW(sender.deliver({"http://127.0.0.1:1/hook", "whsec_0123456789abcdef", "n3", "{}"}),
                 connectors::PermanentError);
}

}  // namespace
}  // namespace taxdesk::engine::api
