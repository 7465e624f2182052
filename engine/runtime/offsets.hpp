#pragma once
// Offset tracking for at-least-once processing with out-of-order completion: a message's offset may be committed
// only when it and every earlier message of its partition are done.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/kafka/kafka.hpp"

namespace taxdesk::engine {

/// Not thread-safe: owned by the pipeline thread.
class OffsetTracker {
  public:
    using PartitionKey = std::pair<std::string, int>;

    /// A message was consumed and is now in flight. Offsets of a partition must be added in increasing order.
    void add(std::string_view topic, int partition, std::int64_t offset);
    /// The message's effects are durable. Unknown offsets (of a partition since revoked) are ignored.
    void done(std::string_view topic, int partition, std::int64_t offset);
    /// The positions that may be committed now (next offset to read), for partitions that advanced since the last
    /// call. Clears the "advanced" marks.
    std::vector<connectors::kafka::TopicPartitionOffset> takeCommittable();
    /// Drops a partition (revoked); its unfinished messages will be redelivered to whoever gets it next.
    void forget(std::string_view topic, int partition);
    /// Messages in flight across all partitions.
    [[nodiscard]] std::size_t inFlight() const { return inFlight_; }

  private:
    struct Entry {
        std::int64_t offset;
        bool done;
    };
    struct Partition {
        std::deque<Entry> entries;
        std::optional<std::int64_t> committable;  ///< next offset to read, when it advanced
    };
    /// Orders PartitionKeys and looks them up by (topic view, partition) without building a std::string.
    struct KeyLess {
        using is_transparent = void;
        template <typename A, typename B>
        bool operator()(const A& a, const B& b) const {
            const int order = std::string_view(a.first).compare(std::string_view(b.first));
            return order < 0 || (order == 0 && a.second < b.second);
        }
    };
    using Partitions = std::map<PartitionKey, Partition, KeyLess>;
    Partitions partitions_;
    std::size_t inFlight_ = 0;
};

}  // namespace taxdesk::engine
