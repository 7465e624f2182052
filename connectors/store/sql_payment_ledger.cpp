#include "connectors/store/sql_payment_ledger.hpp"

#include <Poco/Data/DataException.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Transaction.h>
#include <Poco/Data/TypeHandler.h>

#include "connectors/store/migrations.hpp"
#include "connectors/store/sql_rows.hpp"
#include "connectors/store/store_internal.hpp"
#include "jobs/payment/payment_status.hpp"

namespace {

constexpr const char* kPaymentColumns =
    "payment_id, idempotency_key, batch_id, creditor_id, amount, method, card, provider_txn_id, status, error,"
    " created_at, updated_at, published, provider_key, card_hash, lease_owner, lease_until";

}  // namespace

namespace Poco::Data {

/// PaymentRecord as the seventeen columns of kPaymentColumns (read only: the ledger binds its values one by one).
template <>
class TypeHandler<taxdesk::connectors::PaymentRecord> {
  public:
    using Payment = taxdesk::connectors::PaymentRecord;
    static std::size_t size() { return 17; }
    static void prepare(std::size_t pos, const Payment& payment, const AbstractPreparator::Ptr& preparator) {
        const Poco::Int64 number = 0;
        const int flag = 0;
        TypeHandler<std::string>::prepare(pos++, payment.paymentId, preparator);
        TypeHandler<std::string>::prepare(pos++, payment.idempotencyKey, preparator);
        TypeHandler<std::string>::prepare(pos++, payment.batchId, preparator);
        TypeHandler<std::string>::prepare(pos++, payment.creditorId, preparator);
        TypeHandler<Poco::Int64>::prepare(pos++, number, preparator);
        TypeHandler<std::string>::prepare(pos++, payment.method, preparator);
        TypeHandler<std::string>::prepare(pos++, payment.card, preparator);
        TypeHandler<std::string>::prepare(pos++, payment.providerTxnId, preparator);
        const std::string status;
        TypeHandler<std::string>::prepare(pos++, status, preparator);
        TypeHandler<std::string>::prepare(pos++, payment.error, preparator);
        TypeHandler<std::string>::prepare(pos++, payment.createdAt, preparator);
        TypeHandler<std::string>::prepare(pos++, payment.updatedAt, preparator);
        TypeHandler<int>::prepare(pos++, flag, preparator);
        TypeHandler<std::string>::prepare(pos++, payment.providerKey, preparator);
        TypeHandler<std::string>::prepare(pos++, payment.cardHash, preparator);
        TypeHandler<std::string>::prepare(pos++, payment.leaseOwner, preparator);
        TypeHandler<Poco::Int64>::prepare(pos, number, preparator);
    }
    static void extract(std::size_t pos, Payment& payment, const Payment& fallback,
                        const AbstractExtractor::Ptr& extractor) {
        Poco::Int64 amount = 0;
        int published = 0;
        Poco::Int64 leaseUntil = 0;
        TypeHandler<std::string>::extract(pos++, payment.paymentId, fallback.paymentId, extractor);
        TypeHandler<std::string>::extract(pos++, payment.idempotencyKey, fallback.idempotencyKey, extractor);
        TypeHandler<std::string>::extract(pos++, payment.batchId, fallback.batchId, extractor);
        TypeHandler<std::string>::extract(pos++, payment.creditorId, fallback.creditorId, extractor);
        TypeHandler<Poco::Int64>::extract(pos++, amount, 0, extractor);
        TypeHandler<std::string>::extract(pos++, payment.method, fallback.method, extractor);
        TypeHandler<std::string>::extract(pos++, payment.card, fallback.card, extractor);
        TypeHandler<std::string>::extract(pos++, payment.providerTxnId, fallback.providerTxnId, extractor);
        std::string status;
        TypeHandler<std::string>::extract(pos++, status, std::string(), extractor);
        const auto parsed = taxdesk::jobs::payment::parsePaymentStatus(status);
        if (!parsed)
            throw DataException("payment " + payment.paymentId + ": status '" + status + "' is not a known value");
        payment.status = *parsed;
        TypeHandler<std::string>::extract(pos++, payment.error, fallback.error, extractor);
        TypeHandler<std::string>::extract(pos++, payment.createdAt, fallback.createdAt, extractor);
        TypeHandler<std::string>::extract(pos++, payment.updatedAt, fallback.updatedAt, extractor);
        TypeHandler<int>::extract(pos++, published, 0, extractor);
        TypeHandler<std::string>::extract(pos++, payment.providerKey, fallback.providerKey, extractor);
        TypeHandler<std::string>::extract(pos++, payment.cardHash, fallback.cardHash, extractor);
        TypeHandler<std::string>::extract(pos++, payment.leaseOwner, fallback.leaseOwner, extractor);
        TypeHandler<Poco::Int64>::extract(pos, leaseUntil, 0, extractor);
        payment.amount = static_cast<long long>(amount);
        payment.published = published != 0;
        payment.leaseUntilMs = static_cast<long long>(leaseUntil);
    }
};

}  // namespace Poco::Data

namespace taxdesk::connectors {
namespace {

using namespace Poco::Data::Keywords;
using detail::requireField;
using jobs::payment::PaymentStatus;

const std::string kPending = jobs::payment::toString(PaymentStatus::pending);
const std::string kSucceeded = jobs::payment::toString(PaymentStatus::succeeded);
const std::string kFailed = jobs::payment::toString(PaymentStatus::failed);
const std::string kRefundDue = jobs::payment::toString(PaymentStatus::refund_due);

}  // namespace

PaymentIntent SqlPaymentLedger::beginPayment(const PaymentRecord& pending) {
    constexpr const char* kCall = "beginPayment";
    requireField(pending.paymentId, "paymentId", kCall);
    requireField(pending.idempotencyKey, "idempotencyKey", kCall);
    requireField(pending.batchId, "batchId", kCall);
    requireField(pending.creditorId, "creditorId", kCall);
    const std::string stamp = detail::utcNow();
    const std::string createdAt = pending.createdAt.empty() ? stamp : pending.createdAt;
    const std::string updatedAt = pending.updatedAt.empty() ? createdAt : pending.updatedAt;
    const std::string providerKey = pending.providerKey.empty() ? pending.paymentId : pending.providerKey;
    const Poco::Int64 amount = pending.amount;
    const Poco::Int64 leaseUntil = pending.leaseUntilMs;
    // No conflict target: a conflict on the creditor's key, the provider key or payments_live_per_batch (a live
    // payment of this batch under another key, migration 3) all insert nothing instead of failing, and PostgreSQL
    // waits for a concurrent insert of any of them to commit or roll back first.
    const std::string insertStatement =
        db_.sql("INSERT INTO payments (" + std::string(kPaymentColumns) +
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, 0, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
    const std::string selectStatement = db_.sql("SELECT " + std::string(kPaymentColumns) +
                                                " FROM payments WHERE creditor_id = ? AND idempotency_key = ?");
    const std::string liveStatement =
        db_.sql("SELECT " + std::string(kPaymentColumns) +
                " FROM payments WHERE batch_id = ? AND status NOT IN ('failed', 'refund_due')"
                " ORDER BY created_at, payment_id LIMIT 1");

    // Inserting first takes the write lock (SQLite) or waits for a concurrent insert of the same key to commit
    // (PostgreSQL), so the select after it always finds the one record.
    struct Outcome {
        std::optional<PaymentIntent> intent;  ///< the key's record
        std::optional<PaymentRecord> live;    ///< else the batch's live payment under another key
    };
    for (int attempt = 1;; ++attempt) {
        Outcome outcome = db_.withSession("beginning a payment", [&](Poco::Data::Session& session) {
            // On disk before the provider is asked to charge: an OS crash must not leave a charge with no record.
            const detail::DurableCommits durable(session, db_.isSqlite());
            Poco::Data::Transaction transaction(session);
            Poco::Data::Statement insert(session);
            insert << insertStatement, bind(pending.paymentId), bind(pending.idempotencyKey), bind(pending.batchId),
                bind(pending.creditorId), bind(amount), bind(pending.method), bind(pending.card),
                bind(pending.providerTxnId), bind(pending.error), bind(createdAt), bind(updatedAt), bind(providerKey),
                bind(pending.cardHash), bind(pending.leaseOwner), bind(leaseUntil);
            const bool created = insert.execute() > 0;
            Outcome found;
            auto records =
                detail::selectRows<PaymentRecord>(session, selectStatement, pending.creditorId, pending.idempotencyKey);
            if (!records.empty()) {
                found.intent = PaymentIntent{std::move(records.front()), created};
            } else {
                auto live = detail::selectRows<PaymentRecord>(session, liveStatement, pending.batchId);
                if (!live.empty()) found.live = std::move(live.front());
            }
            transaction.commit();
            return found;
        });
        // Only the caller's own data in the messages: the batch is the caller's (the API checked), and so is the key.
        if (outcome.live) {
            const PaymentRecord& live = *outcome.live;
            throw IdempotencyConflict(
                "batch " + pending.batchId + " already has a payment (" + jobs::payment::toString(live.status) +
                ") under another idempotency key; idempotency key " + pending.idempotencyKey + " was not used");
        }
        if (!outcome.intent) {
            // The live payment that blocked the insert failed meanwhile (try again), or the payment id is taken.
            if (attempt < 3) continue;
            throw StoreError(db_.backend() + ": beginning a payment: the payment with idempotency key " +
                             pending.idempotencyKey + " was neither inserted nor found (payment id " +
                             pending.paymentId + " taken?)");
        }
        PaymentIntent intent = std::move(*outcome.intent);
        const PaymentRecord& stored = intent.payment;
        const bool otherCard =
            !stored.cardHash.empty() && !pending.cardHash.empty() && stored.cardHash != pending.cardHash;
        if (stored.batchId != pending.batchId || stored.amount != pending.amount || otherCard) {
            throw IdempotencyConflict("idempotency key " + pending.idempotencyKey + " was used for batch " +
                                      stored.batchId + ", NT$" + std::to_string(stored.amount) +
                                      (otherCard ? " with another card" : "") + ", not for batch " + pending.batchId +
                                      ", NT$" + std::to_string(pending.amount) + (otherCard ? " with this card" : ""));
        }
        return intent;
    }
}

bool SqlPaymentLedger::claimPayment(const std::string& paymentId, const std::string& owner, long long nowMs,
                                    long long leaseMs) {
    requireField(owner, "owner", "claimPayment");
    if (leaseMs < 1) throw std::invalid_argument("store: claimPayment: leaseMs must be at least 1");
    const std::string statement = db_.sql(
        "UPDATE payments SET lease_owner = ?, lease_until = CASE WHEN lease_until > ? THEN lease_until ELSE ? END"
        " WHERE payment_id = ? AND status = 'pending' AND (lease_owner = '' OR lease_until < ?)");
    // A released payment's lease keeps its end (see releasePayment): a new holder's lease never shortens it.
    const Poco::Int64 until = nowMs + leaseMs;
    const Poco::Int64 now = nowMs;
    return db_.withSession("claiming a payment", [&](Poco::Data::Session& session) {
        Poco::Data::Statement update(session);
        update << statement, bind(owner), bind(until), bind(until), bind(paymentId), bind(now);
        return update.execute() > 0;
    });
}

void SqlPaymentLedger::releasePayment(const std::string& paymentId, const std::string& owner) {
    const std::string statement =
        db_.sql("UPDATE payments SET lease_owner = '' WHERE payment_id = ? AND lease_owner = ? AND status = 'pending'");
    db_.withSession("releasing a payment", [&](Poco::Data::Session& session) {
        Poco::Data::Statement update(session);
        update << statement, bind(paymentId), bind(owner);
        update.execute();
    });
}

PaymentChange SqlPaymentLedger::completePayment(const std::string& paymentId, PaymentStatus status,
                                                const std::string& providerTxnId, const std::string& error,
                                                long long recheckUntilMs) {
    if (status != PaymentStatus::succeeded && status != PaymentStatus::failed) {
        throw std::invalid_argument("store: completePayment: status '" + std::string(jobs::payment::toString(status)) +
                                    "' is neither succeeded nor failed");
    }
    const std::string statusText = jobs::payment::toString(status);
    const std::string stamp = detail::utcNow();
    // A failure only ever replaces pending; a success also replaces a failure (the charge happened, the ledger must
    // say so), never another success. A success for a batch that another payment paid meanwhile is refund_due.
    const std::string updateStatement = db_.sql(
        "UPDATE payments SET status = ?, provider_txn_id = ?, error = ?, updated_at = ?, lease_owner = '',"
        " lease_until = 0, recheck_until = ?, recheck_next = 0, published = 0"
        " WHERE payment_id = ? AND (status = 'pending' OR (status = 'failed' AND ? = 'succeeded'))");
    const std::string countStatement = db_.sql("SELECT COUNT(*) FROM payments WHERE payment_id = ?");
    const std::string othersLiveStatement = db_.sql(
        "SELECT COUNT(*) FROM payments p JOIN payments q ON q.batch_id = p.batch_id"
        " WHERE p.payment_id = ? AND q.payment_id <> p.payment_id AND q.status NOT IN ('failed', 'refund_due')");
    // SET expressions all see the row as it was, so both CASEs test the old state.
    const std::string paidStatement = db_.sql(
        "UPDATE batches SET paid = 1,"
        " queued_at = CASE WHEN state = 'awaiting_payment' THEN ? ELSE queued_at END,"
        " state = CASE WHEN state = 'awaiting_payment' THEN 'queued' ELSE state END"
        " WHERE batch_id = (SELECT batch_id FROM payments WHERE payment_id = ?)");

    struct Outcome {
        bool known = false;
        PaymentChange change;
    };
    const Outcome outcome = db_.withSession("completing a payment", [&](Poco::Data::Session& session) {
        const detail::DurableCommits durable(session, db_.isSqlite());  // what the provider did, on disk
        Poco::Data::Transaction transaction(session);
        std::string recorded = statusText;
        if (status == PaymentStatus::succeeded) {
            // Another live payment exists only when this one had failed (a pending one is the batch's live payment).
            // The unique index payments_live_per_batch would refuse a second success: the charge is kept, as owed.
            int othersLive = 0;
            session << othersLiveStatement, into(othersLive), bind(paymentId), now;
            if (othersLive > 0) recorded = kRefundDue;
        }
        Poco::Data::Statement update(session);
        const Poco::Int64 recheckUntil = recorded == kFailed ? recheckUntilMs : 0;
        update << updateStatement, bind(recorded), bind(providerTxnId), bind(error), bind(stamp), bind(recheckUntil),
            bind(paymentId), bind(statusText);
        if (update.execute() == 0) {  // no longer pending, or unknown
            int count = 0;
            session << countStatement, into(count), bind(paymentId), now;
            return Outcome{count > 0, {}};
        }
        if (recorded == kSucceeded) session << paidStatement, bind(stamp), bind(paymentId), now;
        transaction.commit();
        return Outcome{true, PaymentChange{true, recorded == kRefundDue}};
    });
    if (!outcome.known) throw PermanentError("store: completePayment: no payment " + paymentId);
    return outcome.change;
}

std::vector<PaymentRecord> SqlPaymentLedger::paymentsToRecheck(long long nowMs, int limit, long long nextCheckMs) {
    if (limit <= 0) return {};
    const std::string selectStatement =
        db_.sql("SELECT " + std::string(kPaymentColumns) +
                " FROM payments WHERE status = ? AND recheck_until > ? AND recheck_next <= ?"
                " ORDER BY recheck_next, created_at, payment_id LIMIT ?");
    const std::string pushOn = db_.sql("UPDATE payments SET recheck_next = ? WHERE payment_id = ? AND status = ?");
    const Poco::Int64 now = nowMs;
    const Poco::Int64 next = nextCheckMs;
    return db_.withSession("reading payments to check again", [&](Poco::Data::Session& session) {
        Poco::Data::Transaction transaction(session);
        auto due = detail::selectRows<PaymentRecord>(session, selectStatement, kFailed, now, now, limit);
        for (const auto& payment : due) {
            Poco::Data::Statement update(session);
            update << pushOn, bind(next), bind(payment.paymentId), bind(kFailed);
            update.execute();
        }
        transaction.commit();
        return due;
    });
}

std::vector<PaymentRecord> SqlPaymentLedger::pendingPayments() {
    const std::string statement = db_.sql("SELECT " + std::string(kPaymentColumns) +
                                          " FROM payments WHERE status = ? ORDER BY created_at, payment_id");
    return db_.withSession("reading pending payments", [&](Poco::Data::Session& session) {
        return detail::selectRows<PaymentRecord>(session, statement, kPending);
    });
}

std::vector<PaymentRecord> SqlPaymentLedger::abandonedPayments(long long nowMs) {
    const std::string statement =
        db_.sql("SELECT " + std::string(kPaymentColumns) +
                " FROM payments WHERE status = ? AND lease_until < ? ORDER BY created_at, payment_id");
    const Poco::Int64 now = nowMs;
    return db_.withSession("reading abandoned payments", [&](Poco::Data::Session& session) {
        return detail::selectRows<PaymentRecord>(session, statement, kPending, now);
    });
}

std::vector<PaymentRecord> SqlPaymentLedger::unpublishedPayments(int limit) {
    if (limit <= 0) return {};
    const std::string statement =
        db_.sql("SELECT " + std::string(kPaymentColumns) +
                " FROM payments WHERE published = 0 AND status <> 'pending' ORDER BY created_at, payment_id LIMIT ?");
    return db_.withSession("reading unpublished payments", [&](Poco::Data::Session& session) {
        return detail::selectRows<PaymentRecord>(session, statement, limit);
    });
}

void SqlPaymentLedger::markPublished(const std::vector<std::string>& paymentIds) {
    if (paymentIds.empty()) return;  // Poco refuses to bind empty vectors
    const std::string statement = db_.sql("UPDATE payments SET published = 1 WHERE payment_id = ?");
    std::vector<std::string> ids = paymentIds;  // Poco binds mutable vectors only
    db_.withSession("marking payments published", [&](Poco::Data::Session& session) {
        Poco::Data::Transaction transaction(session);
        Poco::Data::Statement update(session);
        update << statement, use(ids);
        update.execute();
        transaction.commit();
    });
}

long long SqlPaymentLedger::paidTotal(const std::string& batchId) {
    const std::string statement = db_.sql(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM payments WHERE batch_id = ? AND status IN (?, ?)");
    return db_.withSession("summing a batch's payments", [&](Poco::Data::Session& session) {
        Poco::Int64 total = 0;
        session << statement, into(total), bind(batchId), bind(kSucceeded), bind(kRefundDue), now;
        return static_cast<long long>(total);
    });
}

std::optional<PaymentRecord> SqlPaymentLedger::findPaymentByKey(const std::string& creditorId,
                                                                const std::string& idempotencyKey) {
    const std::string statement = db_.sql("SELECT " + std::string(kPaymentColumns) +
                                          " FROM payments WHERE creditor_id = ? AND idempotency_key = ?");
    return db_.withSession("finding a payment", [&](Poco::Data::Session& session) -> std::optional<PaymentRecord> {
        auto records = detail::selectRows<PaymentRecord>(session, statement, creditorId, idempotencyKey);
        if (records.empty()) return std::nullopt;
        return std::move(records.front());
    });
}

}  // namespace taxdesk::connectors
