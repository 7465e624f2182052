#include "engine/service.hpp"

#include <Poco/File.h>
#include <Poco/Logger.h>
#include <Poco/Net/HTTPServerRequest.h>

#include "connectors/kafka/kafka.hpp"
#include "connectors/redis/redis_client.hpp"
#include "connectors/store/store.hpp"
#include "engine/api/creditor_api.hpp"
#include "engine/batch_dispatcher.hpp"
#include "engine/http_server.hpp"
#include "engine/inquiry_stage.hpp"
#include "engine/metrics.hpp"
#include "engine/pipeline.hpp"
#include "jobs/common/json.hpp"

namespace taxdesk::engine {

struct Service::Parts {
    Metrics metrics;
    std::unique_ptr<connectors::Store> store;
    std::unique_ptr<InquiryStage> inquiryStage;
    std::unique_ptr<Pipeline> inquiryPipeline;
    std::thread inquiryThread;
    std::atomic<bool> stopping{false};
    std::atomic<bool> failed{false};
    std::string failure;

    // Probes for /readyz, each with its own connection, used under a lock.
    std::mutex probeMutex;
    std::unique_ptr<connectors::kafka::Producer> kafkaProbe;
    std::unique_ptr<connectors::RedisClient> redisProbe;

    std::unique_ptr<BatchDispatcher> dispatcher;
    std::unique_ptr<api::CreditorApi> creditorApi;
    std::unique_ptr<HttpServer> http;
};

Service::Service(Settings settings) : settings_(std::move(settings)), parts_(std::make_unique<Parts>()) {
    Poco::File(settings_.varDir).createDirectories();
    parts_->store = std::make_unique<connectors::Store>(settings_.store);

    const connectors::ConnectorSet connectors = settings_.connectorsMode == "http"
                                                    ? connectors::makeHttpConnectors(settings_.http)
                                                    : connectors::makeStubConnectors(settings_.stubs);
    InquiryStageSettings stageSettings;
    stageSettings.resultsTopic = settings_.topic("inquiry.results");
    stageSettings.deadLetterTopic = settings_.topic("inquiry.requests.dlq");
    stageSettings.cacheTtlSeconds = settings_.cacheTtlSeconds;
    stageSettings.connectorAttempts = settings_.connectorAttempts;
    stageSettings.concurrency = settings_.concurrency;
    parts_->inquiryStage = std::make_unique<InquiryStage>(
        stageSettings, connectors, *parts_->store, std::make_unique<connectors::RedisClient>(settings_.redis),
        parts_->metrics.pipeline("inquiry"), parts_->metrics.inquiry());

    PipelineSettings pipelineSettings;
    pipelineSettings.name = "inquiry";
    pipelineSettings.inputTopic = settings_.topic("inquiry.requests");
    pipelineSettings.groupId = settings_.groupId;
    pipelineSettings.kafka = settings_.kafka;
    pipelineSettings.batchSize = settings_.batchSize;
    pipelineSettings.batchTimeoutMs = settings_.batchTimeoutMs;
    pipelineSettings.maxInFlight = settings_.maxInFlight;
    pipelineSettings.warmTopics = {pipelineSettings.inputTopic, stageSettings.resultsTopic,
                                   stageSettings.deadLetterTopic};
    parts_->inquiryPipeline =
        std::make_unique<Pipeline>(pipelineSettings, *parts_->inquiryStage, parts_->metrics.pipeline("inquiry"));

    DispatcherSettings dispatcherSettings;
    dispatcherSettings.requestsTopic = pipelineSettings.inputTopic;
    dispatcherSettings.paymentsTopic = settings_.topic("payments.records");
    dispatcherSettings.kafka = settings_.kafka;
    parts_->dispatcher = std::make_unique<BatchDispatcher>(dispatcherSettings, *parts_->store, connectors.payment,
                                                           std::make_unique<connectors::RedisClient>(settings_.redis));

    api::CreditorApiSettings apiSettings;
    apiSettings.spoolDir = settings_.varDir + "/spool";
    apiSettings.maxRows = static_cast<std::size_t>(settings_.batchRows);
    apiSettings.maxBytes = settings_.batchBytes;
    apiSettings.feeProperty = settings_.feeProperty;
    apiSettings.feeIncomeYear = settings_.feeIncomeYear;
    parts_->creditorApi = std::make_unique<api::CreditorApi>(apiSettings, *parts_->store, connectors.payment,
                                                             [this] { parts_->dispatcher->wake(); });

    parts_->kafkaProbe = std::make_unique<connectors::kafka::Producer>(settings_.kafka, nullptr);
    parts_->redisProbe = std::make_unique<connectors::RedisClient>(settings_.redis);
}

Service::~Service() {
    stop();
}

void Service::start(std::function<void()> onFatal) {
    auto& parts = *parts_;
    parts.inquiryThread = std::thread([&parts, onFatal = std::move(onFatal)] {
        try {
            parts.inquiryPipeline->run(parts.stopping);
        } catch (const std::exception& error) {
            parts.failure = error.what();
            parts.failed = true;
            Poco::Logger::get("pipeline.inquiry").critical("pipeline stopped: %s", parts.failure);
            if (onFatal) onFatal();
        }
    });

    std::vector<Route> routes;
    routes.push_back({"GET", "/healthz", [](HttpRequest&) { return jsonReply(200, R"({"status":"ok"})"); }});
    routes.push_back({"GET", "/readyz", [this](HttpRequest&) {
                          const Readiness state = readiness();
                          std::string checks;
                          jobs::json::ObjectWriter(checks)
                              .field("kafka", state.kafka.empty() ? "ok" : state.kafka)
                              .field("redis", state.redis.empty() ? "ok" : state.redis)
                              .field("store", state.store.empty() ? "ok" : state.store)
                              .field("pipeline", state.pipeline.empty() ? "ok" : state.pipeline)
                              .close();
                          std::string body;
                          jobs::json::ObjectWriter(body)
                              .field("status", state.ready() ? "ready" : "not_ready")
                              .raw("checks", checks)
                              .close();
                          return jsonReply(state.ready() ? 200 : 503, std::move(body));
                      }});
    routes.push_back({"GET", "/metrics", [&parts](HttpRequest&) {
                          HttpReply reply;
                          reply.contentType = "text/plain; version=0.0.4; charset=utf-8";
                          reply.body = parts.metrics.serialize();
                          return reply;
                      }});
    for (auto& route : parts.creditorApi->routes()) routes.push_back(std::move(route));
    parts.dispatcher->start();
    parts.http =
        std::make_unique<HttpServer>(settings_.httpHost, settings_.httpPort, settings_.httpThreads, std::move(routes));
    Poco::Logger::get("serve").information("HTTP on %s:%d", settings_.httpHost, parts.http->port());
}

bool Service::stop() {
    auto& parts = *parts_;
    if (parts.stopping.exchange(true)) return !parts.failed;
    parts.http.reset();  // stop accepting first
    parts.dispatcher->stop();
    if (parts.inquiryThread.joinable()) parts.inquiryThread.join();
    Poco::Logger::get("serve").information("stopped");
    return !parts.failed;
}

int Service::httpPort() const {
    return parts_->http ? parts_->http->port() : settings_.httpPort;
}

Readiness Service::readiness() {
    Readiness state;
    std::lock_guard lock(parts_->probeMutex);
    try {
        parts_->kafkaProbe->checkReachable(1000);
    } catch (const std::exception& error) {
        state.kafka = error.what();
    }
    try {
        parts_->redisProbe->ping();
    } catch (const std::exception& error) {
        state.redis = error.what();
    }
    try {
        parts_->store->ping();
    } catch (const std::exception& error) {
        state.store = error.what();
    }
    if (parts_->failed) {
        state.pipeline = "inquiry pipeline stopped: " + parts_->failure;
    } else if (!parts_->inquiryPipeline->assigned()) {
        state.pipeline = "inquiry pipeline has not joined its consumer group yet";
    }
    return state;
}

}  // namespace taxdesk::engine
