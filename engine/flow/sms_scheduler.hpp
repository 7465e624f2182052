#pragma once
// SPEC 4.2's scheduled work: the reminder at 09:00 on a pickup's deadline day, and expiry after 18:00. Runs in every
// engine; the store's claims make each reminder go out once.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "connectors/kafka/kafka.hpp"
#include "connectors/store/sms_areas.hpp"

namespace taxdesk::engine {

struct SchedulerSettings {
    std::string outboundTopic;
    connectors::kafka::KafkaSettings kafka;
    int intervalMs = 30000;
    int leaseSeconds = 120;
    int requeueAfterSeconds =
        60;  ///< a notification queued this long without a send is produced again (sms.requeue_after_s)
    /// sms.inbound, where the inbox's re-drives go; empty: the inbox is not swept (pruning still runs).
    std::string inboundTopic;
    int inboxRequeueAfterSeconds = 30;   ///< sms.inbox_requeue_after_s
    int inboxMaxAttempts = 10;           ///< sms.inbox_max_attempts
    int inboxRetentionSeconds = 604800;  ///< sms.inbox_retention_s
    int inboxSweepLimit = 200;           ///< inbox rows re-driven (and done rows pruned) per round, at most
    /// Called with how many inbox rows a sweep re-drove (delivered to the broker): the metric. May be empty.
    std::function<void(int)> onInboxRedriven;
};

class SmsScheduler {
  public:
    SmsScheduler(SchedulerSettings settings, connectors::SmsAreas store);
    ~SmsScheduler();
    SmsScheduler(const SmsScheduler&) = delete;
    SmsScheduler& operator=(const SmsScheduler&) = delete;

    void start();
    void stop();
    /// One round at the instant `nowUnix`: due reminders claimed, sent to notifications.outbound and marked; pickups
    /// past their deadline expired; notifications stuck in queued produced again (requeueStale); inbound SMS stuck in
    /// the inbox produced again (redriveInbox) and old done ones pruned (pruneInbox). Returns the reminders sent.
    int runOnce(std::int64_t nowUnix);
    /// The sweeper: notifications still queued requeueAfterSeconds after they were last touched (a reply or a
    /// delivery-failure retry whose produce failed, or that the broker lost) are claimed in the store, so that one
    /// engine of several takes each, and produced to notifications.outbound again; the sender sends an id once.
    /// Returns how many were delivered to the broker.
    int requeueStale(std::int64_t nowUnix);
    /// The inbox's sweeper (issue 9 finding 13): inbound SMS still queued inboxRequeueAfterSeconds after they were
    /// stored or last produced (the API's produce failed, or the broker lost the message), produced fewer than
    /// inboxMaxAttempts times, are claimed in the store (at most inboxSweepLimit a round; the claim pushes each back by
    /// inboxRequeueAfterSeconds, so that one engine of several takes it and a slow backlog is not produced again and
    /// again) and produced to sms.inbound again, keyed by msisdn as the API does. Should two engines ever produce one
    /// message, the SMS stage answers it once: it is idempotent by gateway_msg_id. Returns how many were delivered to
    /// the broker (and reports them to onInboxRedriven).
    int redriveInbox(std::int64_t nowUnix);
    /// Retention: deletes done inbox rows done more than inboxRetentionSeconds before nowUnix (at most
    /// inboxSweepLimit a round). Returns how many.
    int pruneInbox(std::int64_t nowUnix);

  private:
    SchedulerSettings settings_;
    connectors::SmsAreas store_;
    std::string owner_;
    std::unique_ptr<connectors::kafka::Producer> producer_;
    std::atomic<int> failedDeliveries_{0};  // failed delivery reports since the last produce
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace taxdesk::engine
