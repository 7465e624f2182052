// SMS reply latency (issue 11): an open-loop load of inbound SMS applications at a fixed rate against a running
// engine's `POST /api/v1/sms/inbound`, and the time from each 202 to the reply handed to the SMS gateway stub (its
// record of sends, <var>/sms-sent.jsonl, `sent_at` in milliseconds; the reply of gateway message G is notification
// n-G). Started by bench/sms, which brings up redis-server, the embedded broker and `taxdesk serve`.
//
//   taxdesk_bench_sms_latency --port P --token T --sent FILE [--rate 2000] [--seconds 10] [--connections 64]
//       [--seed 20261126] [--tag TEXT]
//
// Every message is a valid application of its own person (the stub population's, by the engine's stubs.seed) from an
// msisdn of its own, so each is a whole pickup: registry, NHI card, counters, pickup, alert. Messages are sent on a
// schedule (message i at start + i/rate) by `connections` keep-alive clients; a client late for its slot sends at
// once, so a slow engine shows as latency, not as a lower offered rate (the achieved rate is printed).
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "connectors/stubs/demo_data/population.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    int port = 0;
    std::string token;
    std::string sent;
    int rate = 2000;
    int seconds = 10;
    int connections = 12;
    std::uint64_t seed = 20261126;
    std::string tag;
};

long long wallMillis() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string receivedNow() {
    const std::time_t taipei = std::time(nullptr) + 8 * 3600;
    std::tm fields{};
    gmtime_r(&taipei, &fields);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S+08:00", &fields);
    return text;
}

/// "2026-12-01T20:30:00.123Z" as milliseconds since the epoch; -1 when it does not read.
long long isoMillis(const std::string& text) {
    std::tm fields{};
    int millis = 0;
    if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &fields.tm_year, &fields.tm_mon, &fields.tm_mday,
                    &fields.tm_hour, &fields.tm_min, &fields.tm_sec, &millis) < 6) {
        return -1;
    }
    fields.tm_year -= 1900;
    fields.tm_mon -= 1;
    return static_cast<long long>(timegm(&fields)) * 1000 + millis;
}

struct Sample {
    std::string gatewayMsgId;
    long long acceptedAt = -1;  ///< wall clock ms of the 202; -1: not accepted
};

double percentile(std::vector<long long> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const auto at = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
    return static_cast<double>(values[std::min(at, values.size() - 1)]);
}

int usage() {
    std::cerr << "usage: taxdesk_bench_sms_latency --port P --token T --sent FILE [--rate N] [--seconds N]"
                 " [--connections N] [--seed N] [--tag TEXT]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc) return usage();
        const std::string value = argv[++i];
        if (arg == "--port")
            options.port = std::stoi(value);
        else if (arg == "--token")
            options.token = value;
        else if (arg == "--sent")
            options.sent = value;
        else if (arg == "--rate")
            options.rate = std::stoi(value);
        else if (arg == "--seconds")
            options.seconds = std::stoi(value);
        else if (arg == "--connections")
            options.connections = std::stoi(value);
        else if (arg == "--seed")
            options.seed = std::stoull(value);
        else if (arg == "--tag")
            options.tag = value;
        else
            return usage();
    }
    if (options.port <= 0 || options.token.empty() || options.sent.empty() || options.rate < 1 || options.seconds < 1 ||
        options.connections < 1) {
        return usage();
    }

    const int total = options.rate * options.seconds;
    const taxdesk::demo_data::Population population(options.seed);
    const long long run = wallMillis() % 100000;
    std::vector<std::string> bodies(static_cast<std::size_t>(total));
    std::vector<Sample> samples(static_cast<std::size_t>(total));
    const std::string receivedAt = receivedNow();
    for (int i = 0; i < total; ++i) {
        const std::string id = population.nationalIdAt(static_cast<std::uint64_t>(700000 + run * 1000 + i));
        const std::string last4 = population.nhiCardNumber(id).substr(8);
        char msisdn[16];
        std::snprintf(msisdn, sizeof msisdn, "09%08lld", (run * 100000 + i) % 100000000);
        const std::string gmid = "bench-" + std::to_string(run) + "-" + std::to_string(i);
        bodies[static_cast<std::size_t>(i)] = std::string(R"({"msisdn":")") + msisdn + R"(","text":"1 )" + id + " " +
                                              last4 + R"(","gateway_msg_id":")" + gmid + R"(","received_at":")" +
                                              receivedAt + R"("})";
        samples[static_cast<std::size_t>(i)].gatewayMsgId = gmid;
    }

    // Warm-up: one application answered end to end first, so that the consumer groups' join (seconds) is not timed.
    {
        const std::string id = population.nationalIdAt(static_cast<std::uint64_t>(690000 + run));
        const std::string gmid = "warm-" + std::to_string(run);
        const std::string body = R"({"msisdn":"0900000001","text":"1 )" + id + " " +
                                 population.nhiCardNumber(id).substr(8) + R"(","gateway_msg_id":")" + gmid +
                                 R"(","received_at":")" + receivedAt + R"("})";
        Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(options.port));
        Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, "/api/v1/sms/inbound",
                                       Poco::Net::HTTPMessage::HTTP_1_1);
        request.set("Authorization", "Bearer " + options.token);
        request.setContentType("application/json");
        request.setContentLength(static_cast<std::streamsize>(body.size()));
        session.sendRequest(request) << body;
        Poco::Net::HTTPResponse response;
        session.receiveResponse(response).ignore(std::numeric_limits<std::streamsize>::max());
        if (response.getStatus() != Poco::Net::HTTPResponse::HTTP_ACCEPTED) {
            std::cerr << "warm-up message refused: HTTP " << static_cast<int>(response.getStatus()) << "\n";
            return 1;
        }
        const auto warmDeadline = Clock::now() + std::chrono::seconds(60);
        for (bool answered = false; !answered;) {
            std::ifstream in(options.sent);
            for (std::string line; !answered && std::getline(in, line);)
                answered = line.find("\"n-" + gmid + "\"") != std::string::npos;
            if (!answered && Clock::now() >= warmDeadline) {
                std::cerr << "warm-up message not answered within 60 s\n";
                return 1;
            }
            if (!answered) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    std::atomic<int> failures{0};
    const auto start = Clock::now() + std::chrono::milliseconds(200);
    const auto slot = std::chrono::nanoseconds(1000000000LL / options.rate);
    std::vector<std::thread> clients;
    for (int c = 0; c < options.connections; ++c) {
        clients.emplace_back([&, c] {
            Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(options.port));
            session.setKeepAlive(true);
            for (int i = c; i < total; i += options.connections) {
                std::this_thread::sleep_until(start + slot * i);
                for (int attempt = 1; attempt <= 2; ++attempt) try {
                        Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, "/api/v1/sms/inbound",
                                                       Poco::Net::HTTPMessage::HTTP_1_1);
                        request.set("Authorization", "Bearer " + options.token);
                        request.setContentType("application/json");
                        const std::string& body = bodies[static_cast<std::size_t>(i)];
                        request.setContentLength(static_cast<std::streamsize>(body.size()));
                        request.setKeepAlive(true);
                        session.sendRequest(request) << body;
                        Poco::Net::HTTPResponse response;
                        std::istream& in = session.receiveResponse(response);
                        in.ignore(std::numeric_limits<std::streamsize>::max());
                        if (response.getStatus() == Poco::Net::HTTPResponse::HTTP_ACCEPTED) {
                            samples[static_cast<std::size_t>(i)].acceptedAt = wallMillis();
                        } else {
                            ++failures;
                        }
                        break;
                    } catch (const Poco::Exception&) {
                        // The server closed a kept-alive connection (http.keepalive_requests): once more on a new one.
                        session.reset();
                        if (attempt == 2) ++failures;
                    }
            }
        });
    }
    for (std::thread& client : clients) client.join();
    const double offeredSeconds = std::chrono::duration<double>(Clock::now() - start).count();

    // The replies, as the gateway stub recorded them; wait (bounded) for the last ones.
    std::unordered_map<std::string, long long> sentAt;
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    int accepted = 0;
    for (const Sample& sample : samples) accepted += sample.acceptedAt >= 0 ? 1 : 0;
    for (;;) {
        sentAt.clear();
        std::ifstream in(options.sent);
        for (std::string line; std::getline(in, line);) {
            try {
                const auto object = Poco::JSON::Parser().parse(line).extract<Poco::JSON::Object::Ptr>();
                const std::string id = object->getValue<std::string>("notification_id");
                if (id.rfind("n-bench-", 0) == 0)
                    sentAt[id.substr(2)] = isoMillis(object->getValue<std::string>("sent_at"));
            } catch (const Poco::Exception&) {
                // a line being written: read again next round
            }
        }
        if (static_cast<int>(sentAt.size()) >= accepted || Clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::vector<long long> latencies;
    for (const Sample& sample : samples) {
        if (sample.acceptedAt < 0) continue;
        const auto found = sentAt.find(sample.gatewayMsgId);
        if (found != sentAt.end()) latencies.push_back(std::max(0LL, found->second - sample.acceptedAt));
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::printf(
        "%ssms offered %d/s for %d s (achieved %.0f/s): accepted %d, failed %d, replied %zu;"
        " accept→gateway p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
        options.tag.empty() ? "" : (options.tag + " ").c_str(), options.rate, options.seconds, total / offeredSeconds,
        accepted, failures.load(), latencies.size(), percentile(latencies, 0.50), percentile(latencies, 0.99),
        percentile(latencies, 1.0));
    std::printf("sms_p50_ms=%.0f sms_p99_ms=%.0f sms_max_ms=%.0f sms_replied=%zu sms_accepted=%d\n",
                percentile(latencies, 0.50), percentile(latencies, 0.99), percentile(latencies, 1.0), latencies.size(),
                accepted);
    return latencies.size() == static_cast<std::size_t>(accepted) && failures == 0 ? 0 : 1;
}
