// `taxdesk topics create|check` and the engine's start-up checks (its topics, its port), run as the binary against the
// embedded broker that scripts/test started, each test on a prefix of its own that has no topics yet. The embedded
// broker (librdkafka's mock cluster) has no CreateTopics, so `topics create` makes its topics the way that broker does
// (see admin.hpp); the CreateTopics path itself needs a real cluster.
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Process.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "connectors/http/listener.hpp"
#include "connectors/kafka/admin.hpp"
#include "fixtures/test_env.hpp"

namespace {

struct ToolRun {
    int code = -1;
    std::string out;  ///< stdout and stderr
};

std::string quoted(const std::string& text) {
    std::string result = "'";
    for (const char c : text) result += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return result + "'";
}

/// The binary with these --set values and arguments, bounded by `timeout` (a hung run fails the test, it does not
/// hang it).
ToolRun runTaxdesk(const std::vector<std::string>& sets, const std::string& args) {
    std::string command = "timeout 120 " + quoted(TAXDESK_BINARY);
    for (const auto& set : sets) command += " --set " + quoted(set);
    command += " " + args + " 2>&1";
    ToolRun run;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return run;
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) run.out.append(buffer, n);
    const int status = ::pclose(pipe);
    run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

std::vector<std::string> linesWith(const std::string& text, const std::string& word) {
    std::vector<std::string> found;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.find(word) != std::string::npos) found.push_back(line);
    return found;
}

const std::vector<std::string> kTopics{
    "inquiry.requests", "inquiry.requests.dlq", "inquiry.results",        "inquiry.results.dlq",
    "sms.inbound",      "sms.inbound.dlq",      "notifications.outbound", "notifications.outbound.dlq",
    "payments.records", "payments.records.dlq"};

class Topics : public ::testing::Test {
  protected:
    void SetUp() override {
        prefix_ = taxdesk::testing::uniqueName("topics") + ".";
        varDir_ = taxdesk::testing::tempDir("topics");
        sets_ = {"app.var_dir=" + varDir_, "kafka.bootstrap=" + taxdesk::testing::kafkaBootstrap(),
                 "kafka.topic_prefix=" + prefix_};
    }
    /// Every topic of the prefix but payments.records.dlq, made directly.
    void makeAllButOne() {
        taxdesk::connectors::kafka::KafkaSettings kafka;
        kafka.bootstrap = taxdesk::testing::kafkaBootstrap();
        taxdesk::connectors::kafka::Admin admin(kafka);
        std::vector<std::string> names;
        for (const auto& topic : kTopics)
            if (topic != "payments.records.dlq") names.push_back(prefix_ + topic);
        (void)admin.createTopics(names, 4, -1, 10000);
    }
    std::string prefix_;
    std::string varDir_;
    std::vector<std::string> sets_;
};

}  // namespace

TEST_F(Topics, CreateOnAFreshPrefixThenCheckPassesAndCreatingAgainFindsThemAll) {
    const ToolRun before = runTaxdesk(sets_, "topics check");
    EXPECT_EQ(before.code, 1) << before.out;
    EXPECT_EQ(linesWith(before.out, "missing topic ").size(), kTopics.size()) << before.out;

    const ToolRun create = runTaxdesk(sets_, "topics create");
    ASSERT_EQ(create.code, 0) << create.out;
    for (const auto& topic : kTopics)
        EXPECT_EQ(linesWith(create.out, "created " + prefix_ + topic + " ").size(), 1u) << topic << "\n" << create.out;

    // The embedded broker makes its own partition count (4): a warning unless kafka.topic_partitions says 4.
    const ToolRun check = runTaxdesk(sets_, "topics check");
    EXPECT_EQ(check.code, 0) << check.out;
    for (const auto& topic : kTopics)
        EXPECT_EQ(linesWith(check.out, prefix_ + topic + " partitions=4 replicas=1 differs").size(), 1u) << check.out;
    EXPECT_EQ(linesWith(check.out, "warning: ").size(), kTopics.size()) << check.out;
    EXPECT_TRUE(linesWith(check.out, "missing").empty()) << check.out;
    auto exact = sets_;
    exact.push_back("kafka.topic_partitions=4");
    const ToolRun strict = runTaxdesk(exact, "topics check --strict");
    EXPECT_EQ(strict.code, 0) << strict.out;
    EXPECT_EQ(linesWith(strict.out, " ok").size(), kTopics.size()) << strict.out;
    EXPECT_EQ(runTaxdesk(sets_, "topics check --strict").code, 1) << "16 configured, 4 found: an error with --strict";

    const ToolRun again = runTaxdesk(sets_, "topics create");
    ASSERT_EQ(again.code, 0) << again.out;
    EXPECT_EQ(linesWith(again.out, "exists " + prefix_).size(), kTopics.size()) << again.out;
    EXPECT_TRUE(linesWith(again.out, "created").empty()) << again.out;
}

TEST_F(Topics, CheckWithOneMissingExitsNonZeroNamingIt) {
    makeAllButOne();
    const ToolRun check = runTaxdesk(sets_, "topics check");
    EXPECT_EQ(check.code, 1) << check.out;
    const auto missing = linesWith(check.out, "missing topic ");
    ASSERT_EQ(missing.size(), 1u) << check.out;
    EXPECT_NE(missing[0].find("missing topic " + prefix_ + "payments.records.dlq"), std::string::npos) << missing[0];
    EXPECT_EQ(linesWith(check.out, prefix_ + "payments.records.dlq missing").size(), 1u) << check.out;
    EXPECT_EQ(linesWith(check.out, prefix_ + "payments.records partitions=4").size(), 1u) << check.out;
}

TEST_F(Topics, ServeRefusesToStartWithOneLineWhenATopicIsMissingAndAutoCreationIsOff) {
    makeAllButOne();
    auto sets = sets_;
    sets.insert(sets.end(),
                {"kafka.auto_create_topics=false", "kafka.group_id=" + prefix_ + "engine",
                 "redis.port=" + std::to_string(taxdesk::testing::redisPort()), "redis.key_prefix=" + prefix_,
                 "http.port=" + std::to_string(taxdesk::testing::freePort())});
    const ToolRun serve = runTaxdesk(sets, "serve");
    EXPECT_EQ(serve.code, 1) << serve.out;
    const auto lines = linesWith(serve.out, "missing Kafka topic");
    ASSERT_EQ(lines.size(), 1u) << serve.out;
    EXPECT_NE(lines[0].find("taxdesk serve: missing Kafka topic(s) " + prefix_ +
                            "payments.records.dlq (kafka.auto_create_topics=false): create them with `taxdesk "
                            "topics create`"),
              std::string::npos)
        << lines[0];
    EXPECT_TRUE(linesWith(serve.out, "serving on").empty()) << serve.out;
}

TEST_F(Topics, ServeStartsWithAutoCreationOffOnceTheTopicsExist) {
    ASSERT_EQ(runTaxdesk(sets_, "topics create").code, 0);
    const int port = taxdesk::testing::freePort();
    std::vector<std::string> args;
    for (const auto& set : sets_) args.insert(args.end(), {"--set", set});
    for (const auto& set : std::vector<std::string>{"kafka.auto_create_topics=false", "kafka.topic_partitions=4",
                                                    "kafka.group_id=" + prefix_ + "engine",
                                                    "redis.port=" + std::to_string(taxdesk::testing::redisPort()),
                                                    "redis.key_prefix=" + prefix_, "http.port=" + std::to_string(port)})
        args.insert(args.end(), {"--set", set});
    args.push_back("serve");
    Poco::ProcessHandle process = Poco::Process::launch(TAXDESK_BINARY, args);
    const bool healthy = taxdesk::testing::eventually(
        [&] {
            try {
                Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
                Poco::Net::HTTPRequest request("GET", "/healthz");
                session.sendRequest(request);
                Poco::Net::HTTPResponse response;
                session.receiveResponse(response);
                return response.getStatus() == Poco::Net::HTTPResponse::HTTP_OK;
            } catch (const std::exception&) {
                return false;
            }
        },
        std::chrono::seconds(60));
    const bool running = Poco::Process::isRunning(process);
    ::kill(process.id(), SIGTERM);
    const int code = process.wait();
    EXPECT_TRUE(healthy) << "serve with every topic present did not start";
    EXPECT_TRUE(running);
    EXPECT_EQ(code, 0);
}

TEST_F(Topics, ASaslClientAgainstThePlaintextBrokerFailsWithLibrdkafkasReasonAndNoPassword) {
    auto sets = sets_;
    sets.insert(sets.end(), {"kafka.rdkafka.security.protocol=SASL_PLAINTEXT", "kafka.rdkafka.sasl.mechanism=PLAIN",
                             "kafka.rdkafka.sasl.username=alice", "kafka.rdkafka.sasl.password=Pw-S3cret-42",
                             "kafka.admin_timeout_ms=3000"});
    const ToolRun check = runTaxdesk(sets, "topics check");
    EXPECT_EQ(check.code, 1) << check.out;
    EXPECT_FALSE(linesWith(check.out, "SASL").empty()) << "librdkafka's reason is logged:\n" << check.out;
    EXPECT_EQ(check.out.find("Pw-S3cret-42"), std::string::npos) << check.out;

    // The engine's start-up check goes through the same client configuration.
    sets.insert(sets.end(),
                {"kafka.auto_create_topics=false", "http.port=" + std::to_string(taxdesk::testing::freePort())});
    const ToolRun serve = runTaxdesk(sets, "serve");
    EXPECT_EQ(serve.code, 1) << serve.out;
    EXPECT_EQ(linesWith(serve.out, "taxdesk serve: cannot check the Kafka topics").size(), 1u) << serve.out;
    EXPECT_EQ(serve.out.find("Pw-S3cret-42"), std::string::npos) << serve.out;

    const ToolRun config = runTaxdesk(sets, "config");
    EXPECT_EQ(config.code, 0) << config.out;
    EXPECT_EQ(linesWith(config.out, "kafka.rdkafka.sasl.password = *****").size(), 1u) << config.out;
    EXPECT_EQ(config.out.find("Pw-S3cret-42"), std::string::npos) << config.out;
}

TEST_F(Topics, ServeAndStubsRefuseAPortInUseWithOneLineBeforeJoiningAGroup) {
    // Another engine (or anything) listens on the port. The engine used to share it (SO_REUSEPORT: the kernel split
    // the connections between the two) and, later, to join its consumer groups before it tried to listen.
    const auto taken = taxdesk::connectors::listenExclusively(Poco::Net::SocketAddress("127.0.0.1", 0));
    const std::string port = std::to_string(taken.address().port());
    auto sets = sets_;
    sets.insert(sets.end(),
                {"kafka.group_id=" + prefix_ + "engine", "redis.port=" + std::to_string(taxdesk::testing::redisPort()),
                 "redis.key_prefix=" + prefix_, "app.log_level=information", "http.port=" + port});
    const ToolRun serve = runTaxdesk(sets, "serve");
    EXPECT_EQ(serve.code, 1) << serve.out;
    const auto lines = linesWith(serve.out, "taxdesk serve: cannot listen on 127.0.0.1:" + port + " (http.port)");
    ASSERT_EQ(lines.size(), 1u) << serve.out;
    EXPECT_NE(lines[0].find("in use"), std::string::npos) << lines[0];
    EXPECT_TRUE(linesWith(serve.out, "consuming").empty()) << "no consumer group joined:\n" << serve.out;
    EXPECT_TRUE(linesWith(serve.out, "serving on").empty()) << serve.out;

    const ToolRun stubs = runTaxdesk({"app.var_dir=" + varDir_, "stubs.port=" + port}, "stubs");
    EXPECT_EQ(stubs.code, 1) << stubs.out;
    const auto stubLines = linesWith(stubs.out, "taxdesk stubs: cannot listen on 127.0.0.1:" + port + " (stubs.port)");
    ASSERT_EQ(stubLines.size(), 1u) << stubs.out;
    EXPECT_NE(stubLines[0].find("in use"), std::string::npos) << stubLines[0];
}
