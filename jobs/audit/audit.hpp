#pragma once
// The audit trail's pure parts (issue 13): what one audit record holds, its canonical bytes, the per-day hash chain,
// the keyed hash (HMAC-SHA256) of a debtor's ID, and the chain's verification. No SQL here: connectors/store/
// sql_audit_store.* keeps the records.
//
// One record is written per committed chunk and batch (one results transaction may hold several batches): its
// entries are the rows the transaction stored, packed, so that the trail costs one INSERT a chunk, not one a row. A
// download is a record with no entries, its format and row count.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taxdesk::jobs::audit {

/// One looked-up row in a record.
struct Entry {
    int row = 0;
    std::string requestId;
    std::string status;
    std::string idHmac;    ///< hex HMAC-SHA256 of the debtor's ID (idHmac()), never the ID
    std::string titleRef;  ///< the row's enforcement title reference (SPEC 3.1 `title_ref`)

    bool operator==(const Entry&) const = default;
};

/// One audit record: a chunk of results of one batch ("results") or one download ("download").
struct Record {
    std::string day;         ///< YYYY-MM-DD (UTC) of recordedAt: the chain it belongs to
    std::int64_t seq = 0;    ///< position in its day's chain, from 1
    std::string recordedAt;  ///< ISO 8601 UTC
    std::string kind;        ///< "results" or "download"
    std::string creditorId;
    std::string batchId;
    std::string requestId;      ///< a download's request id ('' for results: each entry has its own)
    std::string format;         ///< a download's format (csv, json); '' for results
    std::int64_t rowCount = 0;  ///< a download's rows; a results record's number of entries
    std::vector<Entry> entries;
    std::string prevHash;  ///< hex SHA-256 of the previous record of the day, or the day's seed
    std::string hash;      ///< hex SHA-256 of prevHash and the canonical bytes

    bool operator==(const Record&) const = default;
};

/// Lower-case hex SHA-256 of `bytes`.
std::string sha256Hex(std::string_view bytes);
/// Lower-case hex HMAC-SHA256 of `message` under `key`.
std::string hmacSha256Hex(std::string_view key, std::string_view message);
/// The keyed hash the trail holds for a debtor's ID: HMAC-SHA256 under the audit key of the ID trimmed and in upper
/// case (so `a123456789 ` and `A123456789` are one debtor).
std::string idHmac(std::string_view key, std::string_view debtorId);

/// idHmac() for many IDs under one key: the key's inner and outer pads are hashed once (OpenSSL's SHA-256, with the
/// CPU's SHA extensions where it has them), so an ID costs two SHA-256 blocks. Not thread-safe; cheap to build.
class IdHasher {
  public:
    explicit IdHasher(std::string_view key);
    ~IdHasher();
    IdHasher(const IdHasher&) = delete;
    IdHasher& operator=(const IdHasher&) = delete;
    /// idHmac(key, debtorId).
    [[nodiscard]] std::string operator()(std::string_view debtorId);
    /// Appends idHmac(key, debtorId) to `out` (no allocation once `out` has the room).
    void append(std::string& out, std::string_view debtorId);

  private:
    struct State;
    State* state_;
};

/// The first record of a day chains to this: hex SHA-256 of "taxdesk-audit-day:" + day.
std::string daySeed(std::string_view day);

/// The packed entries as stored (one line a entry: row, request id, status, id hmac, title ref, tab-separated, with
/// `\`, tab and line breaks escaped as \\, \t, \n, \r).
std::string packEntries(const std::vector<Entry>& entries);
/// Appends one entry's packed line (as packEntries() writes it) to `out`: the lines of several entries, appended one
/// after another, are packEntries() of those entries. A writer packs each entry where it is prepared (the inquiry
/// stage's prepare thread) and the committer only concatenates the lines of the rows it stored new.
void appendEntry(std::string& out, int row, std::string_view requestId, std::string_view status,
                 std::string_view idHmac, std::string_view titleRef);
/// The inverse of packEntries(); throws std::invalid_argument on text it did not write.
std::vector<Entry> unpackEntries(std::string_view packed);

/// The canonical bytes of a record (everything but hash and prevHash): "taxdesk-audit-v1\n" then one line a field in
/// declaration order (escaped as in packEntries()), then the packed entries.
std::string canonicalBytes(const Record& record);
/// canonicalBytes() with the record's entries packed already (packEntries(record.entries)): a writer packs them once.
std::string canonicalBytes(const Record& record, std::string_view packedEntries);
/// hex SHA-256 of prevHash + "\n" + canonicalBytes(record).
std::string chainHash(const Record& record);
std::string chainHash(const Record& record, std::string_view packedEntries);
/// Sets record.seq, record.prevHash and record.hash as the record following `previousHash` at position `seq`.
void seal(Record& record, std::int64_t seq, std::string_view previousHash);
/// seal() with the entries packed already.
void seal(Record& record, std::int64_t seq, std::string_view previousHash, std::string_view packedEntries);

/// The outcome of verifying one day's records.
struct VerifyResult {
    bool ok = true;
    std::int64_t records = 0;  ///< records checked
    std::int64_t entries = 0;  ///< entries in them
    /// Set when !ok: the day and seq of the first broken record (the one whose position, link or hash is wrong; for
    /// a missing record, the first seq after the gap) and why.
    std::string brokenDay;
    std::int64_t brokenSeq = 0;
    std::string reason;
};

/// Verifies the records of one day in the order stored (by seq): seq 1, 2, 3 … without gaps (or from
/// `startSeq` + 1 when the chain starts at a checkpoint), each prevHash the hash of the record before it (the first:
/// `startHash`, the day's seed when empty), each hash recomputed. `headSeq`/`headHash` (the day's head row), when
/// given, must match the last record: a deleted last record is caught too.
VerifyResult verifyDay(std::string_view day, const std::vector<Record>& records, std::int64_t startSeq = 0,
                       std::string_view startHash = {}, std::optional<std::int64_t> headSeq = std::nullopt,
                       std::string_view headHash = {});

/// A pruning checkpoint: the last record of a pruned day, signed with the audit key, so that a later verify can trust
/// the days it no longer sees. signature = hex HMAC-SHA256(key, "taxdesk-audit-checkpoint-v1\n" day \n seq \n hash).
std::string checkpointSignature(std::string_view key, std::string_view day, std::int64_t lastSeq,
                                std::string_view lastHash);

/// The UTC day (YYYY-MM-DD) of an ISO 8601 UTC time stamp; throws std::invalid_argument when it is not one.
std::string dayOf(std::string_view isoTime);
/// Whether `text` is a date YYYY-MM-DD (digits and dashes in place; month 01-12, day 01-31).
bool isDay(std::string_view text);

}  // namespace taxdesk::jobs::audit
