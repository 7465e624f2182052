// The inquiry stage with slow connectors (issue 11): rows/s through the real engine path (Kafka in, Redis cache,
// stub registry and tax data, SQLite, Kafka out) when every connector request takes `--stub-latency-ms` (20 by
// default), cold cache. Concurrency comes from batch look-ups (one timer a set in the stubs), not from a thread per
// request.
//
//   taxdesk_bench_stage_latency --bootstrap HOST:PORT --redis-port P [--rows N] [--stub-latency-ms MS]
//       [--stub-jitter-ms MS] [--batch-size N] [--concurrency N] [--tag TEXT]
// against `taxdesk broker --set broker.partitions=32 --set broker.extra_prefixes=bench-latency.` (bench/run-latency
// starts one). Prints one line: rows, latency, rows/s, CPU µs a row, peak RSS.
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "connectors/api/connector_set.hpp"
#include "connectors/kafka/kafka.hpp"
#include "connectors/redis/redis_client.hpp"
#include "connectors/store/store.hpp"
#include "engine/cli/cli.hpp"
#include "engine/cli/request_gen.hpp"
#include "engine/flow/inquiry_stage.hpp"
#include "engine/runtime/metrics.hpp"
#include "engine/runtime/pipeline.hpp"
#include "jobs/inquiry/codec.hpp"

using namespace taxdesk;

namespace {

struct Options {
    std::string bootstrap;
    int redisPort = 6390;
    int rows = 100000;
    int latencyMs = 20;
    int jitterMs = 0;
    int batchSize = 2000;
    int concurrency = 32;
    std::string tag;
};

std::string unique(const std::string& stem) {
    return stem + "-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
}

double cpuSeconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

long maxRssMiB() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss / 1024;
}

int run(const Options& options) {
    const std::string prefix = unique("bench-latency.run") + ".";
    const std::string input = prefix + "inquiry.requests";
    const std::string output = prefix + "inquiry.results";
    {
        connectors::kafka::KafkaSettings settings;
        settings.bootstrap = options.bootstrap;
        int failed = 0;
        connectors::kafka::Producer producer(settings,
                                             [&](const connectors::kafka::DeliveryReport& r) { failed += !r.ok; });
        producer.warmTopics({input}, 10000);
        for (int row = 1; row <= options.rows; ++row) {
            const std::string batch = "LAT-" + std::to_string(row % 64);
            producer.produce(input, batch, jobs::inquiry::encodeRequest(engine::generatedRequest(batch, "C1", row, 1)));
            if (row % 10000 == 0) producer.poll(0);
        }
        if (!producer.flush(120000) || failed) throw std::runtime_error("could not produce the bench rows");
    }

    engine::Metrics metrics;
    auto pipelineMetrics = metrics.pipeline("latency");
    connectors::StoreSettings storeSettings;
    const std::string storePath = "/tmp/" + unique("bench-latency") + ".db";
    storeSettings.sqlitePath = storePath;
    connectors::Store store(storeSettings);
    connectors::RedisSettings redisSettings;
    redisSettings.port = options.redisPort;
    redisSettings.keyPrefix = prefix;  // a fresh prefix: a cold cache
    engine::InquiryStageSettings stageSettings;
    stageSettings.resultsTopic = output;
    stageSettings.deadLetterTopic = input + ".dlq";
    stageSettings.concurrency = options.concurrency;
    connectors::StubSettings stubs;
    stubs.seed = 1;
    stubs.latencyMs = options.latencyMs;
    stubs.jitterMs = options.jitterMs;
    engine::InquiryStage stage(stageSettings, connectors::makeStubConnectors(stubs), store.results(), store.batches(),
                               std::make_unique<connectors::RedisClient>(redisSettings), pipelineMetrics,
                               metrics.inquiry());
    engine::PipelineSettings settings;
    settings.name = "latency";
    settings.inputTopic = input;
    settings.groupId = prefix + "group";
    settings.kafka.bootstrap = options.bootstrap;
    settings.batchSize = options.batchSize;
    settings.maxInFlight = 50000;
    settings.warmTopics = {output, input + ".dlq"};
    engine::Pipeline pipeline(settings, stage, pipelineMetrics);
    std::atomic<bool> stop{false};
    std::thread thread([&] { pipeline.run(stop); });
    while (!pipeline.assigned()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const double cpuBefore = cpuSeconds();
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + std::chrono::minutes(10);
    while (pipelineMetrics.messagesOut.Value() < options.rows && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = cpuSeconds() - cpuBefore;
    stop = true;
    thread.join();
    std::remove(storePath.c_str());
    if (pipelineMetrics.messagesOut.Value() < options.rows) throw std::runtime_error("not all rows came out");
    std::printf("rows=%d stub_latency_ms=%d stub_jitter_ms=%d rows_per_s=%.0f cpu_us_per_row=%.1f max_rss_mib=%ld %s\n",
                options.rows, options.latencyMs, options.jitterMs, options.rows / seconds, cpu * 1e6 / options.rows,
                maxRssMiB(), options.tag.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    try {
        const engine::ArgReader reader(std::vector<std::string>(argv + 1, argv + argc),
                                       {"bootstrap", "redis-port", "rows", "stub-latency-ms", "stub-jitter-ms",
                                        "batch-size", "concurrency", "tag"},
                                       {});
        options.bootstrap = reader.value("bootstrap").value_or("");
        if (options.bootstrap.empty()) throw engine::UsageError("--bootstrap HOST:PORT is required");
        options.redisPort = static_cast<int>(reader.integer("redis-port", 6390, 1, 65535));
        options.rows = static_cast<int>(reader.integer("rows", 100000, 1, 10000000));
        options.latencyMs = static_cast<int>(reader.integer("stub-latency-ms", 20, 0, 10000));
        options.jitterMs = static_cast<int>(reader.integer("stub-jitter-ms", 0, 0, 10000));
        options.batchSize = static_cast<int>(reader.integer("batch-size", 2000, 1, 100000));
        options.concurrency = static_cast<int>(reader.integer("concurrency", 32, 1, 1024));
        options.tag = reader.value("tag").value_or("");
    } catch (const engine::UsageError& error) {
        std::cerr << "taxdesk_bench_stage_latency: " << error.what() << std::endl;
        return 2;
    }
    try {
        return run(options);
    } catch (const std::exception& error) {
        std::cerr << "taxdesk_bench_stage_latency: " << error.what() << std::endl;
        return 1;
    }
}
