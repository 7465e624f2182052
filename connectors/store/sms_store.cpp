// The SMS application and quick pickup part of the Store (SPEC 4.1, 4.2; tables of migration 3): processed inbound
// messages, pickups with their codes, reminders and expiry, and outbound notifications.
#include <Poco/Data/DataException.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Data/Transaction.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string_view>

#include "connectors/store/migrations.hpp"
#include "connectors/store/store.hpp"
#include "connectors/store/store_internal.hpp"

namespace taxdesk::connectors {
namespace {

using namespace Poco::Data::Keywords;
using detail::requireField;
using detail::select;

constexpr const char* kOpen = "open";
constexpr const char* kCollected = "collected";
constexpr const char* kExpired = "expired";
constexpr const char* kQueued = "queued";

// unavailable: Redis or a connector was away, the citizen was told to try again later (jobs::sms::unavailableText).
constexpr std::array<std::string_view, 10> kOutcomes = {"alert",           "resent",   "help",  "invalid_id",
                                                        "identity_failed", "locked",   "limit", "unavailable",
                                                        "unknown_service", "malformed"};
constexpr std::array<std::string_view, 3> kPickupStates = {kOpen, kCollected, kExpired};
constexpr std::array<std::string_view, 3> kKinds = {"pickup_alert", "reminder", "reply"};
constexpr std::array<std::string_view, 5> kNotificationStatuses = {kQueued, "sent", "delivered", "failed", "dead"};

template <size_t N>
bool isOneOf(const std::array<std::string_view, N>& known, const std::string& value) {
    return std::find(known.begin(), known.end(), value) != known.end();
}

template <size_t N>
void requireOneOf(const std::array<std::string_view, N>& known, const std::string& value, const char* what,
                  const char* call) {
    if (isOneOf(known, value)) return;
    std::string list;
    for (const std::string_view name : known) list += (list.empty() ? "" : " | ") + std::string(name);
    throw std::invalid_argument(std::string("store: ") + call + ": " + what + " '" + value + "' is not one of " + list);
}

bool isPickupCode(const std::string& code) {
    return code.size() == 6 && std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
}

constexpr const char* kInboundColumns =
    "gateway_msg_id, msisdn, received_at, outcome, reply_notification_id, created_at";

/// Column-wise inbound records, in kInboundColumns' order.
struct InboundColumns {
    std::vector<std::string> gatewayMsgIds;
    std::vector<std::string> msisdns;
    std::vector<std::string> receivedAts;
    std::vector<std::string> outcomes;
    std::vector<std::string> replyIds;
    std::vector<std::string> createdAts;

    void into(Poco::Data::Statement& select) {
        using Poco::Data::Keywords::into;
        select, into(gatewayMsgIds), into(msisdns), into(receivedAts), into(outcomes), into(replyIds), into(createdAts);
    }

    [[nodiscard]] std::vector<InboundRecord> toRecords() const {
        std::vector<InboundRecord> records;
        records.reserve(gatewayMsgIds.size());
        for (size_t i = 0; i < gatewayMsgIds.size(); ++i) {
            records.push_back({gatewayMsgIds[i], msisdns[i], receivedAts[i], outcomes[i], replyIds[i], createdAts[i]});
        }
        return records;
    }
};

constexpr const char* kPickupColumns =
    "pickup_id, code, applicant_id, msisdn, service, office, deadline_at, remind_at, state, created_at, collected_at,"
    " reminded_at, claimed_by, claimed_until";

/// Column-wise pickups, in kPickupColumns' order.
struct PickupColumns {
    std::vector<std::string> pickupIds;
    std::vector<std::string> codes;
    std::vector<std::string> applicantIds;
    std::vector<std::string> msisdns;
    std::vector<int> services;
    std::vector<std::string> offices;
    std::vector<Poco::Int64> deadlineAts;
    std::vector<Poco::Int64> remindAts;
    std::vector<std::string> states;
    std::vector<std::string> createdAts;
    std::vector<std::string> collectedAts;
    std::vector<std::string> remindedAts;
    std::vector<std::string> claimedBys;
    std::vector<Poco::Int64> claimedUntils;

    void into(Poco::Data::Statement& select) {
        using Poco::Data::Keywords::into;
        select, into(pickupIds), into(codes), into(applicantIds), into(msisdns), into(services), into(offices),
            into(deadlineAts), into(remindAts), into(states), into(createdAts), into(collectedAts), into(remindedAts),
            into(claimedBys), into(claimedUntils);
    }

    [[nodiscard]] std::vector<PickupRecord> toRecords() const {
        std::vector<PickupRecord> records;
        records.reserve(pickupIds.size());
        for (size_t i = 0; i < pickupIds.size(); ++i) {
            records.push_back({pickupIds[i], codes[i], applicantIds[i], msisdns[i], services[i], offices[i],
                               static_cast<long long>(deadlineAts[i]), static_cast<long long>(remindAts[i]), states[i],
                               createdAts[i], collectedAts[i], remindedAts[i], claimedBys[i],
                               static_cast<long long>(claimedUntils[i])});
        }
        return records;
    }
};

constexpr const char* kNotificationColumns =
    "notification_id, msisdn, text, kind, pickup_id, attempt, status, gateway_msg_id, segments, error, created_at,"
    " updated_at";

/// Column-wise notifications, in kNotificationColumns' order.
struct NotificationColumns {
    std::vector<std::string> notificationIds;
    std::vector<std::string> msisdns;
    std::vector<std::string> texts;
    std::vector<std::string> kinds;
    std::vector<std::string> pickupIds;
    std::vector<int> attempts;
    std::vector<std::string> statuses;
    std::vector<std::string> gatewayMsgIds;
    std::vector<int> segments;
    std::vector<std::string> errors;
    std::vector<std::string> createdAts;
    std::vector<std::string> updatedAts;

    void into(Poco::Data::Statement& select) {
        using Poco::Data::Keywords::into;
        select, into(notificationIds), into(msisdns), into(texts), into(kinds), into(pickupIds), into(attempts),
            into(statuses), into(gatewayMsgIds), into(segments), into(errors), into(createdAts), into(updatedAts);
    }

    [[nodiscard]] std::vector<NotificationRecord> toRecords() const {
        std::vector<NotificationRecord> records;
        records.reserve(notificationIds.size());
        for (size_t i = 0; i < notificationIds.size(); ++i) {
            records.push_back({notificationIds[i], msisdns[i], texts[i], kinds[i], pickupIds[i], attempts[i],
                               statuses[i], gatewayMsgIds[i], segments[i], errors[i], createdAts[i], updatedAts[i]});
        }
        return records;
    }
};

template <typename Record>
std::optional<Record> first(std::vector<Record>&& records) {
    if (records.empty()) return std::nullopt;
    return std::move(records.front());
}

/// A notification as insertNotification and recordSmsOutcome store it: checked, defaults filled in.
NotificationRecord completeNotification(const NotificationRecord& notification, const std::string& stamp,
                                        const char* call) {
    requireField(notification.notificationId, "notificationId", call);
    requireField(notification.msisdn, "msisdn", call);
    NotificationRecord out = notification;
    if (out.status.empty()) out.status = kQueued;
    requireOneOf(kKinds, out.kind, "kind", call);
    requireOneOf(kNotificationStatuses, out.status, "status", call);
    if (out.createdAt.empty()) out.createdAt = stamp;
    if (out.updatedAt.empty()) out.updatedAt = out.createdAt;
    return out;
}

/// Binds a notification to kInsertNotification's placeholders and runs it; returns whether it inserted.
bool insertNotificationRow(Poco::Data::Session& session, const std::string& statement, const NotificationRecord& n) {
    Poco::Data::Statement insert(session);
    insert << statement, bind(n.notificationId), bind(n.msisdn), bind(n.text), bind(n.kind), bind(n.pickupId),
        bind(n.attempt), bind(n.status), bind(n.gatewayMsgId), bind(n.segments), bind(n.error), bind(n.createdAt),
        bind(n.updatedAt);
    return insert.execute() > 0;
}

constexpr const char* kInboxColumns = "gateway_msg_id, message, received_at, state, attempts, updated_at";
constexpr std::array<std::string_view, 2> kInboxStates = {kQueued, "done"};
constexpr const char* kInboxDone =
    "UPDATE sms_inbox SET state = 'done', updated_at = ? WHERE gateway_msg_id = ? AND state = 'queued'";

/// Column-wise inbox rows, in kInboxColumns' order.
struct InboxColumns {
    std::vector<std::string> gatewayMsgIds;
    std::vector<std::string> messages;
    std::vector<std::string> receivedAts;
    std::vector<std::string> states;
    std::vector<int> attempts;
    std::vector<std::string> updatedAts;

    void into(Poco::Data::Statement& select) {
        using Poco::Data::Keywords::into;
        select, into(gatewayMsgIds), into(messages), into(receivedAts), into(states), into(attempts), into(updatedAts);
    }

    [[nodiscard]] std::vector<InboxRecord> toRecords() const {
        std::vector<InboxRecord> records;
        records.reserve(gatewayMsgIds.size());
        for (size_t i = 0; i < gatewayMsgIds.size(); ++i) {
            records.push_back({gatewayMsgIds[i], messages[i], receivedAts[i], states[i], attempts[i], updatedAts[i]});
        }
        return records;
    }
};

constexpr const char* kInsertNotification =
    "INSERT INTO notifications (notification_id, msisdn, text, kind, pickup_id, attempt, status, gateway_msg_id,"
    " segments, error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (notification_id) DO NOTHING";

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

// --- inbound SMS ---

std::optional<InboundRecord> Store::findInbound(const std::string& gatewayMsgId) {
    const std::string statement =
        sql("SELECT " + std::string(kInboundColumns) + " FROM sms_inbound WHERE gateway_msg_id = ?");
    return withSession("finding an inbound SMS", [&](Poco::Data::Session& session) {
        return first(select<InboundColumns>(session, statement, gatewayMsgId));
    });
}

SmsOutcomeResult Store::recordSmsOutcome(const InboundRecord& inbound, const std::optional<PickupRecord>& newPickup,
                                         const NotificationRecord& reply) {
    constexpr const char* kCall = "recordSmsOutcome";
    const std::string stamp = detail::utcNow();
    requireField(inbound.gatewayMsgId, "inbound.gatewayMsgId", kCall);
    requireField(inbound.msisdn, "inbound.msisdn", kCall);
    requireOneOf(kOutcomes, inbound.outcome, "inbound.outcome", kCall);
    NotificationRecord replyRow = completeNotification(reply, stamp, kCall);
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
        if (pickupRow->state.empty()) pickupRow->state = kOpen;
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
        Poco::Data::Transaction transaction(session);  // rolls back unless committed, also when a collision throws
        // The inbound row goes first: it takes the write lock (SQLite) or waits for a concurrent insert of the same
        // message to commit (PostgreSQL), so a message processed twice at once is stored once and both calls return
        // what the first stored.
        Poco::Data::Statement insert(session);
        insert << insertInbound, bind(inboundRow.gatewayMsgId), bind(inboundRow.msisdn), bind(inboundRow.receivedAt),
            bind(inboundRow.outcome), bind(inboundRow.replyNotificationId), bind(inboundRow.createdAt);
        SmsOutcomeResult result;
        result.created = insert.execute() > 0;
        if (result.created && pickupRow) {
            const PickupRecord& p = *pickupRow;
            const Poco::Int64 deadlineAt = p.deadlineAt;
            const Poco::Int64 remindAt = p.remindAt;
            const Poco::Int64 claimedUntil = p.claimedUntil;
            Poco::Data::Statement insertRow(session);
            insertRow << insertPickup, bind(p.pickupId), bind(p.code), bind(p.applicantId), bind(p.msisdn),
                bind(p.service), bind(p.office), bind(deadlineAt), bind(remindAt), bind(p.state), bind(p.createdAt),
                bind(p.collectedAt), bind(p.remindedAt), bind(p.claimedBy), bind(claimedUntil);
            if (insertRow.execute() == 0) {
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
        if (result.created) insertNotificationRow(session, insertReply, replyRow);
        // Its inbox row is done with the outcome, in this transaction: a crash cannot leave an answered message queued
        // (re-driven, harmlessly) nor a done row without an outcome. Also when the outcome was recorded before.
        Poco::Data::Statement done(session);
        done << inboxDone, bind(stamp), bind(inboundRow.gatewayMsgId);
        done.execute();

        auto inbounds = select<InboundColumns>(session, selectInbound, inboundRow.gatewayMsgId);
        if (inbounds.empty()) {
            throw Poco::Data::DataException("inbound SMS " + inboundRow.gatewayMsgId +
                                            " was neither inserted nor found");
        }
        result.inbound = std::move(inbounds.front());
        auto replies = select<NotificationColumns>(session, selectNotification, result.inbound.replyNotificationId);
        if (!replies.empty()) {
            result.reply = std::move(replies.front());
        } else {
            result.reply.notificationId = result.inbound.replyNotificationId;  // only if someone deleted it
        }
        if (!result.reply.pickupId.empty()) {
            result.pickup = first(select<PickupColumns>(session, selectPickup, result.reply.pickupId));
        }
        transaction.commit();
        return result;
    });
}

// --- the inbox ---

std::vector<InboxRecord> Store::enqueueInbox(const std::vector<InboxRecord>& messages) {
    constexpr const char* kCall = "enqueueInbox";
    const std::string stamp = detail::utcNow();
    std::vector<InboxRecord> rows = messages;
    for (InboxRecord& row : rows) {
        requireField(row.gatewayMsgId, "gatewayMsgId", kCall);
        requireField(row.message, "message", kCall);
        if (row.state.empty()) row.state = kQueued;
        requireOneOf(kInboxStates, row.state, "state", kCall);
        if (row.receivedAt.empty()) row.receivedAt = stamp;
        if (row.updatedAt.empty()) row.updatedAt = row.receivedAt;
    }
    if (rows.empty()) return {};
    const std::string insert = sql("INSERT INTO sms_inbox (" + std::string(kInboxColumns) +
                                   ") VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (gateway_msg_id) DO NOTHING");
    const std::string byId = sql("SELECT " + std::string(kInboxColumns) + " FROM sms_inbox WHERE gateway_msg_id = ?");
    return withSession("storing inbound SMS in the inbox", [&](Poco::Data::Session& session) {
        Poco::Data::Transaction transaction(session);  // the request's messages are stored whole or not at all
        for (const InboxRecord& row : rows) {
            Poco::Data::Statement statement(session);
            statement << insert, bind(row.gatewayMsgId), bind(row.message), bind(row.receivedAt), bind(row.state),
                bind(row.attempts), bind(row.updatedAt);
            statement.execute();
        }
        std::vector<InboxRecord> stored;
        stored.reserve(rows.size());
        for (const InboxRecord& row : rows) {
            auto found = first(select<InboxColumns>(session, byId, row.gatewayMsgId));
            if (!found)
                throw Poco::Data::DataException("inbox row " + row.gatewayMsgId + " was neither inserted nor found");
            stored.push_back(std::move(*found));
        }
        transaction.commit();
        return stored;
    });
}

void Store::markInboxDone(const std::string& gatewayMsgId) {
    const std::string statement = sql(kInboxDone);
    withSession("marking an inbox row done", [&](Poco::Data::Session& session) {
        session << statement, bind(detail::utcNow()), bind(gatewayMsgId), now;
    });
}

std::optional<InboxRecord> Store::findInbox(const std::string& gatewayMsgId) {
    const std::string statement =
        sql("SELECT " + std::string(kInboxColumns) + " FROM sms_inbox WHERE gateway_msg_id = ?");
    return withSession("finding an inbox row", [&](Poco::Data::Session& session) {
        return first(select<InboxColumns>(session, statement, gatewayMsgId));
    });
}

std::vector<InboxRecord> Store::claimStaleInbox(const std::string& olderThanIso, const std::string& claimedAtIso,
                                                int maxAttempts, int limit) {
    if (limit <= 0) return {};
    const std::string selectStale = sql("SELECT " + std::string(kInboxColumns) +
                                        " FROM sms_inbox WHERE state = 'queued' AND updated_at < ? AND attempts < ?"
                                        " ORDER BY updated_at, gateway_msg_id LIMIT ?");
    // The row as read, again in the update: of engines racing for it only the first changes it.
    const std::string claim =
        sql("UPDATE sms_inbox SET updated_at = ?, attempts = attempts + 1"
            " WHERE gateway_msg_id = ? AND state = 'queued' AND updated_at = ? AND attempts = ?");
    return withSession("claiming inbox rows stuck in queued", [&](Poco::Data::Session& session) {
        std::vector<InboxRecord> claimed;
        for (auto& row : select<InboxColumns>(session, selectStale, olderThanIso, maxAttempts, limit)) {
            const std::string stamp = claimedAtIso.empty() ? detail::utcNow() : claimedAtIso;
            Poco::Data::Statement update(session);
            update << claim, bind(stamp), bind(row.gatewayMsgId), bind(row.updatedAt), bind(row.attempts);
            if (update.execute() == 0) continue;  // another engine claimed it, or it was done meanwhile
            row.updatedAt = stamp;
            ++row.attempts;
            claimed.push_back(std::move(row));
        }
        return claimed;
    });
}

void Store::returnInboxAttempts(const std::vector<std::string>& gatewayMsgIds) {
    if (gatewayMsgIds.empty()) return;  // Poco refuses to bind empty vectors
    const std::string statement =
        sql("UPDATE sms_inbox SET attempts = attempts - 1 WHERE gateway_msg_id = ? AND state = 'queued'"
            " AND attempts > 0");
    std::vector<std::string> ids = gatewayMsgIds;  // Poco binds mutable vectors only
    withSession("returning inbox attempts", [&](Poco::Data::Session& session) {
        Poco::Data::Transaction transaction(session);
        Poco::Data::Statement update(session);
        update << statement, use(ids);
        update.execute();
        transaction.commit();
    });
}

int Store::pruneInbox(const std::string& olderThanIso, int limit) {
    if (limit <= 0) return 0;
    // A bounded delete both backends accept (neither SQLite's default build nor PostgreSQL has DELETE … LIMIT).
    const std::string statement =
        sql("DELETE FROM sms_inbox WHERE gateway_msg_id IN (SELECT gateway_msg_id FROM sms_inbox"
            " WHERE state = 'done' AND updated_at < ? ORDER BY updated_at LIMIT ?)");
    return withSession("pruning the inbox", [&](Poco::Data::Session& session) {
        Poco::Data::Statement prune(session);
        prune << statement, bind(olderThanIso), bind(limit);
        return static_cast<int>(prune.execute());
    });
}

// --- pickups ---

std::optional<PickupRecord> Store::openPickupFor(const std::string& applicantId, int service, long long nowUnix) {
    const Poco::Int64 notBefore = nowUnix > 0 ? nowUnix : 0;
    const std::string statement =
        sql("SELECT " + std::string(kPickupColumns) +
            " FROM pickups WHERE applicant_id = ? AND service = ? AND state = 'open' AND deadline_at >= ?"
            " ORDER BY created_at DESC, pickup_id DESC LIMIT 1");
    return withSession("finding an open pickup", [&](Poco::Data::Session& session) {
        return first(select<PickupColumns>(session, statement, applicantId, service, notBefore));
    });
}

CollectResult Store::collectPickup(const std::string& code, const std::string& applicantId, long long nowUnix) {
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
            auto found = select<PickupColumns>(session, find, code, applicantId);
            if (found.empty()) return CollectResult{CollectOutcome::not_found, std::nullopt};
            const PickupRecord pickup = std::move(found.front());
            if (pickup.applicantId != applicantId) return CollectResult{CollectOutcome::wrong_id, pickup};
            if (pickup.state == kCollected) return CollectResult{CollectOutcome::already_collected, pickup};
            if (pickup.state != kOpen) return CollectResult{CollectOutcome::expired, pickup};
            const bool late = nowUnix > pickup.deadlineAt;
            Poco::Data::Statement update(session);
            if (late) {
                update << expire, bind(pickup.pickupId), bind(now64);
            } else {
                update << collect, bind(detail::utcNow()), bind(pickup.pickupId), bind(now64);
            }
            if (update.execute() > 0) {
                return CollectResult{late ? CollectOutcome::expired : CollectOutcome::collected,
                                     first(select<PickupColumns>(session, byId, pickup.pickupId))};
            }
        }
        throw Poco::Data::DataException("pickup with code " + code + " kept changing");
    });
}

std::vector<PickupRecord> Store::claimDueReminders(long long nowUnix, const std::string& owner, int leaseSeconds,
                                                   int limit) {
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
            if (auto pickup = first(select<PickupColumns>(session, byId, id))) claimed.push_back(std::move(*pickup));
        }
        return claimed;
    });
}

void Store::markReminded(const std::string& pickupId, const std::string& nowIso) {
    const std::string stamp = nowIso.empty() ? detail::utcNow() : nowIso;
    const std::string statement = sql("UPDATE pickups SET reminded_at = ? WHERE pickup_id = ? AND reminded_at = ''");
    withSession("marking a pickup reminded",
                [&](Poco::Data::Session& session) { session << statement, bind(stamp), bind(pickupId), now; });
}

int Store::expireDue(long long nowUnix) {
    const Poco::Int64 now64 = nowUnix;
    const std::string statement = sql("UPDATE pickups SET state = 'expired' WHERE state = 'open' AND deadline_at < ?");
    return withSession("expiring pickups", [&](Poco::Data::Session& session) {
        Poco::Data::Statement update(session);
        update << statement, bind(now64);
        return static_cast<int>(update.execute());
    });
}

// --- notifications ---

void Store::insertNotification(const NotificationRecord& notification) {
    const NotificationRecord row = completeNotification(notification, detail::utcNow(), "insertNotification");
    const std::string statement = sql(kInsertNotification);
    withSession("inserting a notification",
                [&](Poco::Data::Session& session) { insertNotificationRow(session, statement, row); });
}

void Store::markNotificationSent(const std::string& notificationId, const std::string& gatewayMsgId, int segments) {
    const std::string statement =
        sql("UPDATE notifications SET status = 'sent', gateway_msg_id = ?, segments = ?, attempt = attempt + 1,"
            " error = '', updated_at = ? WHERE notification_id = ?");
    withSession("marking a notification sent", [&](Poco::Data::Session& session) {
        session << statement, bind(gatewayMsgId), bind(segments), bind(detail::utcNow()), bind(notificationId), now;
    });
}

void Store::markNotificationStatus(const std::string& notificationId, const std::string& status,
                                   const std::string& error) {
    requireOneOf(kNotificationStatuses, status, "status", "markNotificationStatus");
    const std::string statement =
        sql("UPDATE notifications SET status = ?, error = ?, updated_at = ? WHERE notification_id = ?");
    withSession("setting a notification's status", [&](Poco::Data::Session& session) {
        session << statement, bind(status), bind(error), bind(detail::utcNow()), bind(notificationId), now;
    });
}

void Store::failAndRetryNotification(const std::string& failedId, const std::string& error,
                                     const NotificationRecord& retry) {
    requireField(failedId, "failedId", "failAndRetryNotification");
    const std::string stamp = detail::utcNow();
    const NotificationRecord row = completeNotification(retry, stamp, "failAndRetryNotification");
    const std::string update =
        sql("UPDATE notifications SET status = 'failed', error = ?, updated_at = ? WHERE notification_id = ?");
    const std::string insert = sql(kInsertNotification);
    withSession("failing a notification and queueing its retry", [&](Poco::Data::Session& session) {
        Poco::Data::Transaction transaction(session);  // both or neither
        Poco::Data::Statement failed(session);
        failed << update, bind(error), bind(stamp), bind(failedId);
        failed.execute();
        insertNotificationRow(session, insert, row);
        transaction.commit();
    });
}

std::vector<NotificationRecord> Store::claimStaleQueued(const std::string& olderThanIso,
                                                        const std::string& claimedAtIso, int limit) {
    if (limit <= 0) return {};
    const std::string selectStale =
        sql("SELECT " + std::string(kNotificationColumns) +
            " FROM notifications WHERE status = 'queued' AND updated_at < ? ORDER BY updated_at, notification_id"
            " LIMIT ?");
    const std::string claim = sql(
        "UPDATE notifications SET updated_at = ? WHERE notification_id = ? AND status = 'queued' AND updated_at = ?");
    return withSession("claiming notifications stuck in queued", [&](Poco::Data::Session& session) {
        std::vector<NotificationRecord> claimed;
        for (auto& notification : select<NotificationColumns>(session, selectStale, olderThanIso, limit)) {
            const std::string stamp = claimedAtIso.empty() ? detail::utcNow() : claimedAtIso;
            Poco::Data::Statement update(session);
            update << claim, bind(stamp), bind(notification.notificationId), bind(notification.updatedAt);
            if (update.execute() == 0) continue;  // another engine claimed it, or it was sent meanwhile
            notification.updatedAt = stamp;
            claimed.push_back(std::move(notification));
        }
        return claimed;
    });
}

std::optional<NotificationRecord> Store::findNotification(const std::string& notificationId) {
    const std::string statement =
        sql("SELECT " + std::string(kNotificationColumns) + " FROM notifications WHERE notification_id = ?");
    return withSession("finding a notification", [&](Poco::Data::Session& session) {
        return first(select<NotificationColumns>(session, statement, notificationId));
    });
}

std::optional<NotificationRecord> Store::findNotificationByGatewayMsgId(const std::string& gatewayMsgId) {
    if (gatewayMsgId.empty()) return std::nullopt;  // every notification not sent yet has ""
    const std::string statement =
        sql("SELECT " + std::string(kNotificationColumns) +
            " FROM notifications WHERE gateway_msg_id = ? ORDER BY updated_at DESC, notification_id DESC LIMIT 1");
    return withSession("finding a notification by gateway message id", [&](Poco::Data::Session& session) {
        return first(select<NotificationColumns>(session, statement, gatewayMsgId));
    });
}

std::vector<NotificationRecord> Store::notificationsWithStatus(const std::string& status, int limit) {
    if (limit <= 0) return {};
    const std::string statement =
        sql("SELECT " + std::string(kNotificationColumns) +
            " FROM notifications WHERE status = ? ORDER BY created_at, notification_id LIMIT ?");
    return withSession("listing notifications by status", [&](Poco::Data::Session& session) {
        return select<NotificationColumns>(session, statement, status, limit);
    });
}

std::vector<NotificationRecord> Store::deadNotifications(int limit) {
    return notificationsWithStatus("dead", limit);
}

}  // namespace taxdesk::connectors
