#pragma once
// After payment, the accepted rows of a batch go to `inquiry.requests`, from the store (the record of work), keyed by
// block (requestKey: `<batch_id>:<block>`, blockRows consecutive rows a block) so that one batch spreads over every
// partition and every engine of the group: a bounded window ahead of the results (window rows per partition: the
// embedded broker keeps only 5 MiB a partition), chunk after chunk while there is room, and again when a batch stops
// moving (rows the broker lost, or an engine that died mid-batch), or at once when the broker was replaced (its
// cluster id changed: the embedded broker restarted empty).
// Also the payments outbox (`payments.records`) and the resolution of payments abandoned by a crash (lease ended).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "connectors/api/payment.hpp"
#include "connectors/redis/redis_client.hpp"
#include "connectors/store/batch_store.hpp"
#include "connectors/store/payment_ledger.hpp"
#include "engine/runtime/config.hpp"

namespace taxdesk::engine {

struct DispatcherSettings {
    std::string requestsTopic;
    std::string paymentsTopic;
    connectors::kafka::KafkaSettings kafka;
    int window = 10000;  ///< rows of one batch sent and without a result, at most, per partition (dispatch.window_rows)
    int partitions = 1;  ///< partitions of requestsTopic (broker.partitions): the window of a batch is window × this
    int blockRows = 500;        ///< consecutive rows under one message key (dispatch.block_rows)
    int chunk = 2000;           ///< rows read from the store and sent at a time (dispatch.chunk_rows)
    int resendAfterMs = 30000;  ///< a batch whose results have not moved this long has its pending rows sent again
    int tickMs = 200;
    /// While a batch is being sent (its window full, waiting for results), it is looked at again this often, rather
    /// than every tickMs: only the batches, not the payments' work.
    int busyTickMs = 5;
    /// A pending payment is recovered (its provider asked by key) only once its lease ended: its request or engine is
    /// gone. Longer than a charge can take (payment.lease_s); a recovering engine holds it for as long.
    long long paymentLeaseMs = 60000;
    int recoverEveryMs = 5000;  ///< how often abandoned payments are looked for, besides at start
    /// A payment recovery concluded "not charged" is asked about again this long (payment.recheck_hours; 0: never):
    /// a provider may land a charge after its answer was lost.
    long long recheckWindowMs = 24LL * 3600 * 1000;
    int recheckEveryMs = 300000;  ///< how often those payments are asked about (payment.recheck_interval_s)
};

/// The message key of a batch's row on `inquiry.requests` (SPEC 6 as amended by issue 11): the batch id, ':' and the
/// 0-based number of the row's block of `blockRows` consecutive rows (row 1 is in block 0), at least four digits,
/// e.g. "B123:0007". One batch's blocks hash to every partition; a block's rows stay together and in order.
std::string requestKey(const std::string& batchId, int row, int blockRows);

class BatchDispatcher {
  public:
    /// `redis` (may be null) holds the leases that let one engine of several work a batch or the outbox at a time;
    /// without Redis every engine works everything, which duplicates effort but not effects.
    BatchDispatcher(DispatcherSettings settings, connectors::BatchStore& batches, connectors::PaymentLedger& payments,
                    std::shared_ptr<connectors::Payment> payment,
                    std::unique_ptr<connectors::RedisClient> redis = nullptr);
    ~BatchDispatcher();
    BatchDispatcher(const BatchDispatcher&) = delete;
    BatchDispatcher& operator=(const BatchDispatcher&) = delete;

    /// Resolves abandoned payments (pending, lease ended: asking the provider by the payment's key), then starts the
    /// thread, which looks for them again every recoverEveryMs.
    void start();
    void stop();
    /// Called once for each payment that recovery found charged (a ledger transition to succeeded), e.g. to count it.
    /// Set before start().
    void onRecoveredPaid(std::function<void(long long amount)> handler) { onRecoveredPaid_ = std::move(handler); }
    /// Called once for each charge found late for a batch that another payment had paid meanwhile (the payment is
    /// now refund_due: the card was charged twice for the batch, and the bureau owes the amount back). Set before
    /// start().
    void onRefundDue(std::function<void(long long amount)> handler) { onRefundDue_ = std::move(handler); }
    /// Something changed (a payment succeeded): look now rather than at the next tick.
    void wake();
    /// A payment for `batchId` succeeded in the HTTP request `requestId`: its rows carry that id (Kafka header
    /// request_id) into the inquiry's log lines. Rows sent after a restart carry "batch-<id>" instead.
    void paid(const std::string& batchId, const std::string& requestId);
    /// A retry put error rows of `batchId` back to work (POST /api/v1/batches/{id}/retry, in the HTTP request
    /// `requestId`): they lie behind the rows already sent, so the batch is sent from its start at the next round.
    /// (An engine that does not hear of it finds the batch again as it would any other: from the start when it had
    /// seen it completed or fewer rows done than before, else when the batch has not moved for resendAfterMs.)
    void retried(const std::string& batchId, const std::string& requestId);
    /// One round of work, on the calling thread (the thread calls this; tests may too).
    void runOnce();

  private:
    struct Progress {
        int sentUpTo = 0;   ///< the highest row sent in this pass
        int sentCount = 0;  ///< rows sent (counting a resend again), compared with the accepted rows done
        int lastDone = -1;  ///< rows_done when last seen
        std::chrono::steady_clock::time_point movedAt;
    };
    void resolvePendingPayments();
    /// Asks the provider again about payments recovery concluded "not charged" (Store::paymentsToRecheck).
    void recheckFailedPayments();
    /// True when this engine may work `what` now (it holds or took the lease, or Redis is away).
    bool leased(const std::string& what);
    void publishPayments();
    /// Flushes the producer: true when every message since failedDeliveries_ was reset was delivered.
    bool delivered(const std::string& what);
    /// Sends what the windows allow. Returns true when a batch is being sent (rows went out this round, or its window
    /// is full and results are awaited): then the thread comes back after busyTickMs rather than tickMs.
    bool dispatchBatches();
    /// Notices a replaced broker (its cluster id changed) and forgets what was sent to the old one.
    void followBroker();

    DispatcherSettings settings_;
    connectors::BatchStore& batches_;
    connectors::PaymentLedger& payments_;
    std::shared_ptr<connectors::Payment> payment_;
    std::unique_ptr<connectors::RedisClient> redis_;
    std::string owner_;
    std::unique_ptr<connectors::kafka::Producer> producer_;
    std::atomic<int> failedDeliveries_{0};  // failed delivery reports since the round's produce began
    std::string lastDeliveryError_;         // under mutex_
    std::map<std::string, Progress> progress_;
    std::string cluster_;  ///< the broker's cluster id when last seen (dispatcher thread)
    std::chrono::steady_clock::time_point lastBrokerCheck_;  ///< when followBroker() last asked (dispatcher thread)
    std::map<std::string, std::string> requestIds_;          // by batch id; under mutex_
    std::set<std::string> restart_;                          // batches to send from their start (retried); under mutex_
    std::mutex mutex_;
    std::condition_variable wakeUp_;
    bool woken_ = false;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
    std::function<void(long long amount)> onRecoveredPaid_;
    std::function<void(long long amount)> onRefundDue_;
    std::chrono::steady_clock::time_point lastRecovery_;  ///< on the dispatcher's thread (or start()) only
    std::chrono::steady_clock::time_point lastRecheck_;   ///< likewise
    bool busy_ = false;                                   ///< the last dispatchBatches() said so (dispatcher thread)
};

}  // namespace taxdesk::engine
