#include "engine/flow/sms_stage.hpp"

#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Logger.h>
#include <Poco/RandomStream.h>
#include <Poco/Timestamp.h>

#include <cmath>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "connectors/store/sql_notification_store.hpp"
#include "connectors/store/sql_pickup_store.hpp"
#include "engine/flow/sms_ports.hpp"
#include "engine/flow/webhook_delivery.hpp"
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

/// Outcomes recorded in one transaction, at most: on SQLite every other writer (the API's inbox, the sender) waits
/// for it, so a backlog is committed in slices rather than in one long transaction.
constexpr std::size_t kRecordsPerTransaction = 128;

/// The SQL store's database behind these areas, or null (fakes in unit tests: each call is its own transaction).
connectors::Database* sqlDatabase(connectors::PickupStore& pickups) {
    auto* sql = dynamic_cast<connectors::SqlPickupStore*>(&pickups);
    return sql != nullptr ? &sql->database() : nullptr;
}

connectors::Database* sqlDatabase(connectors::NotificationStore& notifications) {
    auto* sql = dynamic_cast<connectors::SqlNotificationStore*>(&notifications);
    return sql != nullptr ? &sql->database() : nullptr;
}

}  // namespace

namespace {

/// The flat reader (issue 11: no JSON DOM a message) for what the API produces: a flat object of strings. Nullopt for
/// anything else (another field type, not JSON), which the DOM reader below reads or refuses as it always did.
std::optional<InboundFields> readInboundFlat(std::string_view value) {
    std::vector<jobs::json::Field> fields;
    try {
        fields = jobs::json::parseFlatObject(value);
    } catch (const jobs::json::ParseError&) {
        return std::nullopt;
    }
    InboundFields out;
    for (auto& field : fields) {
        std::string* target = field.name == "msisdn"           ? &out.msisdn
                              : field.name == "text"           ? &out.text
                              : field.name == "gateway_msg_id" ? &out.gatewayMsgId
                              : field.name == "received_at"    ? &out.receivedAt
                                                               : nullptr;
        if (target == nullptr) continue;
        auto* text = std::get_if<std::string>(&field.value.scalar);
        if (field.value.isArray || text == nullptr) return std::nullopt;
        *target = std::move(*text);
    }
    return out;
}

}  // namespace

/// An inbound SMS message's fields; throws Poco::Exception when the value is not a JSON object.
InboundFields readInbound(std::string_view value) {
    if (auto flat = readInboundFlat(value)) return std::move(*flat);
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

namespace {

/// The flat reader for a notification as notificationJson() writes it (issue 11: no JSON DOM a message). False for
/// anything else (a field missing or of another type, not JSON): the DOM reader then reads it or names what is wrong.
bool readNotificationFlat(std::string_view value, connectors::NotificationRecord& out) {
    std::vector<jobs::json::Field> fields;
    try {
        fields = jobs::json::parseFlatObject(value);
    } catch (const jobs::json::ParseError&) {
        return false;
    }
    bool id = false;
    bool msisdn = false;
    bool text = false;
    out.kind = connectors::toString(connectors::NotificationKind::reply);
    out.attempt = 0;
    for (auto& field : fields) {
        if (field.value.isArray) return false;
        if (field.name == "attempt") {
            const auto* number = std::get_if<double>(&field.value.scalar);
            // An integer the DOM reader would read as int; anything else goes its way.
            if (number == nullptr || !(*number >= 0 && *number <= 1e6) || *number != std::trunc(*number)) return false;
            out.attempt = std::max(0, static_cast<int>(*number) - 1);
            continue;
        }
        std::string* target = field.name == "notification_id" ? &out.notificationId
                              : field.name == "msisdn"        ? &out.msisdn
                              : field.name == "text"          ? &out.text
                              : field.name == "kind"          ? &out.kind
                                                              : nullptr;
        if (target == nullptr) continue;
        auto* string = std::get_if<std::string>(&field.value.scalar);
        if (string == nullptr) return false;
        *target = std::move(*string);
        id = id || target == &out.notificationId;
        msisdn = msisdn || target == &out.msisdn;
        text = text || target == &out.text;
    }
    return id && msisdn && text;
}

}  // namespace

connectors::NotificationRecord readNotification(std::string_view value) {
    connectors::NotificationRecord notification;
    if (readNotificationFlat(value, notification)) return notification;
    notification = {};
    const auto object = Poco::JSON::Parser().parse(std::string(value)).extract<Poco::JSON::Object::Ptr>();
    notification.notificationId = object->getValue<std::string>("notification_id");
    notification.msisdn = object->getValue<std::string>("msisdn");
    notification.text = object->getValue<std::string>("text");
    notification.kind =
        object->optValue<std::string>("kind", connectors::toString(connectors::NotificationKind::reply));
    notification.attempt = std::max(0, object->optValue<int>("attempt", 1) - 1);
    return notification;
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
      metrics_(metrics),
      database_(sqlDatabase(store.pickups)),
      sqlPickups_(dynamic_cast<connectors::SqlPickupStore*>(&store.pickups)) {
    if (!counters_) throw std::invalid_argument("SmsStage: no counters");
}

std::unique_ptr<PreparedBatch> SmsStage::prepare(const std::vector<connectors::kafka::Message>& batch) {
    // Two phases (issue 11): every message is decided first (connectors, counters, reads), then the outcomes are
    // recorded together, one transaction for up to kRecordsPerTransaction of them instead of one each, and no network
    // call inside it. Messages of one msisdn or one applicant stay in order: a second application of one applicant in
    // the batch finds the first's pickup when it is recorded (OpenPickupExists: it re-sends that one, as record()
    // does for one made by another engine), and a gateway_msg_id given twice is stored once, both answered with its
    // one reply. Everything is written before the replies are produced and the offsets committed (SPEC 6), and a
    // failure rolls back the slice and fails the batch, which the pipeline tries again: idempotent by gateway_msg_id.
    std::vector<std::string> reasons(batch.size());
    std::vector<std::optional<InboundFields>> fields(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
        try {
            fields[i] = readInbound(batch[i].value());
        } catch (const Poco::Exception& error) {
            reasons[i] = "not an inbound SMS object: " + error.displayText();
        }
    }
    const auto reads = readBatch(fields);
    auto counters = prefetchCounters(fields, reads ? &*reads : nullptr);
    std::vector<std::optional<Decided>> decided(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (!fields[i]) continue;
        if (counters) counters->startMessage(i);
        decided[i] = decide(*fields[i], reasons[i], reads ? &*reads : nullptr, counters ? &*counters : nullptr);
    }
    if (counters) counters->finish();

    std::vector<std::optional<connectors::NotificationRecord>> replies(batch.size());
    for (std::size_t first = 0; first < batch.size(); first += kRecordsPerTransaction) {
        const std::size_t end = std::min(batch.size(), first + kRecordsPerTransaction);
        std::optional<connectors::StoreTransaction> transaction;
        if (database_ != nullptr) transaction.emplace(*database_);
        for (std::size_t i = first; i < end; ++i)
            if (decided[i]) replies[i] = recordDecided(*decided[i]);
        if (transaction) transaction->commit();
    }

    auto prepared = std::make_unique<PreparedBatch>();
    prepared->out.resize(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const std::string requestId = batch[i].header("request_id");
        if (const auto& reply = replies[i]) {
            // The request id travels on: the sender's log lines can be matched to the gateway's HTTP request.
            prepared->out[i].push_back(
                {settings_.outboundTopic, reply->msisdn, notificationJson(*reply), {{"request_id", requestId}}});
            Poco::Logger::get("sms").information("request_id=%s notification=%s kind=%s", requestId,
                                                 reply->notificationId, reply->kind);
        } else {
            prepared->out[i].push_back({settings_.inboundDeadLetter,
                                        std::string(batch[i].key()),
                                        deadLetterValue(batch[i].value(), reasons[i], 1),
                                        {{"request_id", requestId}}});
            Poco::Logger::get("sms").warning("request_id=%s dead letter: %s", requestId, reasons[i]);
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
    const auto decided = decide(value, deadLetterReason);
    if (!decided) return std::nullopt;
    return recordDecided(*decided);
}

std::optional<SmsStage::BatchReads> SmsStage::readBatch(const std::vector<std::optional<InboundFields>>& fields) {
    if (sqlPickups_ == nullptr) return std::nullopt;
    BatchReads reads;
    std::vector<std::string> ids;
    std::vector<std::string> applicants;
    const std::int64_t now = unixNow();
    const int year = jobs::sms::taipeiDate(now).year;
    for (const auto& message : fields) {
        if (!message || message->gatewayMsgId.empty()) continue;
        ids.push_back(message->gatewayMsgId);
        // The applicant as decideApplication will read it; one it reads otherwise (a year turning meanwhile) is asked
        // of the store then (PrefetchedPickups).
        const auto parsed = jobs::sms::parseSmsText(message->text, year);
        if (parsed.kind == jobs::sms::ParsedSms::Kind::application && reads.applicants.insert(parsed.id).second)
            applicants.push_back(parsed.id);
    }
    for (auto& record : sqlPickups_->findInbounds(ids)) {
        std::string id = record.gatewayMsgId;
        reads.inbound.emplace(std::move(id), std::move(record));
    }
    // Read before any message is decided, as each message's own read was: the pickups open now (each decision still
    // checks the deadline at its own instant).
    reads.open = sqlPickups_->openPickupsOf(applicants, now);
    return reads;
}

std::optional<jobs::sms::PrefetchedCounters> SmsStage::prefetchCounters(
    const std::vector<std::optional<InboundFields>>& fields, const BatchReads* reads) {
    auto* batchPort = dynamic_cast<jobs::sms::CounterBatchPort*>(counters_.get());
    if (batchPort == nullptr) return std::nullopt;
    std::vector<std::optional<jobs::sms::CounterAsk>> asks(fields.size());
    std::vector<jobs::sms::CounterAsk> asked;
    const std::int64_t now = unixNow();
    const int year = jobs::sms::taipeiDate(now).year;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        const auto& message = fields[i];
        // The applications decideApplication will count as it will see them; a message answered before takes its
        // reply again instead (decide), and one seen otherwise at decision time (a day turning meanwhile) asks then.
        if (!message || message->gatewayMsgId.empty()) continue;
        if (reads != nullptr && reads->inbound.contains(message->gatewayMsgId)) continue;
        auto msisdn = jobs::sms::normalizeMsisdn(message->msisdn);
        if (!msisdn) continue;
        const auto parsed = jobs::sms::parseSmsText(message->text, year);
        if (parsed.kind != jobs::sms::ParsedSms::Kind::application) continue;
        asks[i] = jobs::sms::CounterAsk{
            parsed.id, std::move(*msisdn),
            jobs::sms::dayKey(jobs::sms::applicationInstant(message->receivedAt, now).unixSeconds),
            message->gatewayMsgId};
        asked.push_back(*asks[i]);
    }
    if (asked.empty()) return std::nullopt;
    std::vector<jobs::sms::CounterAnswer> answered;
    try {
        answered = batchPort->checkAndCount(asked);
    } catch (const jobs::sms::CountersUnavailable&) {
        return std::nullopt;  // each message asks on its own, and is refused "try later" as before
    }
    std::vector<std::optional<jobs::sms::CounterAnswer>> answers(fields.size());
    for (std::size_t i = 0, next = 0; i < fields.size(); ++i)
        if (asks[i]) answers[i] = std::move(answered.at(next++));
    return std::optional<jobs::sms::PrefetchedCounters>(std::in_place, *counters_, std::move(asks), std::move(answers));
}

std::optional<SmsStage::Decided> SmsStage::decide(std::string_view value, std::string& deadLetterReason) {
    InboundFields fields;
    try {
        fields = readInbound(value);
    } catch (const Poco::Exception& error) {
        deadLetterReason = "not an inbound SMS object: " + error.displayText();
        return std::nullopt;
    }
    return decide(fields, deadLetterReason, nullptr);
}

std::optional<SmsStage::Decided> SmsStage::decide(const InboundFields& fields, std::string& deadLetterReason,
                                                  const BatchReads* reads, jobs::sms::CounterPort* counters) {
    const std::string& gatewayMsgId = fields.gatewayMsgId;
    const auto msisdn = jobs::sms::normalizeMsisdn(fields.msisdn);
    if (!msisdn || gatewayMsgId.empty()) {
        deadLetterReason = !msisdn ? "msisdn is not 09xxxxxxxx or +8869xxxxxxxx" : "gateway_msg_id is missing";
        return std::nullopt;
    }
    Decided decided;
    decided.sms = {*msisdn, fields.text, gatewayMsgId, fields.receivedAt};

    // The same gateway_msg_id again: its one reply, again (the sender sends a notification id once).
    std::optional<connectors::InboundRecord> seen;
    if (reads != nullptr) {
        if (const auto found = reads->inbound.find(gatewayMsgId); found != reads->inbound.end()) seen = found->second;
    } else {
        seen = store_.pickups.findInbound(gatewayMsgId);
    }
    if (seen) {
        if (auto reply = store_.notifications.findNotification(seen->replyNotificationId)) {
            decided.known = std::move(reply);
            return decided;
        }
    }

    // The decision (jobs/sms/application.hpp) over this engine's connectors.
    decided.nowMillis = nowMs();
    ConnectorIdentity identity(connectors_);
    StorePickups stored(store_.pickups);
    std::optional<PrefetchedPickups> prefetched;
    if (reads != nullptr) prefetched.emplace(store_.pickups, reads->applicants, reads->open);
    jobs::sms::PickupPort& pickups = prefetched ? static_cast<jobs::sms::PickupPort&>(*prefetched) : stored;
    decided.decision = jobs::sms::decideApplication(decided.sms, decided.nowMillis, rulesOf(settings_),
                                                    {identity, counters != nullptr ? *counters : *counters_, pickups});
    for (const auto& note : decided.decision->notes) {
        auto& logger = Poco::Logger::get("sms");
        if (note.warning)
            logger.warning("gateway_msg_id=%s %s", gatewayMsgId, note.text);
        else
            logger.information("gateway_msg_id=%s %s", gatewayMsgId, note.text);
    }
    return decided;
}

connectors::NotificationRecord SmsStage::recordDecided(const Decided& decided) {
    if (decided.known) {
        // Its inbox row is normally done already (in recordSmsOutcome's transaction); not so for a message the
        // gateway sent again after its done row was pruned: done now, or the inbox sweep would re-drive it.
        store_.inbox.markInboxDone(decided.sms.gatewayMsgId);
        return *decided.known;
    }
    StorePickups pickups(store_.pickups);
    return record(*decided.decision, decided.sms, decided.nowMillis / 1000, pickups);
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
      segments_(segments),
      database_(sqlDatabase(notifications)),
      sqlNotifications_(dynamic_cast<connectors::SqlNotificationStore*>(&notifications)) {}

std::unique_ptr<PreparedBatch> SenderStage::prepare(const std::vector<connectors::kafka::Message>& batch) {
    // Three phases (issue 11): the batch's notifications are stored and looked up in one transaction, sent with no
    // transaction open (the gateway is a network call), and their sends recorded in one transaction; one each per
    // message before. The gateway is idempotent by notification id, so a batch tried again after a failure sends
    // nothing twice.
    auto prepared = std::make_unique<PreparedBatch>();
    prepared->out.resize(batch.size());
    std::vector<std::optional<connectors::NotificationRecord>> notifications(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
        connectors::NotificationRecord notification;
        try {
            notification = readNotification(batch[i].value());
        } catch (const Poco::Exception& error) {
            prepared->out[i].push_back(
                {settings_.outboundDeadLetter, std::string(batch[i].key()),
                 deadLetterValue(batch[i].value(), "not a notification: " + error.displayText(), 1)});
            metrics_.messagesFailed.Increment();
            continue;
        }
        notification.status = connectors::toString(connectors::NotificationStatus::queued);
        notifications[i] = std::move(notification);
    }

    const auto inOneTransaction = [this](auto&& work) {
        std::optional<connectors::StoreTransaction> transaction;
        if (database_ != nullptr) transaction.emplace(*database_);
        work();
        if (transaction) transaction->commit();
    };
    inOneTransaction([&] {
        std::unordered_set<std::string> inThisBatch;
        std::vector<std::string> ids;
        for (auto& notification : notifications) {
            if (!notification) continue;
            if (!inThisBatch.insert(notification->notificationId).second) {
                notification.reset();  // a second copy in one batch (a replay beside the original): sent once
                continue;
            }
            ids.push_back(notification->notificationId);
        }
        // Issue 11: the batch's stored notifications in one query (SQL store); normally the SMS stage or the
        // scheduler stored each already, and only one not stored yet is inserted (and read) on its own.
        std::unordered_map<std::string, std::string> statusOf;
        if (sqlNotifications_ != nullptr)
            for (auto& stored : sqlNotifications_->findNotifications(ids))
                statusOf.emplace(std::move(stored.notificationId), std::move(stored.status));
        const std::string queued = connectors::toString(connectors::NotificationStatus::queued);
        for (auto& notification : notifications) {
            if (!notification) continue;
            std::optional<std::string> status;
            if (const auto found = statusOf.find(notification->notificationId); found != statusOf.end()) {
                status = found->second;
            } else {
                store_.insertNotification(*notification);  // a no-op when it was stored meanwhile
                if (const auto known = store_.findNotification(notification->notificationId)) status = known->status;
            }
            if (status && *status != queued) notification.reset();  // sent before (a replay): not sent twice
        }
    });

    std::vector<std::optional<connectors::SendReceipt>> receipts(batch.size());
    std::vector<std::optional<std::string>> refusals(batch.size());
    std::exception_ptr retryLater;
    for (std::size_t i = 0; i < batch.size() && !retryLater; ++i) {
        const auto& notification = notifications[i];
        if (!notification) continue;
        if (isWebhookNotification(*notification)) {
            // Issue 13: POSTed by the webhook workers, which mark it; this batch (SMS replies) does not wait on it. A
            // full queue leaves it queued in the store for the scheduler's sweep.
            if (!webhookWorkers_) {
                refusals[i] = "webhook delivery is not configured in this engine";
            } else if (!webhookWorkers_->submit(*notification, std::string(batch[i].value()))) {
                Poco::Logger::get("sender").warning("notification=%s: webhook queue full, left for the sweep",
                                                    notification->notificationId);
            }
            continue;
        }
        try {
            receipts[i] = gateway_->send({notification->notificationId, notification->msisdn, notification->text});
        } catch (const connectors::ConnectorError& error) {
            if (error.isRetryable()) {
                retryLater = std::current_exception();  // the batch is tried again with back-off, after the marks
            } else {
                refusals[i] = error.what();
            }
        }
    }

    inOneTransaction([&] {
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (receipts[i]) {
                store_.markNotificationSent(notifications[i]->notificationId, receipts[i]->gatewayMsgId,
                                            receipts[i]->segments);
            } else if (refusals[i]) {
                store_.markNotificationStatus(notifications[i]->notificationId,
                                              connectors::toString(connectors::NotificationStatus::dead), *refusals[i]);
            }
        }
    });
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (receipts[i]) {
            segments_.Increment(receipts[i]->segments);
            Poco::Logger::get("sender").information("request_id=%s notification=%s sent segments=%d",
                                                    std::string(batch[i].header("request_id")),
                                                    notifications[i]->notificationId, receipts[i]->segments);
        } else if (refusals[i]) {
            prepared->out[i].push_back({settings_.outboundDeadLetter, notifications[i]->msisdn,
                                        deadLetterValue(batch[i].value(), *refusals[i], notifications[i]->attempt)});
            metrics_.messagesFailed.Increment();
        }
    }
    if (retryLater) std::rethrow_exception(retryLater);
    return prepared;
}

}  // namespace taxdesk::engine
