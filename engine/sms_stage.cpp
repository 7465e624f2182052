#include "engine/sms_stage.hpp"

#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Logger.h>
#include <Poco/RandomStream.h>
#include <Poco/Timestamp.h>

#include <random>

#include "engine/dead_letter.hpp"
#include "jobs/common/json.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/sms/inbound.hpp"
#include "jobs/sms/lock_rules.hpp"
#include "jobs/sms/received_at.hpp"
#include "jobs/sms/replies.hpp"

namespace taxdesk::engine {
namespace {

using jobs::sms::ParsedSms;

std::int64_t unixNow() {
    return Poco::Timestamp().epochTime();
}

long long nowMs() {
    return Poco::Timestamp().epochMicroseconds() / 1000;
}

std::string sixDigitCode() {
    static thread_local std::mt19937 generator{std::random_device{}()};
    char code[8];
    std::snprintf(code, sizeof code, "%06d", std::uniform_int_distribution<int>(0, 999999)(generator));
    return code;
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
    answer.reply.kind = "reply";
    answer.reply.attempt = 0;
    answer.reply.status = "queued";
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

SmsStage::SmsStage(SmsSettings settings, connectors::ConnectorSet connectors, connectors::Store& store,
                   std::unique_ptr<connectors::RedisClient> redis, PipelineMetrics metrics)
    : settings_(std::move(settings)),
      connectors_(std::move(connectors)),
      store_(store),
      redis_(std::move(redis)),
      metrics_(metrics) {}

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

std::string SmsStage::dailyKeyOf(const std::string& msisdn, const std::string& receivedAt, std::int64_t now) {
    return "sms:daily:" + msisdn + ":" + jobs::sms::dayKey(jobs::sms::applicationInstant(receivedAt, now).unixSeconds);
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
    if (const auto seen = store_.findInbound(gatewayMsgId))
        if (const auto reply = store_.findNotification(seen->replyNotificationId)) return reply;
    // The application did not get through: it does not count towards the day's limit (the citizen sends it again).
    try {
        redis_->uncount(dailyKeyOf(*msisdn, receivedAt, unixNow()), "sms:counted:" + gatewayMsgId);
    } catch (const connectors::RedisError&) {
        // Redis away: the count stays (the safe side for a limit).
    }
    Answer answer = answerFor(gatewayMsgId, *msisdn, receivedAt);
    answer.inbound.outcome = "unavailable";
    answer.reply.text = jobs::sms::unavailableText();
    return store_.recordSmsOutcome(answer.inbound, std::nullopt, answer.reply).reply;
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
    const std::string& text = fields.text;
    const std::string& gatewayMsgId = fields.gatewayMsgId;
    const std::string& receivedAt = fields.receivedAt;
    const auto msisdn = jobs::sms::normalizeMsisdn(fields.msisdn);
    if (!msisdn || gatewayMsgId.empty()) {
        deadLetterReason = !msisdn ? "msisdn is not 09xxxxxxxx or +8869xxxxxxxx" : "gateway_msg_id is missing";
        return std::nullopt;
    }

    // The same gateway_msg_id again: its one reply, again (the sender sends a notification id once).
    if (const auto seen = store_.findInbound(gatewayMsgId)) {
        if (const auto reply = store_.findNotification(seen->replyNotificationId)) {
            // Its inbox row is normally done already (in recordSmsOutcome's transaction); not so for a message the
            // gateway sent again after its done row was pruned: done now, or the inbox sweep would re-drive it.
            store_.markInboxDone(gatewayMsgId);
            return reply;
        }
    }

    const std::int64_t now = unixNow();
    // The deadline and the daily limit count from when the gateway received the message.
    const jobs::sms::ApplicationInstant applied = jobs::sms::applicationInstant(receivedAt, now);
    if (applied.source != jobs::sms::ReceivedAtSource::gateway &&
        applied.source != jobs::sms::ReceivedAtSource::missing) {
        // Not the text itself: gateway input may hold anything, a whole ID included.
        Poco::Logger::get("sms").information("gateway_msg_id=%s received_at not used (%s): counting from now",
                                             gatewayMsgId, std::string(jobs::sms::toString(applied.source)));
    }
    const jobs::sms::LocalDate appliedOn = jobs::sms::taipeiDate(applied.unixSeconds);
    const ParsedSms parsed = jobs::sms::parseSmsText(text, jobs::sms::taipeiDate(now).year);
    Answer answer = answerFor(gatewayMsgId, *msisdn, receivedAt);
    connectors::InboundRecord& inbound = answer.inbound;
    connectors::NotificationRecord& reply = answer.reply;
    std::optional<connectors::PickupRecord> pickup;

    auto finish = [&](const std::string& outcome, std::string replyText) {
        inbound.outcome = outcome;
        reply.text = std::move(replyText);
        for (int attempt = 0;; ++attempt) {
            try {
                const auto result = store_.recordSmsOutcome(inbound, pickup, reply);
                return std::optional(result.reply);
            } catch (const connectors::OpenPickupExists&) {
                // Another engine made one a moment ago, or one past its deadline is not marked expired yet.
                if (attempt >= 20 || !pickup) throw;
                store_.expireDue(now);
                if (const auto open = store_.openPickupFor(pickup->applicantId, pickup->service, now)) {
                    const jobs::sms::PickupDeadline deadline{jobs::sms::taipeiDate(open->deadlineAt), 18};
                    reply.pickupId = open->pickupId;
                    reply.text = jobs::sms::pickupAlert(*jobs::sms::serviceFromCode(open->service), open->office,
                                                        deadline, open->code);
                    inbound.outcome = "resent";
                    pickup.reset();
                }
            } catch (const connectors::CodeCollision&) {
                if (attempt >= 20 || !pickup) throw;
                pickup->code = sixDigitCode();  // taken by another open pickup: draw again
                reply.text = jobs::sms::pickupAlert(
                    *jobs::sms::serviceFromCode(pickup->service), pickup->office,
                    jobs::sms::pickupDeadline(settings_.calendar, appliedOn, settings_.pickupBusinessDays, now),
                    pickup->code);
            }
        }
    };

    if (parsed.kind == ParsedSms::Kind::help) return finish("help", jobs::sms::helpText());
    if (parsed.kind == ParsedSms::Kind::unknownService)
        return finish("unknown_service", jobs::sms::unknownServiceText());
    if (parsed.kind == ParsedSms::Kind::malformed) return finish("malformed", jobs::sms::malformedText());
    if (parsed.kind == ParsedSms::Kind::invalidId) return finish("invalid_id", jobs::sms::invalidIdText());

    // An application. Counters and locks are shared by every engine through Redis; without Redis, refuse.
    const std::string idLock = "sms:lock:id:" + parsed.id;
    const std::string msisdnLock = "sms:lock:msisdn:" + *msisdn;
    const std::string dailyKey = dailyKeyOf(*msisdn, receivedAt, now);
    const std::string countedKey = "sms:counted:" + gatewayMsgId;
    try {
        const auto locks = redis_->mget({idLock, msisdnLock});
        if (locks[0] || locks[1]) {
            // A lengthened lock says how long it still lasts: the longer of the two, in whole minutes rounded up.
            long long left = 0;
            if (locks[0]) left = std::max(left, redis_->ttl(idLock));
            if (locks[1]) left = std::max(left, redis_->ttl(msisdnLock));
            const int minutes = left > 0 ? static_cast<int>((left + 59) / 60) : settings_.lockSeconds / 60;
            return finish("locked", jobs::sms::lockedText(minutes));
        }
        // Counted once per gateway_msg_id: a marker keeps the count this message got, so a step retried after a later
        // failure (the store, a connector) or a redelivery counts nothing again and gets the same answer. Two days of
        // expiry: a message received yesterday (at most kMaxReceivedAtAgeSeconds ago) still finds its day.
        const long long today = redis_->countOnce(dailyKey, countedKey, 2 * 24 * 3600);
        if (today > settings_.dailyLimit) return finish("limit", jobs::sms::dailyLimitText(settings_.dailyLimit));
    } catch (const connectors::RedisError& error) {
        Poco::Logger::get("sms").warning("gateway_msg_id=%s Redis unavailable, application refused: %s", gatewayMsgId,
                                         std::string(error.what()));
        return finish("unavailable", jobs::sms::unavailableText());
    }

    // Identity: the registry knows a living person, and the NHI card's last four digits match.
    std::optional<connectors::RegistryRecord> person;
    bool identified = false;
    try {
        person = connectors_.registry->lookup(parsed.id);
        identified =
            person && !person->deceased && !person->company && connectors_.nhi->verifyLast4(parsed.id, parsed.nhiLast4);
    } catch (const connectors::ConnectorError& error) {
        if (!error.isRetryable()) throw;
        // The connector's own retries and breaker are spent: "try later", and this application does not count
        // towards the day's limit (the citizen sends it again).
        // Not the error's text: an HTTP connector's names the request URL, whole ID included.
        Poco::Logger::get("sms").warning("gateway_msg_id=%s identity check for %s unavailable, replied try later",
                                         gatewayMsgId, jobs::identity::mask(parsed.id));
        try {
            redis_->uncount(dailyKey, countedKey);
        } catch (const connectors::RedisError&) {
            // Redis went away too: the count stays (the safe side for a limit).
        }
        return finish("unavailable", jobs::sms::unavailableText());
    }
    if (!identified) {
        try {
            // A true sliding window, counted and locked in one atomic script; the member is the message, so a
            // redelivered message counts once. Strikes are timed by the engine's clock, not by received_at: the
            // gateway's timestamps, up to a day old, could otherwise spread three quick failures out of the window
            // (or gather slow ones into it).
            connectors::StrikePolicy policy;
            policy.windowMs = static_cast<long long>(settings_.lockSeconds) * 1000;
            policy.limit = settings_.lockFailures;
            policy.historyMs = static_cast<long long>(jobs::sms::kLockHistorySeconds) * 1000;
            policy.lockSeconds = jobs::sms::lockLadder(settings_.lockSeconds, settings_.lockMaxSeconds);
            const auto outcome =
                redis_->recordStrike({{"sms:fail:id:" + parsed.id, idLock, "sms:locks:id:" + parsed.id},
                                      {"sms:fail:msisdn:" + *msisdn, msisdnLock, "sms:locks:msisdn:" + *msisdn}},
                                     gatewayMsgId, nowMs(), policy);
            if (outcome.lockedSeconds > 0) {
                Poco::Logger::get("sms").information(
                    "locked %s and %s for %d s after failed identity checks", jobs::identity::mask(parsed.id),
                    msisdn->substr(0, 4) + "***" + msisdn->substr(7), outcome.lockedSeconds);
            }
        } catch (const connectors::RedisError&) {
            // The failure still gets its reply; the count is lost only while Redis is away.
        }
        return finish("identity_failed", jobs::sms::identityFailedText());
    }

    const int service = jobs::sms::serviceCode(*parsed.service);
    // Already prepared and not yet collected: the same pickup again, nothing new.
    if (const auto open = store_.openPickupFor(parsed.id, service, now)) {
        reply.kind = "pickup_alert";
        reply.pickupId = open->pickupId;
        const jobs::sms::PickupDeadline deadline{jobs::sms::taipeiDate(open->deadlineAt), 18};
        return finish("resent", jobs::sms::pickupAlert(*parsed.service, open->office, deadline, open->code));
    }

    const auto deadline = jobs::sms::pickupDeadline(settings_.calendar, appliedOn, settings_.pickupBusinessDays, now);
    connectors::PickupRecord created;
    created.pickupId = "p-" + gatewayMsgId;
    created.code = sixDigitCode();
    created.applicantId = parsed.id;
    created.msisdn = *msisdn;
    created.service = service;
    created.office = settings_.offices->officeFor(person->district);
    created.deadlineAt = jobs::sms::expiresAt(deadline);
    created.remindAt = jobs::sms::reminderAt(deadline);
    created.state = "open";
    pickup = created;
    reply.kind = "pickup_alert";
    reply.pickupId = created.pickupId;
    return finish("alert", jobs::sms::pickupAlert(*parsed.service, created.office, deadline, created.code));
}

SenderStage::SenderStage(SmsSettings settings, std::shared_ptr<connectors::SmsGateway> gateway,
                         connectors::Store& store, PipelineMetrics metrics, prometheus::Counter& segments)
    : settings_(std::move(settings)),
      gateway_(std::move(gateway)),
      store_(store),
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
            notification.kind = object->optValue<std::string>("kind", "reply");
            notification.attempt = std::max(0, object->optValue<int>("attempt", 1) - 1);
        } catch (const Poco::Exception& error) {
            prepared->out[i].push_back(
                {settings_.outboundDeadLetter, std::string(batch[i].key()),
                 deadLetterValue(batch[i].value(), "not a notification: " + error.displayText(), 1)});
            metrics_.messagesFailed.Increment();
            continue;
        }
        notification.status = "queued";
        store_.insertNotification(notification);  // a no-op when the SMS stage already wrote it
        const auto known = store_.findNotification(notification.notificationId);
        if (known && known->status != "queued") continue;  // sent before (a replay): the gateway is not asked twice
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
            store_.markNotificationStatus(notification.notificationId, "dead", error.what());
            prepared->out[i].push_back({settings_.outboundDeadLetter, notification.msisdn,
                                        deadLetterValue(batch[i].value(), error.what(), notification.attempt)});
            metrics_.messagesFailed.Increment();
        }
    }
    return prepared;
}

}  // namespace taxdesk::engine
