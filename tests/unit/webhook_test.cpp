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

/// A resolver without the network: a few names, and numeric hosts as themselves.
std::vector<std::string> fakeResolver(const std::string& host) {
    static const std::map<std::string, std::vector<std::string>> names{
        {"hooks.example", {"93.184.216.34"}},
        {"x.example", {"93.184.216.35"}},
        {"internal.example", {"10.0.0.5"}},
        {"metadata.example", {"169.254.169.254"}},
        {"mixed.example", {"93.184.216.36", "127.0.0.1"}},  // one public, one loopback: refused
        {"v6local.example", {"fd00::7"}},
    };
    if (const auto found = names.find(host); found != names.end()) return found->second;
    if (host == "nowhere.example") throw connectors::PermanentError("url's host nowhere.example does not resolve");
    if (host == "flaky.example") throw connectors::TransientError("resolver timed out");
    if (jobs::notify::classifyAddress(host) != jobs::notify::AddressKind::invalid) return {host};
    throw connectors::PermanentError("url's host " + host + " does not resolve");
}

class WebhookRoutes : public ::testing::Test {
  protected:
    virtual bool allowPrivateHosts() const { return true; }
    void SetUp() override {
        tokens_.insertToken({hashToken("tdk_c1"), "creditor", "C1", "2026-01-01T00:00:00.000Z", "tok1", "", ""});
        tokens_.insertToken({hashToken("tdk_c1b"), "creditor", "C1", "2026-01-01T00:00:00.000Z", "tok2", "", ""});
        tokens_.insertToken({hashToken("tdk_ops"), "ops", "", "2026-01-01T00:00:00.000Z", "tok3", "", ""});
        api_ = std::make_unique<WebhookApi>(WebhookApiSettings{allowPrivateHosts(), fakeResolver}, tokens_, hooks_);
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

/// webhook.allow_private_hosts=false, as in production: the SSRF rule at registration.
class WebhookRoutesPublicOnly : public WebhookRoutes {
  protected:
    bool allowPrivateHosts() const override { return false; }
};

TEST_F(WebhookRoutesPublicOnly, UrlsLeadingToInternalAddressesAre400NamingTheUrl) {
    const std::map<std::string, std::string> refused{
        {"https://127.0.0.1/hook", "url's host resolves to 127.0.0.1 (loopback)"},
        {"https://[::1]:8443/hook", "url's host resolves to ::1 (loopback)"},
        {"https://10.1.2.3/", "url's host resolves to 10.1.2.3 (private, RFC 1918)"},
        {"https://internal.example/h", "url's host resolves to 10.0.0.5 (private, RFC 1918)"},
        {"https://metadata.example/latest", "url's host resolves to 169.254.169.254 (link-local)"},
        {"https://[fe80::1]/", "url's host resolves to fe80::1 (link-local)"},
        {"https://v6local.example/", "url's host resolves to fd00::7 (unique-local)"},
        {"https://0.0.0.0/", "url's host resolves to 0.0.0.0 (unspecified)"},
        {"https://mixed.example/", "url's host resolves to 127.0.0.1 (loopback)"},
        {"https://nowhere.example/", "url's host nowhere.example does not resolve"},
        {"http://127.0.0.1:8080/hook", "url must begin with https://"},
    };
    for (const auto& [url, want] : refused) {
        const auto answer = call(port(), "PUT", "tdk_c1", R"({"url":")" + url + R"("})");
        EXPECT_EQ(answer.status, 400) << url << ": " << answer.body;
        EXPECT_NE(answer.body.find(R"("code":"bad_url")"), std::string::npos) << url << ": " << answer.body;
        EXPECT_NE(answer.body.find(want), std::string::npos) << url << ": " << answer.body;
    }
    EXPECT_TRUE(hooks_.hooks.empty());
    // A resolver failure that may pass is not the creditor's fault: 503, try again.
    EXPECT_EQ(call(port(), "PUT", "tdk_c1", R"({"url":"https://flaky.example/"})").status, 503);
    // Public hosts, by name or number, are registered.
    EXPECT_EQ(call(port(), "PUT", "tdk_c1", R"({"url":"https://hooks.example/t"})").status, 200);
    EXPECT_EQ(call(port(), "PUT", "tdk_c1b", R"({"url":"https://8.8.8.8/t"})").status, 200);
    EXPECT_EQ(hooks_.hooks.size(), 2U);
}

/// A webhook receiver: answers each POST with the next status of `statuses` (then 200), recording what it got.
class Receiver {
  public:
    struct Got {
        std::string id;
        std::string signature;
        std::string body;
        std::string host;
    };
    explicit Receiver(std::deque<int> statuses) : statuses_(std::move(statuses)), socket_(0) {
        auto* params = new Poco::Net::HTTPServerParams;
        params->setMaxThreads(2);
        server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), socket_, params);
        server_->start();
    }
    ~Receiver() { server_->stopAll(true); }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/hook"; }
    int port() const { return socket_.address().port(); }
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
                receiver_.got_.push_back({request.get("X-Taxdesk-Idempotency-Id", ""),
                                          request.get("X-Taxdesk-Signature", ""), body, request.getHost()});
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
    settings.allowPrivateHosts = true;  // the receiver is on 127.0.0.1
    settings.resolve = fakeResolver;
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

TEST(WebhookClient, AHostResolvingToAnInternalAddressIsRefusedWithoutConnecting) {
    Receiver receiver({});
    std::vector<std::chrono::milliseconds> waits;
    auto settings = clientSettings(waits);
    settings.allowPrivateHosts = false;  // production
    connectors::HttpWebhookSender sender(settings);
    try {
        sender.deliver({receiver.url(), "whsec_0123456789abcdef", "n1", "{}"});
        FAIL() << "a loopback receiver was POSTed to";
    } catch (const connectors::PermanentError& error) {
        EXPECT_NE(std::string(error.what()).find("url's host resolves to 127.0.0.1 (loopback)"), std::string::npos)
            << error.what();
    }
    // DNS changed since the PUT: the name now leads to one public and one loopback address; nothing is sent to any.
    settings.resolve = [](const std::string&) { return std::vector<std::string>{"93.184.216.34", "127.0.0.1"}; };
    connectors::HttpWebhookSender rebound(settings);
    EXPECT_THROW(rebound.deliver({"https://hooks.example/h", "whsec_0123456789abcdef", "n2", "{}"}),
                 connectors::PermanentError);
    EXPECT_TRUE(receiver.got().empty());
    EXPECT_TRUE(waits.empty()) << "refused at once, not tried again";
}

TEST(WebhookClient, ConnectsToTheAddressItCheckedAndNamesTheHostInTheRequest) {
    // "receiver.invalid" exists only in this resolver: the POST arriving proves the client connected to the address
    // the resolver gave (and checked), not to whatever a second lookup of the name would give.
    Receiver receiver({});
    std::vector<std::chrono::milliseconds> waits;
    auto settings = clientSettings(waits);
    int lookups = 0;
    settings.resolve = [&lookups](const std::string& host) {
        ++lookups;
        EXPECT_EQ(host, "receiver.invalid");
        return std::vector<std::string>{"127.0.0.1"};
    };
    connectors::HttpWebhookSender sender(settings);
    const std::string url = "http://receiver.invalid:" + std::to_string(receiver.port()) + "/hook";
    EXPECT_EQ(sender.deliver({url, "whsec_0123456789abcdef", "n1", "{}"}), 200);
    EXPECT_EQ(lookups, 1);
    const auto got = receiver.got();
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].host, "receiver.invalid:" + std::to_string(receiver.port()));
}

}  // namespace
}  // namespace taxdesk::engine::api
