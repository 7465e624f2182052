#pragma once
// SPEC 4: the SMS application pipeline's stage (`sms.inbound` → identity → pickup → one reply on
// `notifications.outbound`) and the sender's stage (`notifications.outbound` → SMS gateway).
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "connectors/api/connector_set.hpp"
#include "connectors/redis/redis_client.hpp"
#include "connectors/store/database.hpp"
#include "connectors/store/notification_store.hpp"
#include "connectors/store/sms_areas.hpp"
#include "engine/flow/webhook_delivery.hpp"
#include "engine/runtime/metrics.hpp"
#include "engine/runtime/pipeline.hpp"
#include "jobs/sms/application.hpp"
#include "jobs/sms/batch_counters.hpp"
#include "jobs/sms/pickup_rules.hpp"

namespace taxdesk::connectors {
class SqlPickupStore;
class SqlNotificationStore;
}  // namespace taxdesk::connectors

namespace taxdesk::engine {

/// The fields of an inbound SMS message (SPEC 4.1) as the gateway sent them.
struct InboundFields {
    std::string msisdn;
    std::string text;
    std::string gatewayMsgId;
    std::string receivedAt;
};

struct SmsSettings {
    std::string outboundTopic;       ///< notifications.outbound
    std::string inboundDeadLetter;   ///< sms.inbound.dlq
    std::string outboundDeadLetter;  ///< notifications.outbound.dlq
    int dailyLimit = 5;
    int pickupBusinessDays = 3;
    int maxAttempts = 3;
    int lockFailures = 3;        ///< failed identity checks that lock an ID and an msisdn …
    int lockSeconds = 600;       ///< … failed within this sliding window; a first lock lasts this long, …
    int lockMaxSeconds = 14400;  ///< … each further lock within 24 h twice as long, at most this (sms.lock_max_seconds)
    jobs::sms::BusinessCalendar calendar;
    std::shared_ptr<const jobs::sms::OfficeTable> offices;
};

/// An inbound SMS message's fields (absent ones empty). Read without a JSON DOM when it is a flat object of strings, as
/// the API writes it; anything else as Poco::JSON reads it. Throws Poco::Exception when it is not a JSON object.
InboundFields readInbound(std::string_view value);

/// A notification on notifications.outbound as notificationJson() writes it (attempt: sends before this one); kind
/// `reply` and attempt 1 when absent. Read without a JSON DOM when flat, else as Poco::JSON reads it. Throws
/// Poco::Exception when it is not a JSON object or misses notification_id, msisdn or text.
connectors::NotificationRecord readNotification(std::string_view value);

/// The JSON of a notification on notifications.outbound: {notification_id, msisdn, text, kind, attempt}.
std::string notificationJson(const connectors::NotificationRecord& notification);

/// Processes inbound SMS. Each message's effects (the inbound record, a pickup, the reply, its inbox row marked done)
/// are written in one transaction during prepare(), before the offset commit, keyed by gateway_msg_id: a message seen
/// again re-sends the same reply and changes nothing else, so prepare() may write (its replay is harmless) and commit()
/// has nothing left to do. Messages of one msisdn are processed in order (one partition, one thread).
class SmsStage : public BatchStage {
  public:
    /// `redis` holds the shared counters (daily limit, failed checks) and locks; when it is unreachable, applications
    /// are refused ("try again later") rather than let a limit be exceeded.
    SmsStage(SmsSettings settings, connectors::ConnectorSet connectors, connectors::SmsAreas store,
             std::unique_ptr<connectors::RedisClient> redis, PipelineMetrics metrics);
    /// The same over any counters (a fake in unit tests); `counters` must not be null.
    SmsStage(SmsSettings settings, connectors::ConnectorSet connectors, connectors::SmsAreas store,
             std::unique_ptr<jobs::sms::CounterPort> counters, PipelineMetrics metrics);
    std::unique_ptr<PreparedBatch> prepare(const std::vector<connectors::kafka::Message>& batch) override;

    /// Processes one inbound SMS value (JSON), returning the reply to produce. Redis away, or the registry or NHI
    /// connector failing transiently (after their own retries), is answered "try later" (outcome unavailable) and does
    /// not count towards the daily limit, which counts each gateway_msg_id once. Throws StoreError when the store
    /// failed (the pipeline retries or, when permanent, dead-letters) and a connector's PermanentError; returns nullopt
    /// for a message that goes to the DLQ.
    std::optional<connectors::NotificationRecord> handle(std::string_view value, std::string& deadLetterReason);
    /// A message that failed for good (a connector's or the store's permanent refusal) still gets its one reply
    /// (SPEC 4.1): "try later", recorded as outcome unavailable, not counted towards the daily limit. A message
    /// answered before gets that reply again. Nullopt when there is nobody to answer (no msisdn or gateway_msg_id).
    std::optional<connectors::NotificationRecord> answerUnprocessed(std::string_view value);
    /// The pipeline's hook for a dead letter: the reply of answerUnprocessed, to produce with it.
    std::vector<OutMessage> deadLettered(const connectors::kafka::Message& message, const std::string& error) override;

  private:
    /// Issue 11: a poll batch's store reads made up front, one query each (SQL store only) instead of one a message.
    struct BatchReads {
        std::unordered_map<std::string, connectors::InboundRecord> inbound;  ///< the batch's stored ones, by id
        std::unordered_set<std::string> applicants;  ///< the applicants whose open pickups were read …
        std::vector<connectors::PickupRecord> open;  ///< … and those pickups
    };
    /// The reads of the batch's messages that `fields` holds (those read): empty without a SqlPickupStore.
    std::optional<BatchReads> readBatch(const std::vector<std::optional<InboundFields>>& fields);
    /// A message read and decided, not yet recorded: the first half of handle().
    struct Decided {
        std::optional<connectors::NotificationRecord> known;  ///< a message answered before: its reply, again
        std::optional<jobs::sms::Decision> decision;          ///< else the decision to record
        jobs::sms::InboundSms sms;
        long long nowMillis = 0;
    };
    /// Reads the message, finds a reply given before, or decides it (connectors and counters; reads of the store
    /// only). Nullopt, with the reason, for a message that goes to the DLQ.
    std::optional<Decided> decide(std::string_view value, std::string& deadLetterReason);
    /// decide() of a message read already (`fields`), with the batch's reads when made.
    /// `counters`: the batch's (PrefetchedCounters), else the stage's own.
    std::optional<Decided> decide(const InboundFields& fields, std::string& deadLetterReason, const BatchReads* reads,
                                  jobs::sms::CounterPort* counters = nullptr);
    /// Issue 11: the lock checks and daily counts of the batch's applications asked in one round trip, when the
    /// counters can (jobs::sms::CounterBatchPort); nullopt otherwise, or when they are away (each message then asks
    /// and is refused as before).
    std::optional<jobs::sms::PrefetchedCounters> prefetchCounters(
        const std::vector<std::optional<InboundFields>>& fields, const BatchReads* reads);
    /// Writes what decide() found (the second half of handle()); returns the reply.
    connectors::NotificationRecord recordDecided(const Decided& decided);
    /// Records the decision's inbound row, pickup and reply in one transaction. When the store finds the applicant's
    /// pickup made meanwhile, re-sends that one; when it finds the code taken, draws another (at most 20 times).
    connectors::NotificationRecord record(jobs::sms::Decision decision, const jobs::sms::InboundSms& sms,
                                          std::int64_t now, jobs::sms::PickupPort& pickups);

    SmsSettings settings_;
    connectors::ConnectorSet connectors_;
    connectors::SmsAreas store_;
    std::unique_ptr<jobs::sms::CounterPort> counters_;
    PipelineMetrics metrics_;
    /// The SQL store's database when the areas are the SQL ones (null with fakes): a batch's outcomes are recorded in
    /// one StoreTransaction on it.
    connectors::Database* database_ = nullptr;
    connectors::SqlPickupStore* sqlPickups_ = nullptr;  ///< the batch reads' store (null with fakes)
};

/// Sends notifications through the SMS gateway connector and records what was sent (segments, gateway id).
class SenderStage : public BatchStage {
  public:
    SenderStage(SmsSettings settings, std::shared_ptr<connectors::SmsGateway> gateway,
                connectors::NotificationStore& notifications, PipelineMetrics metrics, prometheus::Counter& segments);
    std::unique_ptr<PreparedBatch> prepare(const std::vector<connectors::kafka::Message>& batch) override;
    /// Issue 13: batch notifications for a webhook (kind batch_done, msisdn `webhook:<token id>`) are handed to
    /// `workers` (engine/flow/webhook_delivery.hpp), which POST them apart from this stage: the SMS batch does not wait
    /// on a webhook. Without this call they are dead letters. Set before the pipeline runs.
    void deliverWebhooks(std::shared_ptr<WebhookWorkers> workers) { webhookWorkers_ = std::move(workers); }

  private:
    std::shared_ptr<WebhookWorkers> webhookWorkers_;
    SmsSettings settings_;
    std::shared_ptr<connectors::SmsGateway> gateway_;
    connectors::NotificationStore& store_;
    PipelineMetrics metrics_;
    prometheus::Counter& segments_;
    connectors::Database* database_ = nullptr;                      ///< as SmsStage's
    connectors::SqlNotificationStore* sqlNotifications_ = nullptr;  ///< the batch read's store (null with fakes)
};

}  // namespace taxdesk::engine
