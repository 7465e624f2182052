#include "connectors/kafka/admin.hpp"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <memory>
#include <set>

namespace taxdesk::connectors::kafka {
namespace {

struct NewTopicDeleter {
    void operator()(rd_kafka_NewTopic_t* topic) const noexcept { rd_kafka_NewTopic_destroy(topic); }
};
struct OptionsDeleter {
    void operator()(rd_kafka_AdminOptions_t* options) const noexcept { rd_kafka_AdminOptions_destroy(options); }
};
struct EventDeleter {
    void operator()(rd_kafka_event_t* event) const noexcept { rd_kafka_event_destroy(event); }
};
struct MetadataDeleter {
    void operator()(const rd_kafka_metadata_t* metadata) const noexcept { rd_kafka_metadata_destroy(metadata); }
};
using NewTopicPtr = std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter>;
using OptionsPtr = std::unique_ptr<rd_kafka_AdminOptions_t, OptionsDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

std::string joined(const std::vector<std::string>& items) {
    std::string text;
    for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
    return text;
}

/// The results in the order the topics were asked for.
std::vector<CreateResult> inOrder(const std::vector<std::string>& topics, std::vector<CreateResult> results) {
    std::vector<CreateResult> ordered;
    for (const auto& topic : topics)
        for (auto& result : results)
            if (result.topic == topic) ordered.push_back(std::move(result));
    return ordered;
}

}  // namespace

const char* createOutcome(int code) {
    switch (static_cast<rd_kafka_resp_err_t>(code)) {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
            return "created";
        case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
            return "exists";
        default:
            return "error";
    }
}

TopicReport compareTopics(const std::vector<std::string>& needed, const std::map<std::string, TopicInfo>& found,
                          int partitions, int replicationFactor) {
    TopicReport report;
    for (const auto& topic : needed) {
        const auto it = found.find(topic);
        if (it == found.end()) {
            report.missing.push_back(topic);
            report.lines.push_back(topic + " missing");
            continue;
        }
        const TopicInfo& info = it->second;
        std::string differs;
        if (info.partitions != partitions)
            differs = "partitions " + std::to_string(info.partitions) + ", configured " + std::to_string(partitions) +
                      " (kafka.topic_partitions)";
        if (replicationFactor > 0 && info.replicas != replicationFactor)
            differs += (differs.empty() ? "" : "; ") + std::string("replication factor ") +
                       std::to_string(info.replicas) + ", configured " + std::to_string(replicationFactor) +
                       " (kafka.replication_factor)";
        if (!differs.empty()) {
            std::string warning = topic;
            warning += ": ";
            warning += differs;
            report.warnings.push_back(std::move(warning));
        }
        report.lines.push_back(topic + " partitions=" + std::to_string(info.partitions) +
                               " replicas=" + std::to_string(info.replicas) + (differs.empty() ? " ok" : " differs"));
    }
    return report;
}

Admin::Admin(const KafkaSettings& settings) {
    detail::ConfPtr conf = detail::makeConf(settings, {});
    char error[512];
    rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error, sizeof error);
    if (handle == nullptr) throw KafkaError(std::string("cannot create admin client: ") + error, false);
    (void)conf.release();  // rd_kafka_new took it
    handle_.reset(handle);
}

Admin::~Admin() = default;

std::string Admin::clusterId(int timeoutMs) const {
    char* id = rd_kafka_clusterid(handle_.get(), timeoutMs);
    if (id == nullptr) return {};
    std::string result(id);
    rd_kafka_mem_free(handle_.get(), id);
    return result;
}

std::map<std::string, TopicInfo> Admin::listTopics(int timeoutMs) {
    const rd_kafka_metadata_t* raw = nullptr;
    const auto err = rd_kafka_metadata(handle_.get(), 1, nullptr, &raw, timeoutMs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw KafkaError("cluster metadata: " + std::string(rd_kafka_err2str(err)) + " (within " +
                             std::to_string(timeoutMs) + " ms, kafka.admin_timeout_ms)",
                         true);
    const MetadataPtr metadata(raw);
    std::map<std::string, TopicInfo> topics;
    for (int i = 0; i < metadata->topic_cnt; ++i) {
        const auto& topic = metadata->topics[i];
        if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;  // e.g. unknown, or being deleted
        TopicInfo info;
        info.partitions = topic.partition_cnt;
        info.replicas = topic.partition_cnt > 0 ? topic.partitions[0].replica_cnt : 0;
        topics.emplace(topic.topic, info);
    }
    return topics;
}

std::vector<CreateResult> Admin::createTopics(const std::vector<std::string>& topics, int partitions,
                                              int replicationFactor, int timeoutMs) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    auto remainingMs = [&] {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        return static_cast<int>(std::max<long long>(left, 1));
    };
    const auto existing = listTopics(timeoutMs);
    std::vector<CreateResult> results;
    std::vector<std::string> missing;
    for (const auto& topic : topics) {
        if (existing.count(topic) != 0)
            results.push_back({topic, false, ""});
        else
            missing.push_back(topic);
    }
    if (missing.empty()) return results;

    if (clusterId(remainingMs()).rfind("mockCluster", 0) == 0) {
        // librdkafka 2.0's mock cluster answers no CreateTopics (no controller): it creates a topic when a metadata
        // request names it, with its default partition count.
        for (const auto& topic : missing) {
            const detail::TopicPtr handle(rd_kafka_topic_new(handle_.get(), topic.c_str(), nullptr));
            if (!handle) throw KafkaError("cannot create a topic handle for '" + topic + "'", false);
            const rd_kafka_metadata_t* raw = nullptr;
            const auto err = rd_kafka_metadata(handle_.get(), 0, handle.get(), &raw, remainingMs());
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
                throw KafkaError("create topic '" + topic + "' on the embedded broker: " + rd_kafka_err2str(err), true);
            const MetadataPtr metadata(raw);
            const int made = metadata->topic_cnt > 0 ? metadata->topics[0].partition_cnt : 0;
            results.push_back({topic, true,
                               "embedded broker, which has no CreateTopics: made with its own " + std::to_string(made) +
                                   " partitions"});
        }
        return inOrder(topics, std::move(results));
    }

    std::vector<NewTopicPtr> owned;
    std::vector<rd_kafka_NewTopic_t*> newTopics;
    for (const auto& topic : missing) {
        char error[512];
        NewTopicPtr newTopic(rd_kafka_NewTopic_new(topic.c_str(), partitions, replicationFactor, error, sizeof error));
        if (!newTopic) throw KafkaError("topic '" + topic + "': " + error, false);
        newTopics.push_back(newTopic.get());
        owned.push_back(std::move(newTopic));
    }
    const OptionsPtr options(rd_kafka_AdminOptions_new(handle_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
    char error[512];
    if (rd_kafka_AdminOptions_set_request_timeout(options.get(), remainingMs(), error, sizeof error) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_AdminOptions_set_operation_timeout(options.get(), remainingMs(), error, sizeof error) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
        throw KafkaError(std::string("admin options: ") + error, false);
    const detail::QueuePtr queue(rd_kafka_queue_new(handle_.get()));
    rd_kafka_CreateTopics(handle_.get(), newTopics.data(), newTopics.size(), options.get(), queue.get());
    // The request timeout above ends the operation with an error event; the extra second only covers its delivery.
    const EventPtr event(rd_kafka_queue_poll(queue.get(), remainingMs() + 1000));
    if (!event) throw KafkaError("create topics: no answer within " + std::to_string(timeoutMs) + " ms", true);
    if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw KafkaError(std::string("create topics: ") + rd_kafka_event_error_string(event.get()), true);
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
    if (result == nullptr) throw KafkaError("create topics: unexpected answer", false);
    std::size_t count = 0;
    const rd_kafka_topic_result_t** topicResults = rd_kafka_CreateTopics_result_topics(result, &count);
    std::vector<std::string> failures;
    std::set<std::string> answered;
    for (std::size_t i = 0; i < count; ++i) {
        const std::string name = rd_kafka_topic_result_name(topicResults[i]);
        const auto err = rd_kafka_topic_result_error(topicResults[i]);
        answered.insert(name);
        const std::string outcome = createOutcome(err);
        if (outcome == "error") {
            const char* text = rd_kafka_topic_result_error_string(topicResults[i]);
            failures.push_back(name + ": " + rd_kafka_err2name(err) + (text != nullptr ? std::string(" ") + text : ""));
        } else {
            results.push_back({name, outcome == "created", ""});
        }
    }
    for (const auto& topic : missing)
        if (answered.count(topic) == 0) failures.push_back(topic + ": no answer");
    if (!failures.empty()) throw KafkaError("create topics failed: " + joined(failures), false);
    return inOrder(topics, std::move(results));
}

}  // namespace taxdesk::connectors::kafka
