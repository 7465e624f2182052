#include "connectors/store/sql_sms_inbox.hpp"

#include <Poco/Data/DataException.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>

#include <stdexcept>

#include "connectors/store/migrations.hpp"
#include "connectors/store/sms_rows.hpp"
#include "connectors/store/store_internal.hpp"

namespace taxdesk::connectors {
namespace {

using namespace Poco::Data::Keywords;
using detail::first;
using detail::kInboxColumns;
using detail::kInboxDone;
using detail::kInboxStates;
using detail::requireField;
using detail::requireOneOf;
using detail::selectRows;

}  // namespace

SqlSmsInbox::SqlSmsInbox(Database& db) : db_(db) {}

template <typename Work>
auto SqlSmsInbox::withSession(const char* purpose, Work&& work) {
    return db_.withSession(purpose, std::forward<Work>(work));
}

std::vector<InboxRecord> SqlSmsInbox::enqueueInbox(const std::vector<InboxRecord>& messages) {
    constexpr const char* kCall = "enqueueInbox";
    const std::string stamp = detail::utcNow();
    std::vector<InboxRecord> rows = messages;
    for (InboxRecord& row : rows) {
        requireField(row.gatewayMsgId, "gatewayMsgId", kCall);
        requireField(row.message, "message", kCall);
        if (row.state.empty()) row.state = "queued";
        requireOneOf(kInboxStates, row.state, "state", kCall);
        if (row.receivedAt.empty()) row.receivedAt = stamp;
        if (row.updatedAt.empty()) row.updatedAt = row.receivedAt;
    }
    if (rows.empty()) return {};
    const std::string insert = sql("INSERT INTO sms_inbox (" + std::string(kInboxColumns) +
                                   ") VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (gateway_msg_id) DO NOTHING");
    const std::string byId = sql("SELECT " + std::string(kInboxColumns) + " FROM sms_inbox WHERE gateway_msg_id = ?");
    return withSession("storing inbound SMS in the inbox", [&](Poco::Data::Session& session) {
        // The request's messages are stored whole or not at all; on SQLite as the process's one writer (woken, not
        // polled by SQLite's busy handler, when the SMS stage's or the sender's batch commits).
        detail::WriteTransaction transaction(session, db_.sqliteWriter());
        std::vector<InboxRecord> stored;
        stored.reserve(rows.size());
        for (const InboxRecord& row : rows) {
            if (detail::executeCached(db_, session, "storing inbound SMS in the inbox", insert, row.gatewayMsgId,
                                      row.message, row.receivedAt, row.state, row.attempts, row.updatedAt) == 1) {
                stored.push_back(row);  // inserted: the row is what was given (issue 11: no read-back of a new row)
                continue;
            }
            // Stored before (the gateway sent it again): that row, with its state.
            auto found = first(selectRows<InboxRecord>(session, byId, row.gatewayMsgId));
            if (!found)
                throw Poco::Data::DataException("inbox row " + row.gatewayMsgId + " was neither inserted nor found");
            stored.push_back(std::move(*found));
        }
        transaction.commit();
        return stored;
    });
}

void SqlSmsInbox::markInboxDone(const std::string& gatewayMsgId) {
    const std::string statement = sql(kInboxDone);
    withSession("marking an inbox row done", [&](Poco::Data::Session& session) {
        detail::executeCached(db_, session, "marking an inbox row done", statement, detail::utcNow(), gatewayMsgId);
    });
}

std::optional<InboxRecord> SqlSmsInbox::findInbox(const std::string& gatewayMsgId) {
    const std::string statement =
        sql("SELECT " + std::string(kInboxColumns) + " FROM sms_inbox WHERE gateway_msg_id = ?");
    return withSession("finding an inbox row", [&](Poco::Data::Session& session) {
        return first(selectRows<InboxRecord>(session, statement, gatewayMsgId));
    });
}

std::vector<InboxRecord> SqlSmsInbox::claimStaleInbox(const std::string& olderThanIso, const std::string& claimedAtIso,
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
        for (auto& row : selectRows<InboxRecord>(session, selectStale, olderThanIso, maxAttempts, limit)) {
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

void SqlSmsInbox::returnInboxAttempts(const std::vector<std::string>& gatewayMsgIds) {
    if (gatewayMsgIds.empty()) return;  // Poco refuses to bind empty vectors
    const std::string statement =
        sql("UPDATE sms_inbox SET attempts = attempts - 1 WHERE gateway_msg_id = ? AND state = 'queued'"
            " AND attempts > 0");
    std::vector<std::string> ids = gatewayMsgIds;  // Poco binds mutable vectors only
    withSession("returning inbox attempts", [&](Poco::Data::Session& session) {
        detail::WriteTransaction transaction(session);
        Poco::Data::Statement update(session);
        update << statement, use(ids);
        update.execute();
        transaction.commit();
    });
}

int SqlSmsInbox::pruneInbox(const std::string& olderThanIso, int limit) {
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

}  // namespace taxdesk::connectors
