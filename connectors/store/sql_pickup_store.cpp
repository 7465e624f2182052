#include "connectors/store/sql_pickup_store.hpp"

#include <Poco/Data/DataException.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>

#include <stdexcept>

#include "connectors/store/migrations.hpp"
#include "connectors/store/sms_rows.hpp"
#include "connectors/store/store_internal.hpp"

#include <algorithm>

namespace taxdesk::connectors {
namespace {

using namespace Poco::Data::Keywords;
using detail::first;
using detail::kInboundColumns;
using detail::kInboxDone;
using detail::kInsertNotification;
using detail::kNotificationColumns;
using detail::kOutcomes;
using detail::kPickupColumns;
using detail::requireField;
using detail::requireOneOf;
using detail::selectRows;

bool isPickupCode(const std::string& code) {
    return code.size() == 6 && std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

const char* toString(CollectOutcome outcome) noexcept {
    switch (outcome) {
        case CollectOutcome::collected:
            return "collected";
        case CollectOutcome::wrong_id:
            return "wrong_id";
        case CollectOutcome::expired:
            return "expired";
        case CollectOutcome::already_collected:
            return "already_collected";
        case CollectOutcome::not_found:
            return "not_found";
    }
    return "unknown";
}

SqlPickupStore::SqlPickupStore(Database& db) : db_(db) {}

template <typename Work>
auto SqlPickupStore::withSession(const char* purpose, Work&& work) {
    return db_.withSession(purpose, std::forward<Work>(work));
}

// --- inbound SMS ---

std::optional<InboundRecord> SqlPickupStore::findInbound(const std::string& gatewayMsgId) {
    const std::string statement =
        sql("SELECT " + std::string(kInboundColumns) + " FROM sms_inbound WHERE gateway_msg_id = ?");
    return withSession("finding an inbound SMS", [&](Poco::Data::Session& session) {
        return first(selectRows<InboundRecord>(session, statement, gatewayMsgId));
    });
}

using detail::selectIn;

std::vector<InboundRecord> SqlPickupStore::findInbounds(const std::vector<std::string>& gatewayMsgIds) {
    if (gatewayMsgIds.empty()) return {};
    const std::string select =
        "SELECT " + std::string(kInboundColumns) + " FROM sms_inbound WHERE gateway_msg_id IN (%)";
    return withSession("finding inbound SMS", [&](Poco::Data::Session& session) {
        return selectIn<InboundRecord>(db_, session, select, gatewayMsgIds);
    });
}

std::vector<PickupRecord> SqlPickupStore::openPickupsOf(const std::vector<std::string>& applicantIds,
                                                        long long nowUnix) {
    if (applicantIds.empty()) return {};
    const Poco::Int64 notBefore = nowUnix > 0 ? nowUnix : 0;
    // On SQLite the unary pluses keep the planner off pickups_deadline (state, deadline_at), which it otherwise takes
    // and which walks every open pickup not yet due (thousands); by applicant it reads a few rows an id.
    const std::string select =
        "SELECT " + std::string(kPickupColumns) + " FROM pickups WHERE applicant_id IN (%) AND " +
        (db_.isSqlite() ? "+state = 'open' AND +deadline_at >= ?" : "state = 'open' AND deadline_at >= ?");
    return withSession("finding open pickups", [&](Poco::Data::Session& session) {
        return selectIn<PickupRecord>(db_, session, select, applicantIds, notBefore);
    });
}

SmsOutcomeResult SqlPickupStore::recordSmsOutcome(const InboundRecord& inbound,
                                                  const std::optional<PickupRecord>& newPickup,
                                                  const NotificationRecord& reply) {
    constexpr const char* kCall = "recordSmsOutcome";
    constexpr const char* kOutcome = "recording an inbound SMS's outcome";
    const std::string stamp = detail::utcNow();
    requireField(inbound.gatewayMsgId, "inbound.gatewayMsgId", kCall);
    requireField(inbound.msisdn, "inbound.msisdn", kCall);
    requireOneOf(kOutcomes, inbound.outcome, "inbound.outcome", kCall);
    NotificationRecord replyRow = detail::completeNotification(reply, stamp, kCall);
    InboundRecord inboundRow = inbound;
    if (inboundRow.replyNotificationId.empty()) inboundRow.replyNotificationId = replyRow.notificationId;
    if (inboundRow.replyNotificationId != replyRow.notificationId) {
        throw std::invalid_argument(std::string("store: ") + kCall + ": inbound.replyNotificationId " +
                                    inboundRow.replyNotificationId + " is not the reply's id " +
                                    replyRow.notificationId);
    }
    if (inboundRow.createdAt.empty()) inboundRow.createdAt = stamp;
    std::optional<PickupRecord> pickupRow = newPickup;
    if (pickupRow) {
        requireField(pickupRow->pickupId, "pickup.pickupId", kCall);
        requireField(pickupRow->applicantId, "pickup.applicantId", kCall);
        if (!isPickupCode(pickupRow->code)) {
            throw std::invalid_argument(std::string("store: ") + kCall + ": the pickup code is not 6 digits");
        }
        if (pickupRow->state.empty()) pickupRow->state = toString(PickupState::open);
        requireOneOf(kPickupStates, pickupRow->state, "pickup.state", kCall);
        if (pickupRow->createdAt.empty()) pickupRow->createdAt = stamp;
        if (replyRow.pickupId.empty()) replyRow.pickupId = pickupRow->pickupId;
        if (replyRow.pickupId != pickupRow->pickupId) {
            throw std::invalid_argument(std::string("store: ") + kCall + ": the reply is about pickup " +
                                        replyRow.pickupId + ", not the new pickup " + pickupRow->pickupId);
        }
    }

    const std::string insertInbound = sql("INSERT INTO sms_inbound (" + std::string(kInboundColumns) +
                                          ") VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (gateway_msg_id) DO NOTHING");
    // No conflict target: a code taken by an open pickup (pickups_open_code) inserts nothing instead of failing,
    // after PostgreSQL waited for a concurrent insert of that code to commit or roll back.
    const std::string insertPickup = sql("INSERT INTO pickups (" + std::string(kPickupColumns) +
                                         ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
    const std::string countPickupId = sql("SELECT COUNT(*) FROM pickups WHERE pickup_id = ?");
    const std::string countOpenForApplicant =
        sql("SELECT COUNT(*) FROM pickups WHERE applicant_id = ? AND service = ? AND state = 'open'");
    const std::string insertReply = sql(kInsertNotification);
    const std::string selectInbound =
        sql("SELECT " + std::string(kInboundColumns) + " FROM sms_inbound WHERE gateway_msg_id = ?");
    const std::string selectNotification =
        sql("SELECT " + std::string(kNotificationColumns) + " FROM notifications WHERE notification_id = ?");
    const std::string selectPickup = sql("SELECT " + std::string(kPickupColumns) + " FROM pickups WHERE pickup_id = ?");
    const std::string inboxDone = sql(kInboxDone);

    return withSession("recording an inbound SMS's outcome", [&](Poco::Data::Session& session) {
        detail::WriteTransaction transaction(session);  // rolls back unless committed, also when a collision throws
        // The inbound row goes first: it takes the write lock (SQLite) or waits for a concurrent insert of the same
        // message to commit (PostgreSQL), so a message processed twice at once is stored once and both calls return
        // what the first stored.
        SmsOutcomeResult result;
        result.created = detail::executeCached(db_, session, kOutcome, insertInbound, inboundRow.gatewayMsgId,
                                               inboundRow.msisdn, inboundRow.receivedAt, inboundRow.outcome,
                                               inboundRow.replyNotificationId, inboundRow.createdAt) > 0;
        if (result.created && pickupRow) {
            const PickupRecord& p = *pickupRow;
            const Poco::Int64 deadlineAt = p.deadlineAt;
            const Poco::Int64 remindAt = p.remindAt;
            const Poco::Int64 claimedUntil = p.claimedUntil;
            if (detail::executeCached(db_, session, kOutcome, insertPickup, p.pickupId, p.code, p.applicantId, p.msisdn,
                                      p.service, p.office, deadlineAt, remindAt, p.state, p.createdAt, p.collectedAt,
                                      p.remindedAt, p.claimedBy, claimedUntil) == 0) {
                Poco::Int64 taken = 0;
                session << countPickupId, into(taken), bind(p.pickupId), now;
                if (taken > 0)
                    throw PermanentError("store: " + std::string(kCall) + ": pickup id " + p.pickupId + " is taken");
                Poco::Int64 open = 0;
                session << countOpenForApplicant, into(open), bind(p.applicantId), bind(p.service), now;
                if (open > 0) throw OpenPickupExists("the applicant already has an open pickup for this service");
                throw CodeCollision("pickup code " + p.code + " belongs to another open pickup; draw another");
            }
        }
        const bool replyCreated = result.created && detail::insertNotificationRow(db_, session, insertReply, replyRow);
        // Its inbox row is done with the outcome, in this transaction: a crash cannot leave an answered message queued
        // (re-driven, harmlessly) nor a done row without an outcome. Also when the outcome was recorded before.
        detail::executeCached(db_, session, kOutcome, inboxDone, stamp, inboundRow.gatewayMsgId);

        // Rows this call inserted are returned as given (issue 11: no read-back, three statements fewer a message);
        // rows stored before are read.
        if (result.created) {
            result.inbound = inboundRow;
        } else {
            auto inbounds = selectRows<InboundRecord>(session, selectInbound, inboundRow.gatewayMsgId);
            if (inbounds.empty()) {
                throw Poco::Data::DataException("inbound SMS " + inboundRow.gatewayMsgId +
                                                " was neither inserted nor found");
            }
            result.inbound = std::move(inbounds.front());
        }
        if (replyCreated && result.inbound.replyNotificationId == replyRow.notificationId) {
            result.reply = replyRow;
        } else {
            auto replies =
                selectRows<NotificationRecord>(session, selectNotification, result.inbound.replyNotificationId);
            if (!replies.empty()) {
                result.reply = std::move(replies.front());
            } else {
                result.reply.notificationId = result.inbound.replyNotificationId;  // only if someone deleted it
            }
        }
        if (result.created && pickupRow && result.reply.pickupId == pickupRow->pickupId) {
            result.pickup = pickupRow;  // inserted above (a refused insert threw)
        } else if (!result.reply.pickupId.empty()) {
            result.pickup = first(selectRows<PickupRecord>(session, selectPickup, result.reply.pickupId));
        }
        transaction.commit();
        return result;
    });
}

// --- pickups ---

std::optional<PickupRecord> SqlPickupStore::openPickupFor(const std::string& applicantId, int service,
                                                          long long nowUnix) {
    const Poco::Int64 notBefore = nowUnix > 0 ? nowUnix : 0;
    const std::string statement =
        sql("SELECT " + std::string(kPickupColumns) +
            " FROM pickups WHERE applicant_id = ? AND service = ? AND state = 'open' AND deadline_at >= ?"
            " ORDER BY created_at DESC, pickup_id DESC LIMIT 1");
    return withSession("finding an open pickup", [&](Poco::Data::Session& session) {
        return first(selectRows<PickupRecord>(session, statement, applicantId, service, notBefore));
    });
}

CollectResult SqlPickupStore::collectPickup(const std::string& code, const std::string& applicantId,
                                            long long nowUnix) {
    const Poco::Int64 now64 = nowUnix;
    // The applicant's own pickups first (the open one, else the newest), then anyone's (the open one, else the
    // newest): codes recur once their pickup is no longer open.
    const std::string find =
        sql("SELECT " + std::string(kPickupColumns) +
            " FROM pickups WHERE code = ? ORDER BY CASE WHEN applicant_id = ? THEN 0 ELSE 1 END,"
            " CASE WHEN state = 'open' THEN 0 ELSE 1 END, created_at DESC, pickup_id DESC LIMIT 1");
    const std::string byId = sql("SELECT " + std::string(kPickupColumns) + " FROM pickups WHERE pickup_id = ?");
    const std::string collect =
        sql("UPDATE pickups SET state = 'collected', collected_at = ?"
            " WHERE pickup_id = ? AND state = 'open' AND deadline_at >= ?");
    const std::string expire =
        sql("UPDATE pickups SET state = 'expired' WHERE pickup_id = ? AND state = 'open' AND deadline_at < ?");

    return withSession("collecting a pickup", [&](Poco::Data::Session& session) {
        // Each round reads the pickup and moves it with a conditional update; when another call moved it in between,
        // the update changes nothing and the next round sees the new state.
        for (int round = 1; round <= 5; ++round) {
            auto found = selectRows<PickupRecord>(session, find, code, applicantId);
            if (found.empty()) return CollectResult{CollectOutcome::not_found, std::nullopt};
            const PickupRecord pickup = std::move(found.front());
            if (pickup.applicantId != applicantId) return CollectResult{CollectOutcome::wrong_id, pickup};
            if (pickup.state == toString(PickupState::collected))
                return CollectResult{CollectOutcome::already_collected, pickup};
            if (pickup.state != toString(PickupState::open)) return CollectResult{CollectOutcome::expired, pickup};
            const bool late = nowUnix > pickup.deadlineAt;
            Poco::Data::Statement update(session);
            if (late) {
                update << expire, bind(pickup.pickupId), bind(now64);
            } else {
                update << collect, bind(detail::utcNow()), bind(pickup.pickupId), bind(now64);
            }
            if (update.execute() > 0) {
                return CollectResult{late ? CollectOutcome::expired : CollectOutcome::collected,
                                     first(selectRows<PickupRecord>(session, byId, pickup.pickupId))};
            }
        }
        throw Poco::Data::DataException("pickup with code " + code + " kept changing");
    });
}

std::vector<PickupRecord> SqlPickupStore::claimDueReminders(long long nowUnix, const std::string& owner,
                                                            int leaseSeconds, int limit) {
    requireField(owner, "owner", "claimDueReminders");
    if (leaseSeconds < 1) throw std::invalid_argument("store: claimDueReminders: leaseSeconds must be at least 1");
    if (limit <= 0) return {};
    const Poco::Int64 now64 = nowUnix;
    const Poco::Int64 until = nowUnix + leaseSeconds;
    constexpr const char* kDue =
        "state = 'open' AND remind_at <= ? AND deadline_at >= ? AND reminded_at = ''"
        " AND (claimed_by = '' OR claimed_until < ?)";
    const std::string candidates =
        sql("SELECT pickup_id FROM pickups WHERE " + std::string(kDue) + " ORDER BY remind_at, pickup_id LIMIT ?");
    // The same test again in the update: of engines racing for a row, only the first changes it (PostgreSQL
    // re-checks the condition on the row the winner committed; SQLite runs one writer at a time).
    const std::string claim =
        sql("UPDATE pickups SET claimed_by = ?, claimed_until = ? WHERE pickup_id = ? AND " + std::string(kDue));
    const std::string byId = sql("SELECT " + std::string(kPickupColumns) + " FROM pickups WHERE pickup_id = ?");

    return withSession("claiming due reminders", [&](Poco::Data::Session& session) {
        std::vector<std::string> ids;
        session << candidates, into(ids), bind(now64), bind(now64), bind(now64), bind(limit), now;
        std::vector<PickupRecord> claimed;
        for (const std::string& id : ids) {
            Poco::Data::Statement update(session);
            update << claim, bind(owner), bind(until), bind(id), bind(now64), bind(now64), bind(now64);
            if (update.execute() == 0) continue;  // another engine was quicker
            if (auto pickup = first(selectRows<PickupRecord>(session, byId, id))) claimed.push_back(std::move(*pickup));
        }
        return claimed;
    });
}

void SqlPickupStore::markReminded(const std::string& pickupId, const std::string& nowIso) {
    const std::string stamp = nowIso.empty() ? detail::utcNow() : nowIso;
    const std::string statement = sql("UPDATE pickups SET reminded_at = ? WHERE pickup_id = ? AND reminded_at = ''");
    withSession("marking a pickup reminded",
                [&](Poco::Data::Session& session) { session << statement, bind(stamp), bind(pickupId), now; });
}

int SqlPickupStore::expireDue(long long nowUnix) {
    const Poco::Int64 now64 = nowUnix;
    const std::string statement = sql("UPDATE pickups SET state = 'expired' WHERE state = 'open' AND deadline_at < ?");
    return withSession("expiring pickups", [&](Poco::Data::Session& session) {
        Poco::Data::Statement update(session);
        update << statement, bind(now64);
        return static_cast<int>(update.execute());
    });
}

}  // namespace taxdesk::connectors
