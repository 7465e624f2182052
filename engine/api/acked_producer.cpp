#include "engine/api/acked_producer.hpp"

#include <algorithm>
#include <chrono>

#include "engine/http/http_server.hpp"

namespace taxdesk::engine::api {
namespace {

connectors::kafka::KafkaSettings withLinger(connectors::kafka::KafkaSettings kafka) {
    kafka.rdkafka.emplace("linger.ms", "1");  // kept when kafka.rdkafka.linger.ms is configured
    return kafka;
}

}  // namespace

AcknowledgedProducer::AcknowledgedProducer(const connectors::kafka::KafkaSettings& kafka,
                                           const std::vector<std::string>& topics, int timeoutMs)
    : timeoutMs_(timeoutMs) {
    producer_ = std::make_unique<connectors::kafka::Producer>(
        withLinger(kafka), [this](const connectors::kafka::DeliveryReport& r) {
            // The opaque is a heap copy of the caller's shared_ptr, one a message: freed here, its report served. A
            // caller that stopped waiting (timeout) leaves its waiter to these copies.
            std::unique_ptr<std::shared_ptr<Waiter>> owner(static_cast<std::shared_ptr<Waiter>*>(r.opaque));
            if (!owner) return;
            const std::lock_guard lock(mutex_);
            --inFlight_;
            if (!r.ok) ++(*owner)->failed;
            if (--(*owner)->pending == 0) finished_.push_back(std::move(*owner));
        });
    // After each poll that served reports: each caller whose messages are all reported is woken, once (issue 11: one
    // notify_all a poll woke every waiting HTTP worker, most of them to sleep again).
    producer_->onDeliveriesServed([this] {
        std::vector<std::shared_ptr<Waiter>> finished;
        {
            const std::lock_guard lock(mutex_);
            finished.swap(finished_);
        }
        for (const auto& waiter : finished) waiter->done.notify_one();
    });
    // librdkafka queued a report: the reports' thread serves it now, instead of polling on a timer.
    producer_->onReportsQueued([this] {
        {
            const std::lock_guard lock(mutex_);
            queued_ = true;
        }
        work_.notify_one();
    });
    producer_->warmTopics(topics, 10000);
    reports_ = std::thread([this] { serveReports(); });
}

void AcknowledgedProducer::serveReports() {
    // Woken by onReportsQueued; the bounded wait is only a safety net (a report queued while the queue was not empty,
    // which librdkafka does not signal, is served by the poll that empties it).
    constexpr auto kSafety = std::chrono::milliseconds(20);
    std::unique_lock lock(mutex_);
    while (!stop_) {
        if (inFlight_ == 0) {
            work_.wait(lock, [this] { return stop_ || inFlight_ > 0; });
            continue;
        }
        work_.wait_for(lock, kSafety, [this] { return stop_ || queued_; });
        if (stop_) break;
        queued_ = false;
        lock.unlock();
        try {
            producer_->poll(0);
        } catch (...) {  // NOLINT(bugprone-empty-catch): its waiters time out and answer 503
        }
        lock.lock();
    }
}

AcknowledgedProducer::~AcknowledgedProducer() {
    {
        const std::lock_guard lock(mutex_);
        stop_ = true;
    }
    work_.notify_all();
    if (reports_.joinable()) reports_.join();
    try {
        // The reports of what is queued free their opaques; what a broker away leaves queued is failed and reported.
        if (!producer_->flush(timeoutMs_)) producer_->abandon();
    } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor
    }
    producer_.reset();
}

void AcknowledgedProducer::produce(const std::vector<std::pair<std::string, std::string>>& keyed,
                                   const std::string& topic, const std::string& requestId) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs_);
    const HttpError notQueued(503, "not_queued",
                              "the messages could not be queued; send them again (they are deduplicated)",
                              {{"Retry-After", "5"}});
    if (keyed.empty()) return;
    const auto waiter = std::make_shared<Waiter>();
    const std::vector<connectors::kafka::Header> headers{{"request_id", requestId}};
    for (const auto& [key, value] : keyed) {
        {
            const std::lock_guard lock(mutex_);
            ++waiter->pending;
            ++inFlight_;
        }
        auto owner = std::make_unique<std::shared_ptr<Waiter>>(waiter);
        try {
            producer_->produce(topic, key, value, owner.get(), headers);
        } catch (...) {
            const std::lock_guard lock(mutex_);
            --waiter->pending;  // not queued: no report comes for it
            --inFlight_;
            throw;
        }
        owner.release();  // the report frees it
    }
    work_.notify_one();
    std::unique_lock lock(mutex_);
    if (!waiter->done.wait_until(lock, deadline, [&] { return waiter->pending == 0; }) || waiter->failed > 0)
        throw notQueued;
}

}  // namespace taxdesk::engine::api
