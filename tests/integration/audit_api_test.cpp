// GET /api/v1/ops/audit (engine/api/audit_api) over a real HttpServer and store, on both backends: the ops role only,
// 400 naming a bad parameter, a debtor found by its ID though the trail holds only its HMAC, CSV or JSON by Accept or
// format=, pages by cursor, and no whole ID in any answer or log line.
#include <Poco/AutoPtr.h>
#include <Poco/Channel.h>
#include <Poco/Logger.h>
#include <Poco/Message.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Timespan.h>
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>

#include "connectors/store/migrations.hpp"
#include "connectors/store/sql_audit_store.hpp"
#include "connectors/store/store.hpp"
#include "engine/api/audit_api.hpp"
#include "engine/api/auth.hpp"
#include "engine/http/http_server.hpp"
#include "fixtures/store_backend.hpp"
#include "fixtures/test_env.hpp"
#include "jobs/audit/audit.hpp"

namespace taxdesk::engine::api {
namespace {

/// Every log line, kept for the test to read.
class CapturingChannel final : public Poco::Channel {
  public:
    void log(const Poco::Message& message) override {
        const std::lock_guard lock(mutex_);
        text_ += message.getText() + "\n";
    }
    std::string text() {
        const std::lock_guard lock(mutex_);
        return text_;
    }

  private:
    std::mutex mutex_;
    std::string text_;
};

/// The whole answer (status line, headers, body) of one GET.
std::string get(int port, const std::string& target, const std::string& token, const std::string& accept = "") {
    Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", static_cast<Poco::UInt16>(port)));
    socket.setReceiveTimeout(Poco::Timespan(30, 0));
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
    if (!accept.empty()) request += "Accept: " + accept + "\r\n";
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

bool status(const std::string& answer, int code) {
    return answer.rfind("HTTP/1.1 " + std::to_string(code), 0) == 0;
}

class AuditApiTest : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        backend_ = std::make_unique<testing::StoreBackend>(GetParam(), "audit-api");
        store_ = std::make_unique<connectors::Store>(backend_->settings());
        store_->audit().configure({true, "api-test-key"});
        creditor_ = testing::uniqueName("C");
        batch_ = testing::uniqueName("batch");
        opsToken_ = testing::uniqueName("tdk_ops");
        creditorToken_ = testing::uniqueName("tdk_cred");
        store_->tokens().insertToken(
            {hashToken(opsToken_), "ops", "", "2026-01-01T00:00:00.000Z", testing::uniqueName("id"), "", ""});
        store_->tokens().insertToken({hashToken(creditorToken_), "creditor", creditor_, "2026-01-01T00:00:00.000Z",
                                      testing::uniqueName("id"), "", ""});
        // Three results of a batch of the creditor, and a download.
        connectors::BatchRecord batch;
        batch.batchId = batch_;
        batch.creditorId = creditor_;
        batch.state = jobs::inquiry::BatchState::queued;
        batch.receiptToken = testing::uniqueName("receipt");
        auto writer = store_->batches().beginBatch(batch);
        std::vector<connectors::BatchRowRecord> rows;
        for (int row = 1; row <= 3; ++row)
            rows.push_back(
                {batch_, row, id(row), "王小明", "=title " + std::to_string(row), "both", "2024", true, "", "", 500});
        writer->addRows(rows);
        writer->commit(3, 3, 0, 1500);
        std::vector<connectors::StoredResult> results;
        for (int row = 1; row <= 3; ++row)
            results.push_back({batch_, row, id(row), "found", "", R"({"row":)" + std::to_string(row) + "}"});
        store_->results().upsertResults(results, {"req-1", "req-2", "req-3"});
        store_->audit().recordDownload(creditor_, batch_, "csv", 3, "req-dl");
        channel_ = new CapturingChannel;
        Poco::Logger::root().setChannel(channel_);
        Poco::Logger::root().setLevel(Poco::Message::PRIO_INFORMATION);
        Poco::Logger::get("http").setChannel(channel_);
        Poco::Logger::get("http").setLevel(Poco::Message::PRIO_INFORMATION);
        api_ = std::make_unique<AuditApi>(store_->audit(), store_->tokens());
        server_ = std::make_unique<HttpServer>("127.0.0.1", 0, 2, api_->routes());
    }

    /// A unique ID of this test run (a valid form is not needed by the trail).
    std::string id(int row) const {
        return "Z9" + std::to_string(std::hash<std::string>{}(batch_) % 10000000) + std::to_string(row);
    }

    std::unique_ptr<testing::StoreBackend> backend_;
    std::unique_ptr<connectors::Store> store_;
    std::unique_ptr<AuditApi> api_;
    std::unique_ptr<HttpServer> server_;
    Poco::AutoPtr<CapturingChannel> channel_;
    std::string creditor_, batch_, opsToken_, creditorToken_;
};

TEST_P(AuditApiTest, OpsFindsADebtorByItsIdWhichNoAnswerOrLogHolds) {
    const std::string answer = get(server_->port(), "/api/v1/ops/audit?debtor_id=" + id(2), opsToken_);
    ASSERT_TRUE(status(answer, 200)) << answer;
    EXPECT_NE(answer.find("\"batch_id\":\"" + batch_ + "\""), std::string::npos) << answer;
    EXPECT_NE(answer.find("\"row\":2"), std::string::npos) << answer;
    EXPECT_EQ(answer.find("\"row\":1,"), std::string::npos) << answer;
    EXPECT_NE(answer.find(jobs::audit::idHmac("api-test-key", id(2))), std::string::npos) << answer;
    EXPECT_NE(answer.find("\"request_id\":\"req-2\""), std::string::npos) << answer;
    EXPECT_EQ(answer.find(id(2)), std::string::npos) << "the ID itself is in the answer: " << answer;
    EXPECT_EQ(channel_->text().find(id(2)), std::string::npos) << channel_->text();
}

TEST_P(AuditApiTest, OnlyTheOpsRole) {
    EXPECT_TRUE(status(get(server_->port(), "/api/v1/ops/audit?creditor=" + creditor_, creditorToken_), 403));
    EXPECT_TRUE(status(get(server_->port(), "/api/v1/ops/audit?creditor=" + creditor_, ""), 401));
}

TEST_P(AuditApiTest, BadParametersAre400NamingThem) {
    const std::map<std::string, std::string> cases = {
        {"from=yesterday", "from"},
        {"from=2026-12-02&to=2026-12-01", "from is after to"},
        {"to=2026-13-01", "to"},
        {"creditor=C&limit=0", "limit"},
        {"creditor=C&limit=1001", "limit"},
        {"creditor=C&format=xml", "format"},
        {"creditor=C&cursor=garbage", "cursor"},
        {"creditor=C&debtor=A123456789", "debtor"},
        {"", "debtor_id, creditor"},
    };
    for (const auto& [query, named] : cases) {
        const std::string answer = get(server_->port(), "/api/v1/ops/audit?" + query, opsToken_);
        EXPECT_TRUE(status(answer, 400)) << query << ": " << answer;
        EXPECT_NE(answer.find(named), std::string::npos) << query << ": " << answer;
    }
    EXPECT_EQ(channel_->text().find("A123456789"), std::string::npos) << channel_->text();
}

TEST_P(AuditApiTest, CsvByAcceptOrFormatAndPagesByCursor) {
    const std::string csv = get(server_->port(), "/api/v1/ops/audit?creditor=" + creditor_, opsToken_, "text/csv");
    ASSERT_TRUE(status(csv, 200)) << csv;
    EXPECT_NE(csv.find("text/csv"), std::string::npos) << csv;
    EXPECT_NE(csv.find("recorded_at,kind,creditor_id,batch_id,row,title_ref,debtor_id_hmac"), std::string::npos);
    EXPECT_NE(csv.find(",download," + creditor_ + "," + batch_ + ",,,,,req-dl,csv,3,"), std::string::npos) << csv;
    EXPECT_TRUE(status(get(server_->port(), "/api/v1/ops/audit?format=csv&creditor=" + creditor_, opsToken_), 200));

    // A title starting with '=' is made text for spreadsheets.
    EXPECT_NE(csv.find(",1,'=title 1,"), std::string::npos) << csv;
    // The creditor's of today, one hit a page: three results and the download.
    const std::string today = jobs::audit::dayOf(connectors::detail::utcNow());
    std::string cursor;
    int hits = 0;
    for (int page = 0; page < 100; ++page) {
        const std::string answer = get(
            server_->port(),
            "/api/v1/ops/audit?limit=1&creditor=" + creditor_ + "&from=" + today + "&to=" + today + cursor, opsToken_);
        ASSERT_TRUE(status(answer, 200)) << answer;
        EXPECT_NE(answer.find("\"batch_id\":\"" + batch_ + "\""), std::string::npos) << answer;
        ++hits;
        const auto next = answer.find("\"next_cursor\":\"");
        if (next == std::string::npos) break;
        const auto start = next + 15;
        cursor = "&cursor=" + answer.substr(start, answer.find('"', start) - start);
    }
    EXPECT_EQ(hits, 4);
}

INSTANTIATE_TEST_SUITE_P(Backends, AuditApiTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

}  // namespace
}  // namespace taxdesk::engine::api
