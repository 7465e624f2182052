#include "connectors/store/sql_result_store.hpp"

#include "connectors/store/sql_webhook_store.hpp"

#include <Poco/Data/SQLite/Utility.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Transaction.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "connectors/store/migrations.hpp"
#include "connectors/store/pg_connection.hpp"
#include "connectors/store/sql_audit_store.hpp"
#include "connectors/store/sql_rows.hpp"
#include "connectors/store/store_internal.hpp"

namespace taxdesk::connectors {

using namespace Poco::Data::Keywords;

namespace {

/// The results to write, one per (batch_id, row): the last of several for one key wins, as it would if they were
/// written one after another. Sorted by key: pages are filled in order, and PostgreSQL refuses a statement that
/// updates one row twice (`ON CONFLICT DO UPDATE command cannot affect row a second time`).
std::vector<const StoredResult*> lastPerKey(const std::vector<StoredResult>& results) {
    std::vector<const StoredResult*> order;
    order.reserve(results.size());
    for (const StoredResult& result : results) order.push_back(&result);
    std::stable_sort(order.begin(), order.end(), [](const StoredResult* a, const StoredResult* b) {
        if (a->row != b->row) return a->row < b->row;
        return a->batchId < b->batchId;
    });
    std::vector<const StoredResult*> kept;
    kept.reserve(order.size());
    for (size_t i = 0; i < order.size(); ++i) {
        const bool lastOfKey =
            i + 1 == order.size() || order[i + 1]->row != order[i]->row || order[i + 1]->batchId != order[i]->batchId;
        if (lastOfKey) kept.push_back(order[i]);  // stable: the last given of equal keys sorts last
    }
    return kept;
}

/// The position of `batchId` in the sorted, distinct `batchIds`.
std::size_t indexOf(const std::vector<std::string>& batchIds, const std::string& batchId) {
    return static_cast<std::size_t>(std::lower_bound(batchIds.begin(), batchIds.end(), batchId) - batchIds.begin());
}

/// A prepared SQLite statement, finalized when it goes out of scope.
using SqliteStatement = std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)>;

SqliteStatement prepareSqlite(sqlite3* db, const char* text) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v2(db, text, -1, &raw, nullptr);
    if (rc != SQLITE_OK) Poco::Data::SQLite::Utility::throwException(db, rc, "preparing a result statement");
    return {raw, sqlite3_finalize};
}

/// One of sqliteUpsert()'s statements (columns 1–6 in kResultColumns order, updated_at 7), prepared once for the call
/// and stepped once a result. Strings are bound in place (SQLITE_STATIC: no copy), where Poco's vector binding copied
/// each and took several allocations a row. Bindings outlive sqlite3_reset(), so the call's stamp is bound once and a
/// batch id only when it differs from the last one bound (the bound string must outlive the statement: the call's
/// results and stamp do).
class SqliteUpsertStatement {
  public:
    SqliteUpsertStatement(sqlite3* db, const char* text, const std::string& stamp)
        : db_(db), statement_(prepareSqlite(db, text)) {
        check(sqlite3_bind_text(statement_.get(), 7, stamp.data(), static_cast<int>(stamp.size()), SQLITE_STATIC));
    }

    /// Runs the statement for `result`; returns how many rows it changed (sqlite3_changes()).
    int step(const StoredResult& result) {
        sqlite3_stmt* statement = statement_.get();
        const auto text = [&](int column, const std::string& value) {
            return sqlite3_bind_text(statement, column, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
        };
        int rc = SQLITE_OK;
        if (boundBatch_ == nullptr || *boundBatch_ != result.batchId) {
            rc = text(1, result.batchId);
            boundBatch_ = &result.batchId;
        }
        if (rc == SQLITE_OK) rc = sqlite3_bind_int(statement, 2, result.row);
        if (rc == SQLITE_OK) rc = text(3, result.debtorId);
        if (rc == SQLITE_OK) rc = text(4, result.status);
        if (rc == SQLITE_OK) rc = text(5, result.reason);
        if (rc == SQLITE_OK) rc = text(6, result.payload);
        if (rc == SQLITE_OK) rc = sqlite3_step(statement);
        const int reset = sqlite3_reset(statement);  // after a failed step, its error code
        if (rc != SQLITE_DONE) {
            boundBatch_ = nullptr;  // a failed bind may have left column 1 unbound
            Poco::Data::SQLite::Utility::throwException(db_, rc == SQLITE_OK ? reset : rc, "upserting a result");
        }
        return sqlite3_changes(db_);
    }

  private:
    void check(int rc) const {
        if (rc != SQLITE_OK) Poco::Data::SQLite::Utility::throwException(db_, rc, "binding a result statement");
    }

    sqlite3* db_;
    SqliteStatement statement_;
    const std::string* boundBatch_ = nullptr;
};

/// The rows of batch `batchId` from `lo` to `hi` that have a result stored, appended to `rows` (ascending).
void storedRowsSqlite(sqlite3* db, sqlite3_stmt* select, const std::string& batchId, int lo, int hi,
                      std::vector<int>& rows) {
    int rc = sqlite3_bind_text(select, 1, batchId.data(), static_cast<int>(batchId.size()), SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(select, 2, lo);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(select, 3, hi);
    while (rc == SQLITE_OK && (rc = sqlite3_step(select)) == SQLITE_ROW) {
        rows.push_back(sqlite3_column_int(select, 0));
        rc = SQLITE_OK;
    }
    const int reset = sqlite3_reset(select);
    if (rc != SQLITE_DONE) {
        Poco::Data::SQLite::Utility::throwException(db, rc == SQLITE_OK ? reset : rc, "reading stored results");
    }
}

/// SQLite. The write lock is held (upsertResults() updated the batch rows first), so no other writer adds or removes
/// results until the commit. One index range scan per stretch of rows the call writes (see rangesOf()) finds the keys
/// stored already: those are replaced by one UPDATE each, the others inserted by one INSERT each — where every result
/// used to try the INSERT first and fall back to the UPDATE, two statements and two index probes a replayed row. The
/// INSERT still says ON CONFLICT DO NOTHING and a result it did not insert is still replaced, so the end is the one-row
/// upsert's whatever the range scan found. Returns, per batch of `batchIds`, how many results were new: rows_done grows
/// by that, instead of a count of the batch's results after every call (which grows with the batch, so that a large
/// batch cost time quadratic in its size).
std::vector<int> sqliteUpsert(Poco::Data::Session& session, const std::vector<const StoredResult*>& results,
                              const std::vector<std::string>& batchIds, const std::string& stamp,
                              std::vector<char>& isNew);

/// A PostgreSQL array literal element: quoted, with `"` and `\` escaped (everything else, commas, braces and line
/// breaks included, is literal inside quotes).
void appendArrayElement(std::string& out, const std::string& value) {
    out += '"';
    for (const char c : value) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

/// Rows of one batch that a call writes, from `lo` to `hi`: the results of one stretch of the batch, give or take
/// rows without a result (rejected at upload, or looked up in another call).
struct RowRange {
    std::size_t batch = 0;  ///< index in the call's batchIds
    int lo = 0;
    int hi = 0;
};

/// Rows further apart than this start a range of their own: a call may hold blocks of one batch from far apart (a
/// batch is spread over every partition), and the rows stored between them are none of the call's business.
constexpr int kRangeGap = 64;

/// The stretches of rows `results` (sorted by row, see lastPerKey()) write in each known batch.
std::vector<RowRange> rangesOf(const std::vector<const StoredResult*>& results, const std::vector<std::size_t>& batchOf,
                               const std::vector<bool>& known) {
    std::vector<RowRange> ranges;
    std::vector<std::size_t> open(known.size(), SIZE_MAX);  // per batch, its range being extended
    for (std::size_t i = 0; i < results.size(); ++i) {
        const std::size_t batch = batchOf[i];
        if (!known[batch]) continue;
        const int row = results[i]->row;
        if (open[batch] != SIZE_MAX && row - ranges[open[batch]].hi <= kRangeGap) {
            ranges[open[batch]].hi = row;
        } else {
            open[batch] = ranges.size();
            ranges.push_back({batch, row, row});
        }
    }
    return ranges;
}

std::vector<int> sqliteUpsert(Poco::Data::Session& session, const std::vector<const StoredResult*>& results,
                              const std::vector<std::string>& batchIds, const std::string& stamp,
                              std::vector<char>& isNew) {
    sqlite3* db = Poco::Data::SQLite::Utility::dbHandle(session);
    std::vector<std::size_t> batchOf(results.size());
    for (std::size_t i = 0; i < results.size(); ++i) batchOf[i] = indexOf(batchIds, results[i]->batchId);

    std::vector<std::vector<int>> stored(batchIds.size());  // per batch, the rows of its ranges with a result
    {
        const SqliteStatement select =
            prepareSqlite(db, "SELECT row_no FROM inquiry_results WHERE batch_id = ?1 AND row_no BETWEEN ?2 AND ?3");
        for (const RowRange& range : rangesOf(results, batchOf, std::vector<bool>(batchIds.size(), true))) {
            storedRowsSqlite(db, select.get(), batchIds[range.batch], range.lo, range.hi, stored[range.batch]);
        }
        for (std::vector<int>& rows : stored) std::sort(rows.begin(), rows.end());
    }

    SqliteUpsertStatement insert(db,
                                 "INSERT INTO inquiry_results (batch_id, row_no, debtor_id, status, reason, payload,"
                                 " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                                 " ON CONFLICT (batch_id, row_no) DO NOTHING",
                                 stamp);
    SqliteUpsertStatement replace(db,
                                  "UPDATE inquiry_results SET debtor_id = ?3, status = ?4, reason = ?5, payload = ?6,"
                                  " updated_at = ?7 WHERE batch_id = ?1 AND row_no = ?2"
                                  // A result replayed as it is stored is left alone (no page written).
                                  " AND NOT (debtor_id = ?3 AND status = ?4 AND reason = ?5 AND payload = ?6)",
                                  stamp);
    std::vector<int> added(batchIds.size(), 0);
    for (std::size_t i = 0; i < results.size(); ++i) {
        const StoredResult& result = *results[i];
        const std::vector<int>& rows = stored[batchOf[i]];
        if (std::binary_search(rows.begin(), rows.end(), result.row)) {
            replace.step(result);
        } else if (insert.step(result) == 1) {
            ++added[batchOf[i]];
            isNew[i] = 1;
        } else {
            replace.step(result);  // not found by the range scan, yet stored: the upsert's end all the same
        }
    }
    return added;
}

/// Locks a batch's row (as upsertResults()' lock statement does); its command tag says whether the batch exists.
constexpr const char* kLockBatch = "UPDATE batches SET rows_done = rows_done WHERE batch_id = $1";
/// The results stored in each range: one row per result, the range's position (from 1) and the result's row.
constexpr const char* kStoredInRanges =
    "SELECT g.n, r.row_no FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS INTEGER[]), CAST($3 AS INTEGER[]))"
    " WITH ORDINALITY AS g (batch_id, lo, hi, n)"
    " JOIN inquiry_results r ON r.batch_id = g.batch_id AND r.row_no BETWEEN g.lo AND g.hi";
constexpr const char* kCopyResults =
    "COPY inquiry_results (batch_id, row_no, debtor_id, status, reason, payload, updated_at) FROM STDIN"
    " (FORMAT binary)";
/// The staging table of upserts over stored results: temporary, so private to the session's connection, unlogged
/// and free of the results' index; created by the first such upsert on a connection and kept with it; emptied by
/// every commit.
constexpr const char* kCreateStaging =
    "CREATE TEMP TABLE IF NOT EXISTS td_result_staging (batch_id TEXT NOT NULL, row_no INTEGER NOT NULL,"
    " debtor_id TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, payload TEXT NOT NULL)"
    " ON COMMIT DELETE ROWS";
constexpr const char* kCopyStaging =
    "COPY td_result_staging (batch_id, row_no, debtor_id, status, reason, payload) FROM STDIN (FORMAT binary)";
constexpr const char* kUpsertStaged =
    "INSERT INTO inquiry_results (batch_id, row_no, debtor_id, status, reason, payload, updated_at)"
    " SELECT batch_id, row_no, debtor_id, status, reason, payload, $1 FROM td_result_staging"
    " ON CONFLICT (batch_id, row_no) DO UPDATE SET debtor_id = excluded.debtor_id, status = excluded.status,"
    " reason = excluded.reason, payload = excluded.payload, updated_at = excluded.updated_at"
    // A result replayed as it is stored (a redelivered chunk) is left alone: no new row version, index entry or WAL.
    " WHERE (inquiry_results.debtor_id, inquiry_results.status, inquiry_results.reason, inquiry_results.payload)"
    " IS DISTINCT FROM (excluded.debtor_id, excluded.status, excluded.reason, excluded.payload)";

/// A binary COPY body of `results`' six columns, and the stamp as a seventh when it is not empty.
std::string copyBody(const std::vector<const StoredResult*>& results, const std::string& stamp) {
    std::size_t bytes = 0;
    for (const StoredResult* result : results) {
        bytes += 2 + 7 * 4 + 4 + result->batchId.size() + result->debtorId.size() + result->status.size() +
                 result->reason.size() + result->payload.size() + stamp.size();
    }
    detail::pg::BinaryCopy copy(bytes);
    for (const StoredResult* result : results) {
        copy.tuple(stamp.empty() ? 6 : 7);
        copy.text(result->batchId);
        copy.int4(result->row);
        copy.text(result->debtorId);
        copy.text(result->status);
        copy.text(result->reason);
        copy.text(result->payload);
        if (!stamp.empty()) copy.text(stamp);
    }
    return copy.finish();
}

/// PostgreSQL (issue 11). Each batch's row is locked first, in the order of `batchIds` (sorted: two calls cannot
/// deadlock on them); a batch whose row this call locked is known, and until the commit no other writer adds or
/// removes results of it (upserts, insertMissingResults and retries all take that lock first; a batch's upload writes
/// its rejected rows' results before its batch row exists). One query then finds which of the call's keys of known
/// batches are stored already (the stored rows of each stretch of rows the call writes: one index range scan a stretch,
/// not a probe a row), and the results split in two:
/// - new keys of known batches (the stage's usual call: all of them) go by one binary COPY straight into
///   inquiry_results, as fast as a plain COPY, and are what rows_done grows by;
/// - the rest (a replay, a change of mind, a batch the store does not know) go by one binary COPY into the session's
///   staging table and one INSERT … SELECT … ON CONFLICT DO UPDATE from it: the one-row upsert's end.
/// It was six array parameters unnested into one upsert with a join counting the keys stored before: the server
/// parsed the arrays (array_in, 14% of its time) and probed the index twice a row (the join, 12.5%), 3× a plain COPY.
/// Returns, per batch of `batchIds`, how many results were new (see sqliteUpsert()).
std::vector<int> postgresqlUpsert(Poco::Data::Session& session, const std::vector<const StoredResult*>& results,
                                  const std::vector<std::string>& batchIds, const std::string& stamp,
                                  std::vector<char>& isNew) {
    pg_conn* connection = detail::pg::connectionOf(session);
    std::vector<bool> known(batchIds.size(), false);
    for (std::size_t batch = 0; batch < batchIds.size(); ++batch) {
        known[batch] = detail::pg::affectedRows(detail::pg::exec(connection, kLockBatch, {batchIds[batch]})) > 0;
    }
    std::vector<std::size_t> batchOf(results.size());
    for (std::size_t i = 0; i < results.size(); ++i) batchOf[i] = indexOf(batchIds, results[i]->batchId);

    std::vector<std::vector<int>> stored(batchIds.size());  // per known batch, the rows of its ranges with a result
    const std::vector<RowRange> ranges = rangesOf(results, batchOf, known);
    if (!ranges.empty()) {
        std::string batchArray = "{", loArray = "{", hiArray = "{";
        for (const RowRange& range : ranges) {
            if (batchArray.size() > 1) {
                batchArray += ',';
                loArray += ',';
                hiArray += ',';
            }
            appendArrayElement(batchArray, batchIds[range.batch]);
            loArray += std::to_string(range.lo);
            hiArray += std::to_string(range.hi);
        }
        batchArray += '}';
        loArray += '}';
        hiArray += '}';
        const detail::pg::ResultPtr found =
            detail::pg::exec(connection, kStoredInRanges, {batchArray, loArray, hiArray});
        for (int i = 0; i < detail::pg::rowCount(found); ++i) {
            const std::size_t batch = ranges.at(std::stoul(std::string(detail::pg::value(found, i, 0))) - 1).batch;
            stored[batch].push_back(std::stoi(std::string(detail::pg::value(found, i, 1))));
        }
        for (std::vector<int>& rows : stored) std::sort(rows.begin(), rows.end());
    }

    std::vector<const StoredResult*> fresh, over;
    fresh.reserve(results.size());
    std::vector<int> added(batchIds.size(), 0);
    for (std::size_t i = 0; i < results.size(); ++i) {
        const std::size_t batch = batchOf[i];
        if (known[batch] && !std::binary_search(stored[batch].begin(), stored[batch].end(), results[i]->row)) {
            fresh.push_back(results[i]);
            ++added[batch];
            isNew[i] = 1;
        } else {
            over.push_back(results[i]);
        }
    }
    if (!fresh.empty()) {
        try {
            detail::pg::copyIn(connection, kCopyResults, copyBody(fresh, stamp));
        } catch (const Poco::Exception& error) {
            // Every writer of a batch's results holds its batch row, so no key found new above can be stored before
            // this commits. Should one ever be (a writer that skips the lock: a repair by hand), the call is retried,
            // not refused: the retry finds that key stored and replaces it through the staging table.
            if (error.displayText().find("23505") == std::string::npos) throw;
            throw StoreError(
                "postgresql: upserting results: a result was stored meanwhile by another writer "
                "(23505); retried",
                true);
        }
    }
    if (!over.empty()) {
        detail::pg::exec(connection, kCreateStaging);
        detail::pg::copyIn(connection, kCopyStaging, copyBody(over, ""));
        detail::pg::exec(connection, kUpsertStaged, {stamp});
        // Inside a longer transaction (a StoreTransaction), the next call's rows must not meet these before the commit.
        if (detail::inStoreTransaction(session)) detail::pg::exec(connection, "TRUNCATE td_result_staging");
    }
    return added;
}

}  // namespace

void SqlResultStore::upsertResults(const std::vector<StoredResult>& results) {
    upsertResultsWithAudit(results, prepareAudit(results, {}, {}));
}

PreparedAudit SqlResultStore::prepareAudit(const std::vector<StoredResult>& results,
                                           const std::vector<std::string_view>& requestIds,
                                           const std::vector<std::string_view>& titleRefs) {
    return audit_ != nullptr ? audit_->prepare(results, requestIds, titleRefs) : PreparedAudit{};
}

void SqlResultStore::upsertResultsWithAudit(const std::vector<StoredResult>& results, const PreparedAudit& audit) {
    if (results.empty()) return;
    if (audit.active && audit.ends.size() != results.size())
        throw std::invalid_argument("upsertResultsWithAudit: the audit trail's share was prepared for other results");
    const std::string stamp = detail::utcNow();
    const std::vector<const StoredResult*> kept = lastPerKey(results);
    // Sorted: batch rows are locked in one order by every caller, so two upserts cannot deadlock on them.
    std::vector<std::string> batchIds;
    batchIds.reserve(kept.size());
    for (const StoredResult* result : kept) {
        if (batchIds.empty() || batchIds.back() != result->batchId) batchIds.push_back(result->batchId);
    }
    std::sort(batchIds.begin(), batchIds.end());
    batchIds.erase(std::unique(batchIds.begin(), batchIds.end()), batchIds.end());
    std::vector<std::string> completedAts(batchIds.size(), stamp);

    // PostgreSQL (read committed): the batch row is locked first, so no other upsert, retry or insertMissingResults
    // adds or removes results of the batch until this one commits: the results found existing, and so the number
    // added, stay true until rows_done is raised by it.
    const std::string lockStatement = db_.sql("UPDATE batches SET rows_done = rows_done WHERE batch_id = ?");
    const std::string addStatement = db_.sql("UPDATE batches SET rows_done = rows_done + ? WHERE batch_id = ?");
    // Where the running figure reaches rows_total, the batch is counted once exactly before it is completed: the
    // decision to complete never rests on arithmetic alone.
    const std::string recountStatement = db_.sql(
        "UPDATE batches SET rows_done = (SELECT COUNT(*) FROM inquiry_results WHERE batch_id = ?)"
        " WHERE batch_id = ? AND rows_done >= rows_total AND state IN ('queued', 'processing')");
    const std::string advanceStatement = db_.sql(
        "UPDATE batches SET state = CASE WHEN rows_done >= rows_total THEN 'completed' ELSE 'processing' END,"
        " completed_at = CASE WHEN rows_done >= rows_total AND completed_at = '' THEN ? ELSE completed_at END"
        " WHERE batch_id = ? AND state IN ('queued', 'processing')");

    const bool sqlite = db_.isSqlite();
    const bool auditing = audit_ != nullptr && audit.active;
    std::vector<NotificationRecord> told;  // issue 13: the batch-done notifications this transaction recorded
    db_.withSession("upserting results", [&](Poco::Data::Session& session) {
        told.clear();                                  // a retry on a fresh session starts over
        Poco::Data::Transaction transaction(session);  // rolls back unless committed
        if (sqlite) {  // PostgreSQL: postgresqlUpsert() locks, and learns which batches exist
            session << lockStatement, use(batchIds), now;
        }
        std::vector<char> isNew(kept.size(), 0);
        std::vector<int> added = sqlite ? sqliteUpsert(session, kept, batchIds, stamp, isNew)
                                        : postgresqlUpsert(session, kept, batchIds, stamp, isNew);
        if (auditing) {
            // The audit trail records what this transaction stored new, in it: a replay records nothing twice, and a
            // rolled-back call nothing at all. Its lines were prepared before (prepareAudit()): only copied here.
            std::vector<std::size_t> fresh;
            fresh.reserve(kept.size());
            for (std::size_t i = 0; i < kept.size(); ++i)
                if (isNew[i]) fresh.push_back(static_cast<std::size_t>(kept[i] - results.data()));
            audit_->appendPrepared(session, results, fresh, audit, stamp);
        }
        session << addStatement, use(added), use(batchIds), now;
        session << recountStatement, use(batchIds), use(batchIds), now;
        session << advanceStatement, use(completedAts), use(batchIds), now;
        // Issue 13: the batch-done notifications of the batches completed now, in this transaction (the outbox).
        told = detail::recordBatchDoneIntents(db_, session, batchIds);
        transaction.commit();
    });
    db_.outboxCommitted(told);
}

int SqlResultStore::insertMissingResults(const std::vector<StoredResult>& results) {
    if (results.empty()) return 0;
    std::vector<std::string> batchIds;
    batchIds.reserve(results.size());
    for (const StoredResult& result : results) batchIds.push_back(result.batchId);
    std::sort(batchIds.begin(), batchIds.end());  // locked in one order, as upsertResults() does
    batchIds.erase(std::unique(batchIds.begin(), batchIds.end()), batchIds.end());
    const std::string stamp = detail::utcNow();
    std::vector<std::string> completedAts(batchIds.size(), stamp);
    const std::string lockStatement = db_.sql("UPDATE batches SET rows_done = rows_done WHERE batch_id = ?");
    const std::string wantedStatement = db_.sql(
        "SELECT CAST(COUNT(*) AS INTEGER) FROM batch_rows b WHERE b.batch_id = ? AND b.row_no = ?"
        " AND b.accepted = 1 AND NOT EXISTS"
        " (SELECT 1 FROM inquiry_results r WHERE r.batch_id = b.batch_id AND r.row_no = b.row_no)");
    const std::string insertStatement = db_.sql(
        "INSERT INTO inquiry_results (batch_id, row_no, debtor_id, status, reason, payload, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)");
    const std::string countStatement = db_.sql(
        "UPDATE batches SET rows_done = (SELECT COUNT(*) FROM inquiry_results WHERE batch_id = ?)"
        " WHERE batch_id = ?");
    const std::string advanceStatement = db_.sql(
        "UPDATE batches SET state = CASE WHEN rows_done >= rows_total THEN 'completed' ELSE 'processing' END,"
        " completed_at = CASE WHEN rows_done >= rows_total AND completed_at = '' THEN ? ELSE completed_at END"
        " WHERE batch_id = ? AND state IN ('queued', 'processing')");
    std::vector<NotificationRecord> told;  // issue 13: as upsertResults()
    const int inserted = db_.withSession("inserting missing results", [&](Poco::Data::Session& session) {
        told.clear();
        Poco::Data::Transaction transaction(session);
        session << lockStatement, use(batchIds), now;
        int stored = 0;
        for (const StoredResult& result : results) {
            int wanted = 0;
            session << wantedStatement, into(wanted), bind(result.batchId), bind(result.row), now;
            if (wanted == 0) continue;
            session << insertStatement, bind(result.batchId), bind(result.row), bind(result.debtorId),
                bind(result.status), bind(result.reason), bind(result.payload), bind(stamp), now;
            ++stored;
        }
        if (stored > 0) {
            session << countStatement, use(batchIds), use(batchIds), now;
            session << advanceStatement, use(completedAts), use(batchIds), now;
            told = detail::recordBatchDoneIntents(db_, session, batchIds);  // issue 13: the outbox
        }
        transaction.commit();
        return stored;
    });
    db_.outboxCommitted(told);
    return inserted;
}

int SqlResultStore::countResultsWithStatus(const std::string& batchId, const std::string& status) {
    const std::string statement =
        db_.sql("SELECT CAST(COUNT(*) AS INTEGER) FROM inquiry_results WHERE batch_id = ? AND status = ?");
    return db_.withSession("counting a batch's results by status", [&](Poco::Data::Session& session) {
        int count = 0;
        session << statement, into(count), bind(batchId), bind(status), now;
        return count;
    });
}

int SqlResultStore::retryErrorRows(const std::string& batchId) {
    // The conditional update comes first: it takes the batch row's lock (PostgreSQL) or the write lock (SQLite), so
    // a concurrent retry waits and then finds the batch processing, and no upsert can count rows meanwhile.
    const std::string claimStatement = db_.sql(
        "UPDATE batches SET state = 'processing', completed_at = '' WHERE batch_id = ? AND state = 'completed'"
        " AND EXISTS (SELECT 1 FROM inquiry_results WHERE batch_id = ? AND status = 'error')");
    const std::string countStatement =
        db_.sql("SELECT CAST(COUNT(*) AS INTEGER) FROM inquiry_results WHERE batch_id = ? AND status = 'error'");
    const std::string deleteStatement = db_.sql("DELETE FROM inquiry_results WHERE batch_id = ? AND status = 'error'");
    const std::string recountStatement = db_.sql(
        "UPDATE batches SET rows_done = (SELECT COUNT(*) FROM inquiry_results WHERE batch_id = ?)"
        " WHERE batch_id = ?");
    return db_.withSession("retrying a batch's error rows", [&](Poco::Data::Session& session) {
        Poco::Data::Transaction transaction(session);
        Poco::Data::Statement claim(session);
        claim << claimStatement, bind(batchId), bind(batchId);
        if (claim.execute() == 0) return 0;  // rolled back: nothing changed
        int rows = 0;
        session << countStatement, into(rows), bind(batchId), now;
        session << deleteStatement, bind(batchId), now;
        session << recountStatement, bind(batchId), bind(batchId), now;
        transaction.commit();
        return rows;
    });
}

std::optional<StoredResult> SqlResultStore::findResult(const std::string& batchId, int row) {
    const std::string statement = db_.sql("SELECT " + std::string(detail::kResultColumns) +
                                          " FROM inquiry_results"
                                          " WHERE batch_id = ? AND row_no = ?");
    return db_.withSession("finding a result", [&](Poco::Data::Session& session) -> std::optional<StoredResult> {
        std::vector<StoredResult> found;
        session << statement, into(found), bind(batchId), bind(row), now;
        if (found.empty()) return std::nullopt;
        return std::move(found.front());
    });
}

std::vector<StoredResult> SqlResultStore::resultsOfBatch(const std::string& batchId) {
    const std::string statement = db_.sql("SELECT " + std::string(detail::kResultColumns) +
                                          " FROM inquiry_results"
                                          " WHERE batch_id = ? ORDER BY row_no");
    return db_.withSession("reading a batch's results", [&](Poco::Data::Session& session) {
        std::vector<StoredResult> found;
        session << statement, into(found), bind(batchId), now;
        return found;
    });
}

std::vector<StoredResult> SqlResultStore::resultsPage(const std::string& batchId, int afterRow, int limit) {
    if (limit <= 0) return {};
    const std::string statement = db_.sql("SELECT " + std::string(detail::kResultColumns) +
                                          " FROM inquiry_results"
                                          " WHERE batch_id = ? AND row_no > ? ORDER BY row_no LIMIT ?");
    const bool postgresql = !db_.isSqlite();
    return db_.withSession("reading a page of a batch's results", [&](Poco::Data::Session& session) {
        std::vector<StoredResult> found;
        if (!postgresql || detail::inStoreTransaction(session)) {  // (no transaction of its own inside another)
            session << statement, into(found), bind(batchId), bind(afterRow), bind(limit), now;
            return found;
        }
        // PostgreSQL walks the primary key in row order from afterRow, whatever its statistics say. On a table it has
        // never analyzed (a new database's first batches: autovacuum comes a minute later at the soonest) it guessed a
        // few hundred rows and chose a bitmap scan of every later row of the batch and a sort of them, for each page:
        // a 200,000-row download took 20 s (issue 11; BENCHMARKS.md, "Session 7"). SET LOCAL ends with the
        // transaction, committed or not.
        Poco::Data::Transaction transaction(session);
        session << "SET LOCAL enable_bitmapscan = off", now;
        session << statement, into(found), bind(batchId), bind(afterRow), bind(limit), now;
        transaction.commit();
        return found;
    });
}

}  // namespace taxdesk::connectors
