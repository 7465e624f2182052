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

}  // namespace

BlockResults::BlockResults(const std::string& path, int rowsPerBlock) : rowsPerBlock_(std::max(rowsPerBlock, 1)) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("block store: cannot open " + path);
    exec("PRAGMA page_size=8192");
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("PRAGMA mmap_size=67108864");
    exec(
        "CREATE TABLE IF NOT EXISTS result_blocks (batch_id TEXT NOT NULL, first_row INTEGER NOT NULL,"
        " last_row INTEGER NOT NULL, results BLOB NOT NULL, updated_at TEXT NOT NULL,"
        " PRIMARY KEY (batch_id, first_row))");
    exec("CREATE TABLE IF NOT EXISTS block_batches (batch_id TEXT PRIMARY KEY, rows_done INTEGER NOT NULL)");
}

BlockResults::~BlockResults() {
    sqlite3_close(db_);
}

void BlockResults::exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
        const std::string text = error != nullptr ? error : "?";
        sqlite3_free(error);
        throw std::runtime_error(std::string("block store: ") + sql + ": " + text);
    }
}

void BlockResults::upsertResults(const std::vector<connectors::StoredResult>& results) {
    if (results.empty()) return;
    std::vector<const connectors::StoredResult*> order;
    order.reserve(results.size());
    for (const auto& result : results) order.push_back(&result);
    std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
        return a->batchId != b->batchId ? a->batchId < b->batchId : a->row < b->row;
    });
    sqlite3_stmt* insert = nullptr;
    sqlite3_stmt* count = nullptr;
    const bool prepared =
        sqlite3_prepare_v2(db_,
                           "INSERT OR REPLACE INTO result_blocks (batch_id, first_row, last_row, results, updated_at)"
                           " VALUES (?1, ?2, ?3, ?4, '2026-12-03T00:00:00Z')",
                           -1, &insert, nullptr) == SQLITE_OK &&
        sqlite3_prepare_v2(db_,
                           "INSERT INTO block_batches (batch_id, rows_done) VALUES (?1, ?2)"
                           " ON CONFLICT (batch_id) DO UPDATE SET rows_done = rows_done + excluded.rows_done",
                           -1, &count, nullptr) == SQLITE_OK;
    if (!prepared) {
        const std::string error = sqlite3_errmsg(db_);
        sqlite3_finalize(insert);
        sqlite3_finalize(count);
        throw std::runtime_error("block store: " + error);
    }
    exec("BEGIN IMMEDIATE");
    std::string block;
    std::size_t i = 0;
    int rc = SQLITE_DONE;
    while (i < order.size() && rc == SQLITE_DONE) {
        const std::string& batchId = order[i]->batchId;
        std::size_t end = i;
        while (end < order.size() && order[end]->batchId == batchId) ++end;
        for (std::size_t first = i; first < end && rc == SQLITE_DONE;) {
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
            sqlite3_bind_text(insert, 1, batchId.data(), static_cast<int>(batchId.size()), SQLITE_STATIC);
            sqlite3_bind_int(insert, 2, order[first]->row);
            sqlite3_bind_int(insert, 3, order[last - 1]->row);
            sqlite3_bind_blob(insert, 4, block.data(), static_cast<int>(block.size()), SQLITE_STATIC);
            rc = sqlite3_step(insert);
            sqlite3_reset(insert);
            first = last;
        }
        if (rc == SQLITE_DONE) {
            sqlite3_bind_text(count, 1, batchId.data(), static_cast<int>(batchId.size()), SQLITE_STATIC);
            sqlite3_bind_int(count, 2, static_cast<int>(end - i));
            rc = sqlite3_step(count);
            sqlite3_reset(count);
        }
        i = end;
    }
    sqlite3_finalize(insert);
    sqlite3_finalize(count);
    if (rc != SQLITE_DONE) {
        exec("ROLLBACK");
        throw std::runtime_error(std::string("block store: ") + sqlite3_errmsg(db_));
    }
    exec("COMMIT");
}

long long BlockResults::storedResults() {
    sqlite3_stmt* sum = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT COALESCE(SUM(rows_done), 0) FROM block_batches", -1, &sum, nullptr) !=
        SQLITE_OK)
        throw std::runtime_error(std::string("block store: ") + sqlite3_errmsg(db_));
    const long long stored = sqlite3_step(sum) == SQLITE_ROW ? sqlite3_column_int64(sum, 0) : -1;
    sqlite3_finalize(sum);
    return stored;
}

int BlockResults::insertMissingResults(const std::vector<connectors::StoredResult>& results) {
    upsertResults(results);
    return static_cast<int>(results.size());
}

int BlockResults::countResultsWithStatus(const std::string& /*batchId*/, const std::string& /*status*/) {
    throw std::logic_error("block store: a measuring device, it reads nothing back");
}

int BlockResults::retryErrorRows(const std::string& /*batchId*/) {
    throw std::logic_error("block store: a measuring device, it reads nothing back");
}

std::optional<connectors::StoredResult> BlockResults::findResult(const std::string& /*batchId*/, int /*row*/) {
    throw std::logic_error("block store: a measuring device, it reads nothing back");
}

std::vector<connectors::StoredResult> BlockResults::resultsOfBatch(const std::string& /*batchId*/) {
    throw std::logic_error("block store: a measuring device, it reads nothing back");
}

std::vector<connectors::StoredResult> BlockResults::resultsPage(const std::string& /*batchId*/, int /*afterRow*/,
                                                                int /*limit*/) {
    throw std::logic_error("block store: a measuring device, it reads nothing back");
}

}  // namespace taxdesk::bench
