#pragma once
// Internal to connectors/store: the SMS areas' rows (sql_pickup_store, sql_notification_store, sql_sms_inbox) — their
// columns, Poco::Data::TypeHandler specializations that read a SELECT of those columns into records, and what two
// areas share (the notification insert, the inbox's done update, the known states). Not for use outside this folder.
//
// The TypeHandlers read (into); writes bind each field explicitly, as before: binding a whole record would bind
// temporaries for its `long long` fields (Poco::Int64 is `long` here), which the PostgreSQL binder reads only when the
// statement runs.
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Data/TypeHandler.h>
#include <Poco/Exception.h>

#include <algorithm>
#include <array>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "connectors/store/notification_store.hpp"
#include "connectors/store/pickup_store.hpp"
#include "connectors/store/sms_inbox.hpp"
#include "connectors/store/sms_states.hpp"
#include "connectors/store/store_internal.hpp"

namespace taxdesk::connectors::detail {

// unavailable: Redis or a connector was away, the citizen was told to try again later (jobs::sms::unavailableText).
inline constexpr std::array<std::string_view, 10> kOutcomes = {"alert",           "resent",   "help",  "invalid_id",
                                                               "identity_failed", "locked",   "limit", "unavailable",
                                                               "unknown_service", "malformed"};
inline constexpr std::array<std::string_view, 2> kInboxStates = {"queued", "done"};

template <size_t N>
void requireOneOf(const std::array<std::string_view, N>& known, const std::string& value, const char* what,
                  const char* call) {
    if (std::find(known.begin(), known.end(), value) != known.end()) return;
    std::string list;
    for (const std::string_view name : known) list += (list.empty() ? "" : " | ") + std::string(name);
    throw std::invalid_argument(std::string("store: ") + call + ": " + what + " '" + value + "' is not one of " + list);
}

/// requireOneOf over the stored names of an enum's values (sms_states.hpp).
template <typename Enum, size_t N>
requires std::is_enum_v<Enum>
void requireOneOf(const std::array<Enum, N>& known, const std::string& value, const char* what, const char* call) {
    std::array<std::string_view, N> names;
    for (size_t i = 0; i < N; ++i) names[i] = toString(known[i]);
    requireOneOf(names, value, what, call);
}

inline constexpr const char* kInboundColumns =
    "gateway_msg_id, msisdn, received_at, outcome, reply_notification_id, created_at";
inline constexpr const char* kPickupColumns =
    "pickup_id, code, applicant_id, msisdn, service, office, deadline_at, remind_at, state, created_at, collected_at,"
    " reminded_at, claimed_by, claimed_until";
inline constexpr const char* kNotificationColumns =
    "notification_id, msisdn, text, kind, pickup_id, attempt, status, gateway_msg_id, segments, error, created_at,"
    " updated_at";
inline constexpr const char* kInboxColumns = "gateway_msg_id, message, received_at, state, attempts, updated_at";

inline constexpr const char* kInsertNotification =
    "INSERT INTO notifications (notification_id, msisdn, text, kind, pickup_id, attempt, status, gateway_msg_id,"
    " segments, error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (notification_id) DO NOTHING";
inline constexpr const char* kInboxDone =
    "UPDATE sms_inbox SET state = 'done', updated_at = ? WHERE gateway_msg_id = ? AND state = 'queued'";

/// A notification as insertNotification and recordSmsOutcome store it: checked, defaults filled in.
NotificationRecord completeNotification(const NotificationRecord& notification, const std::string& stamp,
                                        const char* call);

/// Binds a notification to kInsertNotification's placeholders and runs it; returns whether it inserted.
/// On SQLite through the statement cache.
bool insertNotificationRow(Database& db, Poco::Data::Session& session, const std::string& statement,
                           const NotificationRecord& n);

/// The part of a TypeHandler every SMS row shares: fields read in column order.
class RowReader {
  public:
    RowReader(std::size_t pos, Poco::Data::AbstractExtractor::Ptr extractor) : pos_(pos), extractor_(extractor) {}
    void operator()(std::string& field) {
        Poco::Data::TypeHandler<std::string>::extract(pos_++, field, std::string(), extractor_);
    }
    void operator()(int& field) { Poco::Data::TypeHandler<int>::extract(pos_++, field, 0, extractor_); }
    void operator()(long long& field) {
        Poco::Int64 value = 0;
        Poco::Data::TypeHandler<Poco::Int64>::extract(pos_++, value, 0, extractor_);
        field = static_cast<long long>(value);
    }

  private:
    std::size_t pos_;
    Poco::Data::AbstractExtractor::Ptr extractor_;
};

/// Prepares the columns of a row in order (the preparator needs each column's type).
class RowPreparer {
  public:
    RowPreparer(std::size_t pos, Poco::Data::AbstractPreparator::Ptr preparator) : pos_(pos), preparator_(preparator) {}
    void operator()(const std::string& field) {
        Poco::Data::TypeHandler<std::string>::prepare(pos_++, field, preparator_);
    }
    void operator()(const int& field) { Poco::Data::TypeHandler<int>::prepare(pos_++, field, preparator_); }
    void operator()(const long long& /*field*/) {
        const Poco::Int64 value = 0;
        Poco::Data::TypeHandler<Poco::Int64>::prepare(pos_++, value, preparator_);
    }

  private:
    std::size_t pos_;
    Poco::Data::AbstractPreparator::Ptr preparator_;
};

/// Every field of a record, in its table's column order, handed to `visit`.
template <typename Visit>
void fields(InboundRecord& r, Visit&& visit) {
    visit(r.gatewayMsgId), visit(r.msisdn), visit(r.receivedAt), visit(r.outcome), visit(r.replyNotificationId),
        visit(r.createdAt);
}
template <typename Visit>
void fields(PickupRecord& r, Visit&& visit) {
    visit(r.pickupId), visit(r.code), visit(r.applicantId), visit(r.msisdn), visit(r.service), visit(r.office),
        visit(r.deadlineAt), visit(r.remindAt), visit(r.state), visit(r.createdAt), visit(r.collectedAt),
        visit(r.remindedAt), visit(r.claimedBy), visit(r.claimedUntil);
}
template <typename Visit>
void fields(NotificationRecord& r, Visit&& visit) {
    visit(r.notificationId), visit(r.msisdn), visit(r.text), visit(r.kind), visit(r.pickupId), visit(r.attempt),
        visit(r.status), visit(r.gatewayMsgId), visit(r.segments), visit(r.error), visit(r.createdAt),
        visit(r.updatedAt);
}
template <typename Visit>
void fields(InboxRecord& r, Visit&& visit) {
    visit(r.gatewayMsgId), visit(r.message), visit(r.receivedAt), visit(r.state), visit(r.attempts), visit(r.updatedAt);
}

/// The row a cached SQLite statement (withPrepared) stands on, its columns in fields() order from column 0; NULL reads
/// as "" and 0, as the TypeHandlers below read it.
template <typename Record>
Record readRow(const CachedStatement& statement) {
    Record record;
    int column = 0;
    fields(record, [&](auto& field) {
        using Field = std::remove_reference_t<decltype(field)>;
        if constexpr (std::is_same_v<Field, std::string>) {
            field = statement.text(column++);
        } else {
            field = static_cast<Field>(statement.int64(column++));
        }
    });
    return record;
}

/// Issue 11: a batch's rows by id, one query a slice of ids.
/// Ids bound in one `IN (…)` list at most (SQLite's older builds allow 999 variables in a statement).
inline constexpr std::size_t kIdsPerQuery = 200;

/// Runs `select`, whose one `IN (%)` list gets one placeholder per id, for `ids` in slices; `before` values are bound
/// and `after`, the values of the placeholders behind the list, after them. The rows of every slice, in no particular
/// order.
/// On SQLite (issue 11): the lists have 8, 32 or 128 placeholders, padded with the slice's last id (IN does not mind
/// it twice), so that a handful of statement texts are compiled once per connection and kept (withPrepared).
inline constexpr std::size_t kListSizes[] = {8, 32, 128};

template <typename Record, typename... After>
std::vector<Record> selectInCached(Database& db, Poco::Data::Session& session, const std::string& select,
                                   const std::vector<std::string>& ids, const After&... after) {
    std::vector<Record> rows;
    constexpr std::size_t kLargest = kListSizes[std::size(kListSizes) - 1];
    for (std::size_t first = 0; first < ids.size(); first += kLargest) {
        const std::size_t end = std::min(ids.size(), first + kLargest);
        std::size_t size = kLargest;
        for (const std::size_t fits : kListSizes) {
            if (fits >= end - first) {
                size = fits;
                break;
            }
        }
        std::string list;
        for (std::size_t i = 0; i < size; ++i) list += i == 0 ? "?" : ", ?";
        std::string text = select;
        text.replace(text.find('%'), 1, list);
        withPrepared(db, session, "reading a batch's rows", text, [&](CachedStatement& query) {
            int position = 1;
            for (std::size_t i = 0; i < size; ++i) query.bind(position++, ids[std::min(first + i, end - 1)]);
            (bindValue(query, position++, after), ...);
            while (query.step()) rows.push_back(readRow<Record>(query));
            return 0;
        });
    }
    return rows;
}

template <typename Record, typename... After>
std::vector<Record> selectIn(Database& db, Poco::Data::Session& session, const std::string& select,
                             const std::vector<std::string>& ids, const After&... after) {
    if (db.isSqlite()) return selectInCached<Record>(db, session, select, ids, after...);
    std::vector<Record> rows;
    for (std::size_t first = 0; first < ids.size(); first += kIdsPerQuery) {
        const std::size_t end = std::min(ids.size(), first + kIdsPerQuery);
        std::string list;
        for (std::size_t i = first; i < end; ++i) list += i == first ? "?" : ", ?";
        std::string text = select;
        text.replace(text.find('%'), 1, list);
        std::vector<Record> slice;
        Poco::Data::Statement query(session);
        query << db.sql(text), Poco::Data::Keywords::into(slice);
        for (std::size_t i = first; i < end; ++i) query, Poco::Data::Keywords::bind(ids[i]);
        if constexpr (sizeof...(after) > 0) (query, ..., Poco::Data::Keywords::bind(after));
        query.execute();
        rows.insert(rows.end(), std::make_move_iterator(slice.begin()), std::make_move_iterator(slice.end()));
    }
    return rows;
}

/// A TypeHandler over fields(): reads and prepares; binding a whole record is not supported (see the top).
template <typename Record, std::size_t Columns>
struct RecordHandler {
    static std::size_t size() { return Columns; }
    static void bind(std::size_t, const Record&, Poco::Data::AbstractBinder::Ptr,
                     Poco::Data::AbstractBinder::Direction) {
        throw Poco::NotImplementedException("store: records are read whole and written field by field");
    }
    static void prepare(std::size_t pos, const Record& record, Poco::Data::AbstractPreparator::Ptr preparator) {
        Record copy = record;
        RowPreparer prepare(pos, preparator);
        fields(copy, [&](auto& field) { prepare(field); });
    }
    static void extract(std::size_t pos, Record& record, const Record& /*defaults*/,
                        Poco::Data::AbstractExtractor::Ptr extractor) {
        RowReader read(pos, extractor);
        fields(record, [&](auto& field) { read(field); });
    }
};

}  // namespace taxdesk::connectors::detail

namespace Poco::Data {

template <>
class TypeHandler<taxdesk::connectors::InboundRecord>
    : public taxdesk::connectors::detail::RecordHandler<taxdesk::connectors::InboundRecord, 6> {};
template <>
class TypeHandler<taxdesk::connectors::PickupRecord>
    : public taxdesk::connectors::detail::RecordHandler<taxdesk::connectors::PickupRecord, 14> {};
template <>
class TypeHandler<taxdesk::connectors::NotificationRecord>
    : public taxdesk::connectors::detail::RecordHandler<taxdesk::connectors::NotificationRecord, 12> {};
template <>
class TypeHandler<taxdesk::connectors::InboxRecord>
    : public taxdesk::connectors::detail::RecordHandler<taxdesk::connectors::InboxRecord, 6> {};

}  // namespace Poco::Data
