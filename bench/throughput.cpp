// End-to-end throughput of the inquiry pipeline, against a no-work passthrough on the same broker.
//
//   bench/run [--rows N] [--runs K]        (starts redis-server and the broker, builds, runs this K times)
//   taxdesk_bench_throughput --bootstrap HOST:PORT --redis-port P [--rows N] [--mode engine|passthrough|both]
// against a fresh `taxdesk broker --set broker.extra_prefixes=bench-engine.,bench-passthrough.` each run.
//
// Each mode: N generated inquiry rows (about 200 bytes each, keyed over 64 batch ids so they spread over the
// partitions) are produced to a fresh topic first; then a Pipeline consumes them and produces one message per row.
// The clock runs from the consumer group's assignment to the last output acknowledged by the broker, so the group
// join (about 3 s on the mock broker) is not counted. Engine mode does the real work: decode, Redis MGET/SET,
// stub connectors (no latency), one SQLite transaction per batch, encode. Passthrough copies the message.
#include <sys/resource.h>

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

class PassthroughStage : public engine::BatchStage {
  public:
    explicit PassthroughStage(std::string topic) : topic_(std::move(topic)) {}
    std::unique_ptr<engine::PreparedBatch> prepare(const std::vector<connectors::kafka::Message>& batch) override {
        auto prepared = std::make_unique<engine::PreparedBatch>();
        prepared->out.resize(batch.size());
        for (std::size_t i = 0; i < batch.size(); ++i)
            prepared->out[i].push_back({topic_, std::string(batch[i].key()), std::string(batch[i].value())});
        return prepared;
    }

  private:
    std::string topic_;
};

struct Options {
    std::string bootstrap;
    int redisPort = 6390;
    int rows = 200000;
    int batchSize = 2000;
    int maxInFlight = 50000;
    int concurrency = 8;
    std::string mode = "both";
    std::string tag;
};

std::string unique(const std::string& stem) {
    return stem + "-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
}

void produceRows(const Options& options, const std::string& topic) {
    connectors::kafka::KafkaSettings settings;
    settings.bootstrap = options.bootstrap;
    int failed = 0;
    connectors::kafka::Producer producer(settings,
                                         [&](const connectors::kafka::DeliveryReport& r) { failed += !r.ok; });
    producer.warmTopics({topic}, 10000);
    for (int row = 1; row <= options.rows; ++row) {
        const std::string batch = "BENCH-" + std::to_string(row % 64);
        producer.produce(topic, batch, jobs::inquiry::encodeRequest(engine::generatedRequest(batch, "C1", row, 1)));
        if (row % 10000 == 0) producer.poll(0);
    }
    if (!producer.flush(120000) || failed) throw std::runtime_error("could not produce the bench rows");
}

double measure(const Options& options, const std::string& mode) {
    // bench/run starts the broker with these prefixes, so the topics have broker.partitions partitions (an
    // auto-created topic gets the mock's default of 4, whose 5 MiB window would drop rows).
    const std::string prefix = "bench-" + mode + ".";
    const std::string input = prefix + "inquiry.requests";
    const std::string output = prefix + "inquiry.results";
    produceRows(options, input);

    engine::Metrics metrics;
    auto pipelineMetrics = metrics.pipeline(mode);
    std::unique_ptr<connectors::Store> store;
    std::string storePath;
    std::unique_ptr<engine::BatchStage> stage;
    if (mode == "engine") {
        connectors::StoreSettings storeSettings;
        storePath = "/tmp/" + unique(prefix) + ".db";
        storeSettings.sqlitePath = storePath;
        store = std::make_unique<connectors::Store>(storeSettings);
        connectors::RedisSettings redisSettings;
        redisSettings.port = options.redisPort;
        redisSettings.keyPrefix = unique(prefix) + ":";
        engine::InquiryStageSettings stageSettings;
        stageSettings.resultsTopic = output;
        stageSettings.deadLetterTopic = input + ".dlq";
        stageSettings.concurrency = options.concurrency;
        connectors::StubSettings stubs;
        stubs.seed = 1;
        stage = std::make_unique<engine::InquiryStage>(
            stageSettings, connectors::makeStubConnectors(stubs), store->results(), store->batches(),
            std::make_unique<connectors::RedisClient>(redisSettings), pipelineMetrics);
    } else {
        stage = std::make_unique<PassthroughStage>(output);
    }
    engine::PipelineSettings settings;
    settings.name = mode;
    settings.inputTopic = input;
    settings.groupId = prefix + "group";
    settings.kafka.bootstrap = options.bootstrap;
    settings.batchSize = options.batchSize;
    settings.maxInFlight = options.maxInFlight;
    settings.warmTopics = {output, input + ".dlq"};
    engine::Pipeline pipeline(settings, *stage, pipelineMetrics);
    std::atomic<bool> stop{false};
    std::thread thread([&] { pipeline.run(stop); });

    while (!pipeline.assigned()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + std::chrono::minutes(10);
    while (pipelineMetrics.messagesOut.Value() < options.rows && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    stop = true;
    thread.join();
    if (pipelineMetrics.messagesOut.Value() < options.rows) throw std::runtime_error(mode + ": not all rows came out");
    if (store) std::remove(storePath.c_str());
    return options.rows / seconds;
}

long maxRssMiB() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss / 1024;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    try {
        const engine::ArgReader reader(
            std::vector<std::string>(argv + 1, argv + argc),
            {"bootstrap", "redis-port", "rows", "mode", "batch-size", "max-in-flight", "concurrency", "tag"}, {});
        options.bootstrap = reader.value("bootstrap").value_or("");
        if (options.bootstrap.empty()) throw engine::UsageError("--bootstrap HOST:PORT is required");
        options.redisPort = static_cast<int>(reader.integer("redis-port", 6390, 1, 65535));
        options.rows = static_cast<int>(reader.integer("rows", 200000, 1, 10000000));
        options.batchSize = static_cast<int>(reader.integer("batch-size", 2000, 1, 100000));
        options.maxInFlight = static_cast<int>(reader.integer("max-in-flight", 50000, 1, 10000000));
        options.concurrency = static_cast<int>(reader.integer("concurrency", 8, 1, 1024));
        options.mode = reader.value("mode").value_or("both");
        options.tag = reader.value("tag").value_or("");
        if (options.mode != "both" && options.mode != "engine" && options.mode != "passthrough")
            throw engine::UsageError("--mode must be engine, passthrough or both");
    } catch (const engine::UsageError& error) {
        std::cerr << "taxdesk_bench_throughput: " << error.what() << std::endl;
        return 2;
    }
    try {
        double engineRate = 0;
        double passRate = 0;
        if (options.mode != "engine") passRate = measure(options, "passthrough");
        if (options.mode != "passthrough") engineRate = measure(options, "engine");
        // One line a run, easy to collect: rows, rates, ratio, peak memory.
        std::printf("rows=%d passthrough_rows_per_s=%.0f engine_rows_per_s=%.0f ratio=%.3f max_rss_mib=%ld %s\n",
                    options.rows, passRate, engineRate, passRate > 0 ? engineRate / passRate : 0.0, maxRssMiB(),
                    options.tag.c_str());
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "taxdesk_bench_throughput: " << error.what() << std::endl;
        return 1;
    }
}
