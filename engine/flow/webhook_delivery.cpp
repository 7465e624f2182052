#include "engine/flow/webhook_delivery.hpp"

#include <Poco/Logger.h>

#include "connectors/api/errors.hpp"
#include "engine/runtime/dead_letter.hpp"
#include "jobs/notify/notify.hpp"

namespace taxdesk::engine {

bool isWebhookNotification(const connectors::NotificationRecord& notification) {
    return notification.kind == jobs::notify::kBatchDoneKind &&
           notification.msisdn.rfind(jobs::notify::kWebhookTarget, 0) == 0;
}

// ---------- StopSignal ----------

void StopSignal::sleepFor(std::chrono::milliseconds wait) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, wait, [this] { return stopped_; });
    if (stopped_) throw connectors::TransientError("the engine is stopping");
}

void StopSignal::stop() {
    {
        const std::lock_guard lock(mutex_);
        stopped_ = true;
    }
    changed_.notify_all();
}

bool StopSignal::stopped() const {
    const std::lock_guard lock(mutex_);
    return stopped_;
}

// ---------- OutboxRelay ----------

OutboxRelay::OutboxRelay(Produce produce, std::size_t capacity)
    : produce_(std::move(produce)), capacity_(capacity), thread_([this] { run(); }) {}

OutboxRelay::~OutboxRelay() {
    stop();
}

void OutboxRelay::relay(const std::vector<connectors::NotificationRecord>& records) noexcept {
    try {
        std::size_t left = 0;
        {
            const std::lock_guard lock(mutex_);
            for (const auto& record : records) {
                if (stopping_ || waiting_.size() >= capacity_) {
                    ++left;
                    continue;
                }
                waiting_.push_back(record);
            }
        }
        changed_.notify_one();
        if (left > 0)
            Poco::Logger::get("outbox").warning("%z batch notifications left to the scheduler's sweep (relay full)",
                                                left);
    } catch (...) {
        // Out of memory or a logging failure: they are queued in the store, the sweep produces them.
    }
}

void OutboxRelay::stop() {
    {
        const std::lock_guard lock(mutex_);
        if (stopping_ && !thread_.joinable()) return;
        stopping_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void OutboxRelay::run() {
    for (;;) {
        std::vector<connectors::NotificationRecord> batch;
        {
            std::unique_lock lock(mutex_);
            changed_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
            if (waiting_.empty()) return;  // stopping, nothing left
            while (!waiting_.empty() && batch.size() < 100) {
                batch.push_back(std::move(waiting_.front()));
                waiting_.pop_front();
            }
        }
        try {
            produce_(batch);
            for (const auto& record : batch)
                Poco::Logger::get("outbox").information("notification=%s produced after its batch's completion",
                                                        record.notificationId);
        } catch (const std::exception& error) {
            // Queued in the store: the scheduler's sweep produces them after sms.requeue_after_s.
            Poco::Logger::get("outbox").warning("%z batch notifications not produced now (%s); the sweep will",
                                                batch.size(), std::string(error.what()));
        }
    }
}

// ---------- WebhookWorkers ----------

WebhookWorkers::WebhookWorkers(WebhookWorkerSettings settings, std::shared_ptr<connectors::WebhookSender> sender,
                               connectors::WebhookStore& webhooks, connectors::NotificationStore& notifications,
                               DeadLetter deadLetter, std::shared_ptr<StopSignal> stop)
    : settings_(settings),
      sender_(std::move(sender)),
      webhooks_(webhooks),
      notifications_(notifications),
      deadLetter_(std::move(deadLetter)),
      stop_(std::move(stop)) {
    const int workers = settings_.concurrency < 1 ? 1 : settings_.concurrency;
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { run(); });
}

WebhookWorkers::~WebhookWorkers() {
    try {
        stop();
    } catch (...) {
        // A destructor must not throw; the threads are joined by stop() before anything it could throw.
    }
}

bool WebhookWorkers::submit(const connectors::NotificationRecord& notification, const std::string& value) {
    {
        const std::lock_guard lock(mutex_);
        if (pending_.count(notification.notificationId) != 0) return true;  // a repeat (the sweep's): one delivery
        if (stopping_ || queue_.size() >= settings_.queueSize) return false;
        pending_.insert(notification.notificationId);
        queue_.push_back({notification, value});
    }
    work_.notify_one();
    return true;
}

std::size_t WebhookWorkers::pending() const {
    const std::lock_guard lock(mutex_);
    return pending_.size();
}

void WebhookWorkers::stop() {
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
        queue_.clear();  // still queued in the store: the sweep produces them again
    }
    if (stop_) stop_->stop();
    work_.notify_all();
    for (auto& thread : threads_)
        if (thread.joinable()) thread.join();
}

void WebhookWorkers::run() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        try {
            deliverOne(job.notification, job.value);
        } catch (const std::exception& error) {
            Poco::Logger::get("webhook").warning("notification=%s left queued for the sweep: %s",
                                                 job.notification.notificationId, std::string(error.what()));
        }
        const std::lock_guard lock(mutex_);
        pending_.erase(job.notification.notificationId);
    }
}

void WebhookWorkers::deliverOne(const connectors::NotificationRecord& notification, const std::string& value) {
    const std::string& id = notification.notificationId;
    // Sent or dead already (a repeat produced by the sweep, or by another engine's relay): not again.
    if (!notifications_.touchQueued(id)) return;
    const std::string dead = connectors::toString(connectors::NotificationStatus::dead);
    const auto giveUp = [&](const std::string& reason) {
        notifications_.markNotificationStatus(id, dead, reason);
        Poco::Logger::get("webhook").warning("notification=%s dead: %s", id, reason);
        try {
            if (deadLetter_) deadLetter_(notification.msisdn, deadLetterValue(value, reason, notification.attempt));
        } catch (const std::exception& error) {
            // The store has it dead (GET /api/v1/ops/dead-letters lists it, replay works): only the topic misses it.
            Poco::Logger::get("webhook").warning("notification=%s dead letter not produced: %s", id,
                                                 std::string(error.what()));
        }
    };
    if (!sender_) {
        giveUp("webhook delivery is not configured in this engine");
        return;
    }
    const std::string tokenId = notification.msisdn.substr(jobs::notify::kWebhookTarget.size());
    // Read at send time: a URL or secret changed since the batch completed is the one used; one removed is not told.
    const auto registration = webhooks_.findWebhook(tokenId);
    if (!registration || registration->url.empty()) {
        giveUp("the token's webhook was removed before the notification was sent");
        return;
    }
    int status = 0;
    try {
        status = sender_->deliver({registration->url, registration->secret, id, notification.text});
    } catch (const connectors::ConnectorError& error) {
        if (error.isRetryable()) throw;  // stopping: left queued, the sweep produces it again
        giveUp(error.what());
        return;
    }
    notifications_.markNotificationSent(id, "http-" + std::to_string(status), 0);
    Poco::Logger::get("webhook").information("notification=%s delivered: HTTP %d", id, status);
}

}  // namespace taxdesk::engine
