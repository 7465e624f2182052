#include "connectors/kafka/kafka.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <Poco/Logger.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "connectors/kafka/listen_ports.hpp"

namespace taxdesk::connectors::kafka {
namespace {

using detail::ConfPtr;

struct PartitionListDeleter {
    void operator()(rd_kafka_topic_partition_list_t* list) const noexcept {
        rd_kafka_topic_partition_list_destroy(list);
    }
};
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

struct MetadataDeleter {
    void operator()(const rd_kafka_metadata_t* metadata) const noexcept { rd_kafka_metadata_destroy(metadata); }
};

/// librdkafka's own log lines go to our log, in our format, instead of straight to stderr.
void logTrampoline(const rd_kafka_t* handle, int level, const char* facility, const char* text) noexcept {
    try {
        auto& logger = Poco::Logger::get("kafka");
        // syslog levels: 0 emergency … 7 debug.
        const auto priority = level <= 3   ? Poco::Message::PRIO_ERROR
                              : level == 4 ? Poco::Message::PRIO_WARNING
                              : level <= 6 ? Poco::Message::PRIO_INFORMATION
                                           : Poco::Message::PRIO_DEBUG;
        if (logger.is(priority))
            logger.log(
                Poco::Message("kafka", std::string(rd_kafka_name(handle)) + " " + facility + ": " + text, priority));
    } catch (...) {
    }
}

void set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
    char error[512];
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK)
        // librdkafka's text may quote the value: not for a secret.
        throw KafkaError("configuration property '" + key + "': " +
                             (detail::isSecretProperty(key) ? std::string("rejected (value not shown)") : error),
                         false);
}

}  // namespace

namespace detail {
void ConfDeleter::operator()(rd_kafka_conf_s* conf) const noexcept {
    rd_kafka_conf_destroy(conf);
}

bool isSecretProperty(std::string_view name) {
    for (const std::string_view word : {"password", "secret", "jaas", "token", "key.pem", "oauthbearer.config"})
        if (name.find(word) != std::string_view::npos) return true;
    return false;
}

/// Our defaults first, then the caller's raw properties, which win.
ConfPtr makeConf(const KafkaSettings& settings, const std::map<std::string, std::string>& defaults) {
    ConfPtr conf(rd_kafka_conf_new());
    rd_kafka_conf_set_log_cb(conf.get(), &logTrampoline);
    // librdkafka backs off up to 10 s between attempts to reach a broker that went away: a broker back after a short
    // outage (a restart) would wait that long for its clients. 1 s at most; kafka.rdkafka.* may say otherwise.
    set(conf.get(), "reconnect.backoff.max.ms", "1000");
    if (!settings.bootstrap.empty()) set(conf.get(), "bootstrap.servers", settings.bootstrap);
    set(conf.get(), "client.id", settings.clientId);
    for (const auto& [key, value] : defaults) set(conf.get(), key, value);
    for (const auto& [key, value] : settings.rdkafka) set(conf.get(), key, value);
    return conf;
}
}  // namespace detail

namespace {
using detail::makeConf;

/// rd_kafka_new takes ownership of the conf only when it succeeds.
detail::HandlePtr makeHandle(rd_kafka_type_t type, ConfPtr conf) {
    char error[512];
    rd_kafka_t* handle = rd_kafka_new(type, conf.get(), error, sizeof error);
    if (handle == nullptr) throw KafkaError(std::string("cannot create client: ") + error, false);
    (void)conf.release();
    return detail::HandlePtr(handle);
}

PartitionListPtr toList(const std::vector<TopicPartitionOffset>& offsets) {
    PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
    for (const auto& item : offsets)
        rd_kafka_topic_partition_list_add(list.get(), item.topic.c_str(), item.partition)->offset = item.offset;
    return list;
}

std::vector<TopicPartitionOffset> fromList(const rd_kafka_topic_partition_list_t* list) {
    std::vector<TopicPartitionOffset> result;
    for (int i = 0; i < list->cnt; ++i)
        result.push_back({list->elems[i].topic, list->elems[i].partition, list->elems[i].offset});
    return result;
}

}  // namespace

int heartbeatIntervalMs(int sessionTimeoutMs) {
    return std::clamp(sessionTimeoutMs / 3, 100, 1000);
}

std::string staticMemberId(const KafkaSettings& settings, const std::string& groupId) {
    return settings.instanceId.empty() ? std::string() : settings.instanceId + "." + groupId;
}

namespace detail {
void HandleDeleter::operator()(rd_kafka_s* handle) const noexcept {
    rd_kafka_destroy(handle);
}
void MessageDeleter::operator()(rd_kafka_message_s* message) const noexcept {
    rd_kafka_message_destroy(message);
}
void TopicDeleter::operator()(rd_kafka_topic_s* topic) const noexcept {
    rd_kafka_topic_destroy(topic);
}
void QueueDeleter::operator()(rd_kafka_queue_s* queue) const noexcept {
    rd_kafka_queue_destroy(queue);
}
void MockClusterDeleter::operator()(rd_kafka_mock_cluster_s* cluster) const noexcept {
    rd_kafka_mock_cluster_destroy(cluster);
}

struct ConsumerCallbacks {
    /// rd_kafka_conf_set_rebalance_cb's exact function type: no cast, no undefined behaviour. C calls it: it must not
    /// throw (Consumer::rebalance does not).
    static void rebalance(rd_kafka_t* handle, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                          void* opaque) noexcept {
        static_cast<Consumer*>(opaque)->rebalance(handle, err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, partitions);
    }
};
}  // namespace detail

// ---- Message -----------------------------------------------------------------------------------------------

std::string_view Message::topic() const {
    return rd_kafka_topic_name(message_->rkt);
}
int Message::partition() const {
    return message_->partition;
}
std::int64_t Message::offset() const {
    return message_->offset;
}
std::string_view Message::key() const {
    return message_->key ? std::string_view(static_cast<const char*>(message_->key), message_->key_len)
                         : std::string_view();
}
std::string_view Message::value() const {
    return message_->payload ? std::string_view(static_cast<const char*>(message_->payload), message_->len)
                             : std::string_view();
}
std::string Message::error() const {
    return message_->err ? rd_kafka_message_errstr(message_.get()) : std::string();
}
std::int64_t Message::timestampMs() const {
    rd_kafka_timestamp_type_t type;
    return rd_kafka_message_timestamp(message_.get(), &type);
}

std::string Message::header(const char* name) const {
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(message_.get(), &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
    const void* value = nullptr;
    size_t size = 0;
    if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR || !value) return {};
    return {static_cast<const char*>(value), size};
}

// ---- Producer ----------------------------------------------------------------------------------------------

Producer::Producer(const KafkaSettings& settings, DeliveryHandler onDelivery)
    : settings_(settings), onDelivery_(std::move(onDelivery)) {
    createHandle();
}

void Producer::createHandle() {
    ConfPtr conf = makeConf(settings_, {
                                           {"enable.idempotence", "true"},
                                           {"linger.ms", "5"},
                                           {"batch.num.messages", "10000"},
                                           {"queue.buffering.max.messages", "500000"},
                                           {"queue.buffering.max.kbytes", "1048576"},
                                       });
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &Producer::deliveryTrampoline);
    rd_kafka_conf_set_opaque(conf.get(), this);
    handle_ = makeHandle(RD_KAFKA_PRODUCER, std::move(conf));
    if (onQueued_) enableQueuedEvent(true);  // a handle replacing one (recoverFromFatal) tells as its predecessor did
}

Producer::~Producer() {
    // No more calls into the owner's handler while the handle closes (topics_ go before handle_: declaration order).
    if (handle_ && onQueued_) enableQueuedEvent(false);
}

bool Producer::recoverFromFatal() {
    char reason[512] = "";
    const auto err = rd_kafka_fatal_error(handle_.get(), reason, sizeof reason);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return false;
    Poco::Logger::get("kafka").warning(
        "producer %s: fatal error %s (%s): replacing it with a new producer; its %d undelivered message(s) are "
        "reported not delivered and sent again by their owners",
        std::string(rd_kafka_name(handle_.get())), std::string(rd_kafka_err2name(err)), std::string(reason),
        rd_kafka_outq_len(handle_.get()));
    // Whatever is still queued fails now, with its delivery report, rather than with the handle's destruction.
    rd_kafka_purge(handle_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    replacing_ = true;
    // In-flight messages are reported from the broker threads: serve their reports for a while (bounded).
    for (int i = 0; i < 100 && rd_kafka_outq_len(handle_.get()) > 0; ++i) rd_kafka_poll(handle_.get(), 10);
    rd_kafka_poll(handle_.get(), 0);
    replacing_ = false;
    topics_.clear();  // the old handle's topics go before it
    handle_.reset();
    createHandle();
    ++replacements_;
    return true;
}

void Producer::simulateFatalError(const std::string& reason) {
    const std::lock_guard lock(mutex_);
    rd_kafka_test_fatal_error(handle_.get(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, reason.c_str());
}

std::string Producer::clusterId(int timeoutMs) const {
    const std::lock_guard lock(mutex_);
    char* id = rd_kafka_clusterid(handle_.get(), timeoutMs);
    if (id == nullptr) return {};
    std::string result(id);
    rd_kafka_mem_free(handle_.get(), id);
    return result;
}

void Producer::deliveryTrampoline(rd_kafka_s*, const rd_kafka_message_s* message, void* opaque) noexcept {
    auto* self = static_cast<Producer*>(opaque);
    try {
        DeliveryReport report;
        report.opaque = message->_private;
        report.ok = message->err == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (!report.ok) {
            report.error = rd_kafka_err2str(message->err);
            report.fatal = self->replacing_ || message->err == RD_KAFKA_RESP_ERR__FATAL ||
                           message->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                           message->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;  // only recoverFromFatal purges
            // Timeouts and transport errors may pass; anything else (message too large…) will not.
            report.retryable = message->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ||
                               message->err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                               message->err == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT;
        }
        self->served_ = true;
        if (self->onDelivery_) self->onDelivery_(report);
    } catch (...) {
        // A callback from C must not throw; the handler's own errors are its to log.
    }
}

rd_kafka_topic_s* Producer::topicHandle(const std::string& topic) {
    if (auto it = topics_.find(topic); it != topics_.end()) return it->second.get();
    detail::TopicPtr handle(rd_kafka_topic_new(handle_.get(), topic.c_str(), nullptr));
    if (!handle) throw KafkaError("cannot create topic handle for '" + topic + "'", false);
    return topics_.emplace(topic, std::move(handle)).first->second.get();
}

void Producer::servedLocked() {
    if (!served_) return;
    served_ = false;
    if (onServed_) onServed_();
}

void Producer::produce(const std::string& topic, std::string_view key, std::string_view value, void* opaque,
                       const std::vector<Header>& headers) {
    const std::lock_guard lock(mutex_);
    produceLocked(topic, key, value, opaque, &headers);
    servedLocked();
}

void Producer::produceBatch(const std::vector<Outgoing>& messages) {
    const std::lock_guard lock(mutex_);
    std::size_t queued = 0;
    try {
        for (; queued < messages.size(); ++queued) {
            const Outgoing& message = messages[queued];
            produceLocked(*message.topic, message.key, message.value, message.opaque, message.headers);
        }
    } catch (const std::exception& error) {
        // The refused message and every one after it were never queued, so librdkafka will never report them: report
        // them here, not delivered, so that each opaque still gets exactly one report (its owner frees what it
        // attached to it with the last report it waits for).
        for (std::size_t i = queued; i < messages.size(); ++i) {
            DeliveryReport report;
            report.opaque = messages[i].opaque;
            report.error = error.what();
            served_ = true;
            try {
                if (onDelivery_) onDelivery_(report);
            } catch (...) {
                // As in deliveryTrampoline: the handler's own errors are its to log.
            }
        }
        servedLocked();
        throw;
    }
    servedLocked();
}

void Producer::produceLocked(const std::string& topic, std::string_view key, std::string_view value, void* opaque,
                             const std::vector<Header>* headers) {
    rd_kafka_topic_t* rkt = topicHandle(topic);
    for (;;) {
        rd_kafka_resp_err_t err;
        if (headers == nullptr || headers->empty()) {
            const int rc =
                rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, const_cast<char*>(value.data()),
                                 value.size(), key.data(), key.size(), opaque);
            err = rc == 0 ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_last_error();
        } else {
            rd_kafka_headers_t* list = rd_kafka_headers_new(headers->size());
            for (const auto& header : *headers)
                rd_kafka_header_add(list, header.name.data(), static_cast<ssize_t>(header.name.size()),
                                    header.value.data(), static_cast<ssize_t>(header.value.size()));
// librdkafka's RD_KAFKA_V_* macros are C casts (and, for clang, GNU statement expressions: clang-tidy compiles
// this file with clang).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#ifdef __clang__
#pragma clang diagnostic ignored "-Wgnu-statement-expression"
#endif
            err = rd_kafka_producev(handle_.get(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                    RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                    RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_OPAQUE(opaque),
                                    RD_KAFKA_V_HEADERS(list), RD_KAFKA_V_END);
#pragma GCC diagnostic pop
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_headers_destroy(list);  // ours unless accepted
        }
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
        if (err == RD_KAFKA_RESP_ERR__FATAL && recoverFromFatal()) {
            rkt = topicHandle(topic);  // the new handle's: this message goes to the new producer
            continue;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            throw KafkaError("produce to '" + topic + "': " + rd_kafka_err2str(err), false);
        rd_kafka_poll(handle_.get(), 10);  // the queue is full: let deliveries drain it
    }
}

void Producer::queuedTrampoline(rd_kafka_s*, void* opaque) noexcept {
    auto* self = static_cast<Producer*>(opaque);
    try {
        if (self->onQueued_) self->onQueued_();
    } catch (...) {  // NOLINT(bugprone-empty-catch): a callback from C must not throw
    }
}

void Producer::enableQueuedEvent(bool enable) {
    const detail::QueuePtr main(rd_kafka_queue_get_main(handle_.get()));
    if (enable)
        rd_kafka_queue_cb_event_enable(main.get(), &Producer::queuedTrampoline, this);
    else
        rd_kafka_queue_cb_event_enable(main.get(), nullptr, nullptr);
}

void Producer::onReportsQueued(std::function<void()> handler) {
    const std::lock_guard lock(mutex_);
    onQueued_ = std::move(handler);
    enableQueuedEvent(static_cast<bool>(onQueued_));
}

int Producer::poll(int timeoutMs) {
    const std::lock_guard lock(mutex_);
    const int served = rd_kafka_poll(handle_.get(), timeoutMs);
    recoverFromFatal();
    servedLocked();
    return served;
}

bool Producer::flush(int timeoutMs) {
    const std::lock_guard lock(mutex_);
    const bool flushed = rd_kafka_flush(handle_.get(), timeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR;
    // A fatal error fails every queued message: the flush may "succeed", the (fatal) reports tell their owners.
    recoverFromFatal();
    servedLocked();
    return flushed;
}

void Producer::abandon() {
    const std::lock_guard lock(mutex_);
    rd_kafka_purge(handle_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    // Purged messages are reported from the next poll; those in flight once their requests end (bounded).
    for (int i = 0; i < 100 && rd_kafka_outq_len(handle_.get()) > 0; ++i) rd_kafka_poll(handle_.get(), 10);
    rd_kafka_poll(handle_.get(), 0);
    servedLocked();
}

int Producer::outstanding() const {
    const std::lock_guard lock(mutex_);
    return rd_kafka_outq_len(handle_.get());
}

void Producer::warmTopics(const std::vector<std::string>& topics, int timeoutMs) {
    const std::lock_guard lock(mutex_);
    for (const auto& topic : topics) {
        const rd_kafka_metadata_t* metadata = nullptr;
        const auto err = rd_kafka_metadata(handle_.get(), 0, topicHandle(topic), &metadata, timeoutMs);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
            throw KafkaError("metadata for '" + topic + "': " + rd_kafka_err2str(err), true);
        std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> guard(metadata);
    }
}

void Producer::checkReachable(int timeoutMs) {
    const std::lock_guard lock(mutex_);
    const rd_kafka_metadata_t* metadata = nullptr;
    const auto err = rd_kafka_metadata(handle_.get(), 0, nullptr, &metadata, timeoutMs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw KafkaError(std::string("broker: ") + rd_kafka_err2str(err), true);
    std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> guard(metadata);
    if (metadata->broker_cnt == 0) throw KafkaError("no brokers in metadata", true);
}

// ---- Consumer ----------------------------------------------------------------------------------------------

Consumer::Consumer(const KafkaSettings& settings, const std::string& groupId, RebalanceHandler onRebalance)
    : onRebalance_(std::move(onRebalance)) {
    ConfPtr conf = makeConf(
        settings, {
                      {"group.id", groupId},
                      {"enable.auto.commit", "false"},
                      {"enable.auto.offset.store", "false"},
                      {"auto.offset.reset", "earliest"},
                      // librdkafka 2.0.2's default prefetch lets a fast consumer run dry
                      // and idle up to a second between fetches: keep far more queued.
                      {"queued.min.messages", "200000"},
                      {"queued.max.messages.kbytes", "262144"},
                      {"fetch.wait.max.ms", "20"},
                      // A dead member holds its partitions this long (kafka.session_timeout_ms);
                      // heartbeats at most a third of it, so that two lost heartbeats are not
                      // an expiry.
                      {"session.timeout.ms", std::to_string(settings.sessionTimeoutMs)},
                      {"heartbeat.interval.ms", std::to_string(heartbeatIntervalMs(settings.sessionTimeoutMs))},
                  });
    if (!settings.instanceId.empty()) set(conf.get(), "group.instance.id", staticMemberId(settings, groupId));
    rd_kafka_conf_set_rebalance_cb(conf.get(), &detail::ConsumerCallbacks::rebalance);
    rd_kafka_conf_set_opaque(conf.get(), this);
    handle_ = makeHandle(RD_KAFKA_CONSUMER, std::move(conf));
    rd_kafka_poll_set_consumer(handle_.get());
    queue_.reset(rd_kafka_queue_get_consumer(handle_.get()));
}

Consumer::~Consumer() {
    // close() only calls librdkafka (and, through a rebalance, the noexcept callback); queue_ then handle_ go after.
    close();
}

void Consumer::assignmentFailed(const std::string& what, const std::string& reason, bool retryable) noexcept {
    try {
        // Topic and partition names and librdkafka's reason only: nothing personal.
        const std::string text = what + " failed: " + reason;
        Poco::Logger::get("kafka").error("consumer %s: %s", std::string(rd_kafka_name(handle_.get())), text);
        if (onError) onError(text);
        const std::lock_guard lock(assignErrorMutex_);
        if (!assignError_) assignError_.emplace(text, retryable);
    } catch (...) {
        // Out of memory while reporting: the consumer goes on; nothing more can be done from a C callback.
    }
}

void Consumer::rebalance(rd_kafka_s* handle, bool assign, rd_kafka_topic_partition_list_s* list) noexcept {
    try {
        const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(handle), "COOPERATIVE") == 0;
        if (assign) {
            if (fromBeginning_) {
                const std::lock_guard lock(committedMutex_);
                for (int i = 0; i < list->cnt; ++i)
                    if (committedHere_.count({list->elems[i].topic, list->elems[i].partition}) == 0)
                        list->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
            }
            if (cooperative) {
                if (rd_kafka_error_t* error = rd_kafka_incremental_assign(handle, list)) {
                    const std::string reason = rd_kafka_error_string(error);
                    const bool retryable = rd_kafka_error_is_retriable(error) != 0;
                    rd_kafka_error_destroy(error);
                    assignmentFailed("incremental assign of " + std::to_string(list->cnt) + " partitions", reason,
                                     retryable);
                }
            } else if (const auto err = rd_kafka_assign(handle, list); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                assignmentFailed("assign of " + std::to_string(list->cnt) + " partitions", rd_kafka_err2str(err),
                                 false);
            }
            if (onRebalance_) onRebalance_(false, fromList(list));
        } else {
            // Before the partitions go: the handler commits what is done on them.
            if (onRebalance_) onRebalance_(true, fromList(list));
            if (cooperative) {
                if (rd_kafka_error_t* error = rd_kafka_incremental_unassign(handle, list)) {
                    const std::string reason = rd_kafka_error_string(error);
                    const bool retryable = rd_kafka_error_is_retriable(error) != 0;
                    rd_kafka_error_destroy(error);
                    assignmentFailed("incremental unassign of " + std::to_string(list->cnt) + " partitions", reason,
                                     retryable);
                }
            } else if (const auto err = rd_kafka_assign(handle, nullptr); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                assignmentFailed("unassign", rd_kafka_err2str(err), false);
            }
        }
    } catch (const std::exception& error) {
        try {
            if (onError) onError(std::string("rebalance handler: ") + error.what());
        } catch (...) {
        }
    } catch (...) {
    }
}

std::string Consumer::clusterId(int timeoutMs) const {
    char* id = rd_kafka_clusterid(handle_.get(), timeoutMs);
    if (id == nullptr) return {};
    std::string result(id);
    rd_kafka_mem_free(handle_.get(), id);
    return result;
}

void Consumer::subscribe(const std::vector<std::string>& topics) {
    PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
    for (const auto& topic : topics)
        rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
    const auto err = rd_kafka_subscribe(handle_.get(), list.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw KafkaError(std::string("subscribe: ") + rd_kafka_err2str(err), false);
}

void Consumer::throwAssignError() {
    std::optional<KafkaError> error;
    {
        const std::lock_guard lock(assignErrorMutex_);
        error.swap(assignError_);
    }
    if (error) throw *error;
}

std::vector<Message> Consumer::take(rd_kafka_message_t** raw, long count) {
    std::vector<Message> messages;
    if (count <= 0) {
        throwAssignError();
        return messages;
    }
    messages.reserve(static_cast<std::size_t>(count));
    for (long i = 0; i < count; ++i) {
        Message message(raw[i]);
        if (raw[i]->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (raw[i]->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && onError) onError(message.error());
            continue;
        }
        messages.push_back(std::move(message));
    }
    return messages;
}

std::vector<Message> Consumer::consume(std::size_t max, int timeoutMs) {
    throwAssignError();
    std::vector<rd_kafka_message_t*> raw(max);
    // Rebalances are served inside this call (the consumer queue).
    const ssize_t count = rd_kafka_consume_batch_queue(queue_.get(), timeoutMs, raw.data(), max);
    return take(raw.data(), static_cast<long>(count));
}

std::vector<Message> Consumer::consumeReady(std::size_t max, int timeoutMs, int gatherMs) {
    throwAssignError();
    if (max == 0) return {};
    std::vector<rd_kafka_message_t*> raw(max);
    // What is queued, without waiting (rebalances are served inside these calls too).
    ssize_t count = rd_kafka_consume_batch_queue(queue_.get(), 0, raw.data(), max);
    if (count == 0) {
        // Nothing: wait for one message (rd_kafka_consume_queue returns with the first), then take what came with
        // it and what comes within gatherMs.
        if (rd_kafka_message_t* first = rd_kafka_consume_queue(queue_.get(), timeoutMs)) {
            raw[0] = first;
            count = 1;
            if (max > 1) {
                const ssize_t more = rd_kafka_consume_batch_queue(queue_.get(), gatherMs, raw.data() + 1, max - 1);
                if (more > 0) count += more;
            }
        }
    }
    return take(raw.data(), static_cast<long>(count));
}

void Consumer::commit(const std::vector<TopicPartitionOffset>& offsets, bool async) {
    if (offsets.empty()) return;
    PartitionListPtr list = toList(offsets);
    const auto err = rd_kafka_commit(handle_.get(), list.get(), async ? 1 : 0);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        throw KafkaError(std::string("commit: ") + rd_kafka_err2str(err), true);
    if (fromBeginning_) {
        // From now on the group's offset for these is this consumer's own, not a stale one: a reassignment uses it.
        const std::lock_guard lock(committedMutex_);
        for (const auto& offset : offsets) committedHere_.emplace(offset.topic, offset.partition);
    }
}

std::vector<TopicPartitionOffset> Consumer::lag() {
    std::vector<TopicPartitionOffset> result;
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(handle_.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR || raw == nullptr) return result;
    PartitionListPtr assignment(raw);
    if (rd_kafka_position(handle_.get(), assignment.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) return result;
    for (int i = 0; i < assignment->cnt; ++i) {
        const auto& partition = assignment->elems[i];
        std::int64_t low = 0;
        std::int64_t high = 0;
        if (partition.offset < 0 ||
            rd_kafka_get_watermark_offsets(handle_.get(), partition.topic, partition.partition, &low, &high) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            high < 0)
            continue;
        result.push_back({partition.topic, partition.partition, std::max<std::int64_t>(0, high - partition.offset)});
    }
    return result;
}

void Consumer::pause(const std::vector<TopicPartitionOffset>& partitions, bool paused) {
    if (partitions.empty()) return;
    PartitionListPtr list = toList(partitions);
    if (paused)
        rd_kafka_pause_partitions(handle_.get(), list.get());
    else
        rd_kafka_resume_partitions(handle_.get(), list.get());
}

void Consumer::close() noexcept {
    if (closed_) return;
    closed_ = true;
    rd_kafka_consumer_close(handle_.get());
}

// ---- MockCluster -------------------------------------------------------------------------------------------

MockCluster::MockCluster(int brokers, int port) {
    // The mock cluster needs a client instance for its book-keeping; a producer that never produces will do.
    ConfPtr conf(rd_kafka_conf_new());
    rd_kafka_conf_set_log_cb(conf.get(), &logTrampoline);
    set(conf.get(), "client.id", "taxdesk-broker");
    set(conf.get(), "log_level", "4");  // this handle never connects: its 'no bootstrap.servers' notice is noise
    handle_ = makeHandle(RD_KAFKA_PRODUCER, std::move(conf));
    std::optional<detail::ListenPorts> ports;
    if (port != 0) ports.emplace(port, brokers);  // bound now: a port in use throws here, before librdkafka runs
    cluster_.reset(rd_kafka_mock_cluster_new(handle_.get(), brokers));
    if (!cluster_) throw KafkaError("cannot start the mock cluster", false);
    if (ports && ports->remaining() != 0) {
        cluster_.reset();
        throw KafkaError("the mock cluster did not take the fixed ports (librdkafka no longer binds as expected)",
                         false);
    }
}

MockCluster::~MockCluster() = default;  // cluster_ before handle_ (declaration order)

std::string MockCluster::bootstraps() const {
    return rd_kafka_mock_cluster_bootstraps(cluster_.get());
}

void MockCluster::createTopic(const std::string& topic, int partitions, int replication) {
    const auto err = rd_kafka_mock_topic_create(cluster_.get(), topic.c_str(), partitions, replication);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw KafkaError("create topic '" + topic + "': " + rd_kafka_err2str(err), false);
}

}  // namespace taxdesk::connectors::kafka
