#include "engine/api/sms_api.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Logger.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Timestamp.h>

#include <algorithm>
#include <chrono>

#include "engine/api/auth.hpp"
#include "engine/api/json_body.hpp"
#include "engine/flow/sms_stage.hpp"
#include "engine/runtime/dead_letter.hpp"
#include "jobs/common/json.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/sms/inbound.hpp"
#include "jobs/sms/pickup_rules.hpp"

namespace taxdesk::engine::api {
namespace {

Poco::JSON::Object::Ptr readObject(HttpRequest& request) {
    return readJsonObject(request);
}

/// Strict: a number or an object where a string belongs is a 400, not converted.
std::string text(const Poco::JSON::Object::Ptr& object, const std::string& field) {
    return stringField(object, field);
}

}  // namespace

SmsApi::SmsApi(SmsApiSettings settings, connectors::SmsAreas store, connectors::TokenStore& tokens,
               std::shared_ptr<AcknowledgedProducer> producer)
    : settings_(std::move(settings)),
      store_(store),
      tokens_(tokens),
      producer_(std::move(producer)),
      inbox_(std::make_unique<InboxGroupCommit>(store_.inbox)) {}

std::vector<connectors::InboxRecord> InboxGroupCommit::enqueue(const std::vector<connectors::InboxRecord>& rows) {
    Pending self{&rows, {}, nullptr, false};
    std::unique_lock lock(mutex_);
    waiting_.push_back(&self);
    while (!self.done) {
        if (storing_) {
            finished_.wait(lock);
            continue;
        }
        // The inbox is free: this request stores every waiting request's rows (its own among them).
        storing_ = true;
        std::vector<Pending*> group;
        group.swap(waiting_);
        lock.unlock();
        store(group);
        lock.lock();
        for (Pending* pending : group) pending->done = true;
        storing_ = false;
        finished_.notify_all();
    }
    if (self.error) std::rethrow_exception(self.error);
    return std::move(self.stored);
}

void InboxGroupCommit::store(const std::vector<Pending*>& group) {
    const auto alone = [this](Pending& pending) {
        try {
            pending.stored = inbox_.enqueueInbox(*pending.rows);
        } catch (...) {
            pending.error = std::current_exception();
        }
    };
    if (group.size() == 1) {
        alone(*group.front());
        return;
    }
    std::vector<connectors::InboxRecord> rows;
    for (const Pending* pending : group) rows.insert(rows.end(), pending->rows->begin(), pending->rows->end());
    try {
        auto stored = inbox_.enqueueInbox(rows);
        if (stored.size() != rows.size()) throw std::logic_error("enqueueInbox answered a row count of its own");
        auto next = stored.begin();
        for (Pending* pending : group) {
            const auto end = next + static_cast<std::ptrdiff_t>(pending->rows->size());
            pending->stored.assign(std::make_move_iterator(next), std::make_move_iterator(end));
            next = end;
        }
    } catch (...) {
        for (Pending* pending : group) alone(*pending);  // each request's failure is its own
    }
}

std::vector<Route> SmsApi::routes() {
    return {
        {"POST", "/api/v1/sms/inbound", [this](HttpRequest& r) { return inbound(r); }},
        {"POST", "/api/v1/sms/dlr", [this](HttpRequest& r) { return deliveryReport(r); }},
        {"POST", "/api/v1/pickups/{code}/collect", [this](HttpRequest& r) { return collect(r); }},
    };
}

HttpReply SmsApi::inbound(HttpRequest& request) {
    authenticate(request, tokens_, {"gateway"});
    const auto body = readObject(request);
    std::vector<Poco::JSON::Object::Ptr> messages;
    if (body->has("messages")) {
        const auto array = body->getArray("messages");
        if (!array) throw HttpError(400, "bad_field", "'messages' must be an array");
        for (std::size_t i = 0; i < array->size(); ++i) {
            const auto item = array->getObject(static_cast<unsigned>(i));
            if (!item) throw HttpError(400, "bad_field", "messages[" + std::to_string(i) + "] must be an object");
            messages.push_back(item);
        }
    } else {
        messages.push_back(body);
    }
    if (messages.empty()) throw HttpError(400, "no_messages", "no messages");
    if (messages.size() > settings_.maxMessages)
        throw HttpError(413, "too_many_messages", "at most " + std::to_string(settings_.maxMessages) + " a request");

    // Every message is checked before any is stored: a request is stored whole or not at all.
    std::vector<std::pair<std::string, std::string>> keyed;
    std::vector<connectors::InboxRecord> rows;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const auto& message = messages[i];
        const std::string where = messages.size() > 1 ? "messages[" + std::to_string(i) + "]: " : "";
        const auto msisdn = jobs::sms::normalizeMsisdn(text(message, "msisdn"));
        if (!msisdn)
            throw HttpError(400, "bad_msisdn", where + "msisdn must be 09 and 8 digits, or +8869 and 8 digits");
        const std::string id = text(message, "gateway_msg_id");
        if (id.empty() || id.size() > 200)
            throw HttpError(400, "bad_gateway_msg_id", where + "gateway_msg_id is required");
        const std::string smsText = text(message, "text");
        if (smsText.size() > 1000) throw HttpError(400, "bad_text", where + "text is over 1000 bytes");
        std::string value;
        jobs::json::ObjectWriter(value)
            .field("msisdn", *msisdn)
            .field("text", smsText)
            .field("gateway_msg_id", id)
            .field("received_at", text(message, "received_at"))
            .close();
        connectors::InboxRecord row;
        row.gatewayMsgId = id;
        row.message = value;
        row.attempts = 1;  // the produce below
        rows.push_back(std::move(row));
        keyed.emplace_back(*msisdn, std::move(value));
    }

    // Issue 9 finding 13: the store, not the in-memory broker, is the record of work (SPEC 6), so the messages are
    // stored before the 202; a gateway_msg_id stored before keeps its one row. Not stored: 503, and the gateway sends
    // them again.
    std::vector<connectors::InboxRecord> stored;
    try {
        stored = inbox_->enqueue(rows);  // with the rows of concurrent requests, in one transaction
    } catch (const connectors::StoreError& error) {
        Poco::Logger::get("sms").warning("request_id=%s inbound SMS not stored, answered 503: %s", request.requestId,
                                         jobs::identity::maskIdsIn(error.what()));
        throw HttpError(503, "not_stored", "the messages could not be stored; send them again (they are deduplicated)",
                        {{"Retry-After", "5"}});
    }
    // A message already done (the gateway sent it again) has its reply: nothing to produce.
    std::vector<std::pair<std::string, std::string>> toProduce;
    for (std::size_t i = 0; i < keyed.size(); ++i)
        if (stored[i].state != "done") toProduce.push_back(std::move(keyed[i]));
    if (!toProduce.empty()) {
        try {
            producer_->produce(toProduce, settings_.inboundTopic, request.requestId);
        } catch (const std::exception&) {  // HttpError 503 (not acknowledged in time), KafkaError
            // Still 202: the messages are durable in the inbox, queued. The scheduler's sweep produces them again once
            // sms.inbox_requeue_after_s has passed (and a produce that lands late as well is answered once: the SMS
            // stage is idempotent by gateway_msg_id). A 503 here would only make the gateway send them again.
            Poco::Logger::get("sms").warning(
                "request_id=%s %z inbound SMS stored but not produced (broker away); the inbox sweep sends them",
                request.requestId, toProduce.size());
        }
    }
    std::string reply;
    jobs::json::ObjectWriter(reply).field("accepted", static_cast<long long>(rows.size())).close();
    return jsonReply(202, std::move(reply));
}

HttpReply SmsApi::deliveryReport(HttpRequest& request) {
    authenticate(request, tokens_, {"gateway"});
    const auto body = readObject(request);
    const std::string id = text(body, "gateway_msg_id");
    const std::string status = text(body, "status");
    if (id.empty()) throw HttpError(400, "bad_gateway_msg_id", "gateway_msg_id is required");
    // A delivery report's status is one of the notification statuses: delivered or failed.
    using connectors::NotificationStatus;
    const auto reported = connectors::parseNotificationStatus(status);
    if (reported != NotificationStatus::delivered && reported != NotificationStatus::failed)
        throw HttpError(400, "bad_status", "status must be delivered or failed");
    const auto stored = [](const connectors::NotificationRecord& n, NotificationStatus s) {
        return n.status == connectors::toString(s);
    };
    const auto notification = store_.notifications.findNotificationByGatewayMsgId(id);
    if (!notification) throw HttpError(404, "not_found", "no message sent with gateway_msg_id " + id);
    std::string outcome = status;
    // ~2, ~3: URL-safe, so that an id can stand in a path (the dead-letter replay).
    const auto base = notification->notificationId.substr(0, notification->notificationId.find('~'));
    const std::string retryId = base + "~" + std::to_string(notification->attempt + 1);
    if (reported == NotificationStatus::delivered) {
        store_.notifications.markNotificationStatus(notification->notificationId,
                                                    connectors::toString(NotificationStatus::delivered), "");
    } else if (stored(*notification, NotificationStatus::failed) && store_.notifications.findNotification(retryId)) {
        outcome = "retried";  // the same report again (the gateway retried): its retry is stored already
    } else if (!stored(*notification, NotificationStatus::failed) && !stored(*notification, NotificationStatus::dead)) {
        const std::string error = text(body, "error");
        if (notification->attempt < settings_.maxAttempts) {
            // Another attempt under its own id: the gateway sends an id once.
            connectors::NotificationRecord retry = *notification;
            retry.notificationId = retryId;
            retry.attempt = notification->attempt;  // sends so far; the sender's send makes it one more
            retry.status = connectors::toString(NotificationStatus::queued);
            retry.gatewayMsgId.clear();
            retry.segments = 0;
            retry.error.clear();
            // The outbox: the status change and the retry are one transaction. Should producing it fail now (the
            // broker away), the scheduler's sweep sends the queued retry later; the report is answered either way.
            store_.notifications.failAndRetryNotification(notification->notificationId, error, retry);
            try {
                producer_->produce({{retry.msisdn, notificationJson(retry)}}, settings_.outboundTopic,
                                   request.requestId);
            } catch (const HttpError&) {
                // Kept in the store as queued: sms.requeue_after_s later the sweep produces it again.
            }
            outcome = "retried";
        } else {
            store_.notifications.markNotificationStatus(notification->notificationId,
                                                        connectors::toString(NotificationStatus::dead), error);
            producer_->produce({{notification->msisdn,
                                 deadLetterValue(notificationJson(*notification),
                                                 error.empty() ? "delivery failed" : error, notification->attempt)}},
                               settings_.outboundDeadLetter, request.requestId);
            outcome = "dead_letter";
        }
    }
    std::string reply;
    jobs::json::ObjectWriter(reply).field("gateway_msg_id", id).field("outcome", outcome).close();
    return jsonReply(200, std::move(reply));
}

HttpReply SmsApi::collect(HttpRequest& request) {
    authenticate(request, tokens_, {"counter"});
    const auto body = readObject(request);
    const std::string applicant = jobs::identity::normalize(text(body, "debtor_id"));
    const int year = jobs::sms::taipeiDate(Poco::Timestamp().epochTime()).year;
    if (jobs::identity::classifyIn(applicant, year) == jobs::identity::IdKind::invalid)
        throw HttpError(400, "invalid_id", "debtor_id is not a valid ID");
    const std::string code = request.params.at("code");
    const auto result = store_.pickups.collectPickup(code, applicant, Poco::Timestamp().epochTime());
    using Outcome = connectors::CollectOutcome;
    switch (result.outcome) {
        case Outcome::collected: {
            std::string reply;
            jobs::json::ObjectWriter(reply)
                .field("code", code)
                .field("state", "collected")
                .field("service", result.pickup ? result.pickup->service : 0)
                .field("office", result.pickup ? result.pickup->office : "")
                .close();
            return jsonReply(200, std::move(reply));
        }
        case Outcome::wrong_id:
            return errorReply(409, "wrong_id", "the ID is not the applicant's");
        case Outcome::already_collected:
            return errorReply(409, "already_collected", "this pickup was collected");
        case Outcome::expired:
            return errorReply(410, "expired", "the pickup deadline has passed");
        case Outcome::not_found:
            break;
    }
    return errorReply(404, "not_found", "no pickup with code " + code);
}

}  // namespace taxdesk::engine::api
