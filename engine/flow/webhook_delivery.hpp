#pragma once
// Issue 13 "Done means told", the engine's side of batch notifications:
// - OutboxRelay: the batch-done notifications a completion committed are produced to notifications.outbound at once
//   (on a thread of its own, the completing thread only hands them over); the scheduler's sweep of queued
//   notifications stays the safety net for a crash between the commit and the produce.
// - WebhookWorkers: the sender hands webhook notifications here and goes on with its SMS batch; a bounded queue and a
//   fixed number of workers POST them (connectors::WebhookSender: per-request timeout, attempts with back-off), so a
//   slow or hanging receiver holds up only its worker, never an SMS reply. Until a worker marks it, a notification
//   stays queued in the store: one dropped (queue full) or lost (engine killed mid-POST) is produced again by the
//   sweep, and a notification id waiting or in flight here is not taken twice.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "connectors/api/webhook.hpp"
#include "connectors/store/notification_store.hpp"
#include "connectors/store/webhook_store.hpp"

namespace taxdesk::engine {

/// A batch notification for a webhook (kind batch_done, msisdn `webhook:<token id>`) rather than an SMS.
bool isWebhookNotification(const connectors::NotificationRecord& notification);

/// A stop signal a wait can be cut short by: the webhook client's back-off sleeps on it, so that stopping the engine
/// does not wait out a receiver's retries (the notification stays queued; the sweep sends it later).
class StopSignal {
  public:
    /// Waits `wait`, or until stop(); throws connectors::TransientError when stopped.
    void sleepFor(std::chrono::milliseconds wait);
    void stop();
    [[nodiscard]] bool stopped() const;

  private:
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    bool stopped_ = false;
};

/// Produces notifications to notifications.outbound off the calling thread. Thread-safe.
class OutboxRelay {
  public:
    /// Produces the records (acknowledged by the broker) or throws.
    using Produce = std::function<void(const std::vector<connectors::NotificationRecord>&)>;
    /// At most `capacity` records wait; beyond, they are left to the sweep (they are queued in the store).
    explicit OutboxRelay(Produce produce, std::size_t capacity = 10000);
    ~OutboxRelay();
    OutboxRelay(const OutboxRelay&) = delete;
    OutboxRelay& operator=(const OutboxRelay&) = delete;

    /// Queues the records for the relay's thread and returns (never throws, never blocks on the broker).
    void relay(const std::vector<connectors::NotificationRecord>& records) noexcept;
    /// Produces what is waiting (best effort) and stops the thread.
    void stop();

  private:
    void run();

    Produce produce_;
    std::size_t capacity_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<connectors::NotificationRecord> waiting_;
    bool stopping_ = false;
    std::thread thread_;
};

struct WebhookWorkerSettings {
    int concurrency = 4;           ///< webhook.concurrency: POSTs in flight at once
    std::size_t queueSize = 1000;  ///< webhook.queue_size: notifications waiting for a worker, at most
};

class WebhookWorkers {
  public:
    /// Produces a dead letter (key, value) to notifications.outbound.dlq; may throw (logged: the store has it dead).
    using DeadLetter = std::function<void(const std::string& key, const std::string& value)>;
    /// Starts the workers. `stop` (may be null) is signalled by stop(); the sender's back-off waits should use it.
    WebhookWorkers(WebhookWorkerSettings settings, std::shared_ptr<connectors::WebhookSender> sender,
                   connectors::WebhookStore& webhooks, connectors::NotificationStore& notifications,
                   DeadLetter deadLetter, std::shared_ptr<StopSignal> stop = nullptr);
    ~WebhookWorkers();
    WebhookWorkers(const WebhookWorkers&) = delete;
    WebhookWorkers& operator=(const WebhookWorkers&) = delete;

    /// Hands over a webhook notification read from notifications.outbound (`value`: that message) and returns at
    /// once. True when it is queued, or waiting or in flight here already; false when the queue is full (it stays
    /// queued in the store, and the scheduler's sweep produces it again).
    bool submit(const connectors::NotificationRecord& notification, const std::string& value);
    /// What a worker does with one notification, on the calling thread: nothing unless it is still queued in the
    /// store (sent or dead before: not again); its updated_at touched (the sweep leaves it alone while it is being
    /// delivered); the token's registration read now (URL and secret as they are; none: dead); POSTed; then marked
    /// sent, or dead with a dead letter when refused or not delivered after the attempts. A store or resolver failure
    /// that may pass leaves it queued for the sweep.
    void deliverOne(const connectors::NotificationRecord& notification, const std::string& value);
    /// Stops taking work, cuts back-off waits short and joins the workers (a POST in flight ends by its timeout).
    void stop();
    /// Notifications waiting or in flight.
    [[nodiscard]] std::size_t pending() const;

  private:
    struct Job {
        connectors::NotificationRecord notification;
        std::string value;
    };
    void run();

    WebhookWorkerSettings settings_;
    std::shared_ptr<connectors::WebhookSender> sender_;
    connectors::WebhookStore& webhooks_;
    connectors::NotificationStore& notifications_;
    DeadLetter deadLetter_;
    std::shared_ptr<StopSignal> stop_;
    mutable std::mutex mutex_;
    std::condition_variable work_;
    std::deque<Job> queue_;
    std::set<std::string> pending_;  ///< ids waiting or in flight
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace taxdesk::engine
