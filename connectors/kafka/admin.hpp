#pragma once
// Topic administration through librdkafka's admin API: `taxdesk topics create` makes the engine's topics up front on
// a real cluster (idempotent), `taxdesk topics check` and the engine's start-up check find the ones missing.
#include <map>
#include <string>
#include <vector>

#include "connectors/kafka/kafka.hpp"

namespace taxdesk::connectors::kafka {

/// One topic as the cluster's metadata describes it.
struct TopicInfo {
    int partitions = 0;
    int replicas = 0;  ///< replicas of its first partition
};

/// What became of one topic of Admin::createTopics.
struct CreateResult {
    std::string topic;
    bool created = false;  ///< false: it existed already (TOPIC_ALREADY_EXISTS is success)
    std::string note;      ///< e.g. how the embedded broker made it
};

/// What a CreateTopics result code means for one topic: "created" (no error), "exists" (TOPIC_ALREADY_EXISTS, a
/// topic made meanwhile), or "error" (anything else). `code` is librdkafka's rd_kafka_resp_err_t.
[[nodiscard]] const char* createOutcome(int code);

/// The topics compared with what they should be. Missing topics are errors; a partition count or replication
/// factor other than configured is a warning (Kafka only ever adds partitions, and the engine is correct with any
/// count: it only changes how far the work spreads), unless `strict`, where it is an error too.
struct TopicReport {
    std::vector<std::string> lines;     ///< one per needed topic: "<name> partitions=N replicas=R ok|…"
    std::vector<std::string> missing;   ///< needed topics the cluster does not have
    std::vector<std::string> warnings;  ///< one line per topic whose partitions or replicas differ
    [[nodiscard]] bool ok(bool strict = false) const { return missing.empty() && (!strict || warnings.empty()); }
};
/// `replicationFactor` -1: the cluster's default, not compared.
[[nodiscard]] TopicReport compareTopics(const std::vector<std::string>& needed,
                                        const std::map<std::string, TopicInfo>& found, int partitions,
                                        int replicationFactor);

/// A client for the admin API (and cluster metadata), with the same configuration as every other handle
/// (makeConf: bootstrap, kafka.rdkafka.* security settings). Every call waits at most its timeout.
class Admin {
  public:
    /// Throws KafkaError (not retryable) when the configuration is rejected.
    explicit Admin(const KafkaSettings& settings);
    ~Admin();
    Admin(const Admin&) = delete;
    Admin& operator=(const Admin&) = delete;

    /// Every topic the cluster has, by name, from a metadata request for all topics (which never creates one, unlike
    /// a request naming a topic on a broker that auto-creates). Throws KafkaError (retryable) when the cluster does
    /// not answer within timeoutMs.
    std::map<std::string, TopicInfo> listTopics(int timeoutMs);
    /// Creates the topics that do not exist (rd_kafka_CreateTopics, waiting at most timeoutMs), reporting each as
    /// created or existing. `replicationFactor` -1: the cluster's default.replication.factor. The embedded broker
    /// (librdkafka 2.0's mock cluster, whose cluster id starts with "mockCluster") has no CreateTopics: there each
    /// missing topic is made the way it makes topics, by a metadata request naming it (with its own partition
    /// count), and the note says so. Throws KafkaError naming the topics that failed and why.
    std::vector<CreateResult> createTopics(const std::vector<std::string>& topics, int partitions,
                                           int replicationFactor, int timeoutMs);
    /// The cluster id, waiting up to timeoutMs; empty when none is known.
    [[nodiscard]] std::string clusterId(int timeoutMs) const;

  private:
    detail::HandlePtr handle_;
};

}  // namespace taxdesk::connectors::kafka
