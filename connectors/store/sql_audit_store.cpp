#include "connectors/store/sql_audit_store.hpp"

#include <Poco/Data/Transaction.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <tuple>

#include "connectors/store/migrations.hpp"
#include "connectors/store/store_internal.hpp"

namespace taxdesk::connectors {

using namespace Poco::Data::Keywords;
namespace audit = jobs::audit;

namespace {

constexpr const char* kRecordColumns =
    "day, seq, recorded_at, kind, creditor_id, batch_id, request_id, format, row_count, entries, prev_hash, hash";
/// Records read a page at a time (verify, search): a day may hold many.
constexpr int kRecordPage = 200;

/// Title references cached in blocks of this many row numbers of a batch (only the rows the batch has are held), at
/// most kTitleRowsCached rows and kTitleBlocksCached blocks in all besides the blocks of the current call (least
/// recently used evicted): about 25 MB with titles of 80 bytes (and 8 bytes a row besides). The block bound keeps the
/// eviction's scan short when blocks are small (many small batches).
constexpr int kTitleBlock = 4096;
constexpr std::size_t kTitleRowsCached = 262'144;
constexpr std::size_t kTitleBlocksCached = 4096;
/// A chunk's rows of one batch spread over more blocks than this (rows scattered over a large batch, e.g. its error
/// rows retried) are read by IN lists of exactly those rows instead: a block read for a row or two would cost more.
constexpr std::size_t kTitleBlocksAChunk = 4;
/// Batches whose creditor is kept in memory (a batch's creditor never changes); when full, the cache starts over.
constexpr std::size_t kCreditorsCached = 65'536;

struct RecordColumns {
    std::vector<std::string> day, recordedAt, kind, creditorId, batchId, requestId, format, entries, prevHash, hash;
    std::vector<int> seq, rowCount;

    std::vector<audit::Record> records() const {
        std::vector<audit::Record> out;
        out.reserve(day.size());
        for (std::size_t i = 0; i < day.size(); ++i) {
            audit::Record record;
            record.day = day[i];
            record.seq = seq[i];
            record.recordedAt = recordedAt[i];
            record.kind = kind[i];
            record.creditorId = creditorId[i];
            record.batchId = batchId[i];
            record.requestId = requestId[i];
            record.format = format[i];
            record.rowCount = rowCount[i];
            record.entries = audit::unpackEntries(entries[i]);
            record.prevHash = prevHash[i];
            record.hash = hash[i];
            out.push_back(std::move(record));
        }
        return out;
    }
};

/// Runs `statement` (selecting kRecordColumns) into `columns`.
template <typename... Bindings>
void selectRecords(Poco::Data::Session& session, const std::string& statement, RecordColumns& columns,
                   Bindings&&... bindings) {
    Poco::Data::Statement select(session);
    select << statement, into(columns.day), into(columns.seq), into(columns.recordedAt), into(columns.kind),
        into(columns.creditorId), into(columns.batchId), into(columns.requestId), into(columns.format),
        into(columns.rowCount), into(columns.entries), into(columns.prevHash), into(columns.hash);
    (select.addBind(bind(bindings)), ...);
    select.execute();
}

/// "day:seq:entry" → its parts; throws std::invalid_argument.
std::tuple<std::string, int, int> parseCursor(const std::string& cursor) {
    const std::size_t first = cursor.find(':');
    const std::size_t second = first == std::string::npos ? first : cursor.find(':', first + 1);
    if (second == std::string::npos || !audit::isDay(cursor.substr(0, first)))
        throw std::invalid_argument("cursor: not one this server gave");
    try {
        std::size_t used = 0;
        const std::string seqText = cursor.substr(first + 1, second - first - 1);
        const int seq = std::stoi(seqText, &used);
        if (used != seqText.size() || seq < 0) throw std::invalid_argument("seq");
        const std::string entryText = cursor.substr(second + 1);
        const int entry = std::stoi(entryText, &used);
        if (used != entryText.size() || entry < 0) throw std::invalid_argument("entry");
        return {cursor.substr(0, first), seq, entry};
    } catch (const std::exception&) {
        throw std::invalid_argument("cursor: not one this server gave");
    }
}

}  // namespace

void SqlAuditStore::configure(const AuditSettings& settings) {
    settings_ = settings;
}

std::string SqlAuditStore::idHmac(std::string_view debtorId) const {
    return audit::idHmac(settings_.idKey, debtorId);
}

void SqlAuditStore::appendToDay(Poco::Data::Session& session, const std::string& day,
                                std::vector<audit::Record>& records, const std::vector<std::string_view>& packed) {
    if (records.empty()) return;
    // The day's head row: created by the first append of the day, then locked by each append until its commit, so
    // that the day's records form one chain whichever engine writes them (SQLite: the write lock is held already).
    const std::string seed = audit::daySeed(day);
    detail::executeCached(db_, session, "starting the audit trail's day",
                          db_.sql("INSERT INTO audit_heads (day, seq, head_hash) VALUES (?, 0, ?)"
                                  " ON CONFLICT (day) DO NOTHING"),
                          day, seed);
    int seq = 0;
    std::string head;
    session << db_.sql(db_.isSqlite() ? "SELECT seq, head_hash FROM audit_heads WHERE day = ?"
                                      : "SELECT seq, head_hash FROM audit_heads WHERE day = ? FOR UPDATE"),
        into(seq), into(head), bind(day), now;
    for (std::size_t i = 0; i < records.size(); ++i) {
        audit::Record& record = records[i];
        audit::seal(record, ++seq, head, packed[i]);
        head = record.hash;
    }
    const std::string insert = db_.sql("INSERT INTO audit_log (" + std::string(kRecordColumns) +
                                       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (db_.isSqlite()) {
        // A statement compiled once per connection, the entries bound where they lie (no copy into a column vector).
        detail::withPrepared(db_, session, "appending to the audit trail", insert, [&](detail::CachedStatement& row) {
            for (std::size_t i = 0; i < records.size(); ++i) {
                const audit::Record& record = records[i];
                row.bind(1, record.day)
                    .bind(2, record.seq)
                    .bind(3, record.recordedAt)
                    .bind(4, record.kind)
                    .bind(5, record.creditorId)
                    .bind(6, record.batchId)
                    .bind(7, record.requestId)
                    .bind(8, record.format)
                    .bind(9, record.rowCount)
                    .bind(10, packed[i])
                    .bind(11, record.prevHash)
                    .bind(12, record.hash);
                row.execute();
                row.reset();
            }
        });
    } else {
        RecordColumns columns;
        for (std::size_t i = 0; i < records.size(); ++i) {
            const audit::Record& record = records[i];
            columns.day.push_back(record.day);
            columns.seq.push_back(static_cast<int>(record.seq));
            columns.recordedAt.push_back(record.recordedAt);
            columns.kind.push_back(record.kind);
            columns.creditorId.push_back(record.creditorId);
            columns.batchId.push_back(record.batchId);
            columns.requestId.push_back(record.requestId);
            columns.format.push_back(record.format);
            columns.rowCount.push_back(static_cast<int>(record.rowCount));
            columns.entries.emplace_back(packed[i]);
            columns.prevHash.push_back(record.prevHash);
            columns.hash.push_back(record.hash);
        }
        session << insert, use(columns.day), use(columns.seq), use(columns.recordedAt), use(columns.kind),
            use(columns.creditorId), use(columns.batchId), use(columns.requestId), use(columns.format),
            use(columns.rowCount), use(columns.entries), use(columns.prevHash), use(columns.hash), now;
    }
    detail::executeCached(db_, session, "moving the audit trail's head",
                          db_.sql("UPDATE audit_heads SET seq = ?, head_hash = ? WHERE day = ?"), seq, head, day);
}

PreparedAudit SqlAuditStore::prepare(const std::vector<StoredResult>& results,
                                     const std::vector<std::string_view>& requestIds,
                                     const std::vector<std::string_view>& titleRefs) {
    PreparedAudit prepared;
    if (!settings_.enabled || results.empty()) return prepared;
    prepared.active = true;
    // The chunk's batches (a chunk may hold rows of many), sorted; per batch, the positions of its results by row.
    std::vector<std::string_view> batchIds;
    for (const StoredResult& result : results) batchIds.push_back(result.batchId);
    std::sort(batchIds.begin(), batchIds.end());
    batchIds.erase(std::unique(batchIds.begin(), batchIds.end()), batchIds.end());
    auto batchOf = [&](std::string_view batchId) {
        return static_cast<std::size_t>(std::lower_bound(batchIds.begin(), batchIds.end(), batchId) - batchIds.begin());
    };
    std::vector<std::vector<std::size_t>> positions(batchIds.size());
    for (std::size_t k = 0; k < results.size(); ++k) positions[batchOf(results[k].batchId)].push_back(k);
    for (auto& of : positions)
        std::stable_sort(of.begin(), of.end(),
                         [&](std::size_t x, std::size_t y) { return results[x].row < results[y].row; });
    auto carriedTitle = [&](std::size_t k) { return k < titleRefs.size() ? titleRefs[k] : std::string_view(); };
    std::vector<std::string> creditorOf(batchIds.size());
    std::vector<char> known(batchIds.size(), 0);
    std::vector<std::string_view> unknown;  // batches whose creditor is not cached
    {
        const std::lock_guard<std::mutex> lock(creditorsMutex_);
        for (std::size_t b = 0; b < batchIds.size(); ++b) {
            const auto it = creditors_.find(batchIds[b]);
            if (it == creditors_.end()) {
                unknown.push_back(batchIds[b]);
            } else {
                creditorOf[b] = it->second;
                known[b] = 1;
            }
        }
    }
    // Per batch, the blocks of title references that hold its rows whose request carried none (shared with the cache:
    // nothing copied). The dispatcher's requests carry each row's title, so in steady state this reads nothing.
    std::vector<TitleBlocks> titlesOf(batchIds.size());
    auto titlesToRead = [&](std::size_t b) {
        std::vector<int> rows;
        for (const std::size_t k : positions[b])
            if (carriedTitle(k).empty()) rows.push_back(results[k].row);
        rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
        return rows;
    };
    bool readsTitles = false;
    for (std::size_t k = 0; k < results.size() && !readsTitles; ++k) readsTitles = carriedTitle(k).empty();
    if (!unknown.empty() || readsTitles) {
        db_.withSession("reading the audit trail's creditors and title references", [&](Poco::Data::Session& session) {
            // The creditors not cached, detail::kInListMax batches a statement (an index probe each), ids bound.
            std::vector<std::string> found, creditors;
            for (std::size_t begin = 0; begin < unknown.size(); begin += detail::kInListMax) {
                const std::size_t end = std::min(unknown.size(), begin + detail::kInListMax);
                Poco::Data::Statement select(session);
                select << db_.sql("SELECT batch_id, creditor_id FROM batches WHERE batch_id IN (" +
                                  detail::placeholderList(end - begin) + ")"),
                    into(found), into(creditors);
                for (std::size_t b = begin; b < end; ++b) select.addBind(bind(std::string(unknown[b])));
                select.execute();
            }
            {
                const std::lock_guard<std::mutex> lock(creditorsMutex_);
                // A batch's creditor never changes: kept, up to kCreditorsCached batches (then the cache starts over).
                if (creditors_.size() + found.size() > kCreditorsCached) creditors_.clear();
                for (std::size_t i = 0; i < found.size(); ++i) {
                    const std::size_t b = batchOf(found[i]);
                    if (b == batchIds.size() || batchIds[b] != found[i]) continue;
                    creditorOf[b] = creditors[i];
                    known[b] = 1;
                    creditors_.insert_or_assign(found[i], creditors[i]);
                }
            }
            for (std::size_t b = 0; b < batchIds.size(); ++b) {
                // Results of a batch the store does not hold (fed straight to Kafka by a demo) are not creditor
                // look-ups: not recorded (and on PostgreSQL their upsert cannot tell new from replayed).
                if (!known[b]) continue;
                const std::vector<int> rows = titlesToRead(b);
                if (!rows.empty()) titlesOf[b] = readTitles(session, std::string(batchIds[b]), rows);
            }
        });
    }
    // The per-row work, here and not on the committing thread: the ID's HMAC and the packed line. The lines of a batch
    // are written one after another, by row: when every one of them is stored new (the usual case), the committer
    // records that stretch as it is.
    audit::IdHasher hasher(settings_.idKey);
    std::string hmac;
    prepared.lines.reserve(results.size() * 140);
    prepared.begins.assign(results.size(), 0);
    prepared.ends.assign(results.size(), 0);
    for (std::size_t b = 0; b < batchIds.size(); ++b) {
        if (!known[b]) continue;
        PreparedAudit::Batch batch;
        batch.batchId = std::string(batchIds[b]);
        batch.creditorId = std::move(creditorOf[b]);
        batch.begin = prepared.lines.size();
        batch.results = positions[b].size();
        for (const std::size_t k : positions[b]) {
            const StoredResult& result = results[k];
            hmac.clear();
            hasher.append(hmac, result.debtorId);
            const std::string_view carried = carriedTitle(k);
            prepared.begins[k] = prepared.lines.size();
            audit::appendEntry(prepared.lines, result.row, k < requestIds.size() ? requestIds[k] : std::string_view(),
                               result.status, hmac, carried.empty() ? titleOf(titlesOf[b], result.row) : carried);
            prepared.ends[k] = prepared.lines.size();
        }
        batch.end = prepared.lines.size();
        prepared.batches.push_back(std::move(batch));
    }
    return prepared;
}

std::string_view SqlAuditStore::TitleBlock::title(int row) const {
    const auto found = std::lower_bound(rows.begin(), rows.end(), row);
    if (found == rows.end() || *found != row) return {};
    const auto i = static_cast<std::size_t>(found - rows.begin());
    const std::size_t begin = i == 0 ? 0 : ends[i - 1];
    return std::string_view(text).substr(begin, ends[i] - begin);
}

std::string_view SqlAuditStore::titleOf(const TitleBlocks& blocks, int row) {
    for (const auto& block : blocks)
        if (row >= block->first && row < block->last) return block->title(row);
    return {};
}

SqlAuditStore::TitleBlocks SqlAuditStore::readTitles(Poco::Data::Session& session, const std::string& batchId,
                                                     const std::vector<int>& rows) {
    TitleBlocks out;
    if (rows.empty()) return out;
    std::vector<int> blocks;
    for (const int row : rows) {
        const int first = (row / kTitleBlock) * kTitleBlock;
        if (blocks.empty() || blocks.back() != first) blocks.push_back(first);
    }
    if (blocks.size() > kTitleBlocksAChunk) {
        // Scattered rows: exactly these, one statement of up to detail::kInListMax row numbers each (a probe a row), in
        // a block of their own that is not cached.
        auto block = std::make_shared<TitleBlock>();
        block->first = rows.front();
        block->last = rows.back() + 1;
        std::vector<int> found;
        std::vector<std::string> titles;
        for (std::size_t begin = 0; begin < rows.size(); begin += detail::kInListMax) {
            const std::size_t end = std::min(rows.size(), begin + detail::kInListMax);
            std::string select = "SELECT row_no, title_ref FROM batch_rows WHERE batch_id = ? AND row_no IN (";
            for (std::size_t i = begin; i < end; ++i) {
                if (i != begin) select += ',';
                select += std::to_string(rows[i]);
            }
            select += ") ORDER BY row_no";
            session << db_.sql(select), into(found), into(titles), bind(batchId), now;
        }
        // Each statement's rows come by row, and the statements follow the sorted rows: the block's are sorted.
        for (std::size_t i = 0; i < found.size(); ++i) block->add(found[i], titles[i]);
        out.push_back(std::move(block));
        return out;
    }
    const std::lock_guard<std::mutex> lock(titlesMutex_);
    // Blocks used before this call may be evicted to make room; the ones this call uses may not (evicting one of them
    // to load the next, as a plain least-recently-used bound did, reloaded every block at every chunk once a chunk
    // touched more blocks than the bound: 8.7k instructions a row in the bench, whose chunks hold 64 batches). A
    // block evicted while a prepare() still reads it lives on in that prepare's shared pointer.
    const std::uint64_t callStart = titleClock_ + 1;
    for (const int first : blocks) {
        const auto key = std::make_pair(batchId, first);
        auto it = titleBlocks_.find(key);
        if (it == titleBlocks_.end()) {
            // The block's rows by one range scan of the primary key; only the rows the batch has are kept. SQLite:
            // a statement compiled once per connection (Poco::Data compiled it for every block).
            static const std::string kBlockSql =
                "SELECT row_no, title_ref FROM batch_rows WHERE batch_id = ? AND row_no >= ? AND row_no < ?"
                " ORDER BY row_no";
            auto block = std::make_shared<TitleBlock>();
            block->first = first;
            block->last = first + kTitleBlock;
            if (db_.isSqlite()) {
                detail::withPrepared(db_, session, "reading title references", kBlockSql,
                                     [&](detail::CachedStatement& select) {
                                         select.bind(1, batchId).bind(2, first).bind(3, first + kTitleBlock);
                                         while (select.step())
                                             block->add(static_cast<int>(select.int64(0)), select.view(1));
                                     });
            } else {
                std::vector<int> found;
                std::vector<std::string> titles;
                session << db_.sql(kBlockSql), into(found), into(titles), bind(batchId), bind(first),
                    bind(first + kTitleBlock), now;
                for (std::size_t i = 0; i < found.size(); ++i) block->add(found[i], titles[i]);
            }
            titleRows_ += block->rows.size();
            it = titleBlocks_.emplace(key, CachedTitles{std::move(block), 0}).first;
        }
        it->second.used = ++titleClock_;
        out.push_back(it->second.block);
    }
    // Bounded by the rows and blocks held: the least recently used blocks go first, none that this call used.
    while (titleRows_ > kTitleRowsCached || titleBlocks_.size() > kTitleBlocksCached) {
        auto oldest = titleBlocks_.end();
        for (auto i = titleBlocks_.begin(); i != titleBlocks_.end(); ++i)
            if (i->second.used < callStart && (oldest == titleBlocks_.end() || i->second.used < oldest->second.used))
                oldest = i;
        if (oldest == titleBlocks_.end()) break;
        titleRows_ -= oldest->second.block->rows.size();
        titleBlocks_.erase(oldest);
    }
    return out;
}

void SqlAuditStore::appendPrepared(Poco::Data::Session& session, const std::vector<StoredResult>& results,
                                   const std::vector<std::size_t>& fresh, const PreparedAudit& prepared,
                                   const std::string& stamp) {
    if (!prepared.active || fresh.empty() || prepared.batches.empty()) return;
    const auto& batches = prepared.batches;
    // Per batch held (in batch id order), its fresh results.
    std::vector<std::vector<std::size_t>> freshOf(batches.size());
    for (const std::size_t k : fresh) {
        const std::string& batchId = results[k].batchId;
        const auto it =
            std::lower_bound(batches.begin(), batches.end(), batchId,
                             [](const PreparedAudit::Batch& held, const std::string& id) { return held.batchId < id; });
        if (it == batches.end() || it->batchId != batchId) continue;  // a batch the store does not hold
        freshOf[static_cast<std::size_t>(it - batches.begin())].push_back(k);
    }
    const std::string day = audit::dayOf(stamp);
    std::vector<audit::Record> records;
    std::vector<std::string_view> packed;
    std::vector<std::string> assembled;  // the lines of batches only partly new, gathered
    assembled.reserve(batches.size());
    for (std::size_t b = 0; b < batches.size(); ++b) {
        const auto& mine = freshOf[b];
        if (mine.empty()) continue;
        audit::Record record;
        record.day = day;
        record.recordedAt = stamp;
        record.kind = "results";
        record.creditorId = batches[b].creditorId;
        record.batchId = batches[b].batchId;
        record.rowCount = static_cast<std::int64_t>(mine.size());
        records.push_back(std::move(record));
        if (mine.size() == batches[b].results) {
            // Every result of the batch is new (and no row came twice): its lines, by row, as prepared.
            packed.push_back(
                std::string_view(prepared.lines).substr(batches[b].begin, batches[b].end - batches[b].begin));
        } else {
            std::vector<std::size_t> byRow = mine;
            std::stable_sort(byRow.begin(), byRow.end(),
                             [&](std::size_t x, std::size_t y) { return results[x].row < results[y].row; });
            std::string lines;
            for (const std::size_t k : byRow) lines += prepared.line(k);
            assembled.push_back(std::move(lines));
            packed.push_back(assembled.back());
        }
    }
    appendToDay(session, day, records, packed);
}

void SqlAuditStore::recordDownload(const std::string& creditorId, const std::string& batchId, const std::string& format,
                                   int rowCount, const std::string& requestId) {
    if (!settings_.enabled) return;
    const std::string stamp = clock_ ? clock_() : detail::utcNow();
    std::vector<audit::Record> records(1);
    audit::Record& record = records.front();
    record.day = audit::dayOf(stamp);
    record.recordedAt = stamp;
    record.kind = "download";
    record.creditorId = creditorId;
    record.batchId = batchId;
    record.requestId = requestId;
    record.format = format;
    record.rowCount = rowCount;
    db_.withSession("recording a download in the audit trail", [&](Poco::Data::Session& session) {
        Poco::Data::Transaction transaction(session);
        const std::vector<std::string_view> packed(1);  // a download has no entries
        appendToDay(session, record.day, records, packed);
        transaction.commit();
    });
}

std::vector<audit::Record> SqlAuditStore::recordsOfDay(Poco::Data::Session& session, const std::string& day,
                                                       int afterSeq, int limit) {
    RecordColumns columns;
    selectRecords(session,
                  db_.sql("SELECT " + std::string(kRecordColumns) +
                          " FROM audit_log WHERE day = ? AND seq > ? ORDER BY seq LIMIT ?"),
                  columns, day, afterSeq, limit);
    return columns.records();
}

AuditPage SqlAuditStore::search(const AuditQuery& query) {
    std::string cursorDay;
    int cursorSeq = 0, cursorEntry = -1;
    if (!query.cursor.empty()) std::tie(cursorDay, cursorSeq, cursorEntry) = parseCursor(query.cursor);
    // One hit more than asked for: when it exists, there is a next page (and the cursor is the last hit given).
    const int limit = std::max(1, query.limit) + 1;
    std::string where = " WHERE day >= ? AND day <= ? AND (day > ? OR (day = ? AND seq >= ?))";
    if (!query.creditorId.empty()) where += " AND creditor_id = ?";
    // The HMAC is hex: no LIKE wildcard in it. Downloads hold no debtor.
    if (!query.idHmac.empty()) where += " AND entries LIKE ?";
    const std::string statement =
        db_.sql("SELECT " + std::string(kRecordColumns) + " FROM audit_log" + where + " ORDER BY day, seq LIMIT ?");
    const std::string from = query.fromDay.empty() ? "0000-00-00" : query.fromDay;
    const std::string to = query.toDay.empty() ? "9999-99-99" : query.toDay;
    const std::string pattern = "%\t" + query.idHmac + "\t%";
    AuditPage page;
    return db_.withSession("searching the audit trail", [&](Poco::Data::Session& session) {
        for (;;) {
            RecordColumns columns;
            Poco::Data::Statement select(session);
            select << statement, into(columns.day), into(columns.seq), into(columns.recordedAt), into(columns.kind),
                into(columns.creditorId), into(columns.batchId), into(columns.requestId), into(columns.format),
                into(columns.rowCount), into(columns.entries), into(columns.prevHash), into(columns.hash), bind(from),
                bind(to), bind(cursorDay), bind(cursorDay), bind(cursorSeq);
            if (!query.creditorId.empty()) select, bind(query.creditorId);
            if (!query.idHmac.empty()) select, bind(pattern);
            select, bind(kRecordPage);
            select.execute();
            const std::vector<audit::Record> records = columns.records();
            for (const audit::Record& record : records) {
                const bool continuing = record.day == cursorDay && record.seq == cursorSeq;
                if (record.kind == "download") {
                    if ((continuing && cursorEntry >= 0) || !query.idHmac.empty()) continue;
                    AuditHit hit{record.day,
                                 static_cast<int>(record.seq),
                                 0,
                                 record.recordedAt,
                                 record.kind,
                                 record.creditorId,
                                 record.batchId,
                                 0,
                                 "",
                                 "",
                                 "",
                                 record.requestId,
                                 record.format,
                                 static_cast<int>(record.rowCount)};
                    page.hits.push_back(std::move(hit));
                } else {
                    for (std::size_t e = 0; e < record.entries.size(); ++e) {
                        if (continuing && static_cast<int>(e) <= cursorEntry) continue;
                        const audit::Entry& entry = record.entries[e];
                        if (!query.idHmac.empty() && entry.idHmac != query.idHmac) continue;
                        if (page.hits.size() == static_cast<std::size_t>(limit)) break;
                        page.hits.push_back({record.day, static_cast<int>(record.seq), static_cast<int>(e),
                                             record.recordedAt, record.kind, record.creditorId, record.batchId,
                                             entry.row, entry.titleRef, entry.idHmac, entry.status, entry.requestId, "",
                                             0});
                    }
                }
                if (page.hits.size() >= static_cast<std::size_t>(limit)) {
                    page.hits.pop_back();
                    const AuditHit& last = page.hits.back();
                    page.next = last.day + ":" + std::to_string(last.seq) + ":" + std::to_string(last.entry);
                    return page;
                }
                cursorDay = record.day;
                cursorSeq = static_cast<int>(record.seq) + 1;  // the next record, from its first entry
                cursorEntry = -1;
            }
            if (records.size() < static_cast<std::size_t>(kRecordPage)) return page;
        }
    });
}

AuditVerifyReport SqlAuditStore::verify(const std::string& fromDay, const std::string& toDay) {
    const std::string from = fromDay.empty() ? "0000-00-00" : fromDay;
    const std::string to = toDay.empty() ? "9999-99-99" : toDay;
    AuditVerifyReport report;
    return db_.withSession("verifying the audit trail", [&](Poco::Data::Session& session) {
        // One snapshot for every read: a day's head and its records as of one moment, though engines append meanwhile
        // (read apart, a head read before records appended after it looked like records past the head). SQLite's
        // read transaction is a snapshot (WAL); PostgreSQL's read committed is not, repeatable read is. Read-only:
        // rolled back at the end.
        Poco::Data::Transaction snapshot(session);
        if (!db_.isSqlite()) session << "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", now;
        // Checkpoints of pruned days: their signature under the key.
        std::vector<std::string> cpDays, cpHashes, cpSignatures;
        std::vector<int> cpSeqs;
        session << db_.sql(
            "SELECT day, last_seq, last_hash, signature FROM audit_checkpoints WHERE day >= ? AND"
            " day <= ? ORDER BY day"),
            into(cpDays), into(cpSeqs), into(cpHashes), into(cpSignatures), bind(from), bind(to), now;
        for (std::size_t i = 0; i < cpDays.size(); ++i) {
            if (audit::checkpointSignature(settings_.idKey, cpDays[i], cpSeqs[i], cpHashes[i]) != cpSignatures[i]) {
                report.ok = false;
                report.brokenDay = cpDays[i];
                report.brokenSeq = cpSeqs[i];
                report.reason = "the checkpoint of pruned day " + cpDays[i] + " has a bad signature";
                return report;
            }
            ++report.checkpoints;
        }
        // Every day with a head or a record (a head deleted with its records is caught by the records left).
        std::vector<std::string> days;
        session << db_.sql(
            "SELECT day FROM audit_heads WHERE day >= ? AND day <= ? UNION SELECT DISTINCT day FROM"
            " audit_log WHERE day >= ? AND day <= ? ORDER BY 1"),
            into(days), bind(from), bind(to), bind(from), bind(to), now;
        for (const std::string& day : days) {
            std::vector<int> headSeq;
            std::vector<std::string> headHash;
            session << db_.sql("SELECT seq, head_hash FROM audit_heads WHERE day = ?"), into(headSeq), into(headHash),
                bind(day), now;
            int afterSeq = 0;
            std::string previous;
            for (;;) {
                const std::vector<audit::Record> records = recordsOfDay(session, day, afterSeq, kRecordPage);
                const bool last = records.size() < static_cast<std::size_t>(kRecordPage);
                std::optional<std::int64_t> head;
                if (last) head = headSeq.empty() ? -1 : headSeq.front();
                const audit::VerifyResult result = audit::verifyDay(
                    day, records, afterSeq, previous, head, headHash.empty() ? std::string_view() : headHash.front());
                report.records += result.records;
                report.entries += result.entries;
                if (!result.ok) {
                    report.ok = false;
                    report.brokenDay = result.brokenDay;
                    report.brokenSeq = result.brokenSeq;
                    report.reason = headSeq.empty() ? "the day has records but no head" : result.reason;
                    return report;
                }
                if (last) break;
                afterSeq = static_cast<int>(records.back().seq);
                previous = records.back().hash;
            }
            ++report.days;
        }
        return report;
    });
}

AuditPruneReport SqlAuditStore::prune(const std::string& beforeDay, const std::string& fromDay) {
    AuditPruneReport report;
    std::vector<std::string> days;
    db_.withSession("listing audit days to prune", [&](Poco::Data::Session& session) {
        session << db_.sql("SELECT day FROM audit_heads WHERE day >= ? AND day < ? ORDER BY day"), into(days),
            bind(fromDay.empty() ? std::string("0000-00-00") : fromDay), bind(beforeDay), now;
    });
    for (const std::string& day : days) {
        const AuditVerifyReport check = verify(day, day);
        if (!check.ok) {
            report.refused.push_back(day);
            continue;
        }
        db_.withSession("pruning an audit day", [&](Poco::Data::Session& session) {
            Poco::Data::Transaction transaction(session);
            int seq = 0;
            std::string head;
            session << db_.sql(db_.isSqlite() ? "SELECT seq, head_hash FROM audit_heads WHERE day = ?"
                                              : "SELECT seq, head_hash FROM audit_heads WHERE day = ? FOR UPDATE"),
                into(seq), into(head), bind(day), now;
            const std::string signature = audit::checkpointSignature(settings_.idKey, day, seq, head);
            session << db_.sql(
                "INSERT INTO audit_checkpoints (day, last_seq, last_hash, signature, records, pruned_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (day) DO NOTHING"),
                bind(day), bind(seq), bind(head), bind(signature), bind(seq), bind(detail::utcNow()), now;
            session << db_.sql("DELETE FROM audit_log WHERE day = ?"), bind(day), now;
            session << db_.sql("DELETE FROM audit_heads WHERE day = ?"), bind(day), now;
            transaction.commit();
            ++report.days;
            report.records += seq;
        });
    }
    return report;
}

}  // namespace taxdesk::connectors
