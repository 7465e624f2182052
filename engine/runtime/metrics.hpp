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
    prometheus::Gauge& cacheDegraded;  ///< 1 while the cache's reads (look-ups bypass it) or writes fail
    prometheus::Counter& connectorErrors;
    prometheus::Counter& connectorRetries;
    prometheus::Histogram& latency;              ///< end to end: message created → its outputs acknowledged
    prometheus::Family<prometheus::Gauge>& lag;  ///< by topic and partition
};

/// Results of the creditor inquiry by status (found, no_records, …), as produced.
struct InquiryMetrics {
    std::map<std::string, prometheus::Counter*> resultsByStatus;
    /// One registry call's time; a batch call of the inquiry stage (lookupMany, a set or a slice of one) counts once.
    prometheus::Histogram* registryCalls = nullptr;
    prometheus::Histogram* taxDataCalls = nullptr;
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
    /// Inbound SMS the scheduler produced again from the inbox (their first produce failed or the broker lost them).
    prometheus::Counter& smsInboxRedrives();
    /// One connector call's time, by connector (registry, taxdata, nhi, payment, sms).
    prometheus::Histogram& connectorCall(const std::string& connector);
    /// Circuit-breaker state by connector: 0 closed, 1 half open, 2 open.
    prometheus::Gauge& breakerState(const std::string& connector);
    /// Payments that succeeded: how many, and NT$.
    prometheus::Counter& paymentsCount();
    prometheus::Counter& paymentsAmount();
    /// Charges found late for batches another payment had paid (refund_due): how many, and NT$. Alert on any.
    prometheus::Counter& refundsDueCount();
    prometheus::Counter& refundsDueAmount();
    /// Batches by state, as the store last counted them.
    prometheus::Gauge& batches(const std::string& state);
    /// Approximate quantile (0..1) of a histogram from its buckets, in its unit; 0 when empty.
    static double quantile(prometheus::Histogram& histogram, double q);
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
    prometheus::Family<prometheus::Counter>& smsInboxRedrives_;
    prometheus::Family<prometheus::Histogram>& latency_;
    prometheus::Family<prometheus::Gauge>& lag_;
    prometheus::Family<prometheus::Histogram>& connectorCalls_;
    prometheus::Family<prometheus::Gauge>& breakers_;
    prometheus::Family<prometheus::Counter>& payments_;
    prometheus::Family<prometheus::Counter>& refundsDue_;
    prometheus::Family<prometheus::Gauge>& batches_;
};

}  // namespace taxdesk::engine
