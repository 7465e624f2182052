#include "connectors/store/sql_result_store.hpp"

#include <Poco/Data/Session.h>
#include <Poco/Data/Transaction.h>

#include <algorithm>

#include "connectors/store/migrations.hpp"
#include "connectors/store/sql_rows.hpp"
#include "connectors/store/store_internal.hpp"

namespace taxdesk::connectors {

using namespace Poco::Data::Keywords;

void SqlResultStore::upsertResults(const std::vector<StoredResult>& results) {
    if (results.empty()) return;               // Poco refuses to bind empty vectors
    std::vector<StoredResult> rows = results;  // Poco binds mutable vectors only
    const std::string stamp = detail::utcNow();
    std::vector<std::string> updatedAts(results.size(), stamp);
    // Sorted: batch rows are locked in one order by every caller, so two upserts cannot deadlock on them.
    std::vector<std::string> batchIds;
    batchIds.reserve(results.size());
    for (const StoredResult& result : results) batchIds.push_back(result.batchId);
    std::sort(batchIds.begin(), batchIds.end());
    batchIds.erase(std::unique(batchIds.begin(), batchIds.end()), batchIds.end());
    std::vector<std::string> completedAts(batchIds.size(), stamp);

    const std::string upsertStatement = db_.sql(detail::kUpsertResult);
    // PostgreSQL (read committed): the batch row is locked before counting, so the count, a later statement, sees
    // every result committed by an upsert that held the lock before; a count taken first could miss them.
    const std::string lockStatement = db_.sql("UPDATE batches SET rows_done = rows_done WHERE batch_id = ?");
    const std::string countStatement = db_.sql(
        "UPDATE batches SET rows_done = (SELECT COUNT(*) FROM inquiry_results WHERE batch_id = ?)"
        " WHERE batch_id = ?");
    const std::string advanceStatement = db_.sql(
        "UPDATE batches SET state = CASE WHEN rows_done >= rows_total THEN 'completed' ELSE 'processing' END,"
        " completed_at = CASE WHEN rows_done >= rows_total AND completed_at = '' THEN ? ELSE completed_at END"
        " WHERE batch_id = ? AND state IN ('queued', 'processing')");

    db_.withSession("upserting results", [&](Poco::Data::Session& session) {
        Poco::Data::Transaction transaction(session);  // rolls back unless committed
        session << lockStatement, use(batchIds), now;
        // One prepared statement, executed once per vector element: the statement is parsed and planned once.
        Poco::Data::Statement upsert(session);
        upsert << upsertStatement, use(rows), use(updatedAts);
        upsert.execute();
        session << countStatement, use(batchIds), use(batchIds), now;
        session << advanceStatement, use(completedAts), use(batchIds), now;
        transaction.commit();
    });
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
    return db_.withSession("inserting missing results", [&](Poco::Data::Session& session) {
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
        }
        transaction.commit();
        return stored;
    });
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
    return db_.withSession("reading a page of a batch's results", [&](Poco::Data::Session& session) {
        std::vector<StoredResult> found;
        session << statement, into(found), bind(batchId), bind(afterRow), bind(limit), now;
        return found;
    });
}

}  // namespace taxdesk::connectors
