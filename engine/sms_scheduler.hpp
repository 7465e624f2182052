#pragma once
// SPEC 4.2's scheduled work: the reminder at 09:00 on a pickup's deadline day, and expiry after 18:00. Runs in every
// engine; the store's claims make each reminder go out once.
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "connectors/kafka/kafka.hpp"
#include "connectors/store/store.hpp"

namespace taxdesk::engine {

struct SchedulerSettings {
    std::string outboundTopic;
    connectors::kafka::KafkaSettings kafka;
    int intervalMs = 30000;
    int leaseSeconds = 120;
    int requeueAfterSeconds =
        60;  ///< a notification queued this long without a send is produced again (sms.requeue_after_s)
};

class SmsScheduler {
  public:
    SmsScheduler(SchedulerSettings settings, connectors::Store& store);
    ~SmsScheduler();
    SmsScheduler(const SmsScheduler&) = delete;
    SmsScheduler& operator=(const SmsScheduler&) = delete;

    void start();
    void stop();
    /// One round at the instant `nowUnix`: due reminders claimed, sent to notifications.outbound and marked; pickups
    /// past their deadline expired; notifications stuck in queued produced again (requeueStale). Returns the
    /// reminders sent.
    int runOnce(std::int64_t nowUnix);
    /// The sweeper: notifications still queued requeueAfterSeconds after they were last touched (a reply or a
    /// delivery-failure retry whose produce failed, or that the broker lost) are claimed in the store, so that one
    /// engine of several takes each, and produced to notifications.outbound again; the sender sends an id once.
    /// Returns how many were delivered to the broker.
    int requeueStale(std::int64_t nowUnix);

  private:
    SchedulerSettings settings_;
    connectors::Store& store_;
    std::string owner_;
    std::unique_ptr<connectors::kafka::Producer> producer_;
    std::atomic<int> failedDeliveries_{0};  // failed delivery reports since the last produce
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace taxdesk::engine
