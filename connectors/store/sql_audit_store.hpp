#pragma once
// The audit trail over SQL (issue 13): tables audit_log (the records, append-only, hash-chained per day), audit_heads
// (each day's last seq and hash: the row whose lock orders the day's appends) and audit_checkpoints (the signed last
// hash of each pruned day). The records' content and hashing are jobs/audit's.
#include <Poco/Data/Session.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/store/database.hpp"
#include "connectors/store/result_store.hpp"
#include "jobs/audit/audit.hpp"

namespace taxdesk::connectors {

struct AuditSettings {
    bool enabled = true;  ///< audit.enabled: off, nothing is recorded (search and verify still work)
    std::string idKey;    ///< audit.id_key: the secret of the ID HMAC and of checkpoint signatures
};

/// One hit of a search: a results entry, or a download (row 0, format and rowCount set).
struct AuditHit {
    std::string day;
    int seq = 0;
    int entry = 0;  ///< position of the entry in its record (0 for a download)
    std::string recordedAt;
    std::string kind;
    std::string creditorId;
    std::string batchId;
    int row = 0;
    std::string titleRef;
    std::string idHmac;
    std::string status;
    std::string requestId;
    std::string format;
    int rowCount = 0;
};

/// What to search: days from..to (inclusive, YYYY-MM-DD; empty: unbounded), and optionally one creditor and/or one
/// debtor (its ID HMAC: the caller HMACs the ID, the store never sees it). After a cursor (from AuditPage::next).
struct AuditQuery {
    std::string fromDay;
    std::string toDay;
    std::string creditorId;
    std::string idHmac;
    std::string cursor;  ///< "day:seq:entry" of the last hit of the previous page; empty for the first
    int limit = 100;
};

struct AuditPage {
    std::vector<AuditHit> hits;
    std::string next;  ///< cursor of the next page; empty when there is none
};

struct AuditVerifyReport {
    bool ok = true;
    int days = 0;
    long long records = 0;
    long long entries = 0;
    int checkpoints = 0;  ///< pruned days whose signed checkpoint was checked
    std::string brokenDay;
    long long brokenSeq = 0;
    std::string reason;
};

struct AuditPruneReport {
    int days = 0;
    long long records = 0;
    std::vector<std::string> refused;  ///< days not pruned because their chain does not verify
};

class SqlAuditStore {
  public:
    explicit SqlAuditStore(Database& db) : db_(db) {}

    /// Sets the key and the switch; call before the store is used by several threads.
    void configure(const AuditSettings& settings);
    [[nodiscard]] bool enabled() const { return settings_.enabled; }
    /// The HMAC of a debtor's ID under the configured key (for searches).
    [[nodiscard]] std::string idHmac(std::string_view debtorId) const;

    /// The audit trail's share of upserting `results` (ResultStore::prepareAudit()), on the calling thread, outside
    /// the results' transaction: the creditor of each batch of `results` (kept in memory once read: one statement for
    /// the batches not seen before), each row's title reference (titleRefs[k], the one its request carried, else read
    /// from the store by readTitles(): cached blocks of the batch's rows), each debtor's ID HMACed and each result's
    /// entry line packed (requestIds[k] is the request id of results[k]; both vectors may be shorter: '' past their
    /// end). When every batch's creditor is known and every row carried its title, no store is read. Results of a
    /// batch not in the batches table get an empty line: they are not recorded. Inactive when the trail is off.
    PreparedAudit prepare(const std::vector<StoredResult>& results, const std::vector<std::string_view>& requestIds,
                          const std::vector<std::string_view>& titleRefs);
    /// Inside the open transaction on `session` (upsertResultsWithAudit()): one record per batch of the results
    /// results[fresh[i]] (those whose (batch, row) was new, in the order given), each holding those results' prepared
    /// lines, chained onto the day of `stamp`. No per-row work but copying the lines: the hashing and packing were done
    /// by prepare(). Nothing when `prepared` is inactive or `fresh` is empty.
    void appendPrepared(Poco::Data::Session& session, const std::vector<StoredResult>& results,
                        const std::vector<std::size_t>& fresh, const PreparedAudit& prepared, const std::string& stamp);
    /// A download of a batch's results: one record in a transaction of its own.
    void recordDownload(const std::string& creditorId, const std::string& batchId, const std::string& format,
                        int rowCount, const std::string& requestId);

    /// One page of hits, in (day, seq, entry) order. Throws std::invalid_argument for a bad cursor.
    AuditPage search(const AuditQuery& query);
    /// Verifies every day from..to (empty: all) page by page against its head, and the checkpoints of pruned days.
    AuditVerifyReport verify(const std::string& fromDay, const std::string& toDay);
    /// Removes whole days before `beforeDay` (YYYY-MM-DD; and from `fromDay` when given), each in one transaction after
    /// writing its checkpoint (last seq and hash, signed with the key). A day whose chain does not verify is not pruned
    /// (reported).
    AuditPruneReport prune(const std::string& beforeDay, const std::string& fromDay = "");
    /// Tests: the clock of recordDownload() (ISO 8601 UTC stamps), so that their records fall on a day of their own.
    void setClock(std::function<std::string()> clock) { clock_ = std::move(clock); }

  private:
    /// Appends `records` (sealed here; packed[i] is records[i]'s entries, packed, stored as they are) to the chain of
    /// `day`, inside the open transaction on `session`.
    void appendToDay(Poco::Data::Session& session, const std::string& day, std::vector<jobs::audit::Record>& records,
                     const std::vector<std::string_view>& packed);
    std::vector<jobs::audit::Record> recordsOfDay(Poco::Data::Session& session, const std::string& day, int afterSeq,
                                                  int limit);

    /// The title references of one block of rows of a batch (rows first … last - 1), read by one range scan: a batch's
    /// rows reach the stage a window at a time, so a block serves many chunks. A batch row's title never changes once
    /// uploaded.
    struct TitleBlock {
        int first = 0;
        int last = 0;
        std::vector<int> rows;            ///< the rows the batch has, ascending
        std::vector<std::uint32_t> ends;  ///< rows[i]'s title is text[i == 0 ? 0 : ends[i - 1], ends[i])
        std::string text;                 ///< the titles one after another (one allocation, not one a row)

        void add(int row, std::string_view title) {
            rows.push_back(row);
            text += title;
            ends.push_back(static_cast<std::uint32_t>(text.size()));
        }
        [[nodiscard]] std::string_view title(int row) const;
    };
    using TitleBlocks = std::vector<std::shared_ptr<const TitleBlock>>;
    struct CachedTitles {
        std::shared_ptr<const TitleBlock> block;
        std::uint64_t used = 0;  ///< titleClock_ when last read, for evicting the least recently used
    };
    /// The blocks holding the title references of `rows` (sorted) of `batchId`: cached blocks (read by range scans)
    /// when the rows touch few blocks, else one block of exactly those rows read by IN lists.
    TitleBlocks readTitles(Poco::Data::Session& session, const std::string& batchId, const std::vector<int>& rows);
    /// The title reference of `row` in `blocks` ('' when the batch has no such row).
    static std::string_view titleOf(const TitleBlocks& blocks, int row);

    Database& db_;
    AuditSettings settings_;
    std::function<std::string()> clock_;
    std::mutex titlesMutex_;                                           ///< guards titleBlocks_ and titleClock_
    std::map<std::pair<std::string, int>, CachedTitles> titleBlocks_;  ///< (batch id, first row of the block)
    std::uint64_t titleClock_ = 0;
    std::size_t titleRows_ = 0;  ///< rows held in titleBlocks_
    std::mutex creditorsMutex_;  ///< guards creditors_
    /// Batch id → creditor id, of batches the store holds (a batch not held is asked again: it may be written later).
    std::map<std::string, std::string, std::less<>> creditors_;
};

}  // namespace taxdesk::connectors
