// Issue 9, the HTTP side, part 1: requests that are wrong or too big, and what the engine writes about them: client
// errors answered 500 (19), oversized bodies (6), the per-client limit and head timeout (5), the upload's log line
// (16), whole IDs in logs and results (17). `taxdesk serve` as a process against the servers scripts/test started;
// requests written as raw bytes where the test needs to say exactly what is sent (a bad %-escape, a status line, a
// client that never finishes its head). Part 2, slow and greedy clients and a broker outage: http_load_test.
#include <Poco/File.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Process.h>
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "connectors/api/connector_set.hpp"
#include "connectors/api/errors.hpp"
#include "connectors/http/stub_server.hpp"
#include "connectors/store/store.hpp"
#include "fixtures/serve_process.hpp"
#include "fixtures/test_env.hpp"
#include "integration/raw_http.hpp"
#include "jobs/identity/identifiers.hpp"

using taxdesk::testing::ServeProcess;
using Clock = std::chrono::steady_clock;
using namespace taxdesk::testing::raw_http;

namespace {

// ---- the helper the connection-limit tests wait with ---------------------------------------------------------------

TEST(RawHttpHelpers, WaitUntilAcceptedWaitsForAConnectionTheServerHasNotTakenYet) {
    // A listener of our own that has not accepted: the connection waits in its queue, then is taken.
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    socklen_t length = sizeof address;
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(::listen(listener, 8), 0);
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
    const int port = ntohs(address.sin_port);
    EXPECT_TRUE(waitUntilAccepted(port, std::chrono::milliseconds(500))) << "nothing connected yet";
    const int client = connectFrom(port, "127.0.0.9");
    ASSERT_GE(client, 0);
    EXPECT_FALSE(waitUntilAccepted(port, std::chrono::milliseconds(200))) << "a connection waits to be accepted";
    const int taken = ::accept(listener, nullptr, nullptr);
    ASSERT_GE(taken, 0);
    EXPECT_TRUE(waitUntilAccepted(port, std::chrono::milliseconds(500))) << "the connection was accepted";
    ::close(taken);
    ::close(client);
    ::close(listener);
}

// ---- the engine most tests share: short timeouts, a small per-client limit ----------------------------------------

class HttpHardeningTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        engine_ = new ServeProcess({"http.max_connections_per_client=8", "http.header_timeout_ms=5000",
                                    "http.keepalive_timeout_ms=1000", "payment.stub_balance=100000000"});
        creditor_ = engine_->createToken("creditor", "C1");
        gateway_ = engine_->createToken("gateway");
    }
    static void TearDownTestSuite() {
        delete engine_;
        engine_ = nullptr;
    }

    /// Uploads kBatch; returns the batch id.
    static std::string uploadBatch() {
        const auto reply = exchange(engine_->port(), post("/api/v1/batches", creditor_, "text/csv", kBatch));
        EXPECT_EQ(reply.status, 201) << reply.body;
        return json(reply.body)->getValue<std::string>("batch_id");
    }

    static ServeProcess* engine_;
    static std::string creditor_;
    static std::string gateway_;
};

ServeProcess* HttpHardeningTest::engine_ = nullptr;
std::string HttpHardeningTest::creditor_;
std::string HttpHardeningTest::gateway_;

// ---- 19: client errors are 4xx with a JSON error and the request id -----------------------------------------------

TEST_F(HttpHardeningTest, ABadPercentEscapeInThePathIs400) {
    expectClientError(exchange(engine_->port(), get("/%zz")), 400, "bad_uri");
}

TEST_F(HttpHardeningTest, ABadPercentEscapeInTheQueryIs400) {
    expectClientError(exchange(engine_->port(), get("/api/v1/batches?limit=%zz", creditor_)), 400, "bad_uri");
}

TEST_F(HttpHardeningTest, AMultipartUploadWithoutBoundaryIs400) {
    const std::string body = "--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n" + kBatch + "\r\n--x--\r\n";
    expectClientError(exchange(engine_->port(), post("/api/v1/batches", creditor_, "multipart/form-data", body)), 400,
                      "bad_multipart");
}

TEST_F(HttpHardeningTest, AMultipartUploadWithAnotherBoundaryIs400) {
    const std::string body = "--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n" + kBatch + "\r\n--x--\r\n";
    expectClientError(
        exchange(engine_->port(), post("/api/v1/batches", creditor_, "multipart/form-data; boundary=other", body)), 400,
        "bad_multipart");
}

TEST_F(HttpHardeningTest, AMultipartUploadOfMoreThan100PartsIs400) {
    std::string body;
    for (int i = 0; i < 101; ++i)
        body += "--b\r\nContent-Disposition: form-data; name=\"f" + std::to_string(i) + "\"\r\n\r\nv\r\n";
    body +=
        "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\n" + kBatch + "\r\n--b--\r\n";
    expectClientError(
        exchange(engine_->port(), post("/api/v1/batches", creditor_, "multipart/form-data; boundary=b", body)), 400,
        "bad_multipart");
}

TEST_F(HttpHardeningTest, AnEightKilobyteHostOnTheReceiptIs400) {
    const std::string batch = uploadBatch();
    const std::string request = "GET /api/v1/batches/" + batch +
                                "/receipt HTTP/1.1\r\nHost: " + std::string(8000, 'h') + "\r\nAuthorization: Bearer " +
                                creditor_ + "\r\nConnection: close\r\n\r\n";
    expectClientError(exchange(engine_->port(), request), 400, "bad_host");
    // The same receipt with a sane Host is a page.
    EXPECT_EQ(exchange(engine_->port(), get("/api/v1/batches/" + batch + "/receipt", creditor_)).status, 200);
}

TEST_F(HttpHardeningTest, ACardIdThatIsAnObjectIs400AndNothingIsCharged) {
    const std::string batch = uploadBatch();
    const auto reply = exchange(engine_->port(),
                                post("/api/v1/batches/" + batch + "/payment", creditor_, "application/json",
                                     R"({"method":"easycard","card_id":{"no":"1234567890"},"idempotency_key":"k1"})"));
    expectClientError(reply, 400, "bad_field");
    const auto status = exchange(engine_->port(), get("/api/v1/batches/" + batch, creditor_));
    EXPECT_EQ(json(status.body)->getValue<std::string>("state"), "awaiting_payment") << status.body;
}

TEST_F(HttpHardeningTest, ANumberWhereTheSmsApiWantsAStringIs400) {
    expectClientError(exchange(engine_->port(), post("/api/v1/sms/inbound", gateway_, "application/json",
                                                     R"({"msisdn":"0912345678","text":"1","gateway_msg_id":12345})")),
                      400, "bad_field");
}

TEST_F(HttpHardeningTest, TheStatusLineOf401SaysUnauthorized) {
    const auto reply = exchange(engine_->port(), get("/api/v1/batches"));
    EXPECT_EQ(reply.statusLine, "HTTP/1.1 401 Unauthorized");
    expectClientError(reply, 401, "unauthorized");
}

// ---- 6: bodies over the limit are refused before they are parsed --------------------------------------------------

TEST_F(HttpHardeningTest, AnAnnouncedBodyOverTheLimitIs413WithoutBeingSent) {
    const std::string batch = uploadBatch();
    // 500 MB announced, nothing sent: the answer comes at once.
    const std::string request = "POST /api/v1/batches/" + batch + "/payment HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                                "Authorization: Bearer " + creditor_ +
                                "\r\nContent-Type: application/json\r\nContent-Length: 524288000\r\n\r\n";
    expectClientError(exchange(engine_->port(), request), 413, "too_large");
}

TEST_F(HttpHardeningTest, AChunkedBodyGrowingPastTheLimitIs413AndTheEngineDoesNotGrow) {
    const long before = peakRssKb(engine_->pid());
    ASSERT_GT(before, 0);
    const int fd = connectFrom(engine_->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(sendAll(fd, "POST /api/v1/sms/inbound HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                                gateway_ + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
    // A JSON string that never ends: 64 MiB in 64 KiB chunks, or until the engine stops reading.
    const std::string piece(64 * 1024, 'a');
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", piece.size() + 9);
    sendAll(fd, std::string(size) + "{\"text\":\"" + piece + "\r\n");
    std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
    const std::string chunk = std::string(size) + piece + "\r\n";
    for (int i = 0; i < 1024; ++i)
        if (!sendAll(fd, chunk)) break;
    const auto reply = readResponse(fd);
    ::close(fd);
    expectClientError(reply, 413, "too_large");
    const long after = peakRssKb(engine_->pid());
    // Generous: the limit is 1 MiB; a body held whole would add 64 MiB and more.
    EXPECT_LT(after - before, 32 * 1024) << "peak RSS grew from " << before << " kB to " << after << " kB";
}

// ---- 5: the per-client limit and the head timeout ------------------------------------------------------------------

TEST_F(HttpHardeningTest, ConnectionsFromOneAddressAreBoundedAndSilentOnesTimeOut) {
    std::vector<int> idle;
    for (int i = 0; i < 8; ++i) {
        idle.push_back(connectFrom(engine_->port(), "127.0.0.4"));
        ASSERT_GE(idle.back(), 0);
    }
    ASSERT_TRUE(waitUntilAccepted(engine_->port())) << "the engine did not take the eight connections within 10 s";
    // The ninth from the same address is refused; another address is served.
    expectClientError(exchange(engine_->port(), get("/healthz"), "127.0.0.4"), 503, "too_many_connections");
    EXPECT_EQ(exchange(engine_->port(), get("/healthz"), "127.0.0.5").status, 200);
    // The eight said nothing: after http.header_timeout_ms they are answered 408 and closed, and the address may
    // connect again.
    for (const int fd : idle) {
        expectClientError(readResponse(fd), 408, "timeout");
        ::close(fd);
    }
    int status = 0;
    for (const auto deadline = Clock::now() + std::chrono::seconds(10); Clock::now() < deadline && status != 200;) {
        status = exchange(engine_->port(), get("/healthz"), "127.0.0.4").status;
        if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(status, 200);
}

// ---- 16b: the upload's log line ------------------------------------------------------------------------------------

TEST_F(HttpHardeningTest, TheUploadLogLinePrintsTheFee) {
    const auto reply = exchange(engine_->port(), post("/api/v1/batches", creditor_, "text/csv", kBatch));
    ASSERT_EQ(reply.status, 201) << reply.body;
    const auto body = json(reply.body);
    const std::string batch = body->getValue<std::string>("batch_id");
    // One row asking for property data: NT$250 (SPEC 3.1, the default fee).
    EXPECT_EQ(body->getValue<long long>("fee_total"), 250);
    std::string line;
    for (const auto deadline = Clock::now() + std::chrono::seconds(10); Clock::now() < deadline && line.empty();) {
        std::istringstream log(readFile(engine_->logFile()));
        for (std::string l; std::getline(log, l);)
            if (l.find("batch " + batch + " uploaded") != std::string::npos) line = l;
        if (line.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_FALSE(line.empty()) << "no upload line for " << batch;
    EXPECT_NE(line.find("1 rows, 1 accepted, NT$250"), std::string::npos) << line;
    EXPECT_EQ(line.find("ERRFMT"), std::string::npos) << line;
}

// ---- 17: the access log masks IDs in paths -------------------------------------------------------------------------

TEST_F(HttpHardeningTest, TheAccessLogMasksAnIdInThePath) {
    const auto reply =
        exchange(engine_->port(), get("/api/v1/batches/A123456789", creditor_, "X-Request-Id: h9-mask\r\n"));
    EXPECT_EQ(reply.status, 404);
    std::string line;
    for (const auto deadline = Clock::now() + std::chrono::seconds(10); Clock::now() < deadline && line.empty();) {
        std::istringstream log(readFile(engine_->logFile()));
        for (std::string l; std::getline(log, l);)
            if (l.find("request_id=h9-mask") != std::string::npos) line = l;
        if (line.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_FALSE(line.empty());
    EXPECT_NE(line.find("path=/api/v1/batches/A12****789"), std::string::npos) << line;
    EXPECT_TRUE(wholeIds(line).empty()) << line;
}

// ---- 17: connectors over HTTP that fail: nothing whole in the log, a reason code in the results ---------------------

/// A registry that is down and says so, quoting the ID (as a real one might).
class DownRegistry final : public taxdesk::connectors::Registry {
  public:
    std::optional<taxdesk::connectors::RegistryRecord> lookup(const std::string& id) override {
        throw taxdesk::connectors::TransientError("registry down while looking up " + id);
    }
};

TEST(HttpConnectorFailures, AreLoggedMaskedAndShownAsAReasonCode) {
    auto connectors = taxdesk::connectors::makeStubConnectors({});
    connectors.registry = std::make_shared<DownRegistry>();
    taxdesk::connectors::StubHttpServer stubs(connectors);
    ServeProcess engine({"connectors.mode=http", "connectors.base_url=" + stubs.baseUrl(), "connectors.retries=1",
                         "connectors.backoff_ms=1", "connectors.breaker_failures=1000",
                         "payment.stub_balance=100000000"});
    const std::string token = engine.createToken("creditor", "C1");
    const auto upload = exchange(engine.port(), post("/api/v1/batches", token, "text/csv", kBatch));
    ASSERT_EQ(upload.status, 201) << upload.body;
    const std::string batch = json(upload.body)->getValue<std::string>("batch_id");
    const auto paid =
        exchange(engine.port(), post("/api/v1/batches/" + batch + "/payment", token, "application/json",
                                     R"({"method":"easycard","card_id":"1234567890","idempotency_key":"h9"})"));
    ASSERT_EQ(paid.status, 201) << paid.body;
    std::string state;
    for (const auto deadline = Clock::now() + std::chrono::seconds(90);
         Clock::now() < deadline && state != "completed";) {
        state =
            json(exchange(engine.port(), get("/api/v1/batches/" + batch, token)).body)->getValue<std::string>("state");
        if (state != "completed") std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ASSERT_EQ(state, "completed");
    const auto results = exchange(engine.port(), get("/api/v1/batches/" + batch + "/results?format=json", token));
    ASSERT_EQ(results.status, 200);
    // Chunked: the one result object is in there whole.
    EXPECT_NE(results.body.find(R"("status":"error","reason":"registry_unavailable")"), std::string::npos)
        << results.body;
    EXPECT_EQ(results.body.find("http://"), std::string::npos) << results.body;
    // The engine's log tells what failed, with the ID masked, and holds no whole ID.
    std::string log;
    for (const auto deadline = Clock::now() + std::chrono::seconds(10); Clock::now() < deadline;) {
        log = readFile(engine.logFile());
        if (log.find("registry/v1/persons/A12****789") != std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_NE(log.find("registry/v1/persons/A12****789"), std::string::npos) << log;
    EXPECT_NE(log.find("looking up A12****789"), std::string::npos) << log;
    const auto found = wholeIds(log);
    EXPECT_TRUE(found.empty()) << found.size() << " whole IDs in the log, the first " << found.front();
}

}  // namespace
