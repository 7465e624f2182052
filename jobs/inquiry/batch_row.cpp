#include "jobs/inquiry/batch_row.hpp"

#include <Poco/String.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstring>
#include <functional>
#include <stdexcept>

#include "jobs/common/roc_year.hpp"
#include "jobs/common/utf8.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/inquiry/charset.hpp"

namespace taxdesk::jobs::inquiry {

bool hasTooManyChars(std::string_view utf8) noexcept {
    if (utf8.size() <= kMaxTextChars) return false;
    const auto codePoints = static_cast<std::size_t>(
        std::count_if(utf8.begin(), utf8.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
    return codePoints > kMaxTextChars;
}

}  // namespace taxdesk::jobs::inquiry

namespace taxdesk::jobs::inquiry::detail {
namespace {

constexpr std::string_view kIdeographicComma = "\xE3\x80\x81";  // U+3001 、 as in 111、112

/// What a spreadsheet writes for a character it could not save in the file's charset: `?` (Excel's "ANSI"
/// exports) or U+FFFD. No name in the registry holds either, so charging for a look-up would only buy a
/// name_mismatch. Only the name is judged so: a `?` in a title reference is harmless.
bool isDigit(char c) noexcept {
    return c >= '0' && c <= '9';
}

/// `to = text`, through append: assign() takes the general path that allows `text` to be part of `to`, which costs
/// more than the copy of a short cell. `text` is never part of `to` here (it views the file or a cell's buffer).
void setText(std::string& to, std::string_view text) {
    to.clear();
    to.append(text);
}

/// Already what identity::normalize() makes of it: ASCII capital letters and digits only (nothing to trim, fold or
/// upper-case), the form nearly every ID cell has. Such a cell is copied as it is.
bool isNormalIdForm(std::string_view text) {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); });
}

bool hasLostCharacters(std::string_view name) {
    return name.find('?') != std::string_view::npos || name.find(kReplacementCharacter) != std::string_view::npos;
}

std::optional<Scope> readScope(const CellView& cell) {
    if (cell.overflow) return std::nullopt;
    // The common cell is plain ASCII and short: trimmed and lower-cased in a local buffer, in place of folding
    // (which would change nothing) into a string.
    if (utf8::isAscii(cell.text)) {
        const std::string_view trimmed = trimCell(cell.text);
        if (trimmed.empty()) return Scope::both;
        std::array<char, 16> lower{};
        if (trimmed.size() > lower.size()) return std::nullopt;  // longer than any scope's name
        for (std::size_t i = 0; i < trimmed.size(); ++i) {
            const char c = trimmed[i];
            lower[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
        }
        return parseScope(std::string_view(lower.data(), trimmed.size()));
    }
    std::string text(identity::trimSpaces(identity::foldFullWidth(cell.text)));
    for (char& c : text) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    if (text.empty()) return Scope::both;
    return parseScope(text);
}

/// The key that makes rows duplicates: the normalised ID, the scope and the years, written into `key`.
void keyOf(const BatchRow& row, std::string& key) {
    key.assign(row.debtorId);
    key.push_back('|');
    key += toString(row.scope);
    for (int year : row.incomeYears) {
        key.push_back('|');
        char digits[16];
        const auto end = std::to_chars(digits, digits + sizeof digits, year).ptr;
        key.append(digits, end);
    }
}

/// MurmurHash3's 64-bit finaliser: every input bit moves about half of the output bits.
constexpr std::uint64_t finalMix(std::uint64_t hash) noexcept {
    hash ^= hash >> 33;
    hash *= 0xFF51AFD7ED558CCDULL;
    hash ^= hash >> 33;
    hash *= 0xC4CEB9FE1A85EC53ULL;
    hash ^= hash >> 33;
    return hash;
}

/// A key's hash: eight bytes at a time, multiplied in, then mixed (MurmurHash3's finaliser) so that both halves are
/// usable, the low bits for the slot and the high ones for the tag. A third of std::hash's instructions on keys of
/// about 25 bytes. Not keyed: like std::hash, it does not defend against keys chosen to collide, but a key must be
/// a valid ID with its checksum to get here, and the table degrades only to longer probes.
std::uint64_t hashOf(std::string_view key) noexcept {
    constexpr std::uint64_t kMultiplier = 0x9E3779B97F4A7C15ULL;
    std::uint64_t hash = key.size() * kMultiplier;
    std::size_t i = 0;
    for (; i + 8 <= key.size(); i += 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, key.data() + i, sizeof word);
        hash = (hash ^ word) * kMultiplier;
        hash ^= hash >> 29;
    }
    if (i < key.size()) {
        std::uint64_t word = 0;
        std::memcpy(&word, key.data() + i, key.size() - i);
        hash = (hash ^ word) * kMultiplier;
    }
    return finalMix(hash);
}

/// Mixes a packed key's 128 bits into a slot's hash (MurmurHash3's finaliser over both halves).
std::uint64_t hashOf(const PackedKey& key) noexcept {
    std::uint64_t hash = key.lo ^ (key.hi * 0x9E3779B97F4A7C15ULL);
    return finalMix(hash);
}

}  // namespace

bool packKey(std::string_view id, Scope scope, const std::vector<int>& years, int latestTaxYear, PackedKey& key) {
    constexpr std::size_t kMaxIdBytes = 10;
    constexpr int kYearBits = 42;
    constexpr int kYearShift = 22;
    if (id.empty() || id.size() > kMaxIdBytes) return false;
    std::uint64_t lo = 0;
    std::uint64_t rest = 0;  // bytes 8 and 9
    // Fixed-size copies (loads, not calls) for the two lengths every valid ID has; a byte loop for the rest. (The
    // layout that PackedKey describes is a little-endian machine's; on another the bytes sit otherwise, as distinct.)
    if (id.size() == 10) {
        std::memcpy(&lo, id.data(), 8);
        std::memcpy(&rest, id.data() + 8, 2);
    } else if (id.size() == 8) {
        std::memcpy(&lo, id.data(), 8);
    } else {
        for (std::size_t i = 0; i < id.size(); ++i) {
            const std::uint64_t byte = static_cast<unsigned char>(id[i]);
            if (i < 8) {
                lo |= byte << (8 * i);
            } else {
                rest |= byte << (8 * (i - 8));
            }
        }
    }
    std::uint64_t hi = rest | (std::uint64_t{id.size()} << 16) | (static_cast<std::uint64_t>(scope) << 20);
    for (const int year : years) {
        const int offset = latestTaxYear - year;
        if (offset < 0 || offset >= kYearBits) return false;
        hi |= std::uint64_t{1} << (kYearShift + offset);
    }
    key = {lo, hi};
    return true;
}

bool PackedKeySet::insert(const PackedKey& key) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hashOf(key) & mask;; i = (i + 1) & mask) {
        PackedKey& slot = slots_[i];
        if (slot.hi == 0) {
            slot = key;
            ++count_;
            return true;
        }
        if (slot == key) return false;
    }
}

void PackedKeySet::grow() {
    std::vector<PackedKey> old(std::max<std::size_t>(64, slots_.size() * 2));
    old.swap(slots_);
    const std::size_t mask = slots_.size() - 1;
    for (const PackedKey& key : old) {
        if (key.hi == 0) continue;
        std::size_t i = hashOf(key) & mask;
        while (slots_[i].hi != 0) i = (i + 1) & mask;
        slots_[i] = key;
    }
}

std::optional<Column> columnNamed(std::string_view headerField) {
    const std::string name = Poco::toLower(std::string(identity::trimSpaces(identity::foldFullWidth(headerField))));
    for (std::size_t column = 0; column < kColumnCount; ++column) {
        if (name == kColumnNames[column]) return static_cast<Column>(column);
    }
    return std::nullopt;
}

bool KeySet::insert(std::string_view key) {
    if (count_ >= UINT32_MAX - 1) throw std::length_error("KeySet: more than 2^32 - 2 keys");
    if ((count_ + 1) * 2 > slots_.size()) grow();
    const std::uint64_t hash = hashOf(key);
    const auto tag = static_cast<std::uint32_t>(hash >> 32);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
        Slot& slot = slots_[i];
        if (slot.key == 0) {
            if (starts_.empty()) starts_.push_back(0);
            bytes_.append(key);
            starts_.push_back(bytes_.size());
            hashes_.push_back(hash);
            slot = {tag, static_cast<std::uint32_t>(++count_)};
            return true;
        }
        if (slot.tag == tag && at(slot.key - 1) == key) return false;
    }
}

void KeySet::grow() {
    std::vector<Slot> old(std::max<std::size_t>(64, slots_.size() * 2));
    old.swap(slots_);
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& slot : old) {
        if (slot.key == 0) continue;
        std::size_t i = hashes_[slot.key - 1] & mask;
        while (slots_[i].key != 0) i = (i + 1) & mask;
        slots_[i] = slot;
    }
}

void checkRules(const BatchRules& rules) {
    if (rules.currentYear <= kRocYearOffset) throw std::invalid_argument("batch rules: currentYear is not set");
    if (rules.latestTaxYear <= kRocYearOffset || rules.latestTaxYear >= rules.currentYear) {
        throw std::invalid_argument("batch rules: latestTaxYear must be set and before currentYear");
    }
    if (rules.maxRows < 1 || rules.maxRows >= static_cast<std::size_t>(INT_MAX)) {
        throw std::invalid_argument("batch rules: maxRows must be between 1 and " + std::to_string(INT_MAX - 1));
    }
    if (rules.maxYears < 1) throw std::invalid_argument("batch rules: maxYears must be at least 1");
    if (rules.feeProperty < 0 || rules.feeIncomeYear < 0) {
        throw std::invalid_argument("batch rules: fees must not be negative");
    }
}

int RowJudge::judge(const RowCells& cells, int rowNumber, int line, BatchRow& row) {
    RowCellViews views;
    for (std::size_t column = 0; column < kColumnCount; ++column) {
        views[column] = {cells[column].text, cells[column].overflow, cells[column].unreadableLine};
    }
    return judge(views, rowNumber, line, row);
}

int RowJudge::judge(const RowCellViews& cells, int rowNumber, int line, BatchRow& row) {
    row.row = rowNumber;
    row.line = line;
    if (isNormalIdForm(cells[kDebtorId].text)) {
        setText(row.debtorId, cells[kDebtorId].text);  // into the row's string, whose capacity is kept
    } else {
        row.debtorId = identity::normalize(cells[kDebtorId].text);
    }
    setText(row.debtorName, trimCell(cells[kDebtorName].text));
    setText(row.titleRef, trimCell(cells[kTitleRef].text));
    row.accepted = false;
    row.reason.clear();
    row.column.clear();
    row.fee = 0;

    const std::optional<Scope> scope = readScope(cells[kScope]);
    row.scope = scope.value_or(Scope::both);
    // Years do not matter to a property-only row: it is neither charged nor looked up by year, so a leftover
    // value in a spreadsheet column must not reject it.
    const bool wantsIncome = row.scope != Scope::property;
    const bool yearsOk = !wantsIncome || readYears(cells[kIncomeYears], row.incomeYears);
    if (!wantsIncome || !yearsOk) row.incomeYears.clear();

    auto reject = [&row](const char* reason, Column column) {
        row.reason = reason;
        row.column = kColumnNames[column];
    };
    auto missing = [&cells](Column column, std::string_view value) { return value.empty() && !cells[column].overflow; };
    auto tooLong = [&cells](Column column, std::string_view value) {
        return cells[column].overflow || hasTooManyChars(value);
    };
    // Bytes that could not be read come first: whatever else the row breaks may only be their echo.
    int unreadableLine = 0;
    Column unreadable = kColumnCount;
    for (const Column column : {kDebtorId, kDebtorName, kTitleRef, kScope, kIncomeYears}) {
        if (column == kIncomeYears && !wantsIncome) break;
        if (cells[column].unreadableLine != 0) {
            unreadable = column;
            unreadableLine = cells[column].unreadableLine;
            break;
        }
    }
    if (unreadable != kColumnCount) {
        reject("bad_charset", unreadable);
    } else if (hasLostCharacters(row.debtorName)) {
        reject("bad_charset", kDebtorName);
    } else if (missing(kDebtorId, row.debtorId)) {
        reject("missing_field", kDebtorId);
    } else if (missing(kDebtorName, row.debtorName)) {
        reject("missing_field", kDebtorName);
    } else if (missing(kTitleRef, row.titleRef)) {
        reject("missing_field", kTitleRef);
    } else if (identity::classifyIn(row.debtorId, rules_.currentYear) == identity::IdKind::invalid) {
        reject("invalid_id", kDebtorId);
    } else if (tooLong(kDebtorName, row.debtorName)) {
        reject("too_long", kDebtorName);
    } else if (tooLong(kTitleRef, row.titleRef)) {
        reject("too_long", kTitleRef);
    } else if (!scope) {
        reject("bad_scope", kScope);
    } else if (!yearsOk) {
        reject("bad_year", kIncomeYears);
    } else if (!isNewKey(row)) {
        // Only accepted rows are remembered, so a rejected row never makes a later good one a duplicate.
        reject("duplicate", kDebtorId);
    } else {
        row.accepted = true;
        if (row.scope != Scope::income) row.fee += rules_.feeProperty;
        if (wantsIncome) row.fee += rules_.feeIncomeYear * static_cast<long long>(row.incomeYears.size());
    }
    return unreadableLine;
}

bool RowJudge::isNewKey(const BatchRow& row) {
    if (PackedKey packed; packKey(row.debtorId, row.scope, row.incomeYears, rules_.latestTaxYear, packed)) {
        return packed_.insert(packed);
    }
    keyOf(row, key_);
    return seen_.insert(key_);
}

/// The common income_years cell, read in one pass: only ASCII digits, `;` and `,` (no spaces, nothing to fold).
/// Returns what the general reading below would return, with the same years; nullopt, with `years` in any state,
/// for any other cell (then read the general way).
std::optional<bool> RowJudge::readPlainYears(std::string_view text, std::vector<int>& years) const {
    if (text.empty()) return std::nullopt;  // (the default year: the general path's)
    int year = 0;
    std::size_t digits = 0;
    bool ok = true;
    // A part ends at a separator or at the end: empty parts are skipped, as the general reading skips them.
    auto endPart = [&] {
        if (digits == 0) return;
        if (digits > 4 || year == 0) {
            ok = false;
        } else if (const int gregorian = gregorianYear(year); gregorian > rules_.latestTaxYear) {
            ok = false;
        } else {
            years.push_back(gregorian);
        }
        year = 0;
        digits = 0;
    };
    for (const char c : text) {
        if (isDigit(c)) {
            // (More than four digits is refused at the part's end; stop growing the number before it overflows.)
            if (digits < 5) year = year * 10 + (c - '0');
            ++digits;
        } else if (c == ';' || c == ',') {
            endPart();
        } else {
            return std::nullopt;
        }
    }
    endPart();
    // A cell of separators only trims to itself and has no year: the general path says false too ("no years").
    if (!ok) return false;
    if (years.size() > 1) {
        std::sort(years.begin(), years.end());
        years.erase(std::unique(years.begin(), years.end()), years.end());
    }
    return !years.empty() && years.size() <= static_cast<std::size_t>(rules_.maxYears);
}

/// Fills `years` (Gregorian, ascending, unique) from the cell or the default; false when the cell breaks a rule.
bool RowJudge::readYears(const CellView& cell, std::vector<int>& years) const {
    years.clear();
    if (cell.overflow) return false;
    if (const std::optional<bool> plain = readPlainYears(cell.text, years)) return *plain;
    years.clear();
    // Full-width digits and separators fold to ASCII; 、 and , are read like ; because that is how people
    // write lists of years in a cell.
    // ASCII text neither folds nor holds 、: the common cell is read where it is.
    std::string folded;
    std::string_view text = cell.text;
    if (!utf8::isAscii(text)) {
        folded = identity::foldFullWidth(cell.text);
        for (std::size_t pos = 0; (pos = folded.find(kIdeographicComma, pos)) != std::string::npos;) {
            folded.replace(pos, kIdeographicComma.size(), ";");
        }
        text = folded;
    }
    const std::string_view trimmed = trimCell(text);
    if (trimmed.empty()) {
        years.push_back(rules_.latestTaxYear);
        return true;
    }
    std::size_t start = 0;
    while (start <= trimmed.size()) {
        std::size_t end = start;
        while (end < trimmed.size() && trimmed[end] != ';' && trimmed[end] != ',') ++end;
        std::string_view part = trimmed.substr(start, end - start);
        if (part.empty() || !isDigit(part.front()) || !isDigit(part.back())) part = trimCell(part);  // "112", as is
        start = end + 1;
        if (part.empty()) continue;  // "112;" or "112;;113"
        if (part.size() > 4 || !std::all_of(part.begin(), part.end(), isDigit)) {
            return false;
        }
        int year = 0;
        for (char c : part) year = year * 10 + (c - '0');
        if (year == 0) return false;  // there is no ROC year 0
        year = gregorianYear(year);
        // The current year is not over, so it has no income data yet (nor has any later one): the latest
        // complete tax year is the last one with data, and asking for a later one would charge for nothing.
        if (year > rules_.latestTaxYear) return false;
        years.push_back(year);
    }
    if (years.size() > 1) {
        std::sort(years.begin(), years.end());
        years.erase(std::unique(years.begin(), years.end()), years.end());
    }
    return !years.empty() && years.size() <= static_cast<std::size_t>(rules_.maxYears);
}

}  // namespace taxdesk::jobs::inquiry::detail
