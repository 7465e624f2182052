// The creditor's path over real HTTP (SPEC 3, 5): `taxdesk serve` as a process against the broker and redis-server
// that scripts/test started; upload → pay → look-ups through Kafka → results, receipts, and every refusal.
#include <Poco/Base64Decoder.h>
#include <Poco/DigestEngine.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/SHA2Engine.h>
#include <Poco/TextConverter.h>
#include <Poco/UTF8Encoding.h>
#include <Poco/Windows950Encoding.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <latch>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "connectors/http/stub_server.hpp"
#include "connectors/population/batch_generator.hpp"
#include "connectors/store/store.hpp"
#include "connectors/stubs/stub_connectors.hpp"
#include "fixtures/at_once.hpp"
#include "fixtures/kafka_helpers.hpp"
#include "fixtures/serve_process.hpp"
#include "fixtures/test_env.hpp"

using taxdesk::testing::HttpResult;
using taxdesk::testing::ServeProcess;

namespace {

Poco::JSON::Object::Ptr json(const HttpResult& result) {
    return Poco::JSON::Parser().parse(result.body).extract<Poco::JSON::Object::Ptr>();
}

struct GeneratedFile {
    std::string bytes;
    taxdesk::connectors::BatchGenReport report;
};

GeneratedFile generate(std::size_t rows, double badFraction, const std::string& charset = "utf-8",
                       std::uint64_t seed = 20261126) {
    taxdesk::connectors::BatchGenOptions options;
    options.rows = rows;
    options.badFraction = badFraction;
    options.charset = charset;
    options.seed = seed;
    std::ostringstream out;
    GeneratedFile file;
    file.report = taxdesk::connectors::writeBatchCsv(out, options);
    file.bytes = out.str();
    return file;
}

/// `utf8` in Big5 (CP950), as a spreadsheet in Taiwan exports it.
std::string toBig5(const std::string& utf8) {
    Poco::UTF8Encoding from;
    Poco::Windows950Encoding to;
    std::string out;
    EXPECT_EQ(Poco::TextConverter(from, to).convert(utf8, out), 0) << "no Big5 form for " << utf8;
    return out;
}

std::string multipart(const std::string& content, const std::string& boundary) {
    return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"batch.csv\"\r\n" +
           "Content-Type: text/csv\r\n\r\n" + content + "\r\n--" + boundary + "--\r\n";
}

class CreditorApiTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        engine_ = new ServeProcess(
            {"payment.stub_balance=100000000", "limits.batch_rows=20000", "limits.batch_bytes=4194304"});
        creditor_ = engine_->createToken("creditor", "C1");
        other_ = engine_->createToken("creditor", "C2");
        gateway_ = engine_->createToken("gateway");
    }
    static void TearDownTestSuite() {
        delete engine_;
        engine_ = nullptr;
    }

    static HttpResult upload(const std::string& bytes, const std::string& query = "",
                             const std::string& token = creditor_) {
        return engine_->request("POST", "/api/v1/batches" + query, token, bytes, "text/csv");
    }

    static HttpResult pay(const std::string& batch, const std::string& key, const std::string& card = "EC-0001") {
        return engine_->request("POST", "/api/v1/batches/" + batch + "/payment", creditor_,
                                R"({"method":"easycard","card_id":")" + card + R"(","idempotency_key":")" + key + "\"}",
                                "application/json");
    }

    static Poco::JSON::Object::Ptr waitCompleted(const std::string& batch) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
        Poco::JSON::Object::Ptr status;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto result = engine_->request("GET", "/api/v1/batches/" + batch, creditor_);
            EXPECT_EQ(result.status, 200) << result.body;
            status = json(result);
            if (status->getValue<std::string>("state") == "completed") return status;
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
        ADD_FAILURE() << "batch " << batch << " did not complete: " << status->getValue<std::string>("state");
        return status;
    }

    static ServeProcess* engine_;
    static std::string creditor_;
    static std::string other_;
    static std::string gateway_;
};

ServeProcess* CreditorApiTest::engine_ = nullptr;
std::string CreditorApiTest::creditor_;
std::string CreditorApiTest::other_;
std::string CreditorApiTest::gateway_;

TEST_F(CreditorApiTest, TenThousandRowsGoFromUploadToIdenticalDownloads) {
    const auto file = generate(10000, 0.05);
    std::size_t rejected = 0;
    for (const auto& [reason, count] : file.report.rejected) rejected += count;

    const auto uploaded = upload(file.bytes);
    ASSERT_EQ(uploaded.status, 201) << uploaded.body;
    const auto batch = json(uploaded);
    const std::string id = batch->getValue<std::string>("batch_id");
    EXPECT_EQ(batch->getValue<std::string>("state"), "awaiting_payment");
    EXPECT_EQ(batch->getValue<int>("rows_total"), 10000);
    EXPECT_EQ(batch->getValue<std::size_t>("rows_accepted"), file.report.good);
    EXPECT_EQ(batch->getValue<std::size_t>("rows_rejected"), rejected);
    const auto errors = batch->getArray("errors");
    EXPECT_EQ(errors->size(), 100u) << "the first 100 row errors";
    std::set<std::string> reasons;
    for (std::size_t i = 0; i < errors->size(); ++i)
        reasons.insert(errors->getObject(i)->getValue<std::string>("reason"));
    EXPECT_EQ(reasons,
              (std::set<std::string>{"invalid_id", "missing_field", "bad_scope", "bad_year", "too_long", "duplicate"}));
    const long long fee = batch->getValue<long long>("fee_total");
    EXPECT_GT(fee, static_cast<long long>(file.report.good) * 250 - 1);

    // Nothing is looked up before payment.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const auto before = json(engine_->request("GET", "/api/v1/batches/" + id, creditor_));
    EXPECT_EQ(before->getValue<int>("rows_done"), static_cast<int>(rejected)) << "only the rejected rows are done";

    const auto paid = pay(id, "key-" + id);
    ASSERT_EQ(paid.status, 201) << paid.body;
    const auto payment = json(paid);
    EXPECT_EQ(payment->getValue<std::string>("status"), "succeeded");
    EXPECT_EQ(payment->getValue<long long>("amount"), fee);
    EXPECT_EQ(payment->getValue<std::string>("card"), "***0001");

    const auto done = waitCompleted(id);
    EXPECT_EQ(done->getValue<int>("rows_done"), 10000);
    EXPECT_TRUE(done->getValue<bool>("paid"));

    const auto first = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=json", creditor_);
    ASSERT_EQ(first.status, 200);
    const auto results = Poco::JSON::Parser().parse(first.body).extract<Poco::JSON::Array::Ptr>();
    ASSERT_EQ(results->size(), 10000u);
    std::map<std::string, std::size_t> statuses;
    for (std::size_t i = 0; i < results->size(); ++i) {
        const auto result = results->getObject(i);
        ASSERT_EQ(result->getValue<int>("row"), static_cast<int>(i + 1)) << "row order";
        statuses[result->getValue<std::string>("status")]++;
    }
    EXPECT_EQ(statuses["rejected"], rejected);
    EXPECT_GT(statuses["found"], 0u);
    EXPECT_EQ(statuses["not_registered"], file.report.notRegistered);
    EXPECT_EQ(statuses["deceased"], file.report.deceased);
    EXPECT_EQ(statuses["name_mismatch"], file.report.nameMismatches);
    EXPECT_EQ(statuses["error"], 0u);

    const auto again = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=json", creditor_);
    EXPECT_EQ(again.body, first.body) << "two downloads, byte for byte";
    const auto csv = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=csv", creditor_);
    ASSERT_EQ(csv.status, 200);
    EXPECT_EQ(csv.body.rfind("\xEF\xBB\xBFrow,debtor_id,status,reason,", 0), 0u) << "UTF-8 with BOM, a header";
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id + "/results?format=csv", creditor_).body, csv.body);
    std::set<std::string> rowsInCsv;
    std::istringstream lines(csv.body);
    std::string line;
    std::getline(lines, line);
    while (std::getline(lines, line)) rowsInCsv.insert(line.substr(0, line.find(',')));
    EXPECT_EQ(rowsInCsv.size(), 10000u) << "every row has at least one line";
}

TEST_F(CreditorApiTest, ErrorRowsAreRetriedOnceWithoutAChargeByTheirCreditorOrOps) {
    const auto file = generate(40, 0.0, "utf-8", 777);
    const auto uploaded = upload(file.bytes);
    ASSERT_EQ(uploaded.status, 201) << uploaded.body;
    const std::string id = json(uploaded)->getValue<std::string>("batch_id");
    const long long fee = json(uploaded)->getValue<long long>("fee_total");
    auto retry = [&](const std::string& token) {
        return engine_->request("POST", "/api/v1/batches/" + id + "/retry", token);
    };
    const auto unpaid = retry(creditor_);
    EXPECT_EQ(unpaid.status, 409) << unpaid.body;
    EXPECT_NE(unpaid.body.find("not_completed"), std::string::npos) << unpaid.body;

    const std::string key = "key-" + id;
    ASSERT_EQ(pay(id, key).status, 201);
    waitCompleted(id);
    const auto clean = retry(creditor_);
    EXPECT_EQ(clean.status, 409) << clean.body;
    EXPECT_NE(clean.body.find("no_error_rows"), std::string::npos) << clean.body;
    const auto original = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=json", creditor_).body;

    // Rows 3, 7 and 11 as a connector that kept failing leaves them (written into the engine's store behind its back).
    taxdesk::connectors::StoreSettings storeSettings;
    storeSettings.sqlitePath = engine_->varDir() + "/taxdesk.db";
    taxdesk::connectors::Store store(storeSettings);
    auto breakRows = [&](const std::vector<int>& rows) {
        std::vector<taxdesk::connectors::StoredResult> broken;
        for (const int row : rows) {
            auto result = store.results().findResult(id, row).value();
            result.status = "error";
            result.reason = "registry_unavailable";
            result.payload = R"({"batch_id":")" + id + R"(","row":)" + std::to_string(row) + R"(,"debtor_id":")" +
                             result.debtorId +
                             R"(","status":"error","reason":"registry_unavailable","income":[],"property":[]})";
            broken.push_back(result);
        }
        store.results().upsertResults(broken);
    };
    breakRows({3, 7, 11});

    EXPECT_EQ(retry(other_).status, 404) << "another creditor's batch does not exist for them";
    EXPECT_EQ(retry(gateway_).status, 403);
    const auto accepted = retry(creditor_);
    ASSERT_EQ(accepted.status, 202) << accepted.body;
    EXPECT_EQ(json(accepted)->getValue<std::string>("batch_id"), id);
    EXPECT_EQ(json(accepted)->getValue<int>("rows_retried"), 3);
    // Asked again at once: the batch is processing (409 not_completed) or already done again (409 no_error_rows).
    const auto twice = retry(creditor_);
    EXPECT_EQ(twice.status, 409) << twice.body;

    const auto done = waitCompleted(id);
    EXPECT_EQ(done->getValue<int>("rows_done"), 40) << "every row counted once";
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id + "/results?format=json", creditor_).body, original)
        << "the retried rows have their real results again";
    EXPECT_EQ(store.payments().paidTotal(id), fee) << "nothing charged again";
    EXPECT_EQ(pay(id, key).status, 200) << "the one payment, as it was";

    // Operations staff may retry any creditor's batch.
    const std::string ops = engine_->createToken("ops");
    breakRows({40});
    const auto byOps = retry(ops);
    ASSERT_EQ(byOps.status, 202) << byOps.body;
    EXPECT_EQ(json(byOps)->getValue<int>("rows_retried"), 1);
    waitCompleted(id);
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id + "/results?format=json", creditor_).body, original);
    EXPECT_EQ(store.payments().paidTotal(id), fee);
}

TEST_F(CreditorApiTest, Big5FilesDeclaredOrNotAreRead) {
    const auto file = generate(1000, 0.02, "big5", 7);
    const auto declared = engine_->request("POST", "/api/v1/batches?charset=big5", creditor_,
                                           multipart(file.bytes, "XyZ"), "multipart/form-data; boundary=XyZ");
    ASSERT_EQ(declared.status, 201) << declared.body;
    EXPECT_EQ(json(declared)->getValue<std::size_t>("rows_accepted"), file.report.good);
    const auto undeclared = upload(file.bytes);
    ASSERT_EQ(undeclared.status, 201) << undeclared.body;
    EXPECT_EQ(json(undeclared)->getValue<std::size_t>("rows_accepted"), file.report.good);

    const std::string id = json(declared)->getValue<std::string>("batch_id");
    ASSERT_EQ(pay(id, "big5-" + id).status, 201);
    waitCompleted(id);
    const auto results = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=json", creditor_);
    EXPECT_EQ(Poco::JSON::Parser().parse(results.body).extract<Poco::JSON::Array::Ptr>()->size(), 1000u);
}

TEST_F(CreditorApiTest, ABig5RowThatCannotBeReadIsRefusedAloneAndNotCharged) {
    // 0xA3C0 is a Big5 pair that no table knows (CP950, HKSCS, the user-defined areas).
    const std::string bytes = toBig5(
                                  "debtor_id,debtor_name,title_ref,scope,income_years\n"
                                  "A123456789,王小明,臺灣臺北地方法院112年度司執字第12345號,both,112\n"
                                  "A223456781,李") +
                              "\xA3\xC0" +
                              toBig5(
                                  "華,T,income,112;113\n"
                                  "22099131,台灣測試股份有限公司,T,property,\n");
    for (const std::string query : {"?charset=big5", ""}) {
        SCOPED_TRACE(query.empty() ? "detected" : "declared");
        const auto uploaded = upload(bytes, query);
        ASSERT_EQ(uploaded.status, 201) << uploaded.body;
        const auto batch = json(uploaded);
        EXPECT_EQ(batch->getValue<int>("rows_total"), 3);
        EXPECT_EQ(batch->getValue<int>("rows_accepted"), 2);
        EXPECT_EQ(batch->getValue<int>("rows_rejected"), 1);
        EXPECT_EQ(batch->getValue<long long>("fee_total"), 500 + 250) << "both + one year, and property: not row 2";
        const auto errors = batch->getArray("errors");
        ASSERT_EQ(errors->size(), 1u);
        EXPECT_EQ(errors->getObject(0)->getValue<int>("row"), 2);
        EXPECT_EQ(errors->getObject(0)->getValue<std::string>("column"), "debtor_name");
        EXPECT_EQ(errors->getObject(0)->getValue<std::string>("reason"), "bad_charset");
    }
}

TEST_F(CreditorApiTest, ABig5NameWithAHongKongCharacterIsAccepted) {
    // 堃 is 0xFB69 in HKSCS (`printf 堃 | iconv -t BIG5-HKSCS | xxd`); CP950 does not have it.
    const std::string bytes = toBig5(
                                  "debtor_id,debtor_name,title_ref,scope,income_years\n"
                                  "A123456789,陳") +
                              "\xFB\x69" + toBig5(",T,income,113\n");
    const auto uploaded = upload(bytes, "?charset=big5");
    ASSERT_EQ(uploaded.status, 201) << uploaded.body;
    const auto batch = json(uploaded);
    EXPECT_EQ(batch->getValue<int>("rows_accepted"), 1);
    EXPECT_EQ(batch->getValue<int>("rows_rejected"), 0);
    EXPECT_EQ(batch->getValue<long long>("fee_total"), 250);
    EXPECT_EQ(batch->getArray("errors")->size(), 0u);
}

TEST_F(CreditorApiTest, WholeFileErrorsStoreAndChargeNothing) {
    const auto countBatches = [] {
        return json(engine_->request("GET", "/api/v1/batches?limit=100", creditor_))->getArray("batches")->size();
    };
    const auto before = countBatches();
    struct Case {
        std::string name;
        std::string body;
        std::string query;
        int status;
        std::string code;
        std::string says;
    };
    std::string tooMany = generate(20001, 0).bytes;
    const std::vector<Case> cases{
        {"empty file", "", "", 400, "missing_header", ""},
        {"missing column", "debtor_id,debtor_name\nA123456789,王小明\n", "", 400, "missing_column", "title_ref"},
        {"no data rows", "debtor_id,debtor_name,title_ref\n", "", 400, "no_rows", ""},
        // Most rows unreadable: the file is not in its charset (one such row alone is refused by itself, below).
        {"undecodable", "debtor_id,debtor_name,title_ref\nA123456789,x,t\nA123456789,\xff\xfe\xfd,t\nA1,\xff,t\n",
         "?charset=utf-8", 400, "undecodable", "line 3 is not valid UTF-8"},
        {"undecodable header", "debtor_id,debtor_name,title_ref,\x80\nA123456789,x,t,\n", "?charset=big5", 400,
         "undecodable", "save the file as CSV UTF-8"},
        {"utf-16",
         std::string("\xff\xfe"
                     "d\0e\0b\0",
                     8),
         "", 400, "undecodable", "UTF-16"},
        {"too many rows", tooMany, "", 413, "too_many_rows", ""},
        {"too many bytes", std::string(5 * 1024 * 1024, 'a'), "", 413, "too_large", ""},
        {"unknown charset", "debtor_id,debtor_name,title_ref\n", "?charset=latin1", 400, "bad_charset", ""},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const auto result = upload(c.body, c.query);
        EXPECT_EQ(result.status, c.status) << result.body;
        const auto error = json(result)->getObject("error");
        EXPECT_EQ(error->getValue<std::string>("code"), c.code) << result.body;
        if (!c.says.empty()) {
            EXPECT_NE(error->getValue<std::string>("message").find(c.says), std::string::npos);
        }
    }
    const auto wrongType = engine_->request("POST", "/api/v1/batches", creditor_, "x", "application/pdf");
    EXPECT_EQ(wrongType.status, 415);
    EXPECT_EQ(countBatches(), before) << "nothing stored";
}

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

TEST_F(CreditorApiTest, SubmitUploadsPaysWaitsAndDownloads) {
    const auto file = generate(300, 0.1, "utf-8", 17);
    const std::string dir = taxdesk::testing::tempDir("submit");
    std::ofstream(dir + "/batch.csv", std::ios::binary) << file.bytes;
    std::string out;
    const int code = engine_->runTool(
        {"submit", dir + "/batch.csv", "--token", creditor_, "--url",
         "http://127.0.0.1:" + std::to_string(engine_->port()), "--pay", "EC-7777", "--out", dir + "/results.csv"},
        &out);
    ASSERT_EQ(code, 0);
    std::ifstream in(dir + "/results.csv", std::ios::binary);
    const std::string csv((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(csv.rfind("\xEF\xBB\xBFrow,", 0), 0u);
    EXPECT_NE(csv.find(",rejected,"), std::string::npos);
    EXPECT_GE(std::count(csv.begin(), csv.end(), '\n'), 301);
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

TEST_F(CreditorApiTest, TokensAndCreditorsAreKeptApart) {
    const auto id = json(upload(generate(5, 0, "utf-8", 14).bytes))->getValue<std::string>("batch_id");
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id).status, 401);
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id, "tdk_not_a_token").status, 401);
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id, gateway_).status, 403);
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id, other_).status, 404) << "another creditor's batch";
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id + "/results?format=json", other_).status, 404);
    const auto list = json(engine_->request("GET", "/api/v1/batches", other_));
    for (std::size_t i = 0; i < list->getArray("batches")->size(); ++i)
        EXPECT_NE(list->getArray("batches")->getObject(i)->getValue<std::string>("batch_id"), id);
    const auto mine = json(engine_->request("GET", "/api/v1/batches?limit=1", creditor_));
    EXPECT_EQ(mine->getArray("batches")->getObject(0)->getValue<std::string>("batch_id"), id) << "newest first";
}

/// The public id of a token, by SPEC 5's rule for `taxdesk token list`: the first 12 hex digits of its SHA-256.
std::string tokenIdOf(const std::string& token) {
    Poco::SHA2Engine sha(Poco::SHA2Engine::SHA_256);
    sha.update(token);
    return Poco::DigestEngine::digestToHex(sha.digest()).substr(0, 12);
}

/// The tab-separated fields of the line of `taxdesk token list` output for token id `id` (empty: no such line).
std::vector<std::string> listedFields(const std::string& listed, const std::string& id) {
    std::istringstream lines(listed);
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> fields;
        std::istringstream cells(line);
        for (std::string cell; std::getline(cells, cell, '\t');) fields.push_back(cell);
        if (!fields.empty() && fields[0] == id) return fields;
    }
    return {};
}

std::string errorCode(const HttpResult& result) {
    return json(result)->getObject("error")->getValue<std::string>("code");
}

TEST_F(CreditorApiTest, ARevokedTokenIs401TokenRevokedFromTheNextRequestWhileOthersWork) {
    const std::string token = engine_->createToken("creditor", "C1");
    const std::string keeps = engine_->createToken("creditor", "C1");
    const std::string id = tokenIdOf(token);
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches", token).status, 200);

    std::string listed;
    ASSERT_EQ(engine_->runTool({"token", "list"}, &listed), 0);
    EXPECT_NE(listed.find("id\trole\tcreditor\tcreated\texpires\trevoked\n"), std::string::npos) << listed;
    const auto fields = listedFields(listed, id);
    ASSERT_EQ(fields.size(), 6U) << listed;
    EXPECT_EQ(fields, (std::vector<std::string>{id, "creditor", "C1", fields[3], "-", "-"}))
        << "no expiry, not revoked: " << listed;
    for (const std::string& secret : {token, keeps, token.substr(4)})
        EXPECT_EQ(listed.find(secret), std::string::npos) << "a token in the list";

    // The engine runs on; the CLI revokes in its store.
    ASSERT_EQ(engine_->runTool({"token", "revoke", id}), 0);
    const auto refused = engine_->request("GET", "/api/v1/batches", token);
    EXPECT_EQ(refused.status, 401) << refused.body;
    EXPECT_EQ(errorCode(refused), "token_revoked") << refused.body;
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches", keeps).status, 200) << "only the token named";
    EXPECT_EQ(engine_->runTool({"token", "revoke", id}), 0) << "revoking twice is fine";
    EXPECT_EQ(errorCode(engine_->request("GET", "/api/v1/batches", token)), "token_revoked");
    EXPECT_EQ(engine_->runTool({"token", "revoke", "000000000000"}), 1) << "an unknown id";
    EXPECT_EQ(engine_->runTool({"token", "revoke"}), 2) << "no id";
    ASSERT_EQ(engine_->runTool({"token", "list"}, &listed), 0);
    const auto revoked = listedFields(listed, id);
    ASSERT_EQ(revoked.size(), 6U) << listed;
    EXPECT_EQ(revoked[5].size(), 24U) << "the revocation time is listed: " << listed;
}

TEST_F(CreditorApiTest, AnExpiredTokenIs401TokenExpiredWhileOneThatExpiresLaterWorks) {
    std::string later;
    ASSERT_EQ(
        engine_->runTool({"token", "create", "--role", "creditor", "--creditor", "C1", "--expires-in", "1"}, &later),
        0);
    later.erase(later.find_last_not_of("\r\n") + 1);
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches", later).status, 200);
    std::string listed;
    ASSERT_EQ(engine_->runTool({"token", "list"}, &listed), 0);
    const auto fields = listedFields(listed, tokenIdOf(later));
    ASSERT_EQ(fields.size(), 6U) << listed;
    EXPECT_GT(fields[4], fields[3]) << "it expires after it was created: " << listed;
    EXPECT_EQ(fields[4].size(), 24U) << listed;
    EXPECT_EQ(fields[5], "-") << listed;
    EXPECT_EQ(engine_->runTool({"token", "create", "--role", "creditor", "--creditor", "C1", "--expires-in", "0"}), 2);
    EXPECT_EQ(engine_->runTool({"token", "create", "--role", "ops", "--expires", "2001-02-03"}), 2) << "in the past";

    // A token that has expired cannot be made by the CLI: write it into the engine's store as the CLI would.
    taxdesk::connectors::StoreSettings settings;
    settings.sqlitePath = engine_->varDir() + "/taxdesk.db";
    taxdesk::connectors::Store store(settings);
    const std::string expired = "tdk_" + taxdesk::testing::uniqueName("expired");
    Poco::SHA2Engine sha(Poco::SHA2Engine::SHA_256);
    sha.update(expired);
    store.tokens().insertToken({Poco::DigestEngine::digestToHex(sha.digest()), "creditor", "C1",
                                "2026-01-01T00:00:00.000Z", tokenIdOf(expired), "2026-01-02T00:00:00.000Z", ""});
    const auto refused = engine_->request("GET", "/api/v1/batches", expired);
    EXPECT_EQ(refused.status, 401) << refused.body;
    EXPECT_EQ(errorCode(refused), "token_expired") << refused.body;
    EXPECT_EQ(errorCode(engine_->request("GET", "/api/v1/batches", "tdk_not_a_token")), "unauthorized");
}

TEST_F(CreditorApiTest, TheReceiptsQrCodeDecodesToThePublicPage) {
    const auto uploaded = json(upload(generate(5, 0, "utf-8", 15).bytes));
    const auto id = uploaded->getValue<std::string>("batch_id");
    const auto publicUrl = uploaded->getValue<std::string>("public_url");
    const auto page = engine_->request("GET", "/api/v1/batches/" + id + "/receipt", creditor_);
    ASSERT_EQ(page.status, 200);
    EXPECT_NE(page.body.find(publicUrl), std::string::npos) << "the URL written out";
    const std::string marker = "data:image/png;base64,";
    const auto start = page.body.find(marker);
    ASSERT_NE(start, std::string::npos);
    const auto end = page.body.find('"', start);
    std::istringstream encoded(page.body.substr(start + marker.size(), end - start - marker.size()));
    Poco::Base64Decoder decoder(encoded);
    std::string png((std::istreambuf_iterator<char>(decoder)), std::istreambuf_iterator<char>());
    const std::string path = taxdesk::testing::tempDir("qr") + "/receipt.png";
    std::ofstream(path, std::ios::binary) << png;
    const std::string command = "zbarimg --quiet --raw " + path + " 2>/dev/null";
    FILE* pipe = popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char buffer[512] = {};
    const std::string decoded(buffer, fread(buffer, 1, sizeof buffer - 1, pipe));
    ASSERT_EQ(pclose(pipe), 0) << "zbarimg (zbar-tools) could not read the code";
    EXPECT_EQ(decoded.substr(0, decoded.find_last_not_of("\r\n") + 1), publicUrl);

    const auto path2 = publicUrl.substr(publicUrl.find("/r/"));
    const auto publicPage = engine_->request("GET", path2);
    ASSERT_EQ(publicPage.status, 200) << "no token needed";
    EXPECT_NE(publicPage.body.find("Awaiting payment"), std::string::npos);
    EXPECT_EQ(publicPage.body.find("C1"), std::string::npos) << "no creditor";
    EXPECT_EQ(engine_->request("GET", "/r/not-a-token").status, 404);
}

}  // namespace

TEST_F(CreditorApiTest, ACsvCellThatASpreadsheetWouldRunIsDownloadedAsText) {
    // SPEC 3.3 (OWASP CSV injection): a rejected row keeps what the creditor wrote, formula and all.
    const std::string file =
        "debtor_id,debtor_name,title_ref\n"
        "=1+1,王小明,臺灣臺北地方法院112年度司執字第1號\n"
        "@SUM(A1),王小明,臺灣臺北地方法院112年度司執字第2號\n";
    const auto uploaded = upload(file);
    ASSERT_EQ(uploaded.status, 201) << uploaded.body;
    const auto id = json(uploaded)->getValue<std::string>("batch_id");
    const auto csv = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=csv", creditor_);
    ASSERT_EQ(csv.status, 200) << csv.body;
    EXPECT_NE(csv.body.find("\r\n1,\"'=1+1\",rejected,invalid_id,"), std::string::npos) << csv.body;
    EXPECT_NE(csv.body.find("\r\n2,\"'@SUM(A1)\",rejected,invalid_id,"), std::string::npos) << csv.body;
}

// ---- issue 9, money: the ledger equals what the card was charged, whatever the race ----

namespace {

/// A sample of /metrics, e.g. `taxdesk_payments_total{unit="count"}`; 0 when absent.
double metric(const ServeProcess& engine, const std::string& name) {
    const auto scraped = engine.request("GET", "/metrics");
    std::istringstream in(scraped.body);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
    return 0;
}

std::string payBody(const std::string& card, const std::string& key) {
    return R"({"method":"easycard","card_id":")" + card + R"(","idempotency_key":")" + key + "\"}";
}

}  // namespace

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
    // One provider (slow: a charge takes 6 s) and one store for two engines, as in production.
    taxdesk::connectors::StubSettings stubSettings;
    stubSettings.paymentBalance = 1'000'000;
    stubSettings.latencyMs = 6000;
    auto stubs = taxdesk::connectors::makeStubConnectors(stubSettings);
    const auto provider = std::dynamic_pointer_cast<taxdesk::connectors::StubPayment>(stubs.payment);
    ASSERT_TRUE(provider);
    taxdesk::connectors::StubHttpServer stubServer(stubs);
    const std::string storePath = taxdesk::testing::tempDir("two-engines") + "/taxdesk.db";
    const std::vector<std::string> sets{"connectors.mode=http", "connectors.base_url=" + stubServer.baseUrl(),
                                        "connectors.timeout_ms=20000", "connectors.retries=0",
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
        reserved = payment && payment->status == "pending";
        return reserved;
    });
    ASSERT_TRUE(reserved);
    ServeProcess second(sets);
    const auto during = ledger.payments().findPaymentByKey("C1", "two-" + batch).value();
    paying.join();

    EXPECT_EQ(during.status, "pending") << "the second engine's start-up left the payment in flight alone";
    EXPECT_EQ(paid.status, 201) << paid.body;
    const auto fee = json(uploaded)->getValue<long long>("fee_total");
    EXPECT_EQ(1'000'000 - provider->balance("EC-TWO"), fee);
    EXPECT_EQ(ledger.payments().paidTotal(batch), fee) << "the ledger says what the card was charged";
    EXPECT_EQ(ledger.payments().findPaymentByKey("C1", "two-" + batch)->status, "succeeded");
}
