#include "bench/plain_passthrough.hpp"

#include <librdkafka/rdkafka.h>

#include <stdexcept>
#include <vector>

namespace taxdesk::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct State {
    Clock::time_point assigned{};
    bool isAssigned = false;
    Clock::time_point lastAcked{};
    std::int64_t delivered = 0;
    std::int64_t failed = 0;
    std::string error;
};

void set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
    char error[512];
    if (rd_kafka_conf_set(conf, key, value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error(std::string("plain passthrough: ") + key + ": " + error);
    }
}

void onDelivery(rd_kafka_t* /*handle*/, const rd_kafka_message_t* message, void* opaque) {
    auto* state = static_cast<State*>(opaque);
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++state->failed;
        if (state->error.empty()) state->error = rd_kafka_err2str(message->err);
        return;
    }
    ++state->delivered;
    state->lastAcked = Clock::now();
}

void onRebalance(rd_kafka_t* handle, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                 void* opaque) {
    auto* state = static_cast<State*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(handle, partitions);
        if (!state->isAssigned) state->assigned = Clock::now();
        state->isAssigned = true;
    } else {
        rd_kafka_assign(handle, nullptr);
    }
}

rd_kafka_t* make(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
    char error[512];
    rd_kafka_t* handle = rd_kafka_new(type, conf, error, sizeof error);
    if (handle == nullptr) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error(std::string("plain passthrough: ") + error);
    }
    return handle;
}

}  // namespace

PlainResult runPlainPassthrough(const PlainSettings& settings) {
    State state;

    rd_kafka_conf_t* producerConf = rd_kafka_conf_new();
    set(producerConf, "bootstrap.servers", settings.bootstrap);
    set(producerConf, "enable.idempotence", "true");  // acks=all, no duplicates, ordered
    set(producerConf, "linger.ms", "5");
    set(producerConf, "batch.num.messages", "10000");
    set(producerConf, "queue.buffering.max.messages", "1000000");
    set(producerConf, "queue.buffering.max.kbytes", "1048576");
    rd_kafka_conf_set_dr_msg_cb(producerConf, &onDelivery);
    rd_kafka_conf_set_opaque(producerConf, &state);
    rd_kafka_t* producer = make(RD_KAFKA_PRODUCER, producerConf);

    rd_kafka_conf_t* consumerConf = rd_kafka_conf_new();
    set(consumerConf, "bootstrap.servers", settings.bootstrap);
    set(consumerConf, "group.id", settings.groupId);
    set(consumerConf, "enable.auto.commit", "false");
    set(consumerConf, "auto.offset.reset", "earliest");
    set(consumerConf, "queued.min.messages", "1000000");
    set(consumerConf, "queued.max.messages.kbytes", "1048576");
    set(consumerConf, "fetch.wait.max.ms", "20");
    rd_kafka_conf_set_rebalance_cb(consumerConf, &onRebalance);
    rd_kafka_conf_set_opaque(consumerConf, &state);
    rd_kafka_t* consumer = make(RD_KAFKA_CONSUMER, consumerConf);
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(consumer);

    rd_kafka_topic_t* output = rd_kafka_topic_new(producer, settings.outputTopic.c_str(), nullptr);
    rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, settings.inputTopic.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);

    constexpr std::size_t batchMax = 10000;
    std::vector<rd_kafka_message_t*> batch(batchMax);
    const auto deadline = Clock::now() + settings.timeout;
    auto lastCommit = Clock::now();
    auto lastProgress = Clock::now();
    std::int64_t seen = 0;
    while (state.delivered < settings.rows && state.failed == 0 && Clock::now() < deadline) {
        if (state.delivered != seen) {
            seen = state.delivered;
            lastProgress = Clock::now();
        } else if (Clock::now() - lastProgress > std::chrono::seconds(60)) {
            break;  // stalled (rows lost to a topic's retention window?): the caller reports the shortfall
        }
        const ssize_t count = rd_kafka_consume_batch_queue(queue, 5, batch.data(), batchMax);
        for (ssize_t i = 0; i < count; ++i) {
            rd_kafka_message_t* message = batch[static_cast<std::size_t>(i)];
            if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                while (rd_kafka_produce(output, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, message->payload,
                                        message->len, message->key, message->key_len, nullptr) != 0) {
                    if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        rd_kafka_message_destroy(message);
                        throw std::runtime_error("plain passthrough: produce failed");
                    }
                    rd_kafka_poll(producer, 10);
                }
            }
            rd_kafka_message_destroy(message);
        }
        rd_kafka_poll(producer, 0);
        if (Clock::now() - lastCommit >= std::chrono::milliseconds(200)) {
            rd_kafka_commit(consumer, nullptr, 1);  // the consumed positions (a ceiling: it does not wait for acks)
            lastCommit = Clock::now();
        }
    }
    rd_kafka_flush(producer, 10000);
    PlainResult result{state.assigned, state.lastAcked, state.delivered};
    rd_kafka_topic_destroy(output);
    rd_kafka_queue_destroy(queue);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    rd_kafka_destroy(producer);
    if (state.failed != 0) throw std::runtime_error("plain passthrough: delivery failed: " + state.error);
    return result;
}

}  // namespace taxdesk::bench
