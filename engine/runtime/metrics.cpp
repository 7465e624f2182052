#include "engine/runtime/metrics.hpp"

#include <prometheus/text_serializer.h>

#include <cmath>

namespace taxdesk::engine {

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      messages_(prometheus::BuildCounter()
                    .Name("taxdesk_pipeline_messages_total")
                    .Help("Messages by pipeline and direction (in, out, failed)")
                    .Register(*registry_)),
      batchRetries_(prometheus::BuildCounter()
                        .Name("taxdesk_pipeline_batch_retries_total")
                        .Help("Batches retried after a transient failure (store, Redis)")
                        .Register(*registry_)),
      inFlight_(prometheus::BuildGauge()
                    .Name("taxdesk_pipeline_in_flight")
                    .Help("Messages consumed and not yet committed")
                    .Register(*registry_)),
      batchSeconds_(prometheus::BuildHistogram()
                        .Name("taxdesk_pipeline_batch_seconds")
                        .Help("Time to process one consumed batch")
                        .Register(*registry_)),
      cache_(prometheus::BuildCounter()
                 .Name("taxdesk_cache_lookups_total")
                 .Help("Redis cache look-ups by result (hit, miss)")
                 .Register(*registry_)),
      cacheDegraded_(prometheus::BuildGauge()
                         .Name("taxdesk_cache_degraded")
                         .Help("1 while the Redis cache's reads (look-ups go to the connectors) or writes fail")
                         .Register(*registry_)),
      connectorErrors_(prometheus::BuildCounter()
                           .Name("taxdesk_connector_errors_total")
                           .Help("Failed connector calls (every attempt)")
                           .Register(*registry_)),
      connectorRetries_(prometheus::BuildCounter()
                            .Name("taxdesk_connector_retries_total")
                            .Help("Connector calls tried again after a retryable failure")
                            .Register(*registry_)),
      inquiryResults_(prometheus::BuildCounter()
                          .Name("taxdesk_inquiry_results_total")
                          .Help("Creditor inquiry results produced, by status")
                          .Register(*registry_)),
      smsSegments_(prometheus::BuildCounter()
                       .Name("taxdesk_sms_segments_sent_total")
                       .Help("SMS segments sent through the gateway (GSM-7 160, UCS-2 70, else 153/67 a part)")
                       .Register(*registry_)),
      smsInboxRedrives_(prometheus::BuildCounter()
                            .Name("taxdesk_sms_inbox_redrives_total")
                            .Help("Inbound SMS produced to sms.inbound again from the inbox by the scheduler's sweep")
                            .Register(*registry_)),
      latency_(prometheus::BuildHistogram()
                   .Name("taxdesk_pipeline_latency_seconds")
                   .Help("End to end: a message's create time to its outputs acknowledged by the broker")
                   .Register(*registry_)),
      lag_(prometheus::BuildGauge()
               .Name("taxdesk_consumer_lag")
               .Help("Messages between the consumer's position and the end of the partition")
               .Register(*registry_)),
      connectorCalls_(prometheus::BuildHistogram()
                          .Name("taxdesk_connector_call_seconds")
                          .Help("One connector call, by connector")
                          .Register(*registry_)),
      breakers_(prometheus::BuildGauge()
                    .Name("taxdesk_circuit_breaker_state")
                    .Help("Circuit breaker by connector: 0 closed, 1 half open, 2 open")
                    .Register(*registry_)),
      payments_(prometheus::BuildCounter()
                    .Name("taxdesk_payments_total")
                    .Help("Successful EasyCard payments: count, and NT$ (unit=ntd)")
                    .Register(*registry_)),
      refundsDue_(prometheus::BuildCounter()
                      .Name("taxdesk_payments_refund_due_total")
                      .Help("Charges found late for a batch another payment had paid, owed back: count, and NT$ "
                            "(unit=ntd)")
                      .Register(*registry_)),
      batches_(
          prometheus::BuildGauge().Name("taxdesk_batches").Help("Creditor batches by state").Register(*registry_)) {}

namespace {
const prometheus::Histogram::BucketBoundaries kLatencyBuckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                              1,     2.5,  5,     10,   30,  60,   300};
const prometheus::Histogram::BucketBoundaries kCallBuckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                           0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
}  // namespace

prometheus::Histogram& Metrics::connectorCall(const std::string& connector) {
    return connectorCalls_.Add({{"connector", connector}}, kCallBuckets);
}
prometheus::Gauge& Metrics::breakerState(const std::string& connector) {
    return breakers_.Add({{"connector", connector}});
}
prometheus::Counter& Metrics::paymentsCount() {
    return payments_.Add({{"unit", "count"}});
}
prometheus::Counter& Metrics::paymentsAmount() {
    return payments_.Add({{"unit", "ntd"}});
}
prometheus::Counter& Metrics::refundsDueCount() {
    return refundsDue_.Add({{"unit", "count"}});
}
prometheus::Counter& Metrics::refundsDueAmount() {
    return refundsDue_.Add({{"unit", "ntd"}});
}
prometheus::Gauge& Metrics::batches(const std::string& state) {
    return batches_.Add({{"state", state}});
}

double Metrics::quantile(prometheus::Histogram& histogram, double q) {
    const auto metric = histogram.Collect().histogram;
    if (metric.sample_count == 0) return 0;
    const double rank = q * static_cast<double>(metric.sample_count);
    double lowerBound = 0;
    std::uint64_t below = 0;
    for (const auto& bucket : metric.bucket) {
        if (static_cast<double>(bucket.cumulative_count) >= rank) {
            if (std::isinf(bucket.upper_bound)) return lowerBound;
            const double inBucket = static_cast<double>(bucket.cumulative_count - below);
            const double fraction = inBucket > 0 ? (rank - static_cast<double>(below)) / inBucket : 1;
            return lowerBound + (bucket.upper_bound - lowerBound) * fraction;
        }
        below = bucket.cumulative_count;
        lowerBound = bucket.upper_bound;
    }
    return lowerBound;
}

prometheus::Counter& Metrics::smsSegments() {
    return smsSegments_.Add({});
}

prometheus::Counter& Metrics::smsInboxRedrives() {
    return smsInboxRedrives_.Add({});
}

InquiryMetrics Metrics::inquiry() {
    InquiryMetrics metrics;
    for (const char* status :
         {"found", "no_records", "not_registered", "name_mismatch", "deceased", "rejected", "error"})
        metrics.resultsByStatus[status] = &inquiryResults_.Add({{"status", status}});
    metrics.registryCalls = &connectorCall("registry");
    metrics.taxDataCalls = &connectorCall("taxdata");
    return metrics;
}

PipelineMetrics Metrics::pipeline(const std::string& name) {
    static const prometheus::Histogram::BucketBoundaries kBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                  0.1,   0.25,   0.5,   1,    2.5,   5};
    return PipelineMetrics{
        messages_.Add({{"pipeline", name}, {"direction", "in"}}),
        messages_.Add({{"pipeline", name}, {"direction", "out"}}),
        messages_.Add({{"pipeline", name}, {"direction", "failed"}}),
        batchRetries_.Add({{"pipeline", name}}),
        inFlight_.Add({{"pipeline", name}}),
        batchSeconds_.Add({{"pipeline", name}}, kBuckets),
        cache_.Add({{"pipeline", name}, {"result", "hit"}}),
        cache_.Add({{"pipeline", name}, {"result", "miss"}}),
        cacheDegraded_.Add({{"pipeline", name}}),
        connectorErrors_.Add({{"pipeline", name}}),
        connectorRetries_.Add({{"pipeline", name}}),
        latency_.Add({{"pipeline", name}}, kLatencyBuckets),
        lag_,
    };
}

std::string Metrics::serialize() const {
    return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace taxdesk::engine
