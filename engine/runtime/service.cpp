#include "engine/runtime/service.hpp"

#include <Poco/File.h>
#include <Poco/Logger.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Timestamp.h>

#include "connectors/crypto/signer.hpp"
#include "connectors/http/http_clients.hpp"
#include "connectors/http/webhook_client.hpp"
#include "connectors/kafka/kafka.hpp"
#include "connectors/redis/redis_client.hpp"
#include "connectors/store/sql_audit_store.hpp"
#include "connectors/store/sql_signature_store.hpp"
#include "connectors/store/store.hpp"
#include "engine/api/audit_api.hpp"
#include "engine/api/creditor_api.hpp"
#include "engine/api/dashboard_api.hpp"
#include "engine/api/dead_letter_api.hpp"
#include "engine/api/sms_api.hpp"
#include "engine/api/webhook_api.hpp"
#include "engine/flow/batch_dispatcher.hpp"
#include "engine/flow/inquiry_stage.hpp"
#include "engine/flow/sms_scheduler.hpp"
#include "engine/flow/sms_stage.hpp"
#include "engine/flow/webhook_delivery.hpp"
#include "engine/http/http_server.hpp"
#include "engine/pages/static_pages.hpp"
#include "engine/runtime/embedded_config.hpp"
#include "engine/runtime/metrics.hpp"
#include "engine/runtime/pipeline.hpp"
#include "jobs/common/json.hpp"
#include "jobs/sms/pickup_rules.hpp"

namespace taxdesk::engine {

/// One pipeline with its stage and its thread.
struct RunningPipeline {
    std::string name;
    std::unique_ptr<BatchStage> stage;
    std::unique_ptr<Pipeline> pipeline;
    std::thread thread;
};

struct Service::Parts {
    Metrics metrics;
    std::unique_ptr<connectors::Store> store;
    std::shared_ptr<const connectors::crypto::Signer> signer;   ///< results.signing_key (issue 13)
    std::unique_ptr<connectors::SqlSignatureStore> signatures;  ///< over store's database
    std::vector<RunningPipeline> pipelines;
    std::atomic<bool> stopping{false};
    std::atomic<bool> failed{false};
    std::string failure;

    // Probes for /readyz, each with its own connection, used under a lock.
    std::mutex probeMutex;
    std::unique_ptr<connectors::kafka::Producer> kafkaProbe;
    std::unique_ptr<connectors::RedisClient> redisProbe;

    std::unique_ptr<BatchDispatcher> dispatcher;
    std::unique_ptr<SmsScheduler> scheduler;
    std::unique_ptr<api::CreditorApi> creditorApi;
    std::unique_ptr<api::SmsApi> smsApi;
    std::unique_ptr<api::DeadLetterApi> deadLetterApi;
    std::unique_ptr<api::AuditApi> auditApi;
    std::unique_ptr<api::DashboardApi> dashboardApi;
    std::unique_ptr<api::WebhookApi> webhookApi;
    std::shared_ptr<WebhookWorkers> webhookWorkers;  ///< issue 13: webhook POSTs, apart from the sender's batches
    std::unique_ptr<OutboxRelay> outboxRelay;        ///< issue 13: batch-done notifications produced on completion
    std::unique_ptr<HttpServer> http;

    // For /readyz's warnings: is the holiday table long enough for today's deadlines?
    jobs::sms::BusinessCalendar calendar;
    int pickupBusinessDays = 3;

    /// What operations should fix but that does not make the service unready. Computed for today on each call.
    [[nodiscard]] std::vector<std::string> warnings() const {
        std::vector<std::string> found;
        if (auto warning = jobs::sms::calendarHorizonWarning(
                calendar, jobs::sms::taipeiDate(Poco::Timestamp().epochTime()), pickupBusinessDays))
            found.push_back("sms.holidays_file: " + *warning);
        return found;
    }
};

Service::Service(Settings settings) : settings_(std::move(settings)), parts_(std::make_unique<Parts>()) {
    Poco::File(settings_.varDir).createDirectories();
    parts_->store = std::make_unique<connectors::Store>(settings_.store);
    parts_->store->audit().configure({settings_.auditEnabled, auditKey(settings_)});
    // The results signing key (issue 13): a start-up error naming the file when it is missing (configured), unreadable
    // or not an Ed25519 key; the embedded default is generated on the first start.
    parts_->signer = connectors::crypto::Ed25519Signer::loadOrCreate(settings_.resultsSigningKey,
                                                                     settings_.resultsSigningKeyGenerated);
    parts_->signatures = std::make_unique<connectors::SqlSignatureStore>(parts_->store->database());
    Poco::Logger::get("serve").information("results signing key %s (id %s)", settings_.resultsSigningKey,
                                           parts_->signer->keyId());

    const connectors::ConnectorSet connectors = settings_.connectorsMode == "http"
                                                    ? connectors::makeHttpConnectors(settings_.http)
                                                    : connectors::makeStubConnectors(settings_.stubs);
    auto pipelineSettings = [this](const std::string& name, const std::string& input,
                                   std::vector<std::string> outputs) {
        PipelineSettings pipeline;
        pipeline.name = name;
        pipeline.inputTopic = settings_.topic(input);
        pipeline.groupId = settings_.groupId + (name == "inquiry" ? "" : "-" + name);
        pipeline.kafka = settings_.kafka;
        pipeline.batchSize = settings_.batchSize;
        pipeline.batchTimeoutMs = settings_.batchTimeoutMs;
        pipeline.maxInFlight = settings_.maxInFlight;
        pipeline.retry = settings_.batchRetry;
        pipeline.warmTopics = {pipeline.inputTopic};
        for (const auto& output : outputs) pipeline.warmTopics.push_back(settings_.topic(output));
        return pipeline;
    };
    auto addPipeline = [this](PipelineSettings pipeline, std::unique_ptr<BatchStage> stage) {
        RunningPipeline running;
        running.name = pipeline.name;
        running.stage = std::move(stage);
        running.pipeline = std::make_unique<Pipeline>(pipeline, *running.stage, parts_->metrics.pipeline(running.name));
        parts_->pipelines.push_back(std::move(running));
    };

    // The creditor inquiry: inquiry.requests → registry, tax data → store → inquiry.results.
    InquiryStageSettings stageSettings;
    stageSettings.resultsTopic = settings_.topic("inquiry.results");
    stageSettings.deadLetterTopic = settings_.topic("inquiry.requests.dlq");
    stageSettings.cacheTtlSeconds = settings_.cacheTtlSeconds;
    // Connector calls are retried at ONE layer, never attempts x attempts calls a row. The network clients retry each
    // call themselves (connectors.retries; their circuit breaker must see every attempt, and the payment and SMS
    // calls have no other retry), so with them the stage tries once. The in-process stubs do not retry: the stage
    // does (pipeline.connector_attempts).
    stageSettings.connectorRetry = settings_.connectorRetry;
    if (settings_.connectorsMode == "http") stageSettings.connectorRetry.attempts = 1;
    stageSettings.concurrency = settings_.concurrency;
    addPipeline(
        pipelineSettings("inquiry", "inquiry.requests", {"inquiry.results", "inquiry.requests.dlq"}),
        std::make_unique<InquiryStage>(stageSettings, connectors, parts_->store->results(), parts_->store->batches(),
                                       std::make_unique<connectors::RedisClient>(settings_.redis),
                                       parts_->metrics.pipeline("inquiry"), parts_->metrics.inquiry()));

    // SMS applications: sms.inbound → identity, pickup → notifications.outbound; and the sender.
    SmsSettings sms;
    sms.outboundTopic = settings_.topic("notifications.outbound");
    sms.inboundDeadLetter = settings_.topic("sms.inbound.dlq");
    sms.outboundDeadLetter = settings_.topic("notifications.outbound.dlq");
    sms.dailyLimit = settings_.smsDailyLimit;
    sms.pickupBusinessDays = settings_.smsPickupBusinessDays;
    sms.maxAttempts = settings_.smsMaxAttempts;
    sms.lockMaxSeconds = settings_.smsLockMaxSeconds;
    sms.calendar = loadCalendar(settings_.smsHolidaysFile);
    sms.offices = std::make_shared<const jobs::sms::OfficeTable>(loadOffices(settings_.smsOfficesFile));
    parts_->calendar = sms.calendar;
    parts_->pickupBusinessDays = sms.pickupBusinessDays;
    for (const auto& warning : parts_->warnings()) Poco::Logger::get("serve").warning("%s", warning);
    // The SMS pipelines answer a person waiting for a reply: their own batch wait, fetch wait and linger (sms.*).
    auto smsPipelineSettings = [&](const std::string& name, const std::string& input,
                                   std::vector<std::string> outputs) {
        auto pipeline = pipelineSettings(name, input, std::move(outputs));
        pipeline.takeWhatIsQueued = true;  // a batch is what is queued: no wait for it to fill (issue 11)
        pipeline.gatherMs = 1;             // but after an idle wait, what comes within 1 ms joins the first message
        pipeline.batchTimeoutMs = settings_.smsBatchTimeoutMs;
        pipeline.kafka.rdkafka["fetch.wait.max.ms"] = std::to_string(settings_.smsFetchWaitMaxMs);
        pipeline.kafka.rdkafka["linger.ms"] = std::to_string(settings_.smsLingerMs);
        return pipeline;
    };
    addPipeline(smsPipelineSettings("sms", "sms.inbound", {"notifications.outbound", "sms.inbound.dlq"}),
                std::make_unique<SmsStage>(sms, connectors, parts_->store->sms(),
                                           std::make_unique<connectors::RedisClient>(settings_.redis),
                                           parts_->metrics.pipeline("sms")));
    auto sender = std::make_unique<SenderStage>(sms, connectors.sms, parts_->store->notifications(),
                                                parts_->metrics.pipeline("sender"), parts_->metrics.smsSegments());
    SenderStage* const senderStage = sender.get();  // its webhook workers are given below, before start()
    addPipeline(smsPipelineSettings("sender", "notifications.outbound", {"notifications.outbound.dlq"}),
                std::move(sender));

    SchedulerSettings schedulerSettings;
    schedulerSettings.outboundTopic = sms.outboundTopic;
    schedulerSettings.kafka = settings_.kafka;
    schedulerSettings.intervalMs = settings_.smsSchedulerIntervalS * 1000;
    schedulerSettings.requeueAfterSeconds = settings_.smsRequeueAfterS;
    schedulerSettings.inboundTopic = settings_.topic("sms.inbound");
    schedulerSettings.inboxRequeueAfterSeconds = settings_.smsInboxRequeueAfterS;
    schedulerSettings.inboxMaxAttempts = settings_.smsInboxMaxAttempts;
    schedulerSettings.inboxRetentionSeconds = settings_.smsInboxRetentionS;
    schedulerSettings.onInboxRedriven = [this](int count) {
        parts_->metrics.smsInboxRedrives().Increment(static_cast<double>(count));
    };
    parts_->metrics.smsInboxRedrives();  // on /metrics from the start, at 0
    parts_->scheduler = std::make_unique<SmsScheduler>(schedulerSettings, parts_->store->sms());

    api::SmsApiSettings smsApiSettings;
    smsApiSettings.inboundTopic = settings_.topic("sms.inbound");
    smsApiSettings.outboundTopic = sms.outboundTopic;
    smsApiSettings.outboundDeadLetter = sms.outboundDeadLetter;
    smsApiSettings.maxAttempts = settings_.smsMaxAttempts;
    // One producer for the SMS and dead-letter routes; sms.produce_timeout_ms bounds each request's wait for it.
    const auto smsProducer = std::make_shared<api::AcknowledgedProducer>(
        settings_.kafka,
        std::vector<std::string>{smsApiSettings.inboundTopic, smsApiSettings.outboundTopic,
                                 smsApiSettings.outboundDeadLetter},
        settings_.smsProduceTimeoutMs);
    parts_->smsApi =
        std::make_unique<api::SmsApi>(smsApiSettings, parts_->store->sms(), parts_->store->tokens(), smsProducer);
    parts_->deadLetterApi =
        std::make_unique<api::DeadLetterApi>(api::DeadLetterApiSettings{sms.outboundTopic},
                                             parts_->store->notifications(), parts_->store->tokens(), smsProducer);

    // Issue 13: webhook notifications are handed by the sender to workers of their own (bounded queue, at most
    // webhook.concurrency POSTs at once, each with webhook.timeout_ms), so a slow receiver never holds up SMS replies.
    const auto webhookStop = std::make_shared<StopSignal>();
    connectors::WebhookClientSettings webhookSettings;
    webhookSettings.timeout = std::chrono::milliseconds(settings_.webhookTimeoutMs);
    webhookSettings.attempts = settings_.webhookAttempts;
    webhookSettings.backoff = std::chrono::milliseconds(settings_.webhookBackoffMs);
    webhookSettings.backoffMax = std::chrono::milliseconds(settings_.webhookBackoffMaxMs);
    webhookSettings.allowPrivateHosts = settings_.webhookAllowPrivateHosts;
    webhookSettings.sleep = [webhookStop](std::chrono::milliseconds wait) { webhookStop->sleepFor(wait); };
    WebhookWorkerSettings workerSettings;
    workerSettings.concurrency = settings_.webhookConcurrency;
    workerSettings.queueSize = static_cast<std::size_t>(settings_.webhookQueueSize);
    parts_->webhookWorkers = std::make_shared<WebhookWorkers>(
        workerSettings, std::make_shared<connectors::HttpWebhookSender>(webhookSettings), parts_->store->webhooks(),
        parts_->store->notifications(),
        [smsProducer, topic = sms.outboundDeadLetter](const std::string& key, const std::string& value) {
            smsProducer->produce({{key, value}}, topic, "");
        },
        webhookStop);
    senderStage->deliverWebhooks(parts_->webhookWorkers);
    // Issue 13: the batch-done notifications a completion committed go to notifications.outbound at once (the
    // scheduler's sweep of queued notifications stays the safety net for a crash between commit and produce).
    parts_->outboxRelay = std::make_unique<OutboxRelay>(
        [smsProducer, topic = sms.outboundTopic](const std::vector<connectors::NotificationRecord>& records) {
            std::vector<std::pair<std::string, std::string>> keyed;
            keyed.reserve(records.size());
            for (const auto& record : records) keyed.emplace_back(record.msisdn, notificationJson(record));
            smsProducer->produce(keyed, topic, "");
        });
    parts_->store->database().onOutboxCommitted(
        [relay = parts_->outboxRelay.get()](const std::vector<connectors::NotificationRecord>& records) {
            relay->relay(records);
        });

    DispatcherSettings dispatcherSettings;
    dispatcherSettings.requestsTopic = settings_.topic("inquiry.requests");
    dispatcherSettings.paymentsTopic = settings_.topic("payments.records");
    dispatcherSettings.kafka = settings_.kafka;
    dispatcherSettings.window = settings_.dispatchWindowRows;
    dispatcherSettings.partitions = settings_.brokerPartitions;
    dispatcherSettings.blockRows = settings_.dispatchBlockRows;
    dispatcherSettings.chunk = settings_.dispatchChunkRows;
    dispatcherSettings.paymentLeaseMs = settings_.paymentLeaseS * 1000LL;
    dispatcherSettings.recheckWindowMs = settings_.paymentRecheckHours * 3600LL * 1000;
    dispatcherSettings.recheckEveryMs = settings_.paymentRecheckIntervalS * 1000;
    parts_->dispatcher = std::make_unique<BatchDispatcher>(dispatcherSettings, parts_->store->batches(),
                                                           parts_->store->payments(), connectors.payment,
                                                           std::make_unique<connectors::RedisClient>(settings_.redis));
    parts_->dispatcher->onRecoveredPaid([this](long long amount) {
        parts_->metrics.paymentsCount().Increment();
        parts_->metrics.paymentsAmount().Increment(static_cast<double>(amount));
    });
    const auto countRefundDue = [this](long long amount) {
        parts_->metrics.refundsDueCount().Increment();
        parts_->metrics.refundsDueAmount().Increment(static_cast<double>(amount));
    };
    parts_->dispatcher->onRefundDue(countRefundDue);

    parts_->webhookApi =
        std::make_unique<api::WebhookApi>(api::WebhookApiSettings{settings_.webhookAllowPrivateHosts, nullptr},
                                          parts_->store->tokens(), parts_->store->webhooks());

    api::CreditorApiSettings apiSettings;
    apiSettings.spoolDir = settings_.varDir + "/spool";
    apiSettings.maxRows = static_cast<std::size_t>(settings_.batchRows);
    apiSettings.maxBytes = settings_.batchBytes;
    apiSettings.feeProperty = settings_.feeProperty;
    apiSettings.feeIncomeYear = settings_.feeIncomeYear;
    apiSettings.paymentLeaseMs = settings_.paymentLeaseS * 1000LL;
    parts_->creditorApi = std::make_unique<api::CreditorApi>(
        apiSettings,
        api::CreditorStores{parts_->store->batches(), parts_->store->results(), parts_->store->payments(),
                            parts_->store->tokens()},
        connectors.payment, [this](const std::string& batchId, long long amount, const std::string& id) {
            parts_->metrics.paymentsCount().Increment();
            parts_->metrics.paymentsAmount().Increment(static_cast<double>(amount));
            parts_->dispatcher->paid(batchId, id);
        });
    parts_->creditorApi->openConnectors([connectors] {
        std::vector<std::string> open;
        for (const auto* status : connectors::httpConnectorStatuses(connectors))
            if ((status->connectorName() == "registry" || status->connectorName() == "taxdata") &&
                status->breakerState() == connectors::BreakerState::kOpen)
                open.push_back(status->connectorName());
        return open;
    });
    parts_->creditorApi->onRefundDue(countRefundDue);
    parts_->creditorApi->signResults(parts_->signer, parts_->signatures.get());
    parts_->creditorApi->onDownload([this](const std::string& creditorId, const std::string& batchId,
                                           const std::string& format, int rows, const std::string& requestId) {
        try {
            parts_->store->audit().recordDownload(creditorId, batchId, format, rows, requestId);
        } catch (const std::exception& error) {
            Poco::Logger::get("audit").error("batch %s: the download could not be recorded: %s", batchId,
                                             std::string(error.what()));
        }
    });
    parts_->auditApi = std::make_unique<api::AuditApi>(parts_->store->audit(), parts_->store->tokens());
    parts_->creditorApi->onRetry(
        [this](const std::string& batchId, const std::string& id) { parts_->dispatcher->retried(batchId, id); });
    parts_->dashboardApi = std::make_unique<api::DashboardApi>(parts_->metrics, parts_->store->batches(), connectors);

    parts_->kafkaProbe = std::make_unique<connectors::kafka::Producer>(settings_.kafka, nullptr);
    parts_->redisProbe = std::make_unique<connectors::RedisClient>(settings_.redis);
}

Service::~Service() {
    // A destructor must not throw (it may run while an exception unwinds): stop() joins threads and logs, and either
    // may throw (std::system_error, a logging channel's I/O error).
    try {
        stop();
    } catch (const std::exception& error) {
        try {
            Poco::Logger::get("serve").error("stopping failed: %s", std::string(error.what()));
        } catch (...) {
        }
    } catch (...) {
    }
}

void Service::start(std::function<void()> onFatal) {
    auto& parts = *parts_;
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
                          // Warnings leave readiness as it is: the service works, but someone should act.
                          std::string warnings = "[";
                          for (const auto& warning : parts_->warnings()) {
                              if (warnings.size() > 1) warnings += ",";
                              jobs::json::appendString(warnings, warning);
                          }
                          warnings += "]";
                          std::string body;
                          jobs::json::ObjectWriter(body)
                              .field("status", state.ready() ? "ready" : "not_ready")
                              .raw("checks", checks)
                              .raw("warnings", warnings)
                              .close();
                          return jsonReply(state.ready() ? 200 : 503, std::move(body));
                      }});
    for (auto& route : parts.creditorApi->routes()) routes.push_back(std::move(route));
    for (auto& route : parts.smsApi->routes()) routes.push_back(std::move(route));
    for (auto& route : parts.deadLetterApi->routes()) routes.push_back(std::move(route));
    for (auto& route : parts.auditApi->routes()) routes.push_back(std::move(route));
    for (auto& route : parts.dashboardApi->routes()) routes.push_back(std::move(route));
    for (auto& route : parts.webhookApi->routes()) routes.push_back(std::move(route));
    for (auto& route : staticPageRoutes()) routes.push_back(std::move(route));
    HttpServerSettings http;
    http.host = settings_.httpHost;
    http.port = settings_.httpPort;
    http.threads = settings_.httpThreads;
    http.maxBodyBytes = static_cast<std::size_t>(settings_.httpMaxBodyBytes);
    http.headerTimeoutMs = settings_.httpHeaderTimeoutMs;
    http.bodyTimeoutMs = settings_.httpBodyTimeoutMs;
    http.readTimeoutMs = settings_.httpReadTimeoutMs;
    http.keepAliveTimeoutMs = settings_.httpKeepAliveTimeoutMs;
    http.keepAliveRequests = settings_.httpKeepAliveRequests;
    http.maxConnectionsPerClient = settings_.httpMaxConnectionsPerClient;
    http.maxQueued = settings_.httpMaxQueued;
    http.requestTimeoutMs = settings_.httpRequestTimeoutMs;
    http.streamTimeoutMs = settings_.httpStreamTimeoutMs;
    http.maxConnections = settings_.httpMaxConnections;
    // Listen first: a port in use (another engine there) stops this one before it joins a consumer group, which would
    // make the engines in that group rebalance, and before its dispatcher claims a batch.
    parts.http = std::make_unique<HttpServer>(http, std::move(routes));
    Poco::Logger::get("serve").information("HTTP on %s:%d", settings_.httpHost, parts.http->port());
    parts.dispatcher->start();
    parts.scheduler->start();
    for (auto& running : parts.pipelines) {
        running.thread = std::thread([&parts, &running, onFatal] {
            try {
                running.pipeline->run(parts.stopping);
            } catch (const std::exception& error) {
                {
                    std::lock_guard lock(parts.probeMutex);
                    parts.failure = running.name + ": " + error.what();
                }
                parts.failed = true;
                Poco::Logger::get("pipeline." + running.name)
                    .critical("pipeline stopped: %s", std::string(error.what()));
                if (onFatal) onFatal();
            }
        });
    }
}

bool Service::stop() {
    auto& parts = *parts_;
    if (parts.stopping.exchange(true)) return !parts.failed;
    parts.http.reset();  // stop accepting first
    parts.dispatcher->stop();
    parts.scheduler->stop();
    for (auto& running : parts.pipelines)
        if (running.thread.joinable()) running.thread.join();
    // Issue 13: nothing completes any more; what was not produced or POSTed stays queued in the store (the sweep).
    parts.store->database().onOutboxCommitted(nullptr);
    parts.outboxRelay->stop();
    parts.webhookWorkers->stop();
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
        state.pipeline = "pipeline stopped: " + parts_->failure;
    } else {
        for (const auto& running : parts_->pipelines)
            if (!running.pipeline->assigned())
                state.pipeline = running.name + " pipeline has not joined its consumer group yet";
    }
    return state;
}

}  // namespace taxdesk::engine
