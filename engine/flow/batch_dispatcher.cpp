#include "engine/flow/batch_dispatcher.hpp"

#include <Poco/Environment.h>
#include <Poco/Logger.h>
#include <Poco/Process.h>

#include <algorithm>

#include "engine/api/payment_json.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/inquiry/batch_state.hpp"
#include "jobs/inquiry/codec.hpp"
#include "jobs/payment/payment.hpp"

namespace taxdesk::engine {
namespace {

Poco::Logger& log() {
    return Poco::Logger::get("dispatcher");
}

std::vector<int> parseYears(const std::string& text) {
    std::vector<int> years;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto end = text.find(';', start);
        const std::string part = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (!part.empty()) years.push_back(std::stoi(part));
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return years;
}

long long epochMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

std::string requestKey(const std::string& batchId, int row, int blockRows) {
    const int block = (std::max(row, 1) - 1) / std::max(blockRows, 1);
    std::string number = std::to_string(block);
    if (number.size() < 4) number.insert(0, 4 - number.size(), '0');
    std::string key;
    key.reserve(batchId.size() + 1 + number.size());
    key.append(batchId).append(1, ':').append(number);
    return key;
}

BatchDispatcher::BatchDispatcher(DispatcherSettings settings, connectors::BatchStore& batches,
                                 connectors::PaymentLedger& payments, std::shared_ptr<connectors::Payment> payment,
                                 std::unique_ptr<connectors::RedisClient> redis)
    : settings_(std::move(settings)),
      batches_(batches),
      payments_(payments),
      payment_(std::move(payment)),
      redis_(std::move(redis)) {
    // rd_kafka_flush() succeeds once every message is reported, delivered or not: only the reports tell.
    producer_ = std::make_unique<connectors::kafka::Producer>(settings_.kafka,
                                                              [this](const connectors::kafka::DeliveryReport& report) {
                                                                  if (report.ok) return;
                                                                  ++failedDeliveries_;
                                                                  std::lock_guard lock(mutex_);
                                                                  lastDeliveryError_ = report.error;
                                                              });
    owner_ = Poco::Environment::nodeName() + "-" + std::to_string(Poco::Process::id()) + "-" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
}

bool BatchDispatcher::leased(const std::string& what) {
    if (!redis_) return true;
    try {
        // A few ticks long: a dead engine's leases lapse quickly, a live one renews every tick.
        return redis_->acquireLease("lease:" + what, owner_, std::max(3, 15 * settings_.tickMs / 1000));
    } catch (const connectors::RedisError&) {
        return true;  // rather duplicate work (idempotent) than none
    }
}

BatchDispatcher::~BatchDispatcher() {
    stop();
}

void BatchDispatcher::start() {
    producer_->warmTopics({settings_.requestsTopic, settings_.paymentsTopic}, 10000);
    resolvePendingPayments();
    thread_ = std::thread([this] {
        auto lastFull = std::chrono::steady_clock::now() - std::chrono::hours(1);
        while (!stopping_.load()) {
            // A full round (payments, broker, batches) every tickMs or when woken; in between, while a batch is being
            // sent, only the batches, every busyTickMs: a window that results freed is filled again at once.
            const auto now = std::chrono::steady_clock::now();
            const bool full = !busy_ || now - lastFull >= std::chrono::milliseconds(settings_.tickMs);
            try {
                if (full) {
                    lastFull = now;
                    runOnce();
                } else {
                    busy_ = dispatchBatches();
                }
            } catch (const std::exception& error) {
                // The store or the broker is away: everything is still in the store, try again next tick.
                busy_ = false;
                log().warning("dispatch round failed: %s", std::string(error.what()));
            }
            std::unique_lock lock(mutex_);
            wakeUp_.wait_for(lock, std::chrono::milliseconds(busy_ ? settings_.busyTickMs : settings_.tickMs),
                             [this] { return woken_ || stopping_.load(); });
            if (woken_) busy_ = false;  // woken: a full round next
            woken_ = false;
        }
    });
}

void BatchDispatcher::stop() {
    if (stopping_.exchange(true)) return;
    wakeUp_.notify_all();
    if (thread_.joinable()) thread_.join();
    producer_->flush(5000);
}

void BatchDispatcher::paid(const std::string& batchId, const std::string& requestId) {
    {
        std::lock_guard lock(mutex_);
        requestIds_[batchId] = requestId;
    }
    wake();
}

void BatchDispatcher::retried(const std::string& batchId, const std::string& requestId) {
    {
        std::lock_guard lock(mutex_);
        requestIds_[batchId] = requestId;
        restart_.insert(batchId);
    }
    wake();
}

void BatchDispatcher::wake() {
    {
        std::lock_guard lock(mutex_);
        woken_ = true;
    }
    wakeUp_.notify_all();
}

void BatchDispatcher::runOnce() {
    if (std::chrono::steady_clock::now() - lastRecovery_ >= std::chrono::milliseconds(settings_.recoverEveryMs))
        resolvePendingPayments();
    if (std::chrono::steady_clock::now() - lastRecheck_ >= std::chrono::milliseconds(settings_.recheckEveryMs))
        recheckFailedPayments();
    publishPayments();
    followBroker();
    busy_ = dispatchBatches();
}

void BatchDispatcher::followBroker() {
    // A new cluster id: the broker was replaced (the embedded one restarted, empty). The rows on their way are gone
    // with it; rather than wait resendAfterMs for each batch to look stuck, send every pending row again now. A
    // producer that reconnects to the same address may go on with the metadata it has: ask for fresh metadata (about
    // once a second), which carries the broker's cluster id.
    const auto now = std::chrono::steady_clock::now();
    if (now - lastBrokerCheck_ < std::chrono::seconds(1)) return;
    lastBrokerCheck_ = now;
    try {
        producer_->checkReachable(1000);
    } catch (const connectors::kafka::KafkaError&) {
        return;  // away: the next round asks again
    }
    const std::string cluster = producer_->clusterId(0);
    if (cluster.empty()) return;
    if (!cluster_.empty() && cluster != cluster_) {
        log().warning("the broker was replaced (cluster %s, now %s): sending the pending rows of %z batch(es) again",
                      cluster_, cluster, progress_.size());
        progress_.clear();
    }
    cluster_ = cluster;
}

namespace {

/// The provider asked for the charge under `providerKey`: its answer for jobs::payment, and the charge when found.
jobs::payment::LookupAnswer lookUp(connectors::Payment& payment, const std::string& providerKey,
                                   std::optional<connectors::ChargeResult>& charge, std::string& error) {
    try {
        charge = payment.findCharge(providerKey);
        return charge ? jobs::payment::LookupAnswer::found : jobs::payment::LookupAnswer::not_found;
    } catch (const connectors::ConnectorError& failure) {
        error = failure.what();
        return jobs::payment::LookupAnswer::unavailable;
    }
}

}  // namespace

void BatchDispatcher::resolvePendingPayments() {
    using Action = jobs::payment::LedgerStep::Action;
    lastRecovery_ = std::chrono::steady_clock::now();
    const long long now = epochMs();
    // Only payments whose request or engine is gone: their lease (longer than a charge can take) ended. Another
    // engine's payment in flight holds a lease and is left alone; this engine claims each before asking the provider.
    for (const auto& pending : payments_.abandonedPayments(now)) {
        if (!payments_.claimPayment(pending.paymentId, owner_, epochMs(), settings_.paymentLeaseMs)) continue;
        // The provider is idempotent by key: asking by the payment's provider key finds the charge if one was made.
        std::optional<connectors::ChargeResult> charge;
        std::string error;
        const auto step = jobs::payment::recoverAbandoned(lookUp(*payment_, pending.providerKey, charge, error),
                                                          epochMs(), settings_.recheckWindowMs);
        // Recording the answer may fail (the store locked or away): that payment stays pending, released for a later
        // round, and the round goes on with the other payments and the rest of its work.
        try {
            switch (step.action) {
                case Action::record_succeeded:
                    if (payments_.completePayment(pending.paymentId, jobs::payment::PaymentStatus::succeeded,
                                                  charge->providerTxnId, "") &&
                        onRecoveredPaid_)
                        onRecoveredPaid_(pending.amount);
                    log().information("payment %s for batch %s resolved: it was charged", pending.paymentId,
                                      pending.batchId);
                    break;
                case Action::record_failed:
                    // Not charged as far as the provider knows now; one that answered late may still land the charge:
                    // asked about again (recheckFailedPayments) until the window ends, scheduled with the failure.
                    payments_.completePayment(pending.paymentId, jobs::payment::PaymentStatus::failed, "",
                                              jobs::payment::failureText(step.reason), step.recheckUntilMs);
                    log().information("payment %s for batch %s resolved: never charged", pending.paymentId,
                                      pending.batchId);
                    break;
                case Action::release:
                case Action::ask_for_charge:
                case Action::nothing:
                    payments_.releasePayment(pending.paymentId, owner_);
                    log().warning("payment %s still pending: %s", pending.paymentId, error);
                    break;
            }
        } catch (const connectors::ConnectorError& failure) {
            try {
                payments_.releasePayment(pending.paymentId, owner_);
            } catch (const std::exception&) {
                // The store is away: recovery's lease ends by itself.
            }
            log().warning("payment %s still pending: %s", pending.paymentId, jobs::identity::maskIdsIn(failure.what()));
        }
    }
}

void BatchDispatcher::recheckFailedPayments() {
    using Action = jobs::payment::LedgerStep::Action;
    lastRecheck_ = std::chrono::steady_clock::now();
    if (!leased("payments-recheck")) return;
    const long long now = epochMs();
    for (const auto& failed : payments_.paymentsToRecheck(now, 100, now + settings_.recheckEveryMs)) {
        std::optional<connectors::ChargeResult> charge;
        std::string error;
        const auto step = jobs::payment::recheck(lookUp(*payment_, failed.providerKey, charge, error));
        if (step.action == Action::release) {
            log().warning("payment %s not checked again: %s", failed.paymentId, error);
            return;  // the provider is away: next round
        }
        if (step.action != Action::record_succeeded) continue;
        connectors::PaymentChange change;
        try {
            change = payments_.completePayment(failed.paymentId, jobs::payment::PaymentStatus::succeeded,
                                               charge->providerTxnId, "");
        } catch (const connectors::ConnectorError& failure) {
            log().warning("payment %s not checked again: %s", failed.paymentId,
                          jobs::identity::maskIdsIn(failure.what()));
            return;  // the store is away: next round (still failed: asked about again at its next turn)
        }
        switch (jobs::payment::effectOfSuccess(change.changed, change.refundDue)) {
            case jobs::payment::SuccessEffect::refund_due:
                // Money owed back: the batch was paid by another payment meanwhile. An alert, not a guess.
                log().error(
                    "payment %s for batch %s was charged after it was recorded as not charged, and the batch "
                    "is paid by another payment: NT$%s to refund (refund_due in the ledger)",
                    failed.paymentId, failed.batchId, std::to_string(failed.amount));
                if (onRefundDue_) onRefundDue_(failed.amount);
                break;
            case jobs::payment::SuccessEffect::counted:
                log().warning(
                    "payment %s for batch %s was charged after it was recorded as not charged: now "
                    "succeeded",
                    failed.paymentId, failed.batchId);
                if (onRecoveredPaid_) onRecoveredPaid_(failed.amount);
                break;
            case jobs::payment::SuccessEffect::none:
                break;
        }
    }
}

bool BatchDispatcher::delivered(const std::string& what) {
    if (!producer_->flush(10000)) {
        log().warning("%s: the broker did not acknowledge in 10 s; sent again next round", what);
        return false;
    }
    if (const int failed = failedDeliveries_.load(); failed > 0) {
        std::string error;
        {
            std::lock_guard lock(mutex_);
            error = lastDeliveryError_;
        }
        log().warning("%s: %d deliveries failed (%s); sent again next round", what, failed, error);
        return false;
    }
    return true;
}

void BatchDispatcher::publishPayments() {
    if (!leased("payments-outbox")) return;
    for (;;) {
        const auto payments = payments_.unpublishedPayments(200);
        if (payments.empty()) return;
        failedDeliveries_ = 0;
        std::vector<std::string> ids;
        for (const auto& payment : payments) {
            producer_->produce(settings_.paymentsTopic, payment.batchId, api::paymentJson(payment));
            ids.push_back(payment.paymentId);
        }
        // The outbox is marked only once the broker acknowledged every record; a crash or a failed delivery before
        // that publishes them again (consumers know a payment by its id).
        if (!delivered("payments outbox")) return;
        payments_.markPublished(ids);
        if (payments.size() < 200) return;
    }
}

bool BatchDispatcher::dispatchBatches() {
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(mutex_);
        for (const auto& batchId : restart_) progress_.erase(batchId);
        restart_.clear();
    }
    const auto active = batches_.activeBatches();
    // A batch no longer active (completed) is forgotten: should a retry of its error rows bring it back, it starts
    // afresh rather than from the row it had sent up to.
    for (auto it = progress_.begin(); it != progress_.end();) {
        const bool isActive = std::any_of(active.begin(), active.end(), [&](const connectors::BatchRecord& batch) {
            return batch.batchId == it->first;
        });
        it = isActive ? std::next(it) : progress_.erase(it);
    }
    // The window of one batch: `window` rows per partition, its blocks spread over them.
    const long long batchWindow =
        std::min<long long>(static_cast<long long>(settings_.window) * std::max(settings_.partitions, 1), 1LL << 30);
    bool busy = false;
    for (const auto& batch : active) {
        if (!leased("dispatch:" + batch.batchId)) {
            progress_.erase(batch.batchId);  // another engine sends it; start afresh if it comes back to us
            continue;
        }
        auto& progress = progress_[batch.batchId];
        if (batch.rowsDone < progress.lastDone) {
            // Fewer rows done than last seen: a retry put error rows back to work (between two rounds, completed and
            // back). Those rows lie behind sentUpTo: send from the start.
            log().information(
                "batch %s: %d rows done, fewer than the %d seen before (error rows put back to work): "
                "sending its pending rows from its first",
                batch.batchId, batch.rowsDone, progress.lastDone);
            progress.sentUpTo = 0;
            progress.sentCount = batch.rowsDone - batch.rowsRejected;
        }
        if (batch.rowsDone != progress.lastDone) {
            progress.lastDone = batch.rowsDone;
            progress.movedAt = now;
        }
        const int doneAccepted = batch.rowsDone - batch.rowsRejected;
        std::string requestId;
        {
            std::lock_guard lock(mutex_);
            const auto known = requestIds_.find(batch.batchId);
            requestId = known != requestIds_.end() ? known->second : "batch-" + batch.batchId;
        }
        const std::vector<connectors::kafka::Header> headers{{"request_id", requestId}};
        bool queued = batch.state == jobs::inquiry::BatchState::queued;
        // Chunk after chunk while the window has room: one round fills it.
        for (;;) {
            const long long inFlight = progress.sentUpTo > 0 ? std::max(0, progress.sentCount - doneAccepted) : 0;
            const long long room = batchWindow - inFlight;
            if (room <= 0) {
                busy = true;  // results are awaited: look again soon
                if (now - progress.movedAt > std::chrono::milliseconds(settings_.resendAfterMs)) {
                    log().warning("batch %s has not moved for %d ms: sending its pending rows again", batch.batchId,
                                  settings_.resendAfterMs);
                    progress.sentUpTo = 0;
                    progress.sentCount = doneAccepted;
                    progress.movedAt = now;
                }
                break;
            }
            const auto rows = batches_.pendingRequests(batch.batchId, progress.sentUpTo,
                                                       static_cast<int>(std::min<long long>(room, settings_.chunk)));
            if (rows.empty()) {
                if (progress.sentUpTo > 0 &&
                    now - progress.movedAt > std::chrono::milliseconds(settings_.resendAfterMs)) {
                    progress.sentUpTo = 0;  // everything sent, some never came back: send the rest again
                    progress.sentCount = doneAccepted;
                    progress.movedAt = now;
                }
                break;
            }
            failedDeliveries_ = 0;
            jobs::inquiry::InquiryRequest request;
            request.batchId = batch.batchId;
            request.creditorId = batch.creditorId;
            for (const auto& row : rows) {
                request.row = row.row;
                request.debtorId = row.debtorId;
                request.debtorName = row.debtorName;
                request.scope = jobs::inquiry::parseScope(row.scope).value_or(jobs::inquiry::Scope::both);
                request.incomeYears = parseYears(row.incomeYears);
                request.titleRef = row.titleRef;  // the audit trail's title of the row (issue 13)
                producer_->produce(settings_.requestsTopic, requestKey(batch.batchId, row.row, settings_.blockRows),
                                   jobs::inquiry::encodeRequest(request), nullptr, headers);
            }
            // Not acknowledged, or a delivery failed: nothing moves on, the next round sends from the store again.
            if (!delivered("batch " + batch.batchId)) return false;
            progress.sentUpTo = rows.back().row;
            progress.sentCount += static_cast<int>(rows.size());
            busy = true;
            if (queued) {
                batches_.setBatchState(batch.batchId, jobs::inquiry::BatchState::queued,
                                       jobs::inquiry::BatchState::processing, "");
                queued = false;
            }
            if (static_cast<int>(rows.size()) < std::min<long long>(room, settings_.chunk)) break;  // the last rows
        }
    }
    return busy;
}

}  // namespace taxdesk::engine
