// End-to-end throughput of the inquiry pipeline, against a plain-librdkafka ceiling on the same broker.
//
//   bench/run [--quick] [--rows N] [--runs K]   (starts redis-server and the broker, builds, runs this K times)
//   taxdesk_bench_throughput --bootstrap HOST:PORT --redis-port P [--rows N] [--mode
//   all|ceiling|passthrough|engine|both|audit] [--audit on|off] [--audit-order off-on|on-off]
//   [--cache on|off] [--store sql|block|none] [--block-rows N] [--thread-cpu]
// against a `taxdesk broker --set broker.extra_prefixes=bench-ceiling.,bench-engine.,bench-passthrough.,
// bench-engine-audit.,bench-engine-noaudit.`.
//
// Each mode runs in a forked child of its own (so that its peak RSS and CPU are its own), after another child has
// produced N generated inquiry rows (about 200 bytes each, keyed over 64 batch ids so they spread over the partitions)
// to a fresh topic of that mode. The clock runs from the consumer group's assignment to the last output acknowledged
// by the broker, so the group join (about 3 s on the mock broker) is not counted.
//   ceiling      a tuned no-work passthrough in plain librdkafka (bench/plain_passthrough.cpp), no taxdesk class
//   passthrough  the same no-work path through taxdesk's Pipeline (offsets committed after acks, SPEC 6)
//   engine       the real inquiry work: decode, Redis MGET/SET (cold), stub connectors (no latency), one SQLite
//                transaction per batch, encode, produce
// One line a mode: `<mode> value=… rows/s ceiling=… ratio=… cpu_us_per_row=… peak_rss_mib=… rows=… out=…`, where
// cpu_us_per_row is the process's user+system CPU (getrusage(RUSAGE_SELF) of that mode's child: every thread of it,
// librdkafka's included; not the broker's nor redis-server's) over the timed window divided by the rows, and
// peak_rss_mib is that child's ru_maxrss (the rows' loader is another child). Then
// `engine N rows/s, ceiling M rows/s, ratio R` (bench/run prints the same line over the medians of its runs).
//
// What bounds the engine (issue 11), by taking parts of its work away; each is a measurement, never how it runs:
//   --cache off     no Redis: every look-up goes to the stubs (the stage's null-cache mode)
//   --store none    results are not stored (and no audit entries are prepared): the committer only produces
//   --store block   results stored a block of --block-rows at a time (bench/block_results.hpp, a prototype that
//                   writes the same bytes in one row a block, and reads nothing back), no audit trail
//   --thread-cpu    each thread's time in the window on stderr (`thread <name>/<tid> cpu_s=… runnable_waiting_s=…
//                   window_s=…`: on a CPU, and ready to run but waiting for one; /proc/self/task/*/schedstat)
#include <dirent.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "bench/block_results.hpp"
#include "bench/plain_passthrough.hpp"
#include "connectors/api/connector_set.hpp"
#include "connectors/kafka/kafka.hpp"
#include "connectors/redis/redis_client.hpp"
#include "connectors/store/sql_audit_store.hpp"
#include "connectors/store/store.hpp"
#include "engine/cli/cli.hpp"
#include "engine/cli/request_gen.hpp"
#include "engine/flow/inquiry_stage.hpp"
#include "engine/runtime/metrics.hpp"
#include "engine/runtime/pipeline.hpp"
#include "jobs/inquiry/codec.hpp"

using namespace taxdesk;

namespace {

/// --store none: results are taken and dropped, so the engine's rate without the store's work can be measured.
class NoResults : public connectors::ResultStore {
  public:
    void upsertResults(const std::vector<connectors::StoredResult>& /*results*/) override {}
    int insertMissingResults(const std::vector<connectors::StoredResult>& results) override {
        return static_cast<int>(results.size());
    }
    int countResultsWithStatus(const std::string& /*batchId*/, const std::string& /*status*/) override { return 0; }
    int retryErrorRows(const std::string& /*batchId*/) override { return 0; }
    std::optional<connectors::StoredResult> findResult(const std::string& /*batchId*/, int /*row*/) override {
        return std::nullopt;
    }
    std::vector<connectors::StoredResult> resultsOfBatch(const std::string& /*batchId*/) override { return {}; }
    std::vector<connectors::StoredResult> resultsPage(const std::string& /*batchId*/, int /*afterRow*/,
                                                      int /*limit*/) override {
        return {};
    }
};

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
    std::string mode = "all";
    std::string tag;
    std::string suffix;         ///< appended to every topic and group name (a shared broker: the smoke test)
    std::string topicTag;       ///< audit mode: "audit" or "noaudit", in the topics' prefix (bench-engine-<tag>.)
    bool audit = true;          ///< engine mode: the audit trail on (audit.enabled) or off
    bool auditOnFirst = false;  ///< audit mode: --audit-order on-off measures the trail-on engine first
    bool cache = true;          ///< --cache off: no Redis (a measurement of what the cache costs)
    std::string store = "sql";  ///< --store sql (the real store), block (bench/block_results.hpp) or none
    int blockRows = 64;         ///< --block-rows: results a block with --store block
    bool threadCpu = false;     ///< --thread-cpu: each thread's CPU in the window, on stderr
};

std::string unique(const std::string& stem) {
    return stem + "-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
}

using Clock = std::chrono::steady_clock;

/// What a mode's child reports to the parent through a pipe.
struct Figures {
    double rowsPerSecond = 0;
    double cpuMicrosPerRow = 0;
    double peakRssMiB = 0;
    long long out = 0;
    double windowStart = 0;  ///< CLOCK_MONOTONIC seconds: for `perf report --time` (perf record -k CLOCK_MONOTONIC)
    double windowEnd = 0;
    int ok = 0;
};

double cpuSeconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double monotonicSeconds() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

/// A thread's time so far, from /proc/self/task/<tid>/schedstat: on a CPU, and runnable but waiting for one.
struct ThreadTimes {
    double running = 0;
    double waiting = 0;
};

/// Every thread of this process by "name/tid".
std::map<std::string, ThreadTimes> threadTimes() {
    std::map<std::string, ThreadTimes> times;
    DIR* tasks = opendir("/proc/self/task");
    if (tasks == nullptr) return times;
    while (const dirent* task = readdir(tasks)) {
        if (task->d_name[0] == '.') continue;
        const std::string dir = std::string("/proc/self/task/") + task->d_name;
        std::ifstream commFile(dir + "/comm");
        std::ifstream schedFile(dir + "/schedstat");
        std::string name;
        double runningNs = 0;
        double waitingNs = 0;
        if (!std::getline(commFile, name) || !(schedFile >> runningNs >> waitingNs)) continue;
        times[name + "/" + task->d_name] = {runningNs / 1e9, waitingNs / 1e9};
    }
    closedir(tasks);
    return times;
}

double peakRssMiB() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

struct Topics {
    std::string input;
    std::string output;
    std::string group;
};

Topics topicsOf(const Options& options, const std::string& mode) {
    // bench/run starts the broker with these prefixes, so the topics have broker.partitions partitions (an
    // auto-created topic gets the mock's default of 4, whose 5 MiB window would drop rows).
    const std::string prefix = "bench-" + mode + (options.topicTag.empty() ? "" : "-" + options.topicTag) + ".";
    return {prefix + "inquiry.requests" + options.suffix, prefix + "inquiry.results" + options.suffix,
            prefix + "group" + options.suffix};
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

Figures measureCeiling(const Options& options) {
    const Topics topics = topicsOf(options, "ceiling");
    bench::PlainSettings settings;
    settings.bootstrap = options.bootstrap;
    settings.inputTopic = topics.input;
    settings.outputTopic = topics.output;
    settings.groupId = topics.group;
    settings.rows = options.rows;
    // The CPU clock starts at the assignment: the plain loop notes its time, and the join costs next to nothing.
    const double cpuBefore = cpuSeconds();
    const double monotonicBefore = monotonicSeconds();
    const auto before = Clock::now();
    const bench::PlainResult result = bench::runPlainPassthrough(settings);
    const double cpu = cpuSeconds() - cpuBefore;
    Figures figures;
    figures.out = result.delivered;
    if (result.delivered < options.rows) throw std::runtime_error("ceiling: not all rows came out");
    const double seconds = std::chrono::duration<double>(result.lastAcked - result.assigned).count();
    figures.rowsPerSecond = options.rows / seconds;
    figures.cpuMicrosPerRow = cpu * 1e6 / options.rows;
    figures.windowStart = monotonicBefore + std::chrono::duration<double>(result.assigned - before).count();
    figures.windowEnd = monotonicBefore + std::chrono::duration<double>(result.lastAcked - before).count();
    return figures;
}

Figures measurePipeline(const Options& options, const std::string& mode) {
    const Topics topics = topicsOf(options, mode);
    const std::string prefix = "bench-" + mode + (options.topicTag.empty() ? "" : "-" + options.topicTag) + ".";
    engine::Metrics metrics;
    auto pipelineMetrics = metrics.pipeline(mode);
    std::unique_ptr<connectors::Store> store;
    std::string storePath;
    std::unique_ptr<NoResults> noResults;
    std::unique_ptr<bench::BlockResults> blockResults;
    std::string blockPath;
    std::unique_ptr<engine::BatchStage> stage;
    if (mode == "engine") {
        connectors::StoreSettings storeSettings;
        storePath = "/tmp/" + unique(prefix) + ".db";
        storeSettings.sqlitePath = storePath;
        store = std::make_unique<connectors::Store>(storeSettings);
        // Issue 13: the audit trail records results of batches the store holds, so the 64 bench batches are written
        // first (outside the timed window), with or without the trail; rows_done and states then move as in service.
        store->audit().configure({options.audit, "bench-audit-key-0123456789abcdef0123456789abcdef"});
        for (int batch = 0; batch < 64; ++batch) {
            connectors::BatchRecord record;
            record.batchId = "BENCH-" + std::to_string(batch);
            record.creditorId = "C1";
            record.state = jobs::inquiry::BatchState::queued;
            record.receiptToken = unique("receipt-" + std::to_string(batch));
            std::vector<connectors::BatchRowRecord> rows;
            for (int row = batch == 0 ? 64 : batch; row <= options.rows; row += 64)
                rows.push_back(
                    {record.batchId, row, "", "", engine::generatedTitle(row), "both", "2024", true, "", "", 500});
            auto writer = store->batches().beginBatch(record);
            writer->addRows(rows);
            const int count = static_cast<int>(rows.size());
            writer->commit(count, count, 0, 500LL * count);
        }
        connectors::RedisSettings redisSettings;
        redisSettings.port = options.redisPort;
        redisSettings.keyPrefix = unique(prefix) + ":";
        engine::InquiryStageSettings stageSettings;
        stageSettings.resultsTopic = topics.output;
        stageSettings.deadLetterTopic = topics.input + ".dlq";
        stageSettings.concurrency = options.concurrency;
        connectors::StubSettings stubs;
        stubs.seed = 1;
        connectors::ResultStore* results = &store->results();
        if (options.store == "none") {
            noResults = std::make_unique<NoResults>();
            results = noResults.get();
        } else if (options.store == "block") {
            blockPath = "/tmp/" + unique(prefix) + "-blocks.db";
            blockResults = std::make_unique<bench::BlockResults>(blockPath, options.blockRows);
            results = blockResults.get();
        }
        stage = std::make_unique<engine::InquiryStage>(
            stageSettings, connectors::makeStubConnectors(stubs), *results, store->batches(),
            options.cache ? std::make_unique<connectors::RedisClient>(redisSettings) : nullptr, pipelineMetrics);
    } else {
        stage = std::make_unique<PassthroughStage>(topics.output);
    }
    engine::PipelineSettings settings;
    settings.name = mode;
    settings.inputTopic = topics.input;
    settings.groupId = topics.group;
    settings.kafka.bootstrap = options.bootstrap;
    settings.batchSize = options.batchSize;
    settings.maxInFlight = options.maxInFlight;
    settings.warmTopics = {topics.output, topics.input + ".dlq"};
    engine::Pipeline pipeline(settings, *stage, pipelineMetrics);
    std::atomic<bool> stop{false};
    std::thread thread([&] { pipeline.run(stop); });

    while (!pipeline.assigned()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto start = Clock::now();
    const double cpuBefore = cpuSeconds();
    const auto threadsBefore = options.threadCpu ? threadTimes() : std::map<std::string, ThreadTimes>{};
    Figures figures;
    figures.windowStart = monotonicSeconds();
    auto lastProgress = start;
    double seen = 0;
    // Until every row came out, or nothing came out for a minute (rows lost to a small topic's retention window).
    while (pipelineMetrics.messagesOut.Value() < options.rows &&
           Clock::now() - lastProgress < std::chrono::minutes(1)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (pipelineMetrics.messagesOut.Value() != seen) {
            seen = pipelineMetrics.messagesOut.Value();
            lastProgress = Clock::now();
        }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    figures.windowEnd = monotonicSeconds();
    const double cpu = cpuSeconds() - cpuBefore;
    if (options.threadCpu) {
        for (const auto& [name, after] : threadTimes()) {
            const auto before = threadsBefore.find(name);
            const ThreadTimes was = before == threadsBefore.end() ? ThreadTimes{} : before->second;
            const double running = after.running - was.running;
            if (running > 0)
                std::fprintf(stderr, "thread %s cpu_s=%.2f runnable_waiting_s=%.2f window_s=%.2f\n", name.c_str(),
                             running, after.waiting - was.waiting, seconds);
        }
    }
    stop = true;
    thread.join();
    figures.out = static_cast<long long>(pipelineMetrics.messagesOut.Value());
    if (figures.out < options.rows) throw std::runtime_error(mode + ": not all rows came out");
    if (store) std::remove(storePath.c_str());
    if (const long long stored = blockResults ? blockResults->storedResults() : options.rows; stored < options.rows)
        throw std::runtime_error("block store: " + std::to_string(stored) + " of " + std::to_string(options.rows) +
                                 " results stored");
    blockResults.reset();
    if (!blockPath.empty()) {
        for (const char* suffix : {"", "-wal", "-shm"}) std::remove((blockPath + suffix).c_str());
    }
    figures.rowsPerSecond = options.rows / seconds;
    figures.cpuMicrosPerRow = cpu * 1e6 / options.rows;
    return figures;
}

/// Runs `work` in a forked child (this process has no librdkafka thread to lose); the child's exceptions are
/// printed there and make it exit 1. Returns what the child wrote, `ok` 0 when it failed.
template <typename Work>
Figures inChild(Work&& work) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    std::cout.flush();
    const pid_t child = fork();
    if (child < 0) throw std::runtime_error("fork failed");
    if (child == 0) {
        close(fds[0]);
        int rc = 0;
        Figures figures;
        try {
            figures = work();
            figures.peakRssMiB = peakRssMiB();
            figures.ok = 1;
        } catch (const std::exception& error) {
            std::cerr << "taxdesk_bench_throughput: " << error.what() << std::endl;
            rc = 1;
        }
        const bool written = write(fds[1], &figures, sizeof figures) == static_cast<ssize_t>(sizeof figures);
        close(fds[1]);
        _exit(written ? rc : 1);
    }
    close(fds[1]);
    Figures figures;
    if (read(fds[0], &figures, sizeof figures) != static_cast<ssize_t>(sizeof figures)) figures.ok = 0;
    close(fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) figures.ok = 0;
    return figures;
}

void printLine(const char* mode, const Figures& figures, double ceiling, const Options& options) {
    std::printf(
        "%s value=%.0f rows/s ceiling=%.0f ratio=%.3f cpu_us_per_row=%.2f peak_rss_mib=%.0f rows=%d out=%lld "
        "window=%.3f,%.3f %s\n",
        mode, figures.rowsPerSecond, ceiling, ceiling > 0 ? figures.rowsPerSecond / ceiling : 0.0,
        figures.cpuMicrosPerRow, figures.peakRssMiB, options.rows, figures.out, figures.windowStart, figures.windowEnd,
        options.tag.c_str());
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    try {
        const engine::ArgReader reader(
            std::vector<std::string>(argv + 1, argv + argc),
            {"bootstrap", "redis-port", "rows", "mode", "batch-size", "max-in-flight", "concurrency", "tag", "suffix",
             "audit", "audit-order", "cache", "store", "block-rows"},
            {"thread-cpu"});
        options.bootstrap = reader.value("bootstrap").value_or("");
        if (options.bootstrap.empty()) throw engine::UsageError("--bootstrap HOST:PORT is required");
        options.redisPort = static_cast<int>(reader.integer("redis-port", 6390, 1, 65535));
        options.rows = static_cast<int>(reader.integer("rows", 200000, 1, 10000000));
        options.batchSize = static_cast<int>(reader.integer("batch-size", 2000, 1, 100000));
        options.maxInFlight = static_cast<int>(reader.integer("max-in-flight", 50000, 1, 10000000));
        options.concurrency = static_cast<int>(reader.integer("concurrency", 8, 1, 1024));
        options.mode = reader.value("mode").value_or("all");
        options.tag = reader.value("tag").value_or("");
        options.suffix = reader.value("suffix").value_or("");
        const std::string audit = reader.value("audit").value_or("on");
        if (audit != "on" && audit != "off") throw engine::UsageError("--audit must be on or off");
        options.audit = audit == "on";
        const std::string order = reader.value("audit-order").value_or("off-on");
        if (order != "off-on" && order != "on-off") throw engine::UsageError("--audit-order must be off-on or on-off");
        options.auditOnFirst = order == "on-off";
        const std::string cache = reader.value("cache").value_or("on");
        if (cache != "on" && cache != "off") throw engine::UsageError("--cache must be on or off");
        options.cache = cache == "on";
        options.store = reader.value("store").value_or("sql");
        if (options.store != "sql" && options.store != "block" && options.store != "none")
            throw engine::UsageError("--store must be sql, block or none");
        options.blockRows = static_cast<int>(reader.integer("block-rows", 64, 1, 100000));
        options.threadCpu = reader.flag("thread-cpu");
        const std::vector<std::string> modes{"all", "both", "ceiling", "engine", "passthrough", "audit"};
        if (std::find(modes.begin(), modes.end(), options.mode) == modes.end())
            throw engine::UsageError(
                "--mode must be all, ceiling, passthrough, engine, both (passthrough and engine) or audit (engine "
                "with the audit trail off, then on)");
    } catch (const engine::UsageError& error) {
        std::cerr << "taxdesk_bench_throughput: " << error.what() << std::endl;
        return 2;
    }
    try {
        const bool ceilingToo = options.mode == "all" || options.mode == "ceiling";
        const bool passToo = options.mode == "all" || options.mode == "both" || options.mode == "passthrough";
        const bool engineToo = options.mode == "all" || options.mode == "both" || options.mode == "engine";
        auto load = [&](const std::string& mode) {
            const Figures loaded = inChild([&] {
                produceRows(options, topicsOf(options, mode).input);
                return Figures{};
            });
            if (!loaded.ok) throw std::runtime_error("could not produce the rows of " + mode);
        };
        double ceiling = 0;
        Figures engineFigures;
        if (ceilingToo) {
            load("ceiling");
            const Figures figures = inChild([&] { return measureCeiling(options); });
            if (!figures.ok) return 1;
            ceiling = figures.rowsPerSecond;
            printLine("ceiling", figures, ceiling, options);
        }
        if (passToo) {
            load("passthrough");
            const Figures figures = inChild([&] { return measurePipeline(options, "passthrough"); });
            if (!figures.ok) return 1;
            printLine("passthrough", figures, ceiling, options);
        }
        if (engineToo) {
            load("engine");
            engineFigures = inChild([&] { return measurePipeline(options, "engine"); });
            if (!engineFigures.ok) return 1;
            printLine("engine", engineFigures, ceiling, options);
        }
        if (options.mode == "audit") {
            // The engine without and with the audit trail (issue 13), each on topics of its own: the ratio of the
            // two is the trail's cost. Printed as engine_noaudit and engine (ratio = on / off). --audit-order on-off
            // runs the trail-on child first (to tell the trail's cost from an effect of running second).
            auto measure = [&](bool audit) {
                Options run = options;
                run.audit = audit;
                // Topics of their own under a prefix bench/run names (bench-engine-audit., bench-engine-noaudit.), so
                // that they have the broker's 32 partitions: a suffixed name would be auto-created with the mock's 4,
                // whose 5 MiB window dropped rows of a 200,000-row run ("not all rows came out").
                run.topicTag = audit ? "audit" : "noaudit";
                const Figures loaded = inChild([&] {
                    produceRows(run, topicsOf(run, "engine").input);
                    return Figures{};
                });
                if (!loaded.ok) throw std::runtime_error("could not produce the rows of the engine, audit on or off");
                return inChild([&] { return measurePipeline(run, "engine"); });
            };
            Figures withoutTrail;
            if (options.auditOnFirst) {
                engineFigures = measure(true);
                withoutTrail = measure(false);
            } else {
                withoutTrail = measure(false);
                engineFigures = measure(true);
            }
            if (!withoutTrail.ok || !engineFigures.ok) return 1;
            printLine("engine_noaudit", withoutTrail, 0, options);
            printLine("engine", engineFigures, withoutTrail.rowsPerSecond, options);
        }
        std::printf("engine %.0f rows/s, ceiling %.0f rows/s, ratio %.3f\n", engineFigures.rowsPerSecond, ceiling,
                    ceiling > 0 ? engineFigures.rowsPerSecond / ceiling : 0.0);
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "taxdesk_bench_throughput: " << error.what() << std::endl;
        return 1;
    }
}
