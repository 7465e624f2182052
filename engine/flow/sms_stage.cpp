#include "engine/flow/sms_stage.hpp"

#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Logger.h>
#include <Poco/RandomStream.h>
#include <Poco/Timestamp.h>

#include <stdexcept>

#include "engine/flow/sms_ports.hpp"
#include "engine/runtime/dead_letter.hpp"
#include "jobs/common/json.hpp"
#include "jobs/sms/application.hpp"
#include "jobs/sms/inbound.hpp"
#include "jobs/sms/received_at.hpp"
#include "jobs/sms/replies.hpp"

namespace taxdesk::engine {
namespace {

std::int64_t unixNow() {
    return Poco::Timestamp().epochTime();
}

long long nowMs() {
    return Poco::Timestamp().epochMicroseconds() / 1000;
}

jobs::sms::ApplicationRules rulesOf(const SmsSettings& settings) {
    return {settings.dailyLimit, settings.pickupBusinessDays, settings.lockSeconds, &settings.calendar,
            settings.offices.get()};
}

connectors::PickupRecord pickupRecordOf(const jobs::sms::NewPickup& created) {
    connectors::PickupRecord record;
    record.pickupId = created.pickupId;
    record.code = created.code;
    record.applicantId = created.applicantId;
    record.msisdn = created.msisdn;
    record.service = jobs::sms::serviceCode(created.service);
    record.office = created.office;
    record.deadlineAt = created.deadlineAt;
    record.remindAt = created.remindAt;
    record.state = connectors::toString(connectors::PickupState::open);
    return record;
}

}  // namespace

/// The fields of an inbound SMS message (SPEC 4.1) as the gateway sent them. Throws Poco::Exception when the value
/// is not a JSON object.
struct InboundFields {
    std::string msisdn;
    std::string text;
    std::string gatewayMsgId;
    std::string receivedAt;
};

InboundFields readInbound(std::string_view value) {
    const auto object = Poco::JSON::Parser().parse(std::string(value)).extract<Poco::JSON::Object::Ptr>();
    return {object->optValue<std::string>("msisdn", ""), object->optValue<std::string>("text", ""),
            object->optValue<std::string>("gateway_msg_id", ""), object->optValue<std::string>("received_at", "")};
}

/// The record of an inbound SMS and of its one reply (queued), before the outcome and the reply's text are known.
struct Answer {
    connectors::InboundRecord inbound;
    connectors::NotificationRecord reply;
};

Answer answerFor(const std::string& gatewayMsgId, const std::string& msisdn, const std::string& receivedAt) {
    Answer answer;
    answer.inbound.gatewayMsgId = gatewayMsgId;
    answer.inbound.msisdn = msisdn;
    answer.inbound.receivedAt = receivedAt;
    answer.reply.notificationId = "n-" + gatewayMsgId;
    answer.reply.msisdn = msisdn;
    answer.reply.kind = connectors::toString(connectors::NotificationKind::reply);
    answer.reply.attempt = 0;
    answer.reply.status = connectors::toString(connectors::NotificationStatus::queued);
    answer.inbound.replyNotificationId = answer.reply.notificationId;
    return answer;
}

std::string notificationJson(const connectors::NotificationRecord& notification) {
    std::string out;
    jobs::json::ObjectWriter(out)
        .field("notification_id", notification.notificationId)
        .field("msisdn", notification.msisdn)
        .field("text", notification.text)
        .field("kind", notification.kind)
        .field("attempt", notification.attempt + 1)  // this send's number (the record counts sends made)
        .close();
    return out;
}

SmsStage::SmsStage(SmsSettings settings, connectors::ConnectorSet connectors, connectors::SmsAreas store,
                   std::unique_ptr<connectors::RedisClient> redis, PipelineMetrics metrics)
    : SmsStage(settings, std::move(connectors), store,
               std::make_unique<RedisCounters>(
                   std::move(redis),
                   RedisCounters::Policy{settings.lockFailures, settings.lockSeconds, settings.lockMaxSeconds}),
               metrics) {}

SmsStage::SmsStage(SmsSettings settings, connectors::ConnectorSet connectors, connectors::SmsAreas store,
                   std::unique_ptr<jobs::sms::CounterPort> counters, PipelineMetrics metrics)
    : settings_(std::move(settings)),
      connectors_(std::move(connectors)),
      store_(store),
      counters_(std::move(counters)),
      metrics_(metrics) {
    if (!counters_) throw std::invalid_argument("SmsStage: no counters");
}

std::unique_ptr<PreparedBatch> SmsStage::prepare(const std::vector<connectors::kafka::Message>& batch) {
    auto prepared = std::make_unique<PreparedBatch>();
    prepared->out.resize(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
        std::string reason;
        const std::string requestId = batch[i].header("request_id");
        const auto reply = handle(batch[i].value(), reason);
        if (reply) {
            // The request id travels on: the sender's log lines can be matched to the gateway's HTTP request.
            prepared->out[i].push_back(
                {settings_.outboundTopic, reply->msisdn, notificationJson(*reply), {{"request_id", requestId}}});
            Poco::Logger::get("sms").information("request_id=%s notification=%s kind=%s", requestId,
                                                 reply->notificationId, reply->kind);
        } else {
            prepared->out[i].push_back({settings_.inboundDeadLetter,
                                        std::string(batch[i].key()),
                                        deadLetterValue(batch[i].value(), reason, 1),
                                        {{"request_id", requestId}}});
            Poco::Logger::get("sms").warning("request_id=%s dead letter: %s", requestId, reason);
            metrics_.messagesFailed.Increment();
        }
    }
    return prepared;
}

std::optional<connectors::NotificationRecord> SmsStage::answerUnprocessed(std::string_view value) {
    InboundFields fields;
    try {
        fields = readInbound(value);
    } catch (const Poco::Exception&) {
        return std::nullopt;  // not an inbound SMS: nobody to answer
    }
    const std::string& gatewayMsgId = fields.gatewayMsgId;
    const std::string& receivedAt = fields.receivedAt;
    const auto msisdn = jobs::sms::normalizeMsisdn(fields.msisdn);
    if (!msisdn || gatewayMsgId.empty()) return std::nullopt;
    if (const auto seen = store_.pickups.findInbound(gatewayMsgId))
        if (const auto reply = store_.notifications.findNotification(seen->replyNotificationId)) return reply;
    // The application did not get through: it does not count towards the day's limit (the citizen sends it again).
    try {
        counters_->uncountApplication(
            *msisdn, jobs::sms::dayKey(jobs::sms::applicationInstant(receivedAt, unixNow()).unixSeconds), gatewayMsgId);
    } catch (const jobs::sms::CountersUnavailable&) {
        // Redis away: the count stays (the safe side for a limit).
    }
    Answer answer = answerFor(gatewayMsgId, *msisdn, receivedAt);
    answer.inbound.outcome = "unavailable";
    answer.reply.text = jobs::sms::unavailableText();
    return store_.pickups.recordSmsOutcome(answer.inbound, std::nullopt, answer.reply).reply;
}

std::vector<OutMessage> SmsStage::deadLettered(const connectors::kafka::Message& message,
                                               const std::string& /*error*/) {
    const auto reply = answerUnprocessed(message.value());
    if (!reply) return {};
    Poco::Logger::get("sms").warning(
        "request_id=%s notification=%s: the application failed for good (dead letter); "
        "replied try later",
        message.header("request_id"), reply->notificationId);
    return {{settings_.outboundTopic,
             reply->msisdn,
             notificationJson(*reply),
             {{"request_id", message.header("request_id")}}}};
}

std::optional<connectors::NotificationRecord> SmsStage::handle(std::string_view value, std::string& deadLetterReason) {
    InboundFields fields;
    try {
        fields = readInbound(value);
    } catch (const Poco::Exception& error) {
        deadLetterReason = "not an inbound SMS object: " + error.displayText();
        return std::nullopt;
    }
    const std::string& gatewayMsgId = fields.gatewayMsgId;
    const auto msisdn = jobs::sms::normalizeMsisdn(fields.msisdn);
    if (!msisdn || gatewayMsgId.empty()) {
        deadLetterReason = !msisdn ? "msisdn is not 09xxxxxxxx or +8869xxxxxxxx" : "gateway_msg_id is missing";
        return std::nullopt;
    }

    // The same gateway_msg_id again: its one reply, again (the sender sends a notification id once).
    if (const auto seen = store_.pickups.findInbound(gatewayMsgId)) {
        if (const auto reply = store_.notifications.findNotification(seen->replyNotificationId)) {
            // Its inbox row is normally done already (in recordSmsOutcome's transaction); not so for a message the
            // gateway sent again after its done row was pruned: done now, or the inbox sweep would re-drive it.
            store_.inbox.markInboxDone(gatewayMsgId);
            return reply;
        }
    }

    // The decision (jobs/sms/application.hpp) over this engine's connectors.
    const long long nowMillis = nowMs();
    ConnectorIdentity identity(connectors_);
    StorePickups pickups(store_.pickups);
    jobs::sms::Decision decision =
        jobs::sms::decideApplication({*msisdn, fields.text, gatewayMsgId, fields.receivedAt}, nowMillis,
                                     rulesOf(settings_), {identity, *counters_, pickups});
    for (const auto& note : decision.notes) {
        auto& logger = Poco::Logger::get("sms");
        if (note.warning)
            logger.warning("gateway_msg_id=%s %s", gatewayMsgId, note.text);
        else
            logger.information("gateway_msg_id=%s %s", gatewayMsgId, note.text);
    }
    return record(decision, {*msisdn, fields.text, gatewayMsgId, fields.receivedAt}, nowMillis / 1000, pickups);
}

connectors::NotificationRecord SmsStage::record(jobs::sms::Decision decision, const jobs::sms::InboundSms& sms,
                                                std::int64_t now, jobs::sms::PickupPort& pickups) {
    for (int attempt = 0;; ++attempt) {
        Answer answer = answerFor(sms.gatewayMsgId, sms.msisdn, sms.receivedAt);
        answer.inbound.outcome = jobs::sms::toString(decision.outcome);
        answer.reply.kind = connectors::toString(decision.kind == jobs::sms::ReplyKind::pickupAlert
                                                     ? connectors::NotificationKind::pickupAlert
                                                     : connectors::NotificationKind::reply);
        answer.reply.pickupId = decision.pickupId;
        answer.reply.text = decision.text;
        std::optional<connectors::PickupRecord> pickup;
        if (decision.created) pickup = pickupRecordOf(*decision.created);
        try {
            return store_.pickups.recordSmsOutcome(answer.inbound, pickup, answer.reply).reply;
        } catch (const connectors::OpenPickupExists&) {
            // Another engine made one a moment ago, or one past its deadline is not marked expired yet.
            if (attempt >= 20 || !pickup) throw;
            store_.pickups.expireDue(now);
            if (const auto open = pickups.openPickupFor(pickup->applicantId, pickup->service, now))
                decision = jobs::sms::resendDecision(*open);
        } catch (const connectors::CodeCollision&) {
            if (attempt >= 20 || !pickup) throw;
            jobs::sms::redrawCode(decision, pickups.drawCode());  // taken by another open pickup: draw again
        }
    }
}

SenderStage::SenderStage(SmsSettings settings, std::shared_ptr<connectors::SmsGateway> gateway,
                         connectors::NotificationStore& notifications, PipelineMetrics metrics,
                         prometheus::Counter& segments)
    : settings_(std::move(settings)),
      gateway_(std::move(gateway)),
      store_(notifications),
      metrics_(metrics),
      segments_(segments) {}

std::unique_ptr<PreparedBatch> SenderStage::prepare(const std::vector<connectors::kafka::Message>& batch) {
    auto prepared = std::make_unique<PreparedBatch>();
    prepared->out.resize(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
        connectors::NotificationRecord notification;
        try {
            const auto object =
                Poco::JSON::Parser().parse(std::string(batch[i].value())).extract<Poco::JSON::Object::Ptr>();
            notification.notificationId = object->getValue<std::string>("notification_id");
            notification.msisdn = object->getValue<std::string>("msisdn");
            notification.text = object->getValue<std::string>("text");
            notification.kind =
                object->optValue<std::string>("kind", connectors::toString(connectors::NotificationKind::reply));
            notification.attempt = std::max(0, object->optValue<int>("attempt", 1) - 1);
        } catch (const Poco::Exception& error) {
            prepared->out[i].push_back(
                {settings_.outboundDeadLetter, std::string(batch[i].key()),
                 deadLetterValue(batch[i].value(), "not a notification: " + error.displayText(), 1)});
            metrics_.messagesFailed.Increment();
            continue;
        }
        notification.status = connectors::toString(connectors::NotificationStatus::queued);
        store_.insertNotification(notification);  // a no-op when the SMS stage already wrote it
        const auto known = store_.findNotification(notification.notificationId);
        if (known && known->status != connectors::toString(connectors::NotificationStatus::queued))
            continue;  // sent before (a replay): the gateway is not asked twice
        try {
            // The gateway is idempotent by notification id, so a retry after a lost answer sends nothing twice.
            const auto receipt = gateway_->send({notification.notificationId, notification.msisdn, notification.text});
            store_.markNotificationSent(notification.notificationId, receipt.gatewayMsgId, receipt.segments);
            segments_.Increment(receipt.segments);
            Poco::Logger::get("sender").information("request_id=%s notification=%s sent segments=%d",
                                                    std::string(batch[i].header("request_id")),
                                                    notification.notificationId, receipt.segments);
        } catch (const connectors::ConnectorError& error) {
            if (error.isRetryable()) throw;  // the batch is tried again with back-off
            store_.markNotificationStatus(notification.notificationId,
                                          connectors::toString(connectors::NotificationStatus::dead), error.what());
            prepared->out[i].push_back({settings_.outboundDeadLetter, notification.msisdn,
                                        deadLetterValue(batch[i].value(), error.what(), notification.attempt)});
            metrics_.messagesFailed.Increment();
        }
    }
    return prepared;
}

}  // namespace taxdesk::engine
