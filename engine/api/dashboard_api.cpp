#include "engine/api/dashboard_api.hpp"

#include <chrono>
#include <cstdio>

#include "connectors/http/http_clients.hpp"
#include "jobs/common/json.hpp"
#include "jobs/inquiry/batch_state.hpp"

namespace taxdesk::engine::api {
namespace {

constexpr const char* kPipelines[] = {"inquiry", "sms", "sender"};
constexpr jobs::inquiry::BatchState kStates[] = {
    jobs::inquiry::BatchState::awaiting_payment, jobs::inquiry::BatchState::queued,
    jobs::inquiry::BatchState::processing,       jobs::inquiry::BatchState::completed,
    jobs::inquiry::BatchState::failed,
};

std::string number(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", value);
    return text;
}

long long count(const prometheus::Counter& counter) {
    return static_cast<long long>(counter.Value());
}

}  // namespace

DashboardApi::DashboardApi(Metrics& metrics, connectors::BatchStore& batches, connectors::ConnectorSet connectors)
    : metrics_(metrics), batches_(batches), connectors_(std::move(connectors)) {}

std::vector<Route> DashboardApi::routes() {
    return {
        {"GET", "/dashboard/data", [this](HttpRequest&) { return dashboardData(); }},
        {"GET", "/metrics",
         [this](HttpRequest&) {
             refreshGauges();
             HttpReply reply;
             reply.contentType = "text/plain; version=0.0.4; charset=utf-8";
             reply.body = metrics_.serialize();
             return reply;
         }},
    };
}

void DashboardApi::refreshGauges() {
    for (const auto* status : connectors::httpConnectorStatuses(connectors_)) {
        const auto state = status->breakerState();
        metrics_.breakerState(status->connectorName())
            .Set(state == connectors::BreakerState::kOpen       ? 2
                 : state == connectors::BreakerState::kHalfOpen ? 1
                                                                : 0);
    }
    try {
        const auto counts = batches_.countBatchesByState();
        for (const auto value : kStates) {
            const char* state = jobs::inquiry::toString(value);
            const auto it = counts.find(state);
            metrics_.batches(state).Set(it == counts.end() ? 0 : it->second);
        }
    } catch (const connectors::ConnectorError&) {
        // The store is away: the gauges keep their last values; /readyz says why.
    }
}

HttpReply DashboardApi::dashboardData() {
    refreshGauges();
    std::string pipelines = "{";
    long long failed = 0;
    prometheus::Histogram* latency = nullptr;
    for (const char* name : kPipelines) {
        const auto p = metrics_.pipeline(name);
        failed += count(p.messagesFailed);
        if (std::string(name) == "inquiry") latency = &p.latency;
        std::string item;
        jobs::json::ObjectWriter(item)
            .field("in", count(p.messagesIn))
            .field("out", count(p.messagesOut))
            .field("failed", count(p.messagesFailed))
            .field("in_flight", static_cast<long long>(p.inFlight.Value()))
            .close();
        if (pipelines.size() > 1) pipelines.push_back(',');
        jobs::json::appendString(pipelines, name);
        pipelines += ":" + item;
    }
    pipelines.push_back('}');

    const auto inquiry = metrics_.pipeline("inquiry");
    std::string cache;
    jobs::json::ObjectWriter(cache)
        .field("hits", count(inquiry.cacheHits))
        .field("misses", count(inquiry.cacheMisses))
        .close();
    std::string latencies;
    jobs::json::ObjectWriter(latencies)
        .raw("p50", number(Metrics::quantile(*latency, 0.50)))
        .raw("p95", number(Metrics::quantile(*latency, 0.95)))
        .raw("p99", number(Metrics::quantile(*latency, 0.99)))
        .close();
    std::string results = "{";
    for (const auto& [status, counter] : metrics_.inquiry().resultsByStatus) {
        if (results.size() > 1) results.push_back(',');
        jobs::json::appendString(results, status);
        results += ":" + std::to_string(count(*counter));
    }
    results.push_back('}');
    std::string payments;
    jobs::json::ObjectWriter(payments)
        .field("count", count(metrics_.paymentsCount()))
        .field("amount", count(metrics_.paymentsAmount()))
        .close();

    std::string lag = "[";
    for (const auto& family : metrics_.registry().Collect()) {
        if (family.name != "taxdesk_consumer_lag") continue;
        for (const auto& metric : family.metric) {
            std::string topic;
            std::string partition;
            for (const auto& label : metric.label) {
                if (label.name == "topic") topic = label.value;
                if (label.name == "partition") partition = label.value;
            }
            if (lag.size() > 1) lag.push_back(',');
            jobs::json::ObjectWriter(lag)
                .field("topic", topic)
                .raw("partition", partition.empty() ? "0" : partition)
                .field("lag", static_cast<long long>(metric.gauge.value))
                .close();
        }
    }
    lag.push_back(']');

    std::string breakers = "[";
    for (const auto* status : connectors::httpConnectorStatuses(connectors_)) {
        if (breakers.size() > 1) breakers.push_back(',');
        jobs::json::ObjectWriter(breakers)
            .field("connector", status->connectorName())
            .field("state", std::string(connectors::toString(status->breakerState())))
            .close();
    }
    breakers.push_back(']');

    // Batches in progress: ids, states and numbers only; no creditor, no debtor.
    std::string batches = "[";
    try {
        for (const auto& batch : batches_.activeBatches(50)) {
            if (batches.size() > 1) batches.push_back(',');
            const double progress = batch.rowsTotal > 0 ? 100.0 * batch.rowsDone / batch.rowsTotal : 100.0;
            jobs::json::ObjectWriter(batches)
                .field("batch_id", batch.batchId)
                .field("state", std::string(jobs::inquiry::toString(batch.state)))
                .raw("progress", number(progress))
                .field("rows_done", batch.rowsDone)
                .field("rows_total", batch.rowsTotal)
                .close();
        }
    } catch (const connectors::ConnectorError&) {
    }
    batches.push_back(']');

    const auto now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    std::string body;
    jobs::json::ObjectWriter(body)
        .field("time", static_cast<long long>(now))
        .raw("pipelines", pipelines)
        .raw("cache", cache)
        .raw("latency_seconds", latencies)
        .field("connector_errors", count(inquiry.connectorErrors))
        .field("connector_retries", count(inquiry.connectorRetries))
        .field("dead_letters", failed)
        .raw("results_by_status", results)
        .field("sms_segments", count(metrics_.smsSegments()))
        .raw("payments", payments)
        .raw("lag", lag)
        .raw("breakers", breakers)
        .raw("batches", batches)
        .close();
    HttpReply reply = jsonReply(200, std::move(body));
    reply.headers["Cache-Control"] = "no-store";
    return reply;
}

}  // namespace taxdesk::engine::api
