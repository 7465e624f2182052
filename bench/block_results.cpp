#include "bench/block_results.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace taxdesk::bench {
namespace {

void appendLength(std::string& out, std::size_t length) {
    const auto value = static_cast<std::uint32_t>(length);
    out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

void appendField(std::string& out, const std::string& field) {
    appendLength(out, field.size());
    out += field;
}

sqlite3* open(const std::string& path) {
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
        sqlite3_close(db);  // a handle is returned even when the open failed
        throw std::runtime_error("block store: cannot open " + path);
    }
    return db;
}

[[noreturn]] void notKept() {
    throw std::logic_error("block store: a measuring device, it reads nothing back");
}

}  // namespace

BlockResults::BlockResults(const std::string& path, int rowsPerBlock)
    : db_(open(path), sqlite3_close),
      rowsPerBlock_(std::max(rowsPerBlock, 1)),
      insertBlock_(nullptr, sqlite3_finalize),
      countRows_(nullptr, sqlite3_finalize),
      sumRows_(nullptr, sqlite3_finalize) {
    exec("PRAGMA page_size=8192");
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("PRAGMA mmap_size=67108864");
    exec(
        "CREATE TABLE IF NOT EXISTS result_blocks (batch_id TEXT NOT NULL, first_row INTEGER NOT NULL,"
        " last_row INTEGER NOT NULL, results BLOB NOT NULL, updated_at TEXT NOT NULL,"
        " PRIMARY KEY (batch_id, first_row))");
    exec("CREATE TABLE IF NOT EXISTS block_batches (batch_id TEXT PRIMARY KEY, rows_done INTEGER NOT NULL)");
    insertBlock_ = prepare(
        "INSERT OR REPLACE INTO result_blocks (batch_id, first_row, last_row, results, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, '2026-12-03T00:00:00Z')");
    countRows_ = prepare(
        "INSERT INTO block_batches (batch_id, rows_done) VALUES (?1, ?2)"
        " ON CONFLICT (batch_id) DO UPDATE SET rows_done = rows_done + excluded.rows_done");
    sumRows_ = prepare("SELECT COALESCE(SUM(rows_done), 0) FROM block_batches");
}

void BlockResults::exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &error) != SQLITE_OK) {
        const std::string text = error != nullptr ? error : "?";
        sqlite3_free(error);
        throw std::runtime_error(std::string("block store: ") + sql + ": " + text);
    }
}

BlockResults::Statement BlockResults::prepare(const char* sql) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql, -1, &statement, nullptr) != SQLITE_OK)
        throw std::runtime_error(std::string("block store: ") + sql + ": " + sqlite3_errmsg(db_.get()));
    return {statement, sqlite3_finalize};
}

bool BlockResults::stepToDone(sqlite3_stmt* statement) {
    const bool done = sqlite3_step(statement) == SQLITE_DONE;
    sqlite3_reset(statement);
    return done;
}

void BlockResults::upsertResults(const std::vector<connectors::StoredResult>& results) {
    if (results.empty()) return;
    std::vector<const connectors::StoredResult*> order;
    order.reserve(results.size());
    for (const auto& result : results) order.push_back(&result);
    std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
        return a->batchId != b->batchId ? a->batchId < b->batchId : a->row < b->row;
    });
    exec("BEGIN IMMEDIATE");
    std::string block;
    bool ok = true;
    for (std::size_t i = 0; i < order.size() && ok;) {
        const std::string& batchId = order[i]->batchId;
        std::size_t end = i;
        while (end < order.size() && order[end]->batchId == batchId) ++end;
        for (std::size_t first = i; first < end && ok;) {
            const std::size_t last = std::min(end, first + static_cast<std::size_t>(rowsPerBlock_));
            block.clear();
            for (std::size_t k = first; k < last; ++k) {
                const auto& result = *order[k];
                appendLength(block, static_cast<std::size_t>(result.row));
                appendField(block, result.debtorId);
                appendField(block, result.status);
                appendField(block, result.reason);
                appendField(block, result.payload);
            }
            sqlite3_stmt* insert = insertBlock_.get();
            sqlite3_bind_text(insert, 1, batchId.data(), static_cast<int>(batchId.size()), SQLITE_STATIC);
            sqlite3_bind_int(insert, 2, order[first]->row);
            sqlite3_bind_int(insert, 3, order[last - 1]->row);
            sqlite3_bind_blob(insert, 4, block.data(), static_cast<int>(block.size()), SQLITE_STATIC);
            ok = stepToDone(insert);
            first = last;
        }
        if (ok) {
            sqlite3_stmt* count = countRows_.get();
            sqlite3_bind_text(count, 1, batchId.data(), static_cast<int>(batchId.size()), SQLITE_STATIC);
            sqlite3_bind_int(count, 2, static_cast<int>(end - i));
            ok = stepToDone(count);
        }
        i = end;
    }
    if (!ok) {
        const std::string error = sqlite3_errmsg(db_.get());
        exec("ROLLBACK");
        throw std::runtime_error("block store: " + error);
    }
    exec("COMMIT");
}

long long BlockResults::storedResults() {
    sqlite3_stmt* sum = sumRows_.get();
    const long long stored = sqlite3_step(sum) == SQLITE_ROW ? sqlite3_column_int64(sum, 0) : -1;
    sqlite3_reset(sum);
    return stored;
}

int BlockResults::insertMissingResults(const std::vector<connectors::StoredResult>& results) {
    upsertResults(results);
    return static_cast<int>(results.size());
}

int BlockResults::countResultsWithStatus(const std::string& /*batchId*/, const std::string& /*status*/) {
    notKept();
}

int BlockResults::retryErrorRows(const std::string& /*batchId*/) {
    notKept();
}

std::optional<connectors::StoredResult> BlockResults::findResult(const std::string& /*batchId*/, int /*row*/) {
    notKept();
}

std::vector<connectors::StoredResult> BlockResults::resultsOfBatch(const std::string& /*batchId*/) {
    notKept();
}

std::vector<connectors::StoredResult> BlockResults::resultsPage(const std::string& /*batchId*/, int /*afterRow*/,
                                                                int /*limit*/) {
    notKept();
}

}  // namespace taxdesk::bench
