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

// Issue 13, SSRF: where a webhook may make the engine connect. The ranges by hand: 127/8 loopback, RFC 1918's three
// private blocks, 169.254/16 and fe80::/10 link-local, fc00::/7 unique-local, 0/8 and :: unspecified.
TEST(NotifyAddress, ClassifiesLoopbackPrivateLinkLocalUniqueLocalAndUnspecified) {
    EXPECT_EQ(classifyAddress("127.0.0.1"), AddressKind::loopback);
    EXPECT_EQ(classifyAddress("127.255.255.254"), AddressKind::loopback);
    EXPECT_EQ(classifyAddress("::1"), AddressKind::loopback);
    EXPECT_EQ(classifyAddress("10.0.0.1"), AddressKind::privateNetwork);
    EXPECT_EQ(classifyAddress("10.255.255.255"), AddressKind::privateNetwork);
    EXPECT_EQ(classifyAddress("172.16.0.0"), AddressKind::privateNetwork);
    EXPECT_EQ(classifyAddress("172.31.255.255"), AddressKind::privateNetwork);
    EXPECT_EQ(classifyAddress("192.168.0.1"), AddressKind::privateNetwork);
    EXPECT_EQ(classifyAddress("169.254.169.254"), AddressKind::linkLocal);
    EXPECT_EQ(classifyAddress("fe80::1"), AddressKind::linkLocal);
    EXPECT_EQ(classifyAddress("febf:ffff::1"), AddressKind::linkLocal);
    EXPECT_EQ(classifyAddress("fc00::1"), AddressKind::uniqueLocal);
    EXPECT_EQ(classifyAddress("fd12:3456:789a::1"), AddressKind::uniqueLocal);
    EXPECT_EQ(classifyAddress("0.0.0.0"), AddressKind::unspecified);
    EXPECT_EQ(classifyAddress("0.1.2.3"), AddressKind::unspecified);
    EXPECT_EQ(classifyAddress("::"), AddressKind::unspecified);
    // IPv4 inside IPv6: mapped and NAT64 carry the IPv4 address's kind.
    EXPECT_EQ(classifyAddress("::ffff:127.0.0.1"), AddressKind::loopback);
    EXPECT_EQ(classifyAddress("::ffff:10.1.2.3"), AddressKind::privateNetwork);
    EXPECT_EQ(classifyAddress("::ffff:a9fe:a9fe"), AddressKind::linkLocal);  // 169.254.169.254
    EXPECT_EQ(classifyAddress("64:ff9b::192.168.1.1"), AddressKind::privateNetwork);
    EXPECT_EQ(classifyAddress("::ffff:8.8.8.8"), AddressKind::publicAddress);
}

TEST(NotifyAddress, PublicNeighboursOfTheRangesAndInvalidText) {
    EXPECT_EQ(classifyAddress("8.8.8.8"), AddressKind::publicAddress);
    EXPECT_EQ(classifyAddress("1.0.0.0"), AddressKind::publicAddress);
    EXPECT_EQ(classifyAddress("11.0.0.0"), AddressKind::publicAddress);
    EXPECT_EQ(classifyAddress("126.255.255.255"), AddressKind::publicAddress);
    EXPECT_EQ(classifyAddress("128.0.0.0"), AddressKind::publicAddress);
    EXPECT_EQ(classifyAddress("172.15.255.255"), AddressKind::publicAddress);
    EXPECT_EQ(classifyAddress("172.32.0.0"), AddressKind::publicAddress);
    EXPECT_EQ(classifyAddress("192.167.255.255"), AddressKind::publicAddress);
    EXPECT_EQ(classifyAddress("192.169.0.0"), AddressKind::publicAddress);
    EXPECT_EQ(classifyAddress("169.253.255.255"), AddressKind::publicAddress);
    EXPECT_EQ(classifyAddress("169.255.0.0"), AddressKind::publicAddress);
    EXPECT_EQ(classifyAddress("2001:db8::1"), AddressKind::publicAddress);
    EXPECT_EQ(classifyAddress("fec0::1"), AddressKind::publicAddress);  // just past fe80::/10
    EXPECT_EQ(classifyAddress("fbff::1"), AddressKind::publicAddress);  // just below fc00::/7
    EXPECT_EQ(classifyAddress("fe00::1"), AddressKind::publicAddress);  // between fc00::/7 and fe80::/10
    EXPECT_EQ(classifyAddress("::2"), AddressKind::publicAddress);
    EXPECT_EQ(classifyAddress(""), AddressKind::invalid);
    EXPECT_EQ(classifyAddress("localhost"), AddressKind::invalid);
    EXPECT_EQ(classifyAddress("127.0.0.256"), AddressKind::invalid);
    EXPECT_EQ(classifyAddress("0177.0.0.1"), AddressKind::invalid);  // octal is a resolver's business, not ours
    EXPECT_EQ(classifyAddress("[::1]"), AddressKind::invalid);
    EXPECT_EQ(classifyAddress("fe80::1%eth0"), AddressKind::invalid);
}

TEST(NotifyAddress, ProblemsUnlessPublicOrAllowed) {
    EXPECT_EQ(addressProblem("8.8.8.8", false), std::nullopt);
    EXPECT_EQ(addressProblem("127.0.0.1", false),
              "url's host resolves to 127.0.0.1 (loopback): webhooks go to public addresses only");
    EXPECT_EQ(addressProblem("10.0.0.7", false),
              "url's host resolves to 10.0.0.7 (private, RFC 1918): webhooks go to public addresses only");
    EXPECT_EQ(addressProblem("fe80::1", false),
              "url's host resolves to fe80::1 (link-local): webhooks go to public addresses only");
    EXPECT_EQ(addressProblem("fd00::5", false),
              "url's host resolves to fd00::5 (unique-local): webhooks go to public addresses only");
    EXPECT_EQ(addressProblem("0.0.0.0", false),
              "url's host resolves to 0.0.0.0 (unspecified): webhooks go to public addresses only");
    // webhook.allow_private_hosts (tests): every kind but invalid.
    for (const char* address : {"127.0.0.1", "10.0.0.7", "fe80::1", "fd00::5", "0.0.0.0", "::1"})
        EXPECT_EQ(addressProblem(address, true), std::nullopt) << address;
    EXPECT_EQ(addressProblem("nonsense", true), "url's host resolves to something that is not an IP address");
}

TEST(NotifyUrl, HostOfAnAcceptedUrl) {
    EXPECT_EQ(urlHost("https://Hooks.Example.com:8443/a?b"), "hooks.example.com");
    EXPECT_EQ(urlHost("http://127.0.0.1:8080/hook"), "127.0.0.1");
    EXPECT_EQ(urlHost("https://[fe80::1]:9000/"), "fe80::1");
    EXPECT_EQ(urlHost("https://example.com"), "example.com");
    EXPECT_EQ(urlHost("https://example.com#x"), "example.com");
    EXPECT_EQ(urlHost("no scheme"), "");
}

TEST(NotifyUrl, HttpAlsoToLinkLocalAndUniqueLocalLiteralsWhenAllowed) {
    EXPECT_EQ(urlProblem("http://169.254.1.1/", true), std::nullopt);
    EXPECT_EQ(urlProblem("http://[fd00::1]/", true), std::nullopt);
    EXPECT_EQ(urlProblem("http://[2001:db8::1]/", true), "url may use http:// only for a loopback or private address");
}
