#include "connectors/store/sql_webhook_store.hpp"

#include <Poco/Data/Statement.h>

#include <algorithm>

#include "connectors/store/migrations.hpp"
#include "connectors/store/sms_states.hpp"
#include "connectors/store/store_internal.hpp"
#include "jobs/notify/notify.hpp"

namespace taxdesk::connectors {

using namespace Poco::Data::Keywords;

void SqlWebhookStore::putWebhook(const WebhookRecord& webhook) {
    detail::requireField(webhook.tokenId, "tokenId", "putWebhook");
    const std::string statement = db_.sql(
        "INSERT INTO webhooks (token_id, creditor_id, url, secret, sms, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (token_id) DO UPDATE SET creditor_id = excluded.creditor_id, url = excluded.url,"
        " secret = excluded.secret, sms = excluded.sms, updated_at = excluded.updated_at");
    const std::string stamp = webhook.updatedAt.empty() ? detail::utcNow() : webhook.updatedAt;
    db_.withSession("storing a webhook", [&](Poco::Data::Session& session) {
        session << statement, bind(webhook.tokenId), bind(webhook.creditorId), bind(webhook.url), bind(webhook.secret),
            bind(webhook.sms), bind(stamp), now;
    });
}

std::optional<WebhookRecord> SqlWebhookStore::findWebhook(const std::string& tokenId) {
    const std::string statement =
        db_.sql("SELECT creditor_id, url, secret, sms, updated_at FROM webhooks WHERE token_id = ?");
    return db_.withSession("finding a webhook", [&](Poco::Data::Session& session) -> std::optional<WebhookRecord> {
        std::vector<std::string> creditors;
        std::vector<std::string> urls;
        std::vector<std::string> secrets;
        std::vector<std::string> numbers;
        std::vector<std::string> stamps;
        session << statement, into(creditors), into(urls), into(secrets), into(numbers), into(stamps), bind(tokenId),
            now;
        if (creditors.empty()) return std::nullopt;
        return WebhookRecord{tokenId, creditors[0], urls[0], secrets[0], numbers[0], stamps[0]};
    });
}

bool SqlWebhookStore::removeWebhook(const std::string& tokenId) {
    const std::string statement = db_.sql("DELETE FROM webhooks WHERE token_id = ?");
    return db_.withSession("removing a webhook", [&](Poco::Data::Session& session) {
        Poco::Data::Statement remove(session);
        remove << statement, bind(tokenId);
        return remove.execute() > 0;
    });
}

namespace detail {

std::vector<NotificationRecord> recordBatchDoneIntents(Database& db, Poco::Data::Session& session,
                                                       const std::vector<std::string>& batchIds) {
    const std::string insert = db.sql(
        "INSERT INTO notifications (notification_id, msisdn, text, kind, pickup_id, attempt, status, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, '', 0, ?, ?, ?) ON CONFLICT (notification_id) DO NOTHING");
    const std::string kind(jobs::notify::kBatchDoneKind);
    const std::string queued = toString(NotificationStatus::queued);
    const std::string stamp = utcNow();
    std::vector<NotificationRecord> recorded;
    // The finished ones of these batches with their creditors' registrations, kInListMax batches a statement (an
    // index probe each): one statement for a chunk's results, not one a batch (issue 11: a chunk of the bench holds
    // 64 batches, and a statement a batch cost 3.9k instructions a row).
    for (std::size_t begin = 0; begin < batchIds.size(); begin += kInListMax) {
        const std::size_t end = std::min(batchIds.size(), begin + kInListMax);
        const std::string sql = db.sql(
            "SELECT b.batch_id, b.state, b.creditor_id, b.rows_total, b.rows_done, b.failure_reason, b.completed_at,"
            " w.token_id, w.url, w.sms FROM batches b JOIN webhooks w ON w.creditor_id = b.creditor_id"
            " WHERE b.state IN ('completed', 'failed') AND b.batch_id IN (" +
            placeholderList(end - begin) + ") ORDER BY b.batch_id, w.token_id");
        std::vector<std::string> ids;
        std::vector<std::string> states;
        std::vector<std::string> creditors;
        std::vector<int> totals;
        std::vector<int> dones;
        std::vector<std::string> reasons;
        std::vector<std::string> completedAts;
        std::vector<std::string> tokens;
        std::vector<std::string> urls;
        std::vector<std::string> numbers;
        Poco::Data::Statement select(session);
        select << sql, into(ids), into(states), into(creditors), into(totals), into(dones), into(reasons),
            into(completedAts), into(tokens), into(urls), into(numbers);
        for (std::size_t i = begin; i < end; ++i) select.addBind(bind(batchIds[i]));
        select.execute();
        // Rows of one batch are adjacent (ORDER BY batch_id), its registrations in token order.
        for (std::size_t first = 0; first < ids.size();) {
            std::size_t last = first;
            std::vector<jobs::notify::Registration> registrations;
            for (; last < ids.size() && ids[last] == ids[first]; ++last)
                registrations.push_back({tokens[last], urls[last], numbers[last]});
            const jobs::notify::FinishedBatch batch{ids[first],   creditors[first], states[first],      totals[first],
                                                    dones[first], reasons[first],   completedAts[first]};
            first = last;
            for (const auto& intent : jobs::notify::decideBatchDone(batch, registrations)) {
                Poco::Data::Statement write(session);
                write << insert, bind(intent.notificationId), bind(intent.target), bind(intent.text), bind(kind),
                    bind(queued), bind(stamp), bind(stamp);
                if (write.execute() == 0) continue;  // stored before (a replay): produced then, or by the sweep
                NotificationRecord record;
                record.notificationId = intent.notificationId;
                record.msisdn = intent.target;
                record.text = intent.text;
                record.kind = kind;
                record.status = queued;
                record.createdAt = stamp;
                record.updatedAt = stamp;
                recorded.push_back(std::move(record));
            }
        }
    }
    return recorded;
}

}  // namespace detail

}  // namespace taxdesk::connectors
