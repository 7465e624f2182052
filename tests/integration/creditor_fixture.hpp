#pragma once
// The fixture of the creditor API tests over real HTTP (creditor_api_test, creditor_payments_test): `taxdesk serve` as
// a process against the broker and redis-server that scripts/test started, and helpers to build and send batch files.
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
#include "connectors/store/store.hpp"
#include "connectors/stubs/demo_data/batch_generator.hpp"
#include "connectors/stubs/stub_connectors.hpp"
#include "fixtures/at_once.hpp"
#include "fixtures/kafka_helpers.hpp"
#include "fixtures/serve_process.hpp"
#include "fixtures/test_env.hpp"

namespace taxdesk::testing::creditor {

inline Poco::JSON::Object::Ptr json(const HttpResult& result) {
    return Poco::JSON::Parser().parse(result.body).extract<Poco::JSON::Object::Ptr>();
}

struct GeneratedFile {
    std::string bytes;
    taxdesk::demo_data::BatchGenReport report;
};

inline GeneratedFile generate(std::size_t rows, double badFraction, const std::string& charset = "utf-8",
                              std::uint64_t seed = 20261126) {
    taxdesk::demo_data::BatchGenOptions options;
    options.rows = rows;
    options.badFraction = badFraction;
    options.charset = charset;
    options.seed = seed;
    std::ostringstream out;
    GeneratedFile file;
    file.report = taxdesk::demo_data::writeBatchCsv(out, options);
    file.bytes = out.str();
    return file;
}

/// `utf8` in Big5 (CP950), as a spreadsheet in Taiwan exports it.
inline std::string toBig5(const std::string& utf8) {
    Poco::UTF8Encoding from;
    Poco::Windows950Encoding to;
    std::string out;
    EXPECT_EQ(Poco::TextConverter(from, to).convert(utf8, out), 0) << "no Big5 form for " << utf8;
    return out;
}

inline std::string multipart(const std::string& content, const std::string& boundary) {
    return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"batch.csv\"\r\n" +
           "Content-Type: text/csv\r\n\r\n" + content + "\r\n--" + boundary + "--\r\n";
}

inline std::string errorCode(const HttpResult& result) {
    return json(result)->getObject("error")->getValue<std::string>("code");
}

/// A sample of /metrics, e.g. `taxdesk_payments_total{unit="count"}`; 0 when absent.
inline double metric(const ServeProcess& engine, const std::string& name) {
    const auto scraped = engine.request("GET", "/metrics");
    std::istringstream in(scraped.body);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
    return 0;
}

inline std::string payBody(const std::string& card, const std::string& key) {
    return R"({"method":"easycard","card_id":")" + card + R"(","idempotency_key":")" + key + "\"}";
}

/// One engine for the whole suite, with tokens of two creditors and a gateway.
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

    inline static ServeProcess* engine_ = nullptr;
    inline static std::string creditor_;
    inline static std::string other_;
    inline static std::string gateway_;
};

}  // namespace taxdesk::testing::creditor
