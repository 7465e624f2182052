#include "engine/flow/sms_scheduler.hpp"

#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Environment.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Logger.h>
#include <Poco/Process.h>
#include <Poco/Timestamp.h>

#include <chrono>

#include "engine/flow/sms_stage.hpp"
#include "jobs/sms/inbound.hpp"
#include "jobs/sms/pickup_rules.hpp"
#include "jobs/sms/replies.hpp"

namespace taxdesk::engine {
namespace {

/// An instant as the store writes its timestamps (ISO 8601 UTC with milliseconds), so that they compare as text.
std::string iso(std::int64_t unix) {
    return Poco::DateTimeFormatter::format(Poco::Timestamp::fromEpochTime(unix), "%Y-%m-%dT%H:%M:%S.%iZ");
}

/// The Kafka key the API gave an inbound SMS: its msisdn (one msisdn's messages stay in one partition, in order).
std::string inboundKey(const connectors::InboxRecord& row) {
    try {
        const auto object = Poco::JSON::Parser().parse(row.message).extract<Poco::JSON::Object::Ptr>();
        const std::string msisdn = object->optValue<std::string>("msisdn", "");
        if (!msisdn.empty()) return msisdn;
    } catch (const Poco::Exception&) {
        // Not the API's JSON (the API writes every row): the SMS stage dead-letters it; any key will do.
    }
    return row.gatewayMsgId;
}

}  // namespace

SmsScheduler::SmsScheduler(SchedulerSettings settings, connectors::SmsAreas store)
    : settings_(std::move(settings)), store_(store) {
    owner_ = Poco::Environment::nodeName() + "-" + std::to_string(Poco::Process::id());
    // rd_kafka_flush() succeeds once every message is reported, delivered or not: only the reports tell.
    producer_ = std::make_unique<connectors::kafka::Producer>(settings_.kafka,
                                                              [this](const connectors::kafka::DeliveryReport& report) {
                                                                  if (!report.ok) ++failedDeliveries_;
                                                              });
}

SmsScheduler::~SmsScheduler() {
    stop();
}

void SmsScheduler::start() {
    thread_ = std::thread([this] {
        while (!stopping_.load()) {
            try {
                runOnce(Poco::Timestamp().epochTime());
            } catch (const std::exception& error) {
                Poco::Logger::get("scheduler")
                    .warning("round failed, next round retries: %s", std::string(error.what()));
            }
            for (int waited = 0; waited < settings_.intervalMs && !stopping_.load(); waited += 100)
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    });
}

void SmsScheduler::stop() {
    if (stopping_.exchange(true)) return;
    if (thread_.joinable()) thread_.join();
}

int SmsScheduler::runOnce(std::int64_t nowUnix) {
    int sent = 0;
    for (const auto& pickup : store_.pickups.claimDueReminders(nowUnix, owner_, settings_.leaseSeconds, 100)) {
        const auto service = jobs::sms::serviceFromCode(pickup.service);
        if (!service) continue;
        connectors::NotificationRecord reminder;
        reminder.notificationId = "r-" + pickup.pickupId;
        reminder.msisdn = pickup.msisdn;
        reminder.kind = connectors::toString(connectors::NotificationKind::reminder);
        reminder.pickupId = pickup.pickupId;
        reminder.attempt = 0;
        reminder.status = connectors::toString(connectors::NotificationStatus::queued);
        reminder.text =
            jobs::sms::reminderText(*service, pickup.office, jobs::sms::deadlineOf(pickup.deadlineAt), pickup.code);
        store_.notifications.insertNotification(reminder);
        failedDeliveries_ = 0;
        producer_->produce(settings_.outboundTopic, reminder.msisdn, notificationJson(reminder));
        // Marked only once the broker acknowledged it: a crash or a failed delivery in between sends it again once
        // the lease ends, under the same id (sent once).
        if (!producer_->flush(10000) || failedDeliveries_.load() > 0) {
            Poco::Logger::get("scheduler")
                .warning("reminder %s not delivered to the broker; tried again later", reminder.notificationId);
            break;
        }
        store_.pickups.markReminded(
            pickup.pickupId, Poco::DateTimeFormatter::format(Poco::Timestamp(), Poco::DateTimeFormat::ISO8601_FORMAT));
        ++sent;
    }
    const int expired = store_.pickups.expireDue(nowUnix);
    requeueStale(nowUnix);
    redriveInbox(nowUnix);
    pruneInbox(nowUnix);
    if (sent || expired)
        Poco::Logger::get("scheduler").information("%d reminders sent, %d pickups expired", sent, expired);
    return sent;
}

int SmsScheduler::requeueStale(std::int64_t nowUnix) {
    const auto stale =
        store_.notifications.claimStaleQueued(iso(nowUnix - settings_.requeueAfterSeconds), iso(nowUnix), 200);
    if (stale.empty()) return 0;
    failedDeliveries_ = 0;
    for (const auto& notification : stale)
        producer_->produce(settings_.outboundTopic, notification.msisdn, notificationJson(notification));
    // Claimed for requeueAfterSeconds: should this fail too, the next sweep after that tries again.
    if (!producer_->flush(10000) || failedDeliveries_.load() > 0) {
        Poco::Logger::get("scheduler")
            .warning("%z notifications stuck in queued could not be produced again; retried later", stale.size());
        return 0;
    }
    Poco::Logger::get("scheduler").information("%z notifications stuck in queued produced again", stale.size());
    return static_cast<int>(stale.size());
}

int SmsScheduler::redriveInbox(std::int64_t nowUnix) {
    if (settings_.inboundTopic.empty()) return 0;
    const auto stale = store_.inbox.claimStaleInbox(iso(nowUnix - settings_.inboxRequeueAfterSeconds), iso(nowUnix),
                                                    settings_.inboxMaxAttempts, settings_.inboxSweepLimit);
    if (stale.empty()) return 0;
    failedDeliveries_ = 0;
    for (const auto& row : stale) producer_->produce(settings_.inboundTopic, inboundKey(row), row.message);
    // Claimed for inboxRequeueAfterSeconds: should this fail too (the broker still away), the next sweep after that
    // tries again; the row stays queued until the SMS stage records its outcome.
    if (!producer_->flush(10000) || failedDeliveries_.load() > 0) {
        // Not produced (or not all): these attempts do not count, or a long outage would use every message's up.
        std::vector<std::string> ids;
        for (const auto& row : stale) ids.push_back(row.gatewayMsgId);
        store_.inbox.returnInboxAttempts(ids);
        Poco::Logger::get("scheduler")
            .warning("%z inbound SMS stuck in the inbox could not be produced again; retried later", stale.size());
        return 0;
    }
    Poco::Logger::get("scheduler").information("%z inbound SMS stuck in the inbox produced again", stale.size());
    for (const auto& row : stale) {
        if (row.attempts >= settings_.inboxMaxAttempts) {
            // Produced that often and never processed: the SMS pipeline is not consuming. Staff must look.
            Poco::Logger::get("scheduler")
                .error(
                    "inbound SMS gateway_msg_id=%s produced %d times and still not processed: no more re-drives "
                    "(sms.inbox_max_attempts); see the SMS pipeline",
                    row.gatewayMsgId, row.attempts);
        }
    }
    if (settings_.onInboxRedriven) settings_.onInboxRedriven(static_cast<int>(stale.size()));
    return static_cast<int>(stale.size());
}

int SmsScheduler::pruneInbox(std::int64_t nowUnix) {
    const int pruned =
        store_.inbox.pruneInbox(iso(nowUnix - settings_.inboxRetentionSeconds), settings_.inboxSweepLimit);
    if (pruned > 0) Poco::Logger::get("scheduler").information("%d done inbox rows pruned", pruned);
    return pruned;
}

}  // namespace taxdesk::engine
