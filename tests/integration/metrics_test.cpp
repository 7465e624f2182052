// /metrics parses as the Prometheus text format, and its counters match what was sent to a fresh engine.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "connectors/stubs/demo_data/batch_generator.hpp"
#include "connectors/stubs/demo_data/population.hpp"
#include "fixtures/serve_process.hpp"

using taxdesk::testing::ServeProcess;

namespace {

/// Parses Prometheus text exposition (format 0.0.4) strictly enough to catch what a scraper would refuse:
/// every sample line is `name{label="value",…} number`, every family has HELP and TYPE before its samples.
std::map<std::string, double> parsePrometheus(const std::string& text) {
    static const std::regex sample(
        R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)?\})? ([-+0-9.eE]+|NaN|\+Inf|-Inf)$)");
    static const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
    std::map<std::string, double> samples;
    std::map<std::string, std::string> types;
    std::istringstream in(text);
    int number = 0;
    for (std::string line; std::getline(in, line);) {
        ++number;
        if (line.empty()) continue;
        std::smatch match;
        if (line.rfind("# HELP ", 0) == 0) continue;
        if (line.rfind("# TYPE ", 0) == 0) {
            EXPECT_TRUE(std::regex_match(line, match, type)) << "line " << number << ": " << line;
            types[match[1]] = match[2];
            continue;
        }
        if (!std::regex_match(line, match, sample)) {
            ADD_FAILURE() << "line " << number << " is not a sample: " << line;
            continue;
        }
        const std::string name = match[1];
        std::string family = name;
        for (const char* suffix : {"_bucket", "_sum", "_count", "_total"})
            if (!types.count(family) && family.size() > std::strlen(suffix) &&
                family.compare(family.size() - std::strlen(suffix), std::string::npos, suffix) == 0)
                family = family.substr(0, family.size() - std::strlen(suffix));
        EXPECT_TRUE(types.count(name) || types.count(family)) << "no TYPE before " << name;
        samples[line.substr(0, line.rfind(' '))] = std::stod(match[match.size() - 1].str());
    }
    return samples;
}

double value(const std::map<std::string, double>& samples, const std::string& key) {
    const auto it = samples.find(key);
    EXPECT_NE(it, samples.end()) << "no sample " << key;
    return it == samples.end() ? -1 : it->second;
}

}  // namespace

TEST(Metrics, ParseAsPrometheusTextAndCountWhatWasSent) {
    ServeProcess engine({"payment.stub_balance=100000000"});
    const auto creditor = engine.createToken("creditor", "C1");
    const auto gateway = engine.createToken("gateway");

    // A batch: 200 rows, 10 of them rejected; paid once.
    taxdesk::demo_data::BatchGenOptions options;
    options.rows = 200;
    options.badFraction = 0.05;
    std::ostringstream file;
    const auto report = taxdesk::demo_data::writeBatchCsv(file, options);
    const auto uploaded = engine.request("POST", "/api/v1/batches", creditor, file.str(), "text/csv");
    ASSERT_EQ(uploaded.status, 201) << uploaded.body;
    const auto batch = Poco::JSON::Parser().parse(uploaded.body).extract<Poco::JSON::Object::Ptr>();
    const auto id = batch->getValue<std::string>("batch_id");
    const auto fee = batch->getValue<long long>("fee_total");
    ASSERT_EQ(engine
                  .request("POST", "/api/v1/batches/" + id + "/payment", creditor,
                           R"({"method":"easycard","card_id":"EC-1","idempotency_key":"m-)" + id + "\"}")
                  .status,
              201);

    // Seven SMS applications, each answered with one single-segment reply.
    const taxdesk::demo_data::Population population(20261126);
    for (int i = 0; i < 7; ++i) {
        const auto person = population.nationalIdAt(900000 + static_cast<std::uint64_t>(i));
        const std::string body = R"({"msisdn":"09770000)" + std::to_string(10 + i) + R"(","text":"1 )" + person + " " +
                                 population.nhiCardNumber(person).substr(8) + R"(","gateway_msg_id":"m-)" +
                                 std::to_string(i) + "\"}";
        ASSERT_EQ(engine.request("POST", "/api/v1/sms/inbound", gateway, body, "application/json").status, 202);
    }

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::map<std::string, double> samples;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto scraped = engine.request("GET", "/metrics");
        ASSERT_EQ(scraped.status, 200);
        EXPECT_NE(scraped.contentType.find("text/plain"), std::string::npos);
        samples = parsePrometheus(scraped.body);
        if (samples[R"(taxdesk_pipeline_messages_total{direction="out",pipeline="inquiry"})"] >= report.good &&
            samples[R"(taxdesk_sms_segments_sent_total)"] >= 7)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    EXPECT_EQ(value(samples, R"(taxdesk_pipeline_messages_total{direction="in",pipeline="inquiry"})"), report.good)
        << "every accepted row was looked up once";
    double results = 0;
    for (const char* status : {"found", "no_records", "not_registered", "name_mismatch", "deceased", "error"})
        results += value(samples, std::string(R"(taxdesk_inquiry_results_total{status=")") + status + "\"}");
    EXPECT_EQ(results, report.good);
    EXPECT_EQ(value(samples, R"(taxdesk_inquiry_results_total{status="not_registered"})"), report.notRegistered);
    EXPECT_EQ(value(samples, R"(taxdesk_payments_total{unit="count"})"), 1);
    EXPECT_EQ(value(samples, R"(taxdesk_payments_total{unit="ntd"})"), static_cast<double>(fee));
    EXPECT_EQ(value(samples, R"(taxdesk_pipeline_messages_total{direction="in",pipeline="sms"})"), 7);
    EXPECT_EQ(value(samples, R"(taxdesk_pipeline_messages_total{direction="in",pipeline="sender"})"), 7);
    EXPECT_EQ(value(samples, R"(taxdesk_sms_segments_sent_total)"), 7);
    EXPECT_EQ(value(samples, R"(taxdesk_pipeline_latency_seconds_count{pipeline="inquiry"})"), report.good);
    EXPECT_GT(value(samples, R"(taxdesk_connector_call_seconds_count{connector="registry"})"), 0);
}
