#include "engine/cli/app.hpp"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Exception.h>
#include <Poco/File.h>
#include <Poco/Logger.h>
#include <Poco/Net/NetException.h>
#include <Poco/Timestamp.h>
#include <Poco/Util/ServerApplication.h>

#include <csignal>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <thread>

#include "connectors/http/stub_server.hpp"
#include "connectors/kafka/admin.hpp"
#include "connectors/kafka/kafka.hpp"
#include "connectors/store/store.hpp"
#include "connectors/stubs/demo_data/batch_generator.hpp"
#include "engine/api/auth.hpp"
#include "engine/cli/audit_cli.hpp"
#include "engine/cli/cli.hpp"
#include "engine/cli/request_gen.hpp"
#include "engine/cli/submit.hpp"
#include "engine/cli/verify.hpp"
#include "engine/runtime/config.hpp"
#include "engine/runtime/logging.hpp"
#include "engine/runtime/service.hpp"
#include "jobs/auth/tokens.hpp"
#include "jobs/inquiry/codec.hpp"

namespace taxdesk::engine {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConfig = 78;  // EX_CONFIG

/// Poco's ServerApplication around a long-running subcommand: SIGINT/SIGTERM end waitForStop().
class LongRunning : public Poco::Util::ServerApplication {
  public:
    LongRunning(std::function<int(LongRunning&)> body, std::function<void()> setup)
        : body_(std::move(body)), setup_(std::move(setup)) {}
    void waitForStop() { waitForTerminationRequest(); }

  protected:
    int main(const std::vector<std::string>&) override {
        setup_();  // after Poco's logging subsystem has configured its defaults
        return body_(*this);
    }

  private:
    std::function<int(LongRunning&)> body_;
    std::function<void()> setup_;
};

/// Runs `body` as a ServerApplication. Termination signals are blocked in every thread before any is started
/// (librdkafka's, the HTTP server's), so that only waitForTerminationRequest() receives them.
int runLongRunning(const char* argv0, const Settings& settings, const std::string& process,
                   std::function<int(LongRunning&)> body) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGQUIT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    LongRunning app(std::move(body), [&] { setupLogging(settings.logLevel, process); });
    char* args[] = {const_cast<char*>(argv0), nullptr};
    return app.run(1, args);
}

void writeFileAtomically(const std::string& path, const std::string& content) {
    const std::string temporary = path + ".tmp";
    {
        std::ofstream out(temporary, std::ios::trunc);
        out << content << "\n";
        if (!out.flush()) throw std::runtime_error("cannot write " + temporary);
    }
    Poco::File(temporary).renameTo(path);
}

int commandBroker(const Settings& settings, const char* argv0) {
    return runLongRunning(argv0, settings, "broker", [&](LongRunning& app) {
        auto& log = Poco::Logger::get("broker");
        std::optional<connectors::kafka::MockCluster> started;
        try {
            started.emplace(settings.brokerCount, settings.brokerPort);
        } catch (const connectors::kafka::KafkaError& error) {
            // A port in use (another broker still running, or anything else): one line, and the supervisor decides.
            std::cerr << "taxdesk broker: " << error.what() << " (broker.port=" << settings.brokerPort << ")"
                      << std::endl;
            return kExitFailure;
        }
        auto& cluster = *started;
        std::vector<std::string> prefixes{settings.topicPrefix};
        prefixes.insert(prefixes.end(), settings.brokerExtraPrefixes.begin(), settings.brokerExtraPrefixes.end());
        for (const auto& prefix : prefixes)
            for (const auto& topic : specTopics()) cluster.createTopic(prefix + topic, settings.brokerPartitions, 1);
        Poco::File(settings.varDir).createDirectories();
        writeFileAtomically(settings.bootstrapFile(), cluster.bootstraps());
        log.information("embedded Kafka broker (%d broker(s), %d partitions per topic) at %s; bootstrap list in %s",
                        settings.brokerCount, settings.brokerPartitions, cluster.bootstraps(),
                        settings.bootstrapFile());
        app.waitForStop();
        Poco::File(settings.bootstrapFile()).remove();
        log.information("broker stopped");
        return 0;
    });
}

/// The one line a server prints when its port is taken (another engine or stub server there, or anything else), with
/// what to do about it; the caller exits with kExitFailure.
void printListenFailure(const char* command, const char* key, const std::string& host, int port,
                        const Poco::Net::NetException& error) {
    std::cerr << "taxdesk " << command << ": cannot listen on " << host << ":" << port << " (" << key
              << "): " << error.displayText() << " (is another taxdesk " << command
              << " running there? Choose another port with --set " << key << "=N)" << std::endl;
}

int commandStubs(const Settings& settings, const char* argv0) {
    return runLongRunning(argv0, settings, "stubs", [&](LongRunning& app) {
        connectors::StubServerOptions options;
        options.host = settings.httpHost;
        options.port = static_cast<std::uint16_t>(settings.stubsPort);
        std::optional<connectors::StubHttpServer> started;
        try {
            started.emplace(connectors::makeStubConnectors(settings.stubs), options);
        } catch (const Poco::Net::NetException& error) {
            printListenFailure("stubs", "stubs.port", settings.httpHost, settings.stubsPort, error);
            return kExitFailure;
        }
        auto& server = *started;
        Poco::Logger::get("stubs").information("connector stubs serving at %s (seed %Lu)", server.baseUrl(),
                                               static_cast<unsigned long long>(settings.stubs.seed));
        app.waitForStop();
        return 0;
    });
}

/// With kafka.auto_create_topics=false, the engine starts only when every topic it needs exists: one line on stderr
/// naming the missing ones (or why the cluster could not be asked), and false. Differing partition counts are
/// logged as warnings.
bool topicsReadyAtStart(const Settings& settings) {
    if (settings.autoCreateTopics) return true;
    try {
        connectors::kafka::Admin admin(settings.kafka);
        const auto report =
            connectors::kafka::compareTopics(settings.neededTopics(), admin.listTopics(settings.adminTimeoutMs),
                                             settings.topicPartitions, settings.replicationFactor);
        for (const auto& warning : report.warnings) Poco::Logger::get("serve").warning("topic %s", warning);
        if (report.missing.empty()) return true;
        std::string names;
        for (const auto& topic : report.missing) names += (names.empty() ? "" : ", ") + topic;
        std::cerr << "taxdesk serve: missing Kafka topic(s) " << names
                  << " (kafka.auto_create_topics=false): create them with `taxdesk topics create`" << std::endl;
    } catch (const connectors::kafka::KafkaError& error) {
        std::cerr << "taxdesk serve: cannot check the Kafka topics (kafka.auto_create_topics=false): " << error.what()
                  << std::endl;
    }
    return false;
}

int commandServe(const Settings& settings, const char* argv0) {
    if (!topicsReadyAtStart(settings)) return kExitFailure;
    return runLongRunning(argv0, settings, "serve", [&](LongRunning& app) {
        Service service(settings);
        try {
            service.start([] { Poco::Util::ServerApplication::terminate(); });
        } catch (const Poco::Net::NetException& error) {
            // Service::start listens before anything else starts: nothing to undo but the store it opened.
            printListenFailure("serve", "http.port", settings.httpHost, settings.httpPort, error);
            return kExitFailure;
        }
        std::cerr << "taxdesk serving on http://" << settings.httpHost << ":" << service.httpPort()
                  << " (/healthz /readyz /metrics)" << std::endl;
        app.waitForStop();
        return service.stop() ? 0 : kExitFailure;
    });
}

int commandTopics(const Settings& settings, const std::vector<std::string>& args) {
    const std::string sub = args.empty() ? "" : args[0];
    const std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
    const ArgReader reader(rest, {}, {"strict"});
    if (!reader.positional().empty()) throw UsageError("topics: unexpected '" + reader.positional()[0] + "'");
    connectors::kafka::Admin admin(settings.kafka);
    if (sub == "create") {
        if (reader.flag("strict")) throw UsageError("topics create: --strict goes with topics check");
        for (const auto& result : admin.createTopics(settings.neededTopics(), settings.topicPartitions,
                                                     settings.replicationFactor, settings.adminTimeoutMs))
            std::cout << (result.created ? "created " : "exists ") << result.topic
                      << (result.note.empty() ? "" : " (" + result.note + ")") << std::endl;
        return 0;
    }
    if (sub == "check") {
        const auto report =
            connectors::kafka::compareTopics(settings.neededTopics(), admin.listTopics(settings.adminTimeoutMs),
                                             settings.topicPartitions, settings.replicationFactor);
        for (const auto& line : report.lines) std::cout << line << std::endl;
        const bool strict = reader.flag("strict");
        for (const auto& warning : report.warnings)
            std::cerr << "taxdesk topics check: " << (strict ? "error: " : "warning: ") << warning << std::endl;
        for (const auto& topic : report.missing)
            std::cerr << "taxdesk topics check: missing topic " << topic << " (create it with `taxdesk topics create`)"
                      << std::endl;
        return report.ok(strict) ? 0 : kExitFailure;
    }
    throw UsageError("topics: expected 'topics create' or 'topics check [--strict]'");
}

std::string orDash(const std::string& text) {
    return text.empty() ? "-" : text;
}

int commandTokenCreate(const Settings& settings, const std::vector<std::string>& args) {
    const ArgReader reader(args, {"role", "creditor", "expires-in", "expires"}, {});
    if (!reader.positional().empty()) throw UsageError("token create: unexpected '" + reader.positional()[0] + "'");
    const std::string role = reader.value("role").value_or("");
    if (role != "creditor" && role != "gateway" && role != "counter" && role != "ops")
        throw UsageError("token create: --role must be one of creditor, gateway, counter, ops");
    const std::string creditor = reader.value("creditor").value_or("");
    if (role == "creditor" && creditor.empty()) throw UsageError("token create: role creditor needs --creditor ID");
    if (role != "creditor" && !creditor.empty()) throw UsageError("token create: --creditor goes with role creditor");
    const std::string createdAt = Poco::DateTimeFormatter::format(Poco::Timestamp(), "%Y-%m-%dT%H:%M:%S.%iZ");
    std::optional<std::string> expiresAt;
    try {
        expiresAt = jobs::auth::expiryFor(reader.value("expires-in"), reader.value("expires"), createdAt);
    } catch (const std::invalid_argument& error) {
        throw UsageError(std::string("token create: ") + error.what());
    }

    const std::string token = api::generateToken();
    const std::string hash = api::hashToken(token);
    const std::string tokenId = jobs::auth::tokenIdOf(hash);
    connectors::Store store(settings.store);
    store.tokens().insertToken({hash, role, creditor, createdAt, tokenId, expiresAt.value_or(""), ""});
    std::cout << token << std::endl;
    std::cerr << "token " << tokenId << " created for role " << role
              << (creditor.empty() ? "" : " (creditor " + creditor + ")")
              << (expiresAt ? "; it expires at " + *expiresAt : "; it does not expire")
              << "; it is shown once and stored only as a hash (revoke it with: taxdesk token revoke " << tokenId << ")"
              << std::endl;
    return 0;
}

int commandTokenList(const Settings& settings, const std::vector<std::string>& args) {
    const ArgReader reader(args, {}, {});
    if (!reader.positional().empty()) throw UsageError("token list: unexpected '" + reader.positional()[0] + "'");
    connectors::Store store(settings.store);
    const auto tokens = store.tokens().listTokens();
    // Never the token or its hash: the id names it.
    std::cout << "id\trole\tcreditor\tcreated\texpires\trevoked" << std::endl;
    for (const auto& token : tokens)
        std::cout << token.tokenId << '\t' << token.role << '\t' << orDash(token.creditorId) << '\t' << token.createdAt
                  << '\t' << orDash(token.expiresAt) << '\t' << orDash(token.revokedAt) << std::endl;
    return 0;
}

int commandTokenRevoke(const Settings& settings, const std::vector<std::string>& args) {
    const ArgReader reader(args, {}, {});
    if (reader.positional().size() != 1)
        throw UsageError("token revoke: expected one token id, as taxdesk token list shows it");
    const std::string& tokenId = reader.positional()[0];
    connectors::Store store(settings.store);
    switch (store.tokens().revokeToken(tokenId)) {
        case connectors::RevokeOutcome::revoked:
            std::cerr << "token " << tokenId << " revoked; requests with it now get 401 token_revoked" << std::endl;
            return 0;
        case connectors::RevokeOutcome::alreadyRevoked:
            std::cerr << "token " << tokenId << " was already revoked" << std::endl;
            return 0;
        case connectors::RevokeOutcome::unknown:
            break;
    }
    std::cerr << "token revoke: no token has the id '" << tokenId << "' (see taxdesk token list)" << std::endl;
    return kExitFailure;
}

int commandToken(const Settings& settings, const std::vector<std::string>& args) {
    const std::string sub = args.empty() ? "" : args[0];
    const std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
    if (sub == "create") return commandTokenCreate(settings, rest);
    if (sub == "list") return commandTokenList(settings, rest);
    if (sub == "revoke") return commandTokenRevoke(settings, rest);
    throw UsageError("token: expected 'token create --role R', 'token list' or 'token revoke ID'");
}

int commandGen(const Settings& settings, const std::vector<std::string>& args) {
    const ArgReader reader(
        args, {"rows", "sms", "seed", "bad-fraction", "charset", "out", "format", "batch", "creditor", "first"}, {});
    if (reader.value("sms")) {
        // Inbound SMS (SPEC 4.1), one JSON object a line, for POST /api/v1/sms/inbound or the sms.inbound topic.
        const auto count = static_cast<std::uint64_t>(reader.integer("sms", 0, 1, 10'000'000));
        const auto seed = static_cast<std::uint64_t>(
            reader.integer("seed", static_cast<long long>(settings.stubs.seed), 0, 9'000'000'000'000'000LL));
        const double badFraction = reader.number("bad-fraction", 0.0, 0.0, 1.0);
        Poco::DateTime now;
        now.makeLocal(8 * 3600);
        const std::string receivedAt = Poco::DateTimeFormatter::format(now, "%Y-%m-%dT%H:%M:%S+08:00");
        std::ofstream file;
        if (const auto out = reader.value("out")) file.open(*out, std::ios::trunc);
        std::ostream& out = reader.value("out") ? file : std::cout;
        // --first moves the window of people and message ids, so that a second load is not a replay of the first.
        const auto first = static_cast<std::uint64_t>(reader.integer("first", 0, 0, 9'000'000'000'000'000LL));
        for (std::uint64_t i = first; i < first + count; ++i)
            out << generatedSms(i, seed, badFraction, receivedAt) << '\n';
        out.flush();
        return out ? 0 : kExitFailure;
    }
    if (!reader.value("rows")) throw UsageError("gen: --rows N (a batch file) or --sms N (inbound SMS) is required");
    const std::string format = reader.value("format").value_or("csv");
    if (format != "csv" && format != "requests") throw UsageError("gen: --format must be csv or requests");
    if (format == "requests") {
        // inquiry.requests messages, one JSON object a line: rows that skip the upload (demo, bench, kcat).
        const auto rows = static_cast<int>(reader.integer("rows", 0, 1, 10'000'000));
        const auto seed = static_cast<std::uint64_t>(
            reader.integer("seed", static_cast<long long>(settings.stubs.seed), 0, 9'000'000'000'000'000LL));
        const std::string batch = reader.value("batch").value_or("DEMO");
        const std::string creditor = reader.value("creditor").value_or("C1");
        std::ofstream file;
        if (const auto out = reader.value("out")) file.open(*out, std::ios::trunc);
        std::ostream& out = reader.value("out") ? file : std::cout;
        for (int row = 1; row <= rows; ++row)
            out << jobs::inquiry::encodeRequest(generatedRequest(batch, creditor, row, seed)) << '\n';
        out.flush();
        return out ? 0 : kExitFailure;
    }
    demo_data::BatchGenOptions options;
    options.rows = static_cast<std::size_t>(reader.integer("rows", 0, 1, 10'000'000));
    options.seed = static_cast<std::uint64_t>(
        reader.integer("seed", static_cast<long long>(settings.stubs.seed), 0, 9'000'000'000'000'000LL));
    options.badFraction = reader.number("bad-fraction", 0.0, 0.0, 1.0);
    options.charset = reader.value("charset").value_or("utf-8");
    if (options.charset != "utf-8" && options.charset != "big5")
        throw UsageError("gen: --charset must be utf-8 or big5");
    demo_data::BatchGenReport report;
    if (const auto out = reader.value("out")) {
        std::ofstream file(*out, std::ios::binary | std::ios::trunc);
        if (!file) throw std::runtime_error("cannot write " + *out);
        report = demo_data::writeBatchCsv(file, options);
    } else {
        report = demo_data::writeBatchCsv(std::cout, options);
    }
    std::cerr << "gen: " << report.rows << " rows (" << report.good << " without row errors";
    for (const auto& [reason, count] : report.rejected) std::cerr << ", " << count << " " << reason;
    std::cerr << "); expect " << report.notRegistered << " not_registered, " << report.deceased << " deceased, "
              << report.nameMismatches << " name_mismatch" << std::endl;
    return 0;
}

}  // namespace

int runMain(int argc, char** argv) {
    std::vector<std::string> argv_(argv, argv + argc);
    CommandLine line;
    try {
        line = parseCommandLine(argv_);
    } catch (const UsageError& error) {
        std::cerr << "taxdesk: " << error.what() << " (see taxdesk --help)" << std::endl;
        return kExitUsage;
    }
    if (line.help && line.command == "topics") {
        std::cout << topicsUsageText();
        return 0;
    }
    if (line.help || (line.command.empty() && !line.version)) {
        std::cout << usageText();
        return line.help ? 0 : kExitUsage;
    }
    if (line.version) {
        std::cout << "taxdesk 0.1.0" << std::endl;
        return 0;
    }

    Config config;
    try {
        line.config.env = Config::processEnvironment();
        config = Config::load(line.config);
    } catch (const ConfigError& error) {
        for (const auto& problem : error.problems()) std::cerr << "taxdesk: " << problem << std::endl;
        return kExitConfig;
    }

    const std::string& command = line.command;
    try {
        const bool needKafka = command == "serve" || command == "topics";
        const Settings settings = makeSettings(config, needKafka);
        setupLogging(settings.logLevel, command);
        if (command == "serve" || command == "broker" || command == "stubs") {
            if (!line.args.empty()) throw UsageError(command + ": unexpected argument '" + line.args[0] + "'");
            if (command == "serve") return commandServe(settings, argv[0]);
            if (command == "broker") return commandBroker(settings, argv[0]);
            return commandStubs(settings, argv[0]);
        }
        if (command == "token") return commandToken(settings, line.args);
        if (command == "topics") return commandTopics(settings, line.args);
        if (command == "submit") return commandSubmit(line.args);
        if (command == "verify") return commandVerify(line.args, settings.resultsSigningKey);
        if (command == "gen") return commandGen(settings, line.args);
        if (command == "audit") return commandAudit(settings, line.args);
        if (command == "config") {
            std::cout << config.describe();
            return 0;
        }
        throw UsageError("unknown command '" + command + "'");
    } catch (const UsageError& error) {
        std::cerr << "taxdesk: " << error.what() << " (see taxdesk --help)" << std::endl;
        return kExitUsage;
    } catch (const ConfigError& error) {
        for (const auto& problem : error.problems()) std::cerr << "taxdesk: " << problem << std::endl;
        return kExitConfig;
    } catch (const Poco::Exception& error) {
        std::cerr << "taxdesk " << command << ": " << error.displayText() << std::endl;
        return kExitFailure;
    } catch (const std::exception& error) {
        std::cerr << "taxdesk " << command << ": " << error.what() << std::endl;
        return kExitFailure;
    }
}

}  // namespace taxdesk::engine
