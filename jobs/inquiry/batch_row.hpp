#pragma once
// SPEC 3.1 and 3.2: the batch file's columns, and the rules a data row is judged by: its reason and column when
// rejected, its fee when accepted.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/identity/identifiers.hpp"
#include "jobs/inquiry/inquiry.hpp"

namespace taxdesk::jobs::inquiry {

/// The rules a batch is read under, from the configuration and the clock (jobs/ reads neither).
struct BatchRules {
    std::size_t maxRows = 100000;   ///< limits.batch_rows: more data rows than this is 413
    int currentYear = 0;            ///< the calendar year now: it has no income data yet
    int latestTaxYear = 0;          ///< the latest complete tax year: the default, and the latest year accepted
    int maxYears = 5;               ///< at most this many distinct income years in a row
    long long feeProperty = 250;    ///< NT$ per accepted row that asks for property data
    long long feeIncomeYear = 250;  ///< NT$ per income year of an accepted row that asks for income data
};

/// SPEC 3.1: `debtor_name` and `title_ref` hold at most this many characters (Unicode code points); longer is
/// too_long. inquiry.requests' optional `title_ref` is held to the same bound.
inline constexpr std::size_t kMaxTextChars = 200;

/// More than kMaxTextChars characters in valid UTF-8. A character is at least one byte, so text of at most that many
/// bytes is never counted (the common cell).
bool hasTooManyChars(std::string_view utf8) noexcept;

/// One data row of the file as judged by SPEC 3.1. Rejected rows are reported too: SPEC 3.3 wants a result for
/// every data row.
struct BatchRow {
    int row = 0;             ///< 1-based data row number (blank lines and the header are not counted)
    int line = 0;            ///< 1-based physical line on which the row starts (for messages to the creditor)
    std::string debtorId;    ///< normalised (identity::normalize), even when the row is rejected
    std::string debtorName;  ///< trimmed; bytes that could not be read show as U+FFFD
    std::string titleRef;    ///< trimmed
    Scope scope = Scope::both;
    std::vector<int> incomeYears;  ///< Gregorian, ascending, unique; empty for scope property or bad income_years
    bool accepted = false;
    std::string reason;  ///< "" when accepted, else bad_charset, missing_field, invalid_id, too_long, bad_scope,
                         ///< bad_year, duplicate (checked in this order)
    std::string column;  ///< the column at fault, "" when accepted
    long long fee = 0;   ///< NT$, 0 when rejected
};

namespace detail {

/// The batch file's columns, in the order of kColumnNames: an index into RowCells.
enum Column : std::size_t { kDebtorId, kDebtorName, kTitleRef, kScope, kIncomeYears, kColumnCount };
inline constexpr std::array<std::string_view, kColumnCount> kColumnNames = {"debtor_id", "debtor_name", "title_ref",
                                                                            "scope", "income_years"};
/// The first three of kColumnNames must be in the header; scope and income_years are optional.
inline constexpr std::size_t kRequiredColumns = 3;

/// The column a header field names (full-width forms folded, Unicode spaces trimmed, ASCII case ignored), nullopt
/// when it names none.
std::optional<Column> columnNamed(std::string_view headerField);

/// What a data row holds in one column.
struct Cell {
    std::string text;
    bool overflow = false;   ///< the field was longer than the CSV reader keeps and `text` holds its beginning
    int unreadableLine = 0;  ///< the physical line of the field's first unreadable bytes, 0 when all could be read
};
using RowCells = std::array<Cell, kColumnCount>;

/// A Cell whose text is a view (of the file's decoded text, or of a buffer the caller keeps): what the batch file
/// reader judges, without copying the cells of a row first.
struct CellView {
    std::string_view text;
    bool overflow = false;
    int unreadableLine = 0;
};
using RowCellViews = std::array<CellView, kColumnCount>;

/// identity::trimSpaces(text), with the common cell (its first and last characters no spaces, seen from one byte
/// each) answered without a call: the first byte, and the lead byte of the last character, are each what ends
/// trimSpaces' loop at once (an ASCII byte that is no space, or a lead byte that starts no space).
inline std::string_view trimCell(std::string_view text) noexcept {
    if (text.empty()) return text;
    // Every ASCII space is at most 0x20; a lead byte that may start a space is one of mayStartSpace's five.
    const auto ends = [](unsigned char b) {
        if (b < 0x80) return b > 0x20 || !identity::isSpace(b);
        return !(b == 0xC2 || b == 0xE1 || b == 0xE2 || b == 0xE3 || b == 0xEF);
    };
    if (!ends(static_cast<unsigned char>(text.front()))) return identity::trimSpaces(text);
    const auto last = static_cast<unsigned char>(text.back());
    if (last < 0x80) return ends(last) ? text : identity::trimSpaces(text);
    std::size_t lead = text.size() - 1;
    while (lead > 0 && text.size() - lead < 4 && (static_cast<unsigned char>(text[lead]) & 0xC0) == 0x80) --lead;
    return ends(static_cast<unsigned char>(text[lead])) ? text : identity::trimSpaces(text);
}

/// Throws std::invalid_argument when the rules make no sense (see BatchFileReader's constructor).
void checkRules(const BatchRules& rules);

/// A set of byte strings kept in one buffer, for the keys of a file's accepted rows: a key costs its bytes, 16 bytes of
/// bookkeeping and at most two 8-byte slots, not an allocation of its own (an unordered_set<string> made a node, a
/// string and a free a row). Open addressing with linear probing, grown at half full. At most 2^32 - 2 keys
/// (std::length_error beyond; a batch has fewer than INT_MAX rows). Not thread-safe.
class KeySet {
  public:
    /// Adds `key`; false when it was already there.
    bool insert(std::string_view key);
    [[nodiscard]] std::size_t size() const noexcept { return count_; }
    /// Key i (0-based), as inserted.
    [[nodiscard]] std::string_view at(std::size_t i) const noexcept {
        return std::string_view(bytes_).substr(starts_[i], starts_[i + 1] - starts_[i]);
    }

  private:
    /// 8 bytes, so that the table of 100,000 keys stays in the cache: a part of the hash and which key it is.
    struct Slot {
        std::uint32_t tag = 0;
        std::uint32_t key = 0;  ///< index into starts_ plus one; 0 for an empty slot
    };
    void grow();

    std::string bytes_;                  // the keys, one after the other
    std::vector<std::uint64_t> starts_;  // where each key starts in bytes_, and one past the last
    std::vector<std::uint64_t> hashes_;  // each key's hash, so that growing rehashes nothing
    std::vector<Slot> slots_;
    std::size_t count_ = 0;
};

/// A duplicate key (SPEC 3.1: the normalised ID, the scope and the income years) packed into 16 bytes, for the
/// common row: an ID of 1 to 10 bytes (every valid ID has 8 or 10), and years at most 41 years before the latest tax
/// year. `lo` holds the ID's first 8 bytes (the first byte lowest, zero after its end); `hi` its bytes 8 and 9 (bits
/// 0–15), its length (bits 16–19), the scope (bits 20–21) and the years (bit 22 + i for latestTaxYear - i). Equal
/// keys pack equally and different ones differently (the length tells "A" from "A\0"), and whether a key packs
/// depends on the key alone, so the rows that pack and those that do not (kept as text) never meet.
struct PackedKey {
    std::uint64_t lo = 0;
    std::uint64_t hi = 0;
    friend bool operator==(const PackedKey&, const PackedKey&) = default;
};

/// Packs (id, scope, years) as PackedKey describes; false when it does not fit (the key is then kept as a string).
/// `years` ascending and unique, as the judge leaves them.
bool packKey(std::string_view id, Scope scope, const std::vector<int>& years, int latestTaxYear, PackedKey& key);

/// A set of PackedKey: open addressing with linear probing in one table of 16-byte slots (an empty slot has `hi` zero,
/// which no packed key has: its length is at least 1), grown at half full. No bytes, offsets or hashes beside
/// it: a look-up compares the key in its slot. Not thread-safe.
class PackedKeySet {
  public:
    /// Adds `key` (made by packKey); false when it was already there.
    bool insert(const PackedKey& key);
    [[nodiscard]] std::size_t size() const noexcept { return count_; }

  private:
    void grow();
    std::vector<PackedKey> slots_;
    std::size_t count_ = 0;
};

/// Judges the data rows of one file, in file order: it remembers the keys of the rows it accepted, to find
/// duplicates (at most maxRows of them). Not thread-safe; one per read.
class RowJudge {
  public:
    explicit RowJudge(const BatchRules& rules) : rules_(rules) {}

    /// Fills `row` (reused from row to row, so that its strings keep their capacity) with data row number
    /// `rowNumber`, which starts on physical line `line`. Returns the physical line of unreadable bytes in a column the
    /// row reads (it is then rejected as bad_charset), else 0.
    int judge(const RowCells& cells, int rowNumber, int line, BatchRow& row);
    /// judge() on views: the same rules and outcome. The views need to live only during the call.
    int judge(const RowCellViews& cells, int rowNumber, int line, BatchRow& row);

  private:
    bool readYears(const CellView& cell, std::vector<int>& years) const;
    std::optional<bool> readPlainYears(std::string_view text, std::vector<int>& years) const;
    /// Remembers the row's key; false when an accepted row had it already.
    bool isNewKey(const BatchRow& row);

    const BatchRules& rules_;
    PackedKeySet packed_;  // keys of accepted rows that pack (nearly all)
    KeySet seen_;          // keys of accepted rows that do not, as text
    std::string key_;      // such a row's key, built in place
};

}  // namespace detail
}  // namespace taxdesk::jobs::inquiry
