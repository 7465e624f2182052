#pragma once
// Kafka through librdkafka's C API, behind RAII types. rdkafka.h stays in the .cpp files: the handles are
// forward-declared, and the few enums callers need are mirrored here.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/api/errors.hpp"

struct rd_kafka_s;
struct rd_kafka_conf_s;
struct rd_kafka_message_s;
struct rd_kafka_topic_s;
struct rd_kafka_queue_s;
struct rd_kafka_mock_cluster_s;
struct rd_kafka_topic_partition_list_s;

namespace taxdesk::connectors::kafka {

struct KafkaSettings {
    std::string bootstrap;  ///< bootstrap.servers
    std::string clientId = "taxdesk";
    /// Consumers: session.timeout.ms. A member that stops heartbeating (a SIGKILLed engine) keeps its partitions
    /// this long before the group hands them to another member. 6000 is the lowest a Kafka broker accepts by
    /// default (group.min.session.timeout.ms).
    int sessionTimeoutMs = 6000;
    /// Consumers: static membership. Empty: dynamic members. Set: each consumer joins as group.instance.id
    /// "<instanceId>.<group id>", so that a restarted engine gets its own partitions back at once instead of
    /// waiting for its old self's session to expire. One distinct value per engine process.
    std::string instanceId;
    std::map<std::string, std::string> rdkafka;  ///< raw librdkafka properties, applied last (kafka.rdkafka.*)
};

/// heartbeat.interval.ms for a session timeout: a third of it (so that two lost heartbeats are not yet an expiry),
/// at most 1000 ms and at least 100 ms.
[[nodiscard]] int heartbeatIntervalMs(int sessionTimeoutMs);
/// group.instance.id of a consumer of `groupId`: "<instanceId>.<groupId>" (an engine has one consumer per group, and
/// the id must be unique in its group); empty when instanceId is (dynamic membership).
[[nodiscard]] std::string staticMemberId(const KafkaSettings& settings, const std::string& groupId);

/// An error from librdkafka. Retryable when librdkafka says the operation may succeed later.
class KafkaError : public ConnectorError {
  public:
    KafkaError(const std::string& what, bool retryable) : ConnectorError("kafka: " + what, retryable) {}
};

namespace detail {
// One deleter and one owning pointer per librdkafka handle type. Hand-offs: rd_kafka_new takes the conf only when
// it succeeds (makeHandle in kafka.cpp); a topic, queue or mock cluster must go before the client handle it was made
// from, so each owner declares them after its HandlePtr (members are destroyed in reverse order).
struct HandleDeleter {
    void operator()(rd_kafka_s* handle) const noexcept;
};
struct MessageDeleter {
    void operator()(rd_kafka_message_s* message) const noexcept;
};
struct TopicDeleter {
    void operator()(rd_kafka_topic_s* topic) const noexcept;
};
struct QueueDeleter {
    void operator()(rd_kafka_queue_s* queue) const noexcept;
};
struct MockClusterDeleter {
    void operator()(rd_kafka_mock_cluster_s* cluster) const noexcept;
};
using HandlePtr = std::unique_ptr<rd_kafka_s, HandleDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_s, TopicDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_s, QueueDeleter>;
using MockClusterPtr = std::unique_ptr<rd_kafka_mock_cluster_s, MockClusterDeleter>;
struct ConfDeleter {
    void operator()(rd_kafka_conf_s* conf) const noexcept;
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_s, ConfDeleter>;
/// The configuration every client handle of the engine starts from (producers, consumers, the admin client):
/// our settings, then `defaults`, then KafkaSettings::rdkafka (kafka.rdkafka.*, e.g. the SASL/SSL properties),
/// which win. Throws KafkaError naming a property librdkafka rejects (never a secret property's value).
ConfPtr makeConf(const KafkaSettings& settings, const std::map<std::string, std::string>& defaults);
/// Whether a librdkafka property holds a secret (a password, a secret, a key, a JAAS config, a token): its value
/// is never printed (`taxdesk config`, logs, errors).
[[nodiscard]] bool isSecretProperty(std::string_view name);
/// The C callbacks of Consumer, with the exact types librdkafka calls (defined in kafka.cpp).
struct ConsumerCallbacks;
}  // namespace detail

/// A consumed message. Owns the librdkafka message; the views stay valid while it lives.
class Message {
  public:
    explicit Message(rd_kafka_message_s* message) : message_(message) {}
    [[nodiscard]] std::string_view topic() const;
    [[nodiscard]] int partition() const;
    [[nodiscard]] std::int64_t offset() const;
    [[nodiscard]] std::string_view key() const;
    [[nodiscard]] std::string_view value() const;
    /// Empty unless the message is an error event (e.g. partition EOF is filtered out before you see it).
    [[nodiscard]] std::string error() const;
    /// The message's create time (ms since the epoch), or -1 when the broker gave none.
    [[nodiscard]] std::int64_t timestampMs() const;
    /// Header value by name, empty when absent.
    [[nodiscard]] std::string header(const char* name) const;

  private:
    std::unique_ptr<rd_kafka_message_s, detail::MessageDeleter> message_;
};

struct DeliveryReport {
    void* opaque = nullptr;  ///< what was passed to produce()
    bool ok = false;
    bool retryable = false;
    /// The producer hit a fatal error (librdkafka's idempotence guarantees broken, e.g. a restarted broker that does
    /// not know its producer id) and was replaced: the message was not delivered and may be sent again.
    bool fatal = false;
    std::string error;
};

struct Header {
    std::string name;
    std::string value;
};

/// One message of Producer::produceBatch: views into memory the caller keeps alive for the call.
struct Outgoing {
    const std::string* topic = nullptr;
    std::string_view key;
    std::string_view value;
    void* opaque = nullptr;
    const std::vector<Header>* headers = nullptr;  ///< null or empty: none
};

/// An idempotent producer (enable.idempotence=true, acks=all). Its methods may be called from several threads (they
/// take turns on an internal mutex, as a fatal error replaces the handle); the delivery handler runs inside poll(),
/// flush(), produce() and produceBatch(), always under that mutex (so two reports are never handled at once), and
/// must not call the producer.
class Producer {
  public:
    using DeliveryHandler = std::function<void(const DeliveryReport&)>;

    /// Throws KafkaError (not retryable) when the configuration is rejected.
    Producer(const KafkaSettings& settings, DeliveryHandler onDelivery);
    ~Producer();
    Producer(const Producer&) = delete;
    Producer& operator=(const Producer&) = delete;

    /// Queues a message (copied). When the local queue is full it serves delivery reports until there is room.
    /// Throws KafkaError for anything else (unknown topic, message too large).
    void produce(const std::string& topic, std::string_view key, std::string_view value, void* opaque = nullptr,
                 const std::vector<Header>& headers = {});
    /// Queues every message (copied) under one turn of the internal mutex, as produce() would one by one. Throws as
    /// produce() does; the messages before the one that failed are queued, and that one and every one after it are
    /// reported not delivered (not retryable, the error's text) before it throws: every opaque gets one report.
    void produceBatch(const std::vector<Outgoing>& messages);
    /// Called, under the internal mutex and on the same thread, after a poll(), flush(), produce() or produceBatch()
    /// that handled at least one delivery report: a handler may collect its reports and apply them all here (one
    /// lock of its own a poll instead of one a report). Must not call the producer. Set it before producing.
    void onDeliveriesServed(std::function<void()> handler) { onServed_ = std::move(handler); }
    /// Called from a librdkafka thread when a delivery report (or another event) is queued for poll() while none was
    /// (rd_kafka_queue_cb_event_enable on the handle's main queue, kept on a handle that replaces it): a thread that
    /// serves reports can wait for this instead of polling on a timer. It must be quick, must not call the producer,
    /// and must not throw. Set it before producing; once.
    void onReportsQueued(std::function<void()> handler);
    /// Serves delivery reports; returns how many were served.
    int poll(int timeoutMs);
    /// Waits until every queued message is delivered or failed. Returns false on timeout.
    bool flush(int timeoutMs);
    /// Fails whatever is still queued or in flight (purged: reported not delivered, `fatal`) and serves those
    /// reports, so that their owners free what they attached to them. For shutdown, after a flush() that timed out:
    /// librdkafka does not report what it drops when its handle is destroyed.
    void abandon();
    /// Messages queued and not yet reported.
    [[nodiscard]] int outstanding() const;
    /// Looks the topics up now, so the first produce does not stall on metadata (and, on the embedded broker,
    /// creates them). Throws KafkaError when the broker does not answer within timeoutMs.
    void warmTopics(const std::vector<std::string>& topics, int timeoutMs);
    /// Fetches cluster metadata; throws KafkaError when the broker does not answer. Used by /readyz.
    void checkReachable(int timeoutMs);
    /// The cluster id from the latest metadata (waiting up to timeoutMs for one); empty when none is known. A new id
    /// means the broker was replaced: what the old one held (messages, committed offsets) is gone.
    [[nodiscard]] std::string clusterId(int timeoutMs = 0) const;
    /// Producers replaced after a fatal error (see recoverFromFatal), since this one was made.
    [[nodiscard]] int replacements() const { return replacements_; }
    /// For tests: raises a fatal error as a broker that lost the producer's sequence would (rd_kafka_test_fatal_error).
    void simulateFatalError(const std::string& reason);

  private:
    /// When librdkafka reports a fatal error (rd_kafka_fatal_error: the idempotent producer cannot keep its ordering
    /// and no-duplicate guarantees, e.g. UNKNOWN_PRODUCER_ID or OUT_OF_ORDER_SEQUENCE from a broker restarted empty),
    /// the handle is useless for good. This replaces it in place with a new one (a new producer id): the messages
    /// still queued are reported not delivered (`fatal`), so that their owners send them again from their records.
    /// Returns true when it replaced the handle.
    bool recoverFromFatal();
    void createHandle();
    static void deliveryTrampoline(rd_kafka_s* handle, const rd_kafka_message_s* message, void* opaque) noexcept;
    static void queuedTrampoline(rd_kafka_s* handle, void* opaque) noexcept;
    /// Points the main queue's event callback at queuedTrampoline (handler set) or at nothing (mutex_ held).
    void enableQueuedEvent(bool enable);
    rd_kafka_topic_s* topicHandle(const std::string& topic);
    /// Queues one message (mutex_ held), serving reports while the local queue is full.
    void produceLocked(const std::string& topic, std::string_view key, std::string_view value, void* opaque,
                       const std::vector<Header>* headers);
    /// Calls onServed_ when reports were handled since the last call (mutex_ held).
    void servedLocked();

    KafkaSettings settings_;
    DeliveryHandler onDelivery_;
    std::function<void()> onServed_;
    std::function<void()> onQueued_;
    bool served_ = false;  ///< a report was handled since the last servedLocked() (mutex_ held)
    detail::HandlePtr handle_;
    std::map<std::string, detail::TopicPtr, std::less<>> topics_;  // after handle_: destroyed before it
    mutable std::mutex mutex_;  // guards handle_ and topics_: recoverFromFatal() replaces them
    int replacements_ = 0;
    bool replacing_ = false;  ///< the purged messages of a handle being replaced are reported `fatal`
};

struct TopicPartitionOffset {
    std::string topic;
    int partition = 0;
    std::int64_t offset = 0;  ///< the next offset to read (committed position)
};

/// A group consumer with manual offset commits (enable.auto.commit=false, enable.auto.offset.store=false) and a
/// prefetch large enough to keep a fast consumer busy. Not thread-safe: use it from one thread.
class Consumer {
  public:
    /// Called on a rebalance, before partitions are taken away (revoked=true) or after they are given.
    using RebalanceHandler = std::function<void(bool revoked, const std::vector<TopicPartitionOffset>& partitions)>;

    Consumer(const KafkaSettings& settings, const std::string& groupId, RebalanceHandler onRebalance = {});
    ~Consumer();
    Consumer(const Consumer&) = delete;
    Consumer& operator=(const Consumer&) = delete;

    /// Throws KafkaError.
    void subscribe(const std::vector<std::string>& topics);
    /// Up to `max` messages, what is queued, at once: waits (at most timeoutMs) only while nothing is queued. When it
    /// waited, the first message is followed by what comes within gatherMs (0: only what came with it), so that a
    /// consumer that is idle between messages does not take them one batch each. Errors and rebalances as consume().
    std::vector<Message> consumeReady(std::size_t max, int timeoutMs, int gatherMs = 0);
    /// Up to `max` messages: returns when `max` are queued or timeoutMs has passed (a whole wait whenever fewer come:
    /// rd_kafka_consume_batch_queue). Error events are logged through
    /// `onError` (when set) and not returned. Throws KafkaError (retryable when librdkafka says so) when a rebalance
    /// since the last call could not apply its assignment: the consumer would otherwise hold partitions it does not
    /// read (a retryable one: a new consumer should join the group again, as Pipeline does).
    std::vector<Message> consume(std::size_t max, int timeoutMs);
    /// Commits the positions. Throws KafkaError on a synchronous commit's failure.
    void commit(const std::vector<TopicPartitionOffset>& offsets, bool async);
    /// Leaves the group (revokes partitions, which calls the rebalance handler). Idempotent. Called by the destructor:
    /// must never throw.
    void close() noexcept;
    /// For each assigned partition: messages between this consumer's position and the end of the partition, from
    /// the offsets librdkafka already knows (no broker round trip). Partitions without a known position are left out.
    std::vector<TopicPartitionOffset> lag();
    /// Pauses or resumes fetching the given partitions (backpressure).
    void pause(const std::vector<TopicPartitionOffset>& partitions, bool paused);

    std::function<void(const std::string&)> onError;
    /// See Producer::clusterId.
    [[nodiscard]] std::string clusterId(int timeoutMs = 0) const;
    /// Every assignment starts a partition at its beginning instead of the group's committed offset, until this
    /// consumer has committed that partition itself: for a broker that came back empty, where committed offsets can
    /// only be stale ones (an old client's commits queued while the broker was away) that would skip the new messages
    /// — also when a rebalance later in the session (another engine joining) hands a partition over again.
    void startFromBeginning() { fromBeginning_ = true; }

  private:
    friend struct detail::ConsumerCallbacks;
    /// A rebalance, from the callback: applies the (incremental) assignment or unassignment and calls the handler.
    /// Never throws: a failure is logged, reported to onError and kept for consume() to throw.
    void rebalance(rd_kafka_s* handle, bool assign, rd_kafka_topic_partition_list_s* partitions) noexcept;
    /// The messages of `raw` (owned from here), error events left out and reported; throws a kept assignment error
    /// when there are none.
    std::vector<Message> take(rd_kafka_message_s** raw, long count);
    /// Throws the assignment error a rebalance kept, if any.
    void throwAssignError();
    /// Logs an assignment failure, tells onError and keeps it for consume(). Never throws.
    void assignmentFailed(const std::string& what, const std::string& reason, bool retryable) noexcept;

    RebalanceHandler onRebalance_;
    detail::HandlePtr handle_;
    detail::QueuePtr queue_;       // the consumer queue; after handle_: destroyed before it
    std::mutex assignErrorMutex_;  // guards assignError_: set in the rebalance callback, read by consume()
    std::optional<KafkaError> assignError_;
    bool closed_ = false;
    bool fromBeginning_ = false;  // set before subscribe(); read in the rebalance callback
    std::mutex committedMutex_;   // guards committedHere_: commits and rebalances run on different threads
    std::set<std::pair<std::string, int>> committedHere_;  // partitions this consumer committed (with fromBeginning_)
};

/// librdkafka's mock cluster (`rdkafka_mock.h`): a real Kafka protocol broker inside this process, which kcat
/// and other clients can reach at bootstraps(). Keeps only the last 5 MiB of each partition.
class MockCluster {
  public:
    /// `port` 0: each broker listens on a free port the system picks. Otherwise broker i (1-based) listens on
    /// 127.0.0.1:port+i-1, so that a restarted cluster is found at the same address (see listen_ports.hpp). Throws
    /// KafkaError (not retryable) naming the port when one is in use.
    explicit MockCluster(int brokers, int port = 0);
    ~MockCluster();
    MockCluster(const MockCluster&) = delete;
    MockCluster& operator=(const MockCluster&) = delete;

    [[nodiscard]] std::string bootstraps() const;
    /// Throws KafkaError.
    void createTopic(const std::string& topic, int partitions, int replication);

  private:
    detail::HandlePtr handle_;
    detail::MockClusterPtr cluster_;  // after handle_: destroyed before it
};

}  // namespace taxdesk::connectors::kafka
