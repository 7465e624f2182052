#include "engine/runtime/offsets.hpp"

#include <algorithm>

namespace taxdesk::engine {

void OffsetTracker::add(std::string_view topic, int partition, std::int64_t offset) {
    auto it = partitions_.find(std::pair<std::string_view, int>(topic, partition));
    if (it == partitions_.end()) it = partitions_.try_emplace(PartitionKey(topic, partition)).first;
    it->second.entries.push_back({offset, false});
    ++inFlight_;
}

void OffsetTracker::done(std::string_view topic, int partition, std::int64_t offset) {
    const auto it = partitions_.find(std::pair<std::string_view, int>(topic, partition));
    if (it == partitions_.end()) return;
    auto& entries = it->second.entries;
    // Entries are in offset order; most completions are near the front, but a binary search keeps the worst case
    // cheap when a partition has many messages in flight.
    const auto entry = std::lower_bound(entries.begin(), entries.end(), offset,
                                        [](const Entry& e, std::int64_t value) { return e.offset < value; });
    if (entry == entries.end() || entry->offset != offset || entry->done) return;
    entry->done = true;
    while (!entries.empty() && entries.front().done) {
        it->second.committable = entries.front().offset + 1;
        entries.pop_front();
        --inFlight_;
    }
}

std::vector<connectors::kafka::TopicPartitionOffset> OffsetTracker::takeCommittable() {
    std::vector<connectors::kafka::TopicPartitionOffset> result;
    for (auto& [key, partition] : partitions_) {
        if (!partition.committable) continue;
        result.push_back({key.first, key.second, *partition.committable});
        partition.committable.reset();
    }
    return result;
}

void OffsetTracker::forget(std::string_view topic, int partition) {
    const auto it = partitions_.find(std::pair<std::string_view, int>(topic, partition));
    if (it == partitions_.end()) return;
    inFlight_ -= it->second.entries.size();
    partitions_.erase(it);
}

}  // namespace taxdesk::engine
