// jobs/notify: webhook registration checks, the batch-done decision, the body, the signature, the back-off.
#include <gtest/gtest.h>

#include "jobs/notify/notify.hpp"

using namespace taxdesk::jobs::notify;
using std::chrono::milliseconds;

TEST(NotifyUrl, AcceptsHttpsAndNamesWhatIsWrong) {
    EXPECT_EQ(urlProblem("https://hooks.example.com/taxdesk?x=1", false), std::nullopt);
    EXPECT_EQ(urlProblem("https://hooks.example.com:8443/a", false), std::nullopt);
    EXPECT_EQ(urlProblem("", false), "url is required");
    EXPECT_EQ(urlProblem("ftp://example.com/", false), "url must begin with https://");
    EXPECT_EQ(urlProblem("http://example.com/", false), "url must begin with https://");
    EXPECT_EQ(urlProblem("https://", false), "url has no host");
    EXPECT_EQ(urlProblem("https://user:pw@example.com/", false), "url must not hold user info (user@host)");
    EXPECT_EQ(urlProblem("https://example.com:0/", false), "url's port is not valid");
    EXPECT_EQ(urlProblem("https://example.com:99999/", false), "url's port is not valid");
    EXPECT_EQ(urlProblem("https://exa mple.com/", false), "url holds a space, a control or a non-ASCII character");
    EXPECT_EQ(urlProblem("https://ex_ample.com/", false), "url's host is not valid");
    EXPECT_EQ(urlProblem("https://example.com/" + std::string(2048, 'a'), false), "url is longer than 2048 characters");
    EXPECT_EQ(urlProblem("https://example.com/" + std::string(2048 - 20, 'a'), false), std::nullopt);
}

TEST(NotifyUrl, HttpOnlyToPrivateAddressesWhenAllowed) {
    EXPECT_EQ(urlProblem("http://127.0.0.1:8080/hook", true), std::nullopt);
    EXPECT_EQ(urlProblem("http://localhost/hook", true), std::nullopt);
    EXPECT_EQ(urlProblem("http://10.1.2.3/", true), std::nullopt);
    EXPECT_EQ(urlProblem("http://172.16.0.1/", true), std::nullopt);
    EXPECT_EQ(urlProblem("http://172.31.255.255/", true), std::nullopt);
    EXPECT_EQ(urlProblem("http://192.168.1.1/", true), std::nullopt);
    EXPECT_EQ(urlProblem("http://[::1]:9000/", true), std::nullopt);
    const std::string onlyPrivate = "url may use http:// only for a loopback or private address";
    EXPECT_EQ(urlProblem("http://172.32.0.1/", true), onlyPrivate);
    EXPECT_EQ(urlProblem("http://8.8.8.8/", true), onlyPrivate);
    EXPECT_EQ(urlProblem("http://example.com/", true), onlyPrivate);
    EXPECT_EQ(urlProblem("http://127.0.0.256/", true), onlyPrivate);
    EXPECT_EQ(urlProblem("http://127.0.0.1/", false), "url must begin with https://");
}

TEST(NotifySecret, LengthAndCharacters) {
    EXPECT_EQ(secretProblem("0123456789abcdef"), std::nullopt);
    EXPECT_EQ(secretProblem("0123456789abcde"), "secret must be 16 to 128 characters");
    EXPECT_EQ(secretProblem(std::string(129, 'x')), "secret must be 16 to 128 characters");
    EXPECT_EQ(secretProblem("0123456789 abcdef"), "secret must be printable ASCII without spaces");
    EXPECT_EQ(maskSecret("whsec_0123456789abcdef"), "whse****");
    EXPECT_EQ(maskSecret(""), "");
}

TEST(NotifyDecision, OneIntentPerChannelOnlyForFinalStates) {
    FinishedBatch batch{"b1", "c1", "completed", 10, 10, "", "2026-12-02T03:00:00.000Z"};
    const std::vector<Registration> registrations = {
        {"tok1", "https://a.example/h", "0912345678"}, {"tok2", "", "0987654321"}, {"tok3", "", ""}};
    const auto intents = decideBatchDone(batch, registrations);
    ASSERT_EQ(intents.size(), 3U);
    EXPECT_EQ(intents[0].notificationId, "bd-b1-completed-wtok1");
    EXPECT_EQ(intents[0].target, "webhook:tok1");
    EXPECT_TRUE(intents[0].webhook);
    EXPECT_EQ(intents[1].notificationId, "bd-b1-completed-stok1");
    EXPECT_EQ(intents[1].target, "0912345678");
    EXPECT_EQ(intents[1].text, "【臺北國稅局】您的批次查詢 b1 已完成（10 筆），請登入下載結果");
    EXPECT_EQ(intents[2].notificationId, "bd-b1-completed-stok2");
    // The same batch decided again (a replay) gives the same ids: the outbox keeps the first.
    EXPECT_EQ(decideBatchDone(batch, registrations)[0].notificationId, intents[0].notificationId);

    batch.state = "failed";
    batch.failureReason = "payment_refunded";
    const auto failed = decideBatchDone(batch, registrations);
    ASSERT_EQ(failed.size(), 3U);
    EXPECT_EQ(failed[0].notificationId, "bd-b1-failed-wtok1");
    EXPECT_EQ(failed[1].text, "【臺北國稅局】您的批次查詢 b1 未能完成，請登入查看原因");

    for (const char* state : {"queued", "processing", "awaiting_payment"}) {
        batch.state = state;
        EXPECT_TRUE(decideBatchDone(batch, registrations).empty()) << state;
    }
}

TEST(NotifyBody, FieldsInOrder) {
    FinishedBatch batch{"b1", "c1", "completed", 3, 3, "", "2026-12-02T03:00:00.000Z"};
    EXPECT_EQ(webhookBody(batch, "bd-b1-completed-wt"),
              R"({"event":"batch.completed","notification_id":"bd-b1-completed-wt","batch_id":"b1",)"
              R"("state":"completed","rows_total":3,"rows_done":3,"completed_at":"2026-12-02T03:00:00.000Z"})");
    batch.state = "failed";
    batch.rowsDone = 1;
    batch.failureReason = "x\"y";
    EXPECT_EQ(webhookBody(batch, "n"),
              R"({"event":"batch.failed","notification_id":"n","batch_id":"b1","state":"failed","rows_total":3,)"
              R"("rows_done":1,"completed_at":"2026-12-02T03:00:00.000Z","failure_reason":"x\"y"})");
}

TEST(NotifySignature, HmacSha256KnownValues) {
    // RFC 4231 test case 2.
    EXPECT_EQ(hmacSha256Hex("Jefe", "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // Python: hmac.new(b'whsec_0123456789abcdef', b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    const std::string header = signatureHeader("whsec_0123456789abcdef", 1700000000, R"({"a":1})");
    EXPECT_EQ(header, "t=1700000000,v1=9f5e37cdc7ea587c7c02062d93283cad000d66a831b2a1676418696db47ed6c2");
    EXPECT_TRUE(verifySignature("whsec_0123456789abcdef", header, R"({"a":1})"));
    EXPECT_FALSE(verifySignature("whsec_0123456789abcdef", header, R"({"a":2})"));  // one changed byte
    EXPECT_FALSE(verifySignature("whsec_0123456789abcdeF", header, R"({"a":1})"));
    EXPECT_FALSE(verifySignature("whsec_0123456789abcdef",
                                 "t=1700000001,v1=9f5e37cdc7ea587c7c02062d93283cad000d66a831b2a1676418696db47ed6c2",
                                 R"({"a":1})"));
    EXPECT_FALSE(verifySignature("whsec_0123456789abcdef", "garbage", R"({"a":1})"));
    EXPECT_FALSE(verifySignature("whsec_0123456789abcdef", "t=,v1=", R"({"a":1})"));
}

TEST(NotifyBackoff, DoublesFromTheSecondAttemptUpToTheCap) {
    const milliseconds base(500);
    const milliseconds cap(4000);
    EXPECT_EQ(backoff(1, base, cap), milliseconds(0));
    EXPECT_EQ(backoff(2, base, cap), milliseconds(500));
    EXPECT_EQ(backoff(3, base, cap), milliseconds(1000));
    EXPECT_EQ(backoff(4, base, cap), milliseconds(2000));
    EXPECT_EQ(backoff(5, base, cap), milliseconds(4000));
    EXPECT_EQ(backoff(9, base, cap), milliseconds(4000));
}

TEST(NotifyStatus, Classified) {
    EXPECT_EQ(classifyStatus(200), Answer::delivered);
    EXPECT_EQ(classifyStatus(204), Answer::delivered);
    EXPECT_EQ(classifyStatus(500), Answer::retry);
    EXPECT_EQ(classifyStatus(503), Answer::retry);
    EXPECT_EQ(classifyStatus(408), Answer::retry);
    EXPECT_EQ(classifyStatus(429), Answer::retry);
    EXPECT_EQ(classifyStatus(400), Answer::refused);
    EXPECT_EQ(classifyStatus(410), Answer::refused);
    EXPECT_EQ(classifyStatus(302), Answer::refused);
}
