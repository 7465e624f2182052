#include "engine/runtime/pipeline.hpp"

#include <Poco/Logger.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <thread>

#include "engine/runtime/dead_letter.hpp"
#include "jobs/identity/identifiers.hpp"

namespace taxdesk::engine {
namespace {

using Clock = std::chrono::steady_clock;

struct Position {
    const std::string* topic;  ///< interned (Pipeline::topicNames_): no string copy a message
    int partition;
    std::int64_t offset;
    std::int64_t createdMs;  ///< the message's create time, for the end-to-end latency (-1: unknown)
};

std::int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct PendingBatch;

/// One consumed message whose outputs are on their way to the broker (the opaque of each of its outputs).
struct Pending {
    Position position;
    int remaining;        ///< outputs not yet reported
    bool failed = false;  ///< an output was not delivered: the message is never marked done
    PendingBatch* batch;  ///< the allocation it belongs to
};

/// The Pendings of one produced batch, in one allocation instead of one a message; deleted with its last report.
struct PendingBatch {
    std::vector<Pending> items;
    std::size_t open = 0;  ///< items with outputs not yet all reported
};

/// A prepared batch on its way from the consumer thread to the committer thread. The messages stay with it until
/// it is committed: a permanent failure of the commit processes them again one at a time.
struct Handoff {
    std::vector<Position> positions;
    std::vector<connectors::kafka::Message> messages;
    std::unique_ptr<PreparedBatch> prepared;
};

/// A batch prepared one message at a time after a permanent failure: parts[i] is the i-th message's own prepared
/// batch, null when that message went to the dead-letter topic (out[i] then holds its dead letter).
struct IsolatedBatch : PreparedBatch {
    std::vector<std::unique_ptr<PreparedBatch>> parts;
};

/// Permanent: retrying the same message cannot help (a non-retryable ConnectorError such as a constraint violation,
/// or any other exception: a stage's contract violation, std::invalid_argument…).
bool isPermanent(const std::exception& error) {
    const auto* connector = dynamic_cast<const connectors::ConnectorError*>(&error);
    return connector == nullptr || !connector->isRetryable();
}

/// An error text for a log line: anything that looks like a whole ID (a letter and nine letters or digits that
/// form a valid ID) is masked, since store and connector errors may quote the values they refused.
std::string masked(const std::string& text) {
    std::string out = text;
    for (std::size_t i = 0; i + 10 <= out.size(); ++i) {
        const std::string_view candidate(out.data() + i, 10);
        if (jobs::identity::classify(candidate) == jobs::identity::IdKind::invalid) continue;
        const std::string replacement = jobs::identity::mask(candidate);
        out.replace(i, 10, replacement);
        i += replacement.size() - 1;
    }
    return out;
}

/// Runs `work` until it succeeds, retrying retryable ConnectorErrors with the pipeline's back-off (connectors/retry:
/// no limit on attempts, full jitter). Returns false when `stop` was set before it succeeded. Non-retryable errors
/// propagate.
template <typename Work>
bool withRetries(const connectors::RetryPolicy& policy, const std::atomic<bool>& stop, PipelineMetrics& metrics,
                 Poco::Logger& log, const char* what, Work&& work) {
    connectors::RetryHooks hooks;
    hooks.stopped = [&stop] { return stop.load(); };
    hooks.onRetry = [&](const connectors::ConnectorError& error, int /*failedAttempt*/,
                        std::chrono::milliseconds pause) {
        metrics.batchRetries.Increment();
        log.warning("%s failed, retrying in %?d ms: %s", std::string(what), pause.count(), masked(error.what()));
    };
    try {
        connectors::retry(policy, hooks, std::forward<Work>(work));
        return true;
    } catch (const connectors::RetryStopped&) {
        return false;
    }
}

}  // namespace

Pipeline::Pipeline(PipelineSettings settings, BatchStage& stage, PipelineMetrics metrics)
    : settings_(std::move(settings)), stage_(stage), metrics_(metrics) {}

const std::string* Pipeline::intern(std::string_view topic) {
    if (lastTopic_ != nullptr && *lastTopic_ == topic) return lastTopic_;
    const auto it = topicNames_.find(topic);
    lastTopic_ = it != topicNames_.end() ? &*it : &*topicNames_.emplace(topic).first;
    return lastTopic_;
}

std::string Pipeline::deadLetterTopic() const {
    return settings_.deadLetterTopic.empty() ? settings_.inputTopic + ".dlq" : settings_.deadLetterTopic;
}

OutMessage Pipeline::deadLetter(const connectors::kafka::Message& message, const std::string& error) {
    metrics_.messagesFailed.Increment();
    return {deadLetterTopic(),
            std::string(message.key()),
            deadLetterValue(message.value(), error, 1),
            {{"request_id", message.header("request_id")}}};
}

bool Pipeline::noteDeadLetter(const connectors::kafka::Message& message, const std::string& error,
                              const std::atomic<bool>& stop, Poco::Logger& log, std::vector<OutMessage>& out) {
    std::vector<OutMessage> effects;
    try {
        if (!withRetries(settings_.retry, stop, metrics_, log, "dead letter",
                         [&] { effects = stage_.deadLettered(message, error); }))
            return false;
    } catch (const std::exception& failure) {
        log.error("%s[%d]@%?d: recording its failure failed for good: %s", std::string(message.topic()),
                  message.partition(), message.offset(), masked(failure.what()));
        effects.clear();
    }
    out = {deadLetter(message, error)};
    for (auto& effect : effects) out.push_back(std::move(effect));
    return true;
}

std::unique_ptr<PreparedBatch> Pipeline::isolate(std::vector<connectors::kafka::Message>& messages,
                                                 const std::atomic<bool>& stop, Poco::Logger& log) {
    auto isolated = std::make_unique<IsolatedBatch>();
    isolated->out.resize(messages.size());
    isolated->parts.resize(messages.size());
    for (std::size_t i = 0; i < messages.size(); ++i) {
        std::vector<connectors::kafka::Message> one;
        one.push_back(std::move(messages[i]));
        try {
            std::unique_ptr<PreparedBatch> part;
            if (!withRetries(settings_.retry, stop, metrics_, log, "prepare", [&] { part = stage_.prepare(one); })) {
                messages[i] = std::move(one.front());
                return nullptr;  // stopping
            }
            // Its outputs stay with the part until it is committed: commit() may add to them (the inquiry stage adds
            // its results there), and a part whose commit fails for good has only its dead letter.
            part->out.resize(1);
            isolated->parts[i] = std::move(part);
        } catch (const std::exception& error) {
            if (!isPermanent(error)) {
                messages[i] = std::move(one.front());
                throw;
            }
            log.warning("%s[%d]@%?d goes to %s: %s", std::string(one.front().topic()), one.front().partition(),
                        one.front().offset(), deadLetterTopic(), masked(error.what()));
            if (!noteDeadLetter(one.front(), error.what(), stop, log, isolated->out[i])) {
                messages[i] = std::move(one.front());
                return nullptr;  // stopping
            }
        }
        messages[i] = std::move(one.front());
    }
    return isolated;
}

bool Pipeline::commitIsolating(std::unique_ptr<PreparedBatch>& prepared,
                               std::vector<connectors::kafka::Message>& messages, const std::atomic<bool>& stop,
                               Poco::Logger& log) {
    if (auto* isolated = dynamic_cast<IsolatedBatch*>(prepared.get())) {
        for (std::size_t i = 0; i < isolated->parts.size(); ++i) {
            if (!isolated->parts[i]) continue;  // dead-lettered already
            try {
                if (!withRetries(settings_.retry, stop, metrics_, log, "commit",
                                 [&] { stage_.commit(*isolated->parts[i]); }))
                    return false;
                isolated->out[i] = std::move(isolated->parts[i]->out[0]);
            } catch (const std::exception& error) {
                if (!isPermanent(error)) throw;
                log.warning("%s[%d]@%?d goes to %s: %s", std::string(messages[i].topic()), messages[i].partition(),
                            messages[i].offset(), deadLetterTopic(), masked(error.what()));
                if (!noteDeadLetter(messages[i], error.what(), stop, log, isolated->out[i])) return false;
            }
        }
        return true;
    }
    try {
        return withRetries(settings_.retry, stop, metrics_, log, "commit", [&] { stage_.commit(*prepared); });
    } catch (const std::exception& error) {
        if (!isPermanent(error)) throw;
        log.warning("commit failed for good, processing the %z messages one at a time: %s", messages.size(),
                    masked(error.what()));
    }
    {
        std::lock_guard prepareLock(prepareMutex_);
        prepared = isolate(messages, stop, log);
    }
    if (!prepared) return false;
    prepared->out.resize(messages.size());
    return commitIsolating(prepared, messages, stop, log);
}

void Pipeline::commitDone(connectors::kafka::Consumer& consumer, bool async) {
    std::vector<connectors::kafka::TopicPartitionOffset> offsets;
    {
        std::lock_guard lock(trackerMutex_);
        offsets = tracker_.takeCommittable();
    }
    if (offsets.empty()) return;
    try {
        consumer.commit(offsets, async);
        committed_ = true;
    } catch (const connectors::kafka::KafkaError& error) {
        // Not fatal: the offsets stay uncommitted and the messages may be redelivered, which is harmless.
        Poco::Logger::get("pipeline." + settings_.name).warning("commit failed: %s", std::string(error.what()));
    }
}

void Pipeline::run(const std::atomic<bool>& stop) {
    auto& log = Poco::Logger::get("pipeline." + settings_.name);
    bool fromBeginning = false;
    for (;;) {
        const SessionEnd end = runSession(stop, fromBeginning);
        if (end == SessionEnd::stopped || stop.load()) return;
        ++restarts_;
        // After a replacement the new broker holds only what was sent to it since: read all of it. After a fatal
        // producer error on the same broker, the committed offsets are right: what was not committed comes again.
        fromBeginning = end == SessionEnd::brokerReplaced || (fromBeginning && !committed_.load());
        {
            std::lock_guard lock(trackerMutex_);
            tracker_ = OffsetTracker{};
        }
        assigned_ = false;
        log.warning("consuming %s again with a new consumer and producer%s", settings_.inputTopic,
                    std::string(fromBeginning ? ", from the beginning of every partition" : ""));
        for (int waited = 0; waited < 500 && !stop.load(); waited += 50)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

Pipeline::SessionEnd Pipeline::runSession(const std::atomic<bool>& stop, bool fromBeginning) {
    auto& log = Poco::Logger::get("pipeline." + settings_.name);
    sessionOver_ = false;
    committed_ = false;
    std::mutex failureMutex;
    std::string deliveryFailure;
    std::atomic<bool> failed{false};

    // Marks messages done: one tracker lock and one clock reading for all of them.
    auto markDone = [this](const std::vector<Position>& positions) {
        if (positions.empty()) return;
        const std::int64_t now = nowMs();
        for (const auto& position : positions)
            if (position.createdMs > 0)
                metrics_.latency.Observe(static_cast<double>(std::max<std::int64_t>(0, now - position.createdMs)) /
                                         1000.0);
        std::lock_guard lock(trackerMutex_);
        for (const auto& position : positions) tracker_.done(*position.topic, position.partition, position.offset);
    };
    // What the delivery reports of one poll found, applied together when the producer says it served them (its
    // reports and that call run under its mutex, one at a time). Declared before the producer: it outlives it.
    std::vector<Position> delivered;
    std::uint64_t deliveredOutputs = 0;
    // The committer's hand-over (below); declared before the producer, whose report-queued callback uses them.
    std::mutex queueMutex;
    std::condition_variable queueChanged;
    bool reportsQueued = false;  // under queueMutex: the producer queued delivery reports since the committer polled
    connectors::kafka::Producer producer(settings_.kafka, [&](const connectors::kafka::DeliveryReport& report) {
        auto* pending = static_cast<Pending*>(report.opaque);
        if (!report.ok) {
            pending->failed = true;  // stays uncommitted: it is redelivered
            if (report.fatal) {
                // The producer was replaced after a fatal error: this session ends and a new one starts.
                sessionOver_ = true;
            } else {
                // librdkafka has already retried; this pipeline stops.
                std::lock_guard lock(failureMutex);
                if (deliveryFailure.empty()) deliveryFailure = report.error;
                failed = true;
            }
        } else {
            ++deliveredOutputs;
        }
        if (--pending->remaining > 0) return;  // still waiting for its other outputs
        if (!pending->failed) delivered.push_back(pending->position);
        PendingBatch* batch = pending->batch;
        if (--batch->open == 0) delete batch;
    });
    producer.onDeliveriesServed([&] {
        if (deliveredOutputs > 0) metrics_.messagesOut.Increment(static_cast<double>(deliveredOutputs));
        deliveredOutputs = 0;
        markDone(delivered);
        delivered.clear();
    });

    // While idle, the committer serves delivery reports: every 2 ms, or (takeWhatIsQueued, the latency-bound
    // pipelines) when the producer says reports are queued, with a long bound only as a safety net (issue 11: no
    // timer wake-ups of an idle committer).
    const auto idleWait = settings_.takeWhatIsQueued ? std::chrono::milliseconds(100) : std::chrono::milliseconds(2);
    if (settings_.takeWhatIsQueued)
        producer.onReportsQueued([&] {
            {
                std::lock_guard lock(queueMutex);
                reportsQueued = true;
            }
            queueChanged.notify_all();
        });

    // The committer thread: commit() each prepared batch in order, then produce its outputs.
    std::deque<Handoff> queue;
    bool committerBusy = false;
    std::vector<connectors::kafka::Outgoing> outgoing;  // the committer's, reused from batch to batch
    std::atomic<bool> committerStop{false};
    std::exception_ptr committerFailure;
    std::thread committer([&] {
        try {
            for (;;) {
                Handoff handoff;
                {
                    std::unique_lock lock(queueMutex);
                    while (queue.empty() && !committerStop.load()) {
                        reportsQueued = false;
                        lock.unlock();
                        producer.poll(0);  // delivery reports while idle
                        lock.lock();
                        queueChanged.wait_for(lock, idleWait,
                                              [&] { return !queue.empty() || committerStop.load() || reportsQueued; });
                    }
                    if (queue.empty()) return;  // stopping, nothing left
                    handoff = std::move(queue.front());
                    queue.pop_front();
                    committerBusy = true;
                }
                queueChanged.notify_all();
                const bool committed = commitIsolating(handoff.prepared, handoff.messages, stop, log);
                if (committed) {
                    // One allocation for the batch's Pendings, one turn of the producer's lock for its outputs.
                    auto& out = handoff.prepared->out;
                    auto batch = std::make_unique<PendingBatch>();
                    batch->items.reserve(handoff.positions.size());
                    std::vector<Position> withoutOutputs;
                    std::size_t outputs = 0;
                    for (std::size_t i = 0; i < handoff.positions.size(); ++i) {
                        if (out[i].empty()) {
                            withoutOutputs.push_back(handoff.positions[i]);
                            continue;
                        }
                        batch->items.push_back(
                            {handoff.positions[i], static_cast<int>(out[i].size()), false, batch.get()});
                        outputs += out[i].size();
                    }
                    outgoing.clear();
                    outgoing.reserve(outputs);
                    std::size_t item = 0;
                    for (std::size_t i = 0; i < handoff.positions.size(); ++i) {
                        if (out[i].empty()) continue;
                        Pending* pending = &batch->items[item++];
                        for (const auto& message : out[i])
                            outgoing.push_back({&message.topic, message.key, message.value, pending, &message.headers});
                    }
                    batch->open = batch->items.size();
                    if (batch->open > 0) {
                        (void)batch.release();  // from here the reports own it: the last one deletes it
                        producer.produceBatch(outgoing);
                    }
                    markDone(withoutOutputs);
                }
                // Not committed (stopping while the store is down): left uncommitted, it is redelivered.
                producer.poll(0);
                {
                    std::lock_guard lock(queueMutex);
                    committerBusy = false;
                }
                queueChanged.notify_all();
            }
        } catch (...) {
            committerFailure = std::current_exception();
            failed = true;
            std::lock_guard lock(queueMutex);
            committerBusy = false;
            queue.clear();
            queueChanged.notify_all();
        }
    });
    auto waitCommitterIdle = [&](std::chrono::milliseconds timeout) {
        std::unique_lock lock(queueMutex);
        return queueChanged.wait_for(lock, timeout, [&] { return queue.empty() && !committerBusy; });
    };

    // The broker this session started with. A new cluster id means the broker was replaced: the positions this
    // session holds are of the old broker's messages, and committing them to the new one would skip its messages.
    std::string cluster;
    connectors::kafka::Consumer* consumerOf = nullptr;
    std::atomic<bool> replaced{false};
    bool assignmentFailed = false;  // the consumer could not apply an assignment: a new one joins
    auto brokerReplaced = [&] {
        if (replaced.load()) return true;
        std::string now = producer.clusterId(0);
        if ((now.empty() || now == cluster) && consumerOf != nullptr) now = consumerOf->clusterId(0);
        if (cluster.empty()) cluster = now;
        if (now.empty() || now == cluster) return false;
        log.warning(
            "the broker was replaced (cluster %s, now %s): what it held is gone; nothing more is committed, "
            "and %s is consumed again from the new broker",
            cluster, now, settings_.inputTopic);
        replaced = true;
        sessionOver_ = true;
        return true;
    };
    // Commits what is done, unless this session is over (see sessionOver_).
    auto commit = [&](connectors::kafka::Consumer& consumer, bool async) {
        if (sessionOver_.load() || brokerReplaced()) return;
        commitDone(consumer, async);
    };

    connectors::kafka::Consumer consumer(
        settings_.kafka, settings_.groupId,
        [&](bool revoked, const std::vector<connectors::kafka::TopicPartitionOffset>& partitions) {
            if (!revoked) {
                assigned_ = true;
                log.information("assigned %z partitions of %s", partitions.size(), settings_.inputTopic);
                // Which ones, for an operator (and the scale test) to tell whose partitions a takeover moved.
                std::string numbers;
                for (const auto& partition : partitions)
                    numbers.append(numbers.empty() ? "" : ",").append(std::to_string(partition.partition));
                log.information("partitions of %s held: %s", settings_.inputTopic, numbers);
                return;
            }
            // Finish and deliver what is on its way, commit what is done, then let the partitions go.
            waitCommitterIdle(std::chrono::seconds(10));
            producer.flush(5000);
            commit(consumer, false);
            std::lock_guard lock(trackerMutex_);
            for (const auto& partition : partitions) tracker_.forget(partition.topic, partition.partition);
            log.information("revoked %z partitions of %s", partitions.size(), settings_.inputTopic);
        });
    consumer.onError = [&](const std::string& error) { log.warning("consumer: %s", error); };
    consumerOf = &consumer;
    if (fromBeginning) consumer.startFromBeginning();

    try {
        if (!settings_.warmTopics.empty()) producer.warmTopics(settings_.warmTopics, 10000);
        cluster = producer.clusterId(5000);
        consumer.subscribe({settings_.inputTopic});
        log.information("consuming %s as group %s", settings_.inputTopic, settings_.groupId);

        auto lastCommit = Clock::now();
        auto lastBrokerCheck = Clock::now();
        while (!stop.load() && !failed.load() && !sessionOver_.load()) {
            if (Clock::now() - lastBrokerCheck >= std::chrono::milliseconds(200)) {
                lastBrokerCheck = Clock::now();
                if (brokerReplaced()) break;
            }
            std::size_t inFlight;
            {
                std::lock_guard lock(trackerMutex_);
                inFlight = tracker_.inFlight();
            }
            const auto room = settings_.maxInFlight - static_cast<int>(inFlight);
            if (room <= 0) {
                // Backpressure: nothing more is consumed until deliveries free room.
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                commit(consumer, true);
                continue;
            }
            std::vector<connectors::kafka::Message> batch;
            try {
                const auto most = static_cast<std::size_t>(std::min(room, settings_.batchSize));
                batch = settings_.takeWhatIsQueued
                            ? consumer.consumeReady(most, settings_.batchTimeoutMs, settings_.gatherMs)
                            : consumer.consume(most, settings_.batchTimeoutMs);
            } catch (const connectors::kafka::KafkaError& error) {
                if (!error.isRetryable()) throw;
                // A rebalance could not apply its assignment, and librdkafka says trying again may help: this
                // consumer may hold partitions it does not read. A new consumer joins the group afresh (what was not
                // committed comes again); only an error that cannot pass stops the pipeline.
                log.warning("consumer: %s; joining the group again with a new consumer", std::string(error.what()));
                assignmentFailed = true;
                sessionOver_ = true;
                break;
            }
            if (!batch.empty()) {
                const auto started = Clock::now();
                consumed_ += batch.size();
                metrics_.messagesIn.Increment(static_cast<double>(batch.size()));
                Handoff handoff;
                handoff.positions.reserve(batch.size());
                for (const auto& message : batch)
                    handoff.positions.push_back(
                        {intern(message.topic()), message.partition(), message.offset(), message.timestampMs()});
                {
                    std::lock_guard lock(trackerMutex_);
                    for (const auto& position : handoff.positions)
                        tracker_.add(*position.topic, position.partition, position.offset);
                }
                bool prepared = false;
                try {
                    std::lock_guard prepareLock(prepareMutex_);
                    prepared = withRetries(settings_.retry, stop, metrics_, log, "prepare",
                                           [&] { handoff.prepared = stage_.prepare(batch); });
                } catch (const std::exception& error) {
                    if (!isPermanent(error)) throw;
                    log.warning("prepare failed for good, processing the %z messages one at a time: %s", batch.size(),
                                masked(error.what()));
                    std::lock_guard prepareLock(prepareMutex_);
                    handoff.prepared = isolate(batch, stop, log);
                    prepared = handoff.prepared != nullptr;
                }
                if (!prepared) break;  // stopping: the batch stays uncommitted and is redelivered
                handoff.prepared->out.resize(batch.size());
                handoff.messages = std::move(batch);
                {
                    std::unique_lock lock(queueMutex);
                    queueChanged.wait(lock, [&] {
                        return static_cast<int>(queue.size()) < settings_.preparedAhead || failed.load();
                    });
                    queue.push_back(std::move(handoff));
                }
                queueChanged.notify_all();
                metrics_.batchSeconds.Observe(std::chrono::duration<double>(Clock::now() - started).count());
            }
            {
                std::lock_guard lock(trackerMutex_);
                metrics_.inFlight.Set(static_cast<double>(tracker_.inFlight()));
            }
            if (Clock::now() - lastCommit >= std::chrono::milliseconds(settings_.commitIntervalMs)) {
                commit(consumer, true);
                for (const auto& partition : consumer.lag())
                    metrics_.lag.Add({{"topic", partition.topic}, {"partition", std::to_string(partition.partition)}})
                        .Set(static_cast<double>(partition.offset));
                lastCommit = Clock::now();
            }
        }
    } catch (...) {
        committerStop = true;
        queueChanged.notify_all();
        committer.join();
        throw;
    }

    if (sessionOver_.load() && !stop.load() && !failed.load()) {
        // A new session follows: what is prepared is finished and its outputs delivered (to the new broker, which
        // is harmless: their consumers know them by id), nothing is committed, the consumer leaves.
        log.warning("ending this session (%s): finishing prepared batches, committing nothing",
                    std::string(replaced.load()    ? "broker replaced"
                                : assignmentFailed ? "assignment failed"
                                                   : "fatal producer error"));
        waitCommitterIdle(std::chrono::seconds(10));
        committerStop = true;
        queueChanged.notify_all();
        committer.join();
        producer.flush(5000);
        consumer.close();
        if (committerFailure) std::rethrow_exception(committerFailure);
        if (replaced.load()) return SessionEnd::brokerReplaced;
        return assignmentFailed ? SessionEnd::consumerFailed : SessionEnd::producerFatal;
    }

    log.information("stopping: finishing prepared batches and delivering outstanding messages");
    waitCommitterIdle(std::chrono::seconds(30));
    committerStop = true;
    queueChanged.notify_all();
    committer.join();
    if (!producer.flush(10000)) log.warning("some messages were not delivered in time; they will be redelivered");
    commit(consumer, false);
    consumer.close();
    if (committerFailure) std::rethrow_exception(committerFailure);
    if (!deliveryFailure.empty())
        throw connectors::kafka::KafkaError(
            "delivery failed: " + deliveryFailure + " (uncommitted work is redelivered)", false);
    return SessionEnd::stopped;
}

}  // namespace taxdesk::engine
