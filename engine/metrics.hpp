#pragma once
// Prometheus metrics (prometheus-cpp core; served by our own HTTP server at /metrics).
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <string>

namespace taxdesk::engine {

/// The metrics of one pipeline (label pipeline="inquiry", …). The references stay valid as long as Metrics.
struct PipelineMetrics {
    prometheus::Counter& messagesIn;
    prometheus::Counter& messagesOut;
    prometheus::Counter& messagesFailed;  ///< sent to the dead-letter topic
    prometheus::Counter& batchRetries;    ///< whole batches retried after a transient failure
    prometheus::Gauge& inFlight;
    prometheus::Histogram& batchSeconds;  ///< time to process one consumed batch
    prometheus::Counter& cacheHits;
    prometheus::Counter& cacheMisses;
    prometheus::Gauge& cacheDegraded;     ///< 1 while Redis is unreachable and look-ups bypass the cache
    prometheus::Counter& connectorErrors;
    prometheus::Counter& connectorRetries;
};

/// Results of the creditor inquiry by status (found, no_records, …), as produced.
struct InquiryMetrics {
    std::map<std::string, prometheus::Counter*> resultsByStatus;
};

/// Thread-safe (prometheus-cpp's metrics are).
class Metrics {
public:
    Metrics();
    /// The families for one pipeline; calling twice with the same name gives the same metrics.
    PipelineMetrics pipeline(const std::string& name);
    InquiryMetrics inquiry();
    /// SMS segments the gateway reported sent (SPEC 4.2).
    prometheus::Counter& smsSegments();
    /// Prometheus text exposition format of everything registered.
    [[nodiscard]] std::string serialize() const;
    [[nodiscard]] prometheus::Registry& registry() { return *registry_; }

private:
    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Counter>& messages_;
    prometheus::Family<prometheus::Counter>& batchRetries_;
    prometheus::Family<prometheus::Gauge>& inFlight_;
    prometheus::Family<prometheus::Histogram>& batchSeconds_;
    prometheus::Family<prometheus::Counter>& cache_;
    prometheus::Family<prometheus::Gauge>& cacheDegraded_;
    prometheus::Family<prometheus::Counter>& connectorErrors_;
    prometheus::Family<prometheus::Counter>& connectorRetries_;
    prometheus::Family<prometheus::Counter>& inquiryResults_;
    prometheus::Family<prometheus::Counter>& smsSegments_;
};

}  // namespace taxdesk::engine
