#include "connectors/stubs/demo_data/batch_generator.hpp"

#include <Poco/TextConverter.h>
#include <Poco/UTF8Encoding.h>
#include <Poco/Windows950Encoding.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <set>
#include <stdexcept>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "connectors/stubs/demo_data/deterministic.hpp"
#include "connectors/stubs/demo_data/population.hpp"
#include "jobs/common/roc_year.hpp"
#include "jobs/identity/identifiers.hpp"

namespace taxdesk::demo_data {
namespace {

using detail::combine;
using detail::Stream;

constexpr std::uint64_t kSaltRow = 0xba7c4;
constexpr int kLatestYear = Population::kLatestTaxYear;

enum class Kind { good, invalidId, missingField, badScope, badYear, tooLong, duplicate };
/// The order in which faulty rows take turns; duplicate comes last so that some row precedes it.
constexpr std::array<Kind, 6> kBadKinds = {Kind::invalidId, Kind::badScope, Kind::missingField,
                                           Kind::badYear,   Kind::tooLong,  Kind::duplicate};

const char* reasonOf(Kind kind) {
    switch (kind) {
        case Kind::invalidId:
            return "invalid_id";
        case Kind::missingField:
            return "missing_field";
        case Kind::badScope:
            return "bad_scope";
        case Kind::badYear:
            return "bad_year";
        case Kind::tooLong:
            return "too_long";
        case Kind::duplicate:
            return "duplicate";
        case Kind::good:
            break;
    }
    return "good";
}

struct Row {
    std::string id;
    std::string name;
    std::string title;
    std::string scope;
    std::string years;
};

constexpr std::array<std::string_view, 6> kCourts = {
    "臺灣臺北地方法院", "臺灣士林地方法院", "臺灣新北地方法院",
    "臺灣桃園地方法院", "臺灣臺中地方法院", "臺灣高雄地方法院",
};

std::string titleRef(Stream& stream) {
    std::string title(kCourts[static_cast<std::size_t>(stream.below(kCourts.size()))]);
    title += std::to_string(stream.between(105, jobs::rocYear(kLatestYear)));
    title += stream.chance(0.8) ? "年度司執字第" : "年度執字第";
    title += std::to_string(stream.between(1, 99999));
    title += "號";
    // A few carry a comma or quotes, which the reader must take through RFC 4180 quoting.
    if (stream.chance(0.03)) title += "，債權憑證,換發";
    if (stream.chance(0.01)) title += " \"續行執行\"";
    return title;
}

std::string goodScope(Stream& stream) {
    const auto roll = stream.below(10);
    if (roll < 4) return "both";
    if (roll < 7) return "income";
    if (roll < 9) return "property";
    return "";  // the default, both
}

/// 1–5 distinct years up to kLatestYear, ascending, in ROC or Gregorian form; sometimes empty (the default).
std::string goodYears(Stream& stream) {
    if (stream.chance(0.1)) return "";
    constexpr std::array<int, 5> kCountWeights = {35, 25, 20, 12, 8};
    auto roll = static_cast<int>(stream.below(100));
    std::size_t count = 1;
    for (std::size_t i = 0; i < kCountWeights.size(); ++i) {
        if (roll < kCountWeights[i]) {
            count = i + 1;
            break;
        }
        roll -= kCountWeights[i];
    }
    std::set<int> years;
    while (years.size() < count) years.insert(static_cast<int>(stream.between(kLatestYear - 4, kLatestYear)));
    const bool roc = stream.chance(0.55);
    std::string out;
    for (int year : years) {
        if (!out.empty()) out += ';';
        out += std::to_string(roc ? jobs::rocYear(year) : year);
    }
    return out;
}

/// The key that makes rows duplicates, read as generously as a reader could: scope and years with their defaults
/// applied and ROC years turned Gregorian, years ignored for property-only rows. Good rows must not collide here.
std::string canonicalKey(const Row& row) {
    const std::string scope = row.scope.empty() ? "both" : row.scope;
    std::string key = jobs::identity::normalize(row.id) + "|" + scope + "|";
    if (scope == "property") return key;
    std::set<int> years;
    std::size_t start = 0;
    while (start <= row.years.size() && !row.years.empty()) {
        const std::size_t end = std::min(row.years.find(';', start), row.years.size());
        const int year = std::stoi(row.years.substr(start, end - start));
        years.insert(jobs::gregorianYear(year));
        start = end + 1;
    }
    if (years.empty()) years.insert(kLatestYear);
    for (int year : years) key += std::to_string(year) + ",";
    return key;
}

/// Writes an ID as people type it into spreadsheets now and then: lower case, full-width, padded.
std::string presentId(Stream& stream, const std::string& id) {
    const auto roll = stream.below(100);
    if (roll < 2 && id[0] >= 'A' && id[0] <= 'Z') {
        std::string lower = id;
        lower[0] = static_cast<char>(lower[0] - 'A' + 'a');
        return lower;
    }
    if (roll < 3) {
        std::string wide;
        for (char c : id) {
            // U+FF01..FF5E mirror ASCII 0x21..0x7E: three UTF-8 bytes EF BC/BD xx.
            const auto code = static_cast<unsigned>(0xFEE0 + static_cast<unsigned char>(c));
            wide.push_back(static_cast<char>(0xE0 | (code >> 12)));
            wide.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            wide.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        }
        return wide;
    }
    if (roll < 5) return " " + id + " ";
    return id;
}

/// A registered name as people also write it, which the registry's name rule (SPEC 3.3) still matches: 臺 as 台
/// (company names such as 臺北…), else an ideographic space after the first character (王　小明). Both have a Big5
/// form, so that the Big5 output can carry them.
std::string writtenDifferently(const std::string& name) {
    constexpr std::string_view kTai = "臺";
    constexpr std::string_view kTaiVariant = "台";
    std::string out = name;
    if (const std::size_t at = out.find(kTai); at != std::string::npos)
        return out.replace(at, kTai.size(), kTaiVariant);
    // Generated names are Chinese: the first character is three UTF-8 bytes.
    return out.insert(std::min<std::size_t>(3, out.size()), "\u3000");
}

std::size_t codePoints(std::string_view text) {
    return static_cast<std::size_t>(
        std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string csvField(const std::string& value) {
    const bool quote = value.find_first_of(",\"\r\n") != std::string::npos ||
                       (!value.empty() && (value.front() == ' ' || value.back() == ' '));
    if (!quote) return value;
    std::string out = "\"";
    for (char c : value) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::string csvLine(const Row& row) {
    return csvField(row.id) + "," + csvField(row.name) + "," + csvField(row.title) + "," + csvField(row.scope) + "," +
           csvField(row.years) + "\n";
}

std::string lowerAscii(std::string text) {
    for (char& c : text) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return text;
}

/// An ID with a wrong check digit (or, now and then, a wrong length), which no rule could accept.
std::string invalidId(Stream& stream, const std::string& valid, std::size_t variant) {
    if (variant == 2) return valid.substr(0, valid.size() - 1);
    std::string broken = valid;
    // Business numbers tolerate a change of the check digit by 5 (their checksum is mod 5), hence the loop.
    for (int shift = static_cast<int>(stream.between(1, 9));
         jobs::identity::classify(broken) != jobs::identity::IdKind::invalid; shift = shift % 9 + 1) {
        broken.back() = static_cast<char>('0' + (valid.back() - '0' + shift) % 10);
    }
    return broken;
}

std::string badYears(std::size_t variant) {
    constexpr std::array<std::string_view, 8> kBad = {
        "2024;2027", "116", "2020;2021;2022;2023;2024;2025", "abc", "112;x", "109;110;111;112;113;114", "2030", "20x3",
    };
    return std::string(kBad[variant % kBad.size()]);
}

std::string tooLongTitle(Stream& stream, std::size_t variant) {
    std::string title = titleRef(stream);
    const std::size_t target = variant % 2 == 0 ? 201 : 201 + static_cast<std::size_t>(stream.between(0, 120));
    constexpr std::string_view kFiller = "債權人聲請強制執行債務人之薪資及存款債權";
    title += "（";
    std::size_t pos = 0;
    while (codePoints(title) < target) {
        // The filler is all three-byte characters: step by one character.
        title += kFiller.substr(pos, 3);
        pos = (pos + 3) % kFiller.size();
    }
    return title;
}

class Generator {
  public:
    explicit Generator(const BatchGenOptions& options) : options_(options), population_(options.seed) {
        if (!(options.badFraction >= 0.0 && options.badFraction <= 1.0)) {
            throw std::invalid_argument("bad fraction must be between 0 and 1");
        }
        const std::string charset = lowerAscii(options.charset);
        if (charset == "big5" || charset == "cp950") {
            big5_ = std::make_unique<Poco::Windows950Encoding>();
        } else if (charset != "utf-8" && charset != "utf8" && !charset.empty()) {
            throw std::invalid_argument("unknown charset '" + options.charset + "': use utf-8 or big5");
        }
        // Whole parts per million keep the count of faulty rows exact: floor(rows × fraction).
        badPpm_ = static_cast<std::uint64_t>(std::llround(options.badFraction * 1'000'000.0));
    }

    BatchGenReport run(std::ostream& out) {
        write(out, "debtor_id,debtor_name,title_ref,scope,income_years\n");
        std::uint64_t badSoFar = 0;
        for (std::uint64_t i = 0; i < options_.rows; ++i) {
            const std::uint64_t badAfter = (i + 1) * badPpm_ / 1'000'000;
            Kind kind = Kind::good;
            std::size_t variant = 0;
            if (badAfter > badSoFar) {
                kind = kBadKinds[badSoFar % kBadKinds.size()];
                variant = static_cast<std::size_t>(badSoFar / kBadKinds.size());
                badSoFar = badAfter;
            }
            const Row row = makeRow(options_.firstIndex + i, kind, variant);
            write(out, csvLine(row));
        }
        report_.rows = options_.rows;
        return report_;
    }

  private:
    void write(std::ostream& out, const std::string& utf8) {
        if (!big5_) {
            out << utf8;
            return;
        }
        Poco::UTF8Encoding utf8Encoding;
        Poco::TextConverter converter(utf8Encoding, *big5_, '?');
        std::string converted;
        if (converter.convert(utf8, converted) != 0) {
            throw std::runtime_error("batch generator: text without a Big5 form: " + utf8);
        }
        out << converted;
    }

    Row makeRow(std::uint64_t index, Kind kind, std::size_t variant) {
        Stream stream(combine(combine(index, kSaltRow), options_.seed));
        Row row;
        row.title = titleRef(stream);
        if (kind == Kind::duplicate) {
            if (const Row* earlier = pickEarlier(stream)) {
                row.id = earlier->id;
                row.name = earlier->name;
                row.scope = earlier->scope;
                row.years = earlier->years;
                ++report_.rejected[reasonOf(kind)];
                return row;
            }
            kind = Kind::invalidId;  // nothing to repeat yet (only when every row is faulty)
        }

        row.scope = goodScope(stream);
        row.years = goodYears(stream);
        if (kind == Kind::badScope) {
            constexpr std::array<std::string_view, 4> kScopes = {"all", "assets", "收入", "income+property"};
            row.scope = kScopes[variant % kScopes.size()];
        }
        if (kind == Kind::badYear) {
            row.scope = variant % 2 == 0 ? "income" : "both";
            row.years = badYears(variant);
        }
        if (kind == Kind::tooLong) row.title = tooLongTitle(stream, variant);

        // Draw people until the row's key is new, so that no good row is a duplicate by accident.
        Expect expect = Expect::found;
        for (std::uint64_t attempt = 0;; ++attempt) {
            const std::uint64_t person = index * 64 + attempt;
            if (kind == Kind::invalidId) {
                // The name is the one registered for the ID before it was broken: the typo is in the ID only.
                const std::string valid =
                    variant % 3 == 1 ? population_.businessNumberAt(person) : population_.nationalIdAt(person);
                row.id = invalidId(stream, valid, variant % 3);
                row.name = registeredName(valid, person);
            } else if (kind == Kind::good) {
                expect = chooseGoodIdentity(stream, person, row);
            } else {
                row.id = stream.chance(0.2) ? population_.businessNumberAt(person) : population_.nationalIdAt(person);
                row.name = registeredName(row.id, person);
            }
            if (kind == Kind::invalidId || kind == Kind::badYear ||
                keys_.insert(detail::fnv1a(canonicalKey(row))).second) {
                break;
            }
        }
        if (kind == Kind::missingField) (variant % 2 == 0 ? row.name : row.title).clear();

        if (kind == Kind::good) {
            ++report_.good;
            report_.notRegistered += expect == Expect::notRegistered ? 1 : 0;
            report_.deceased += expect == Expect::deceased ? 1 : 0;
            report_.nameMismatches += expect == Expect::nameMismatch ? 1 : 0;
            report_.namesWrittenDifferently += expect == Expect::nameWrittenDifferently ? 1 : 0;
            row.id = presentId(stream, row.id);
            remember(row);
        } else {
            ++report_.rejected[reasonOf(kind)];
        }
        return row;
    }

    /// What the look-up of a good row will find.
    enum class Expect { found, notRegistered, deceased, nameMismatch, nameWrittenDifferently };

    Expect chooseGoodIdentity(Stream& stream, std::uint64_t person, Row& row) const {
        const auto roll = stream.below(100);
        if (roll < 2) {
            row.id = population_.unregisteredIdAt(person);
            row.name = population_.randomPersonName(person);
            return Expect::notRegistered;
        }
        if (roll < 3) {
            row.id = population_.deceasedIdAt(person);
        } else if (roll < 23) {
            row.id = population_.businessNumberAt(person);
        } else if (roll < 27) {
            // One in four resident certificates in the old format, still valid until 2030-12-31.
            row.id =
                roll == 26 ? population_.oldResidentCertificateAt(person) : population_.residentCertificateAt(person);
        } else {
            row.id = population_.nationalIdAt(person);
        }
        const auto record = population_.registryRecord(row.id);
        if (!record) {
            // The population's finders return a registered ID for all but astronomically unlucky indices.
            row.name = population_.randomPersonName(person);
            return Expect::notRegistered;
        }
        row.name = record->name;
        if (record->deceased) return Expect::deceased;
        if (stream.chance(0.03)) {
            // The registered name as creditors' spreadsheets hold it now and then: the same name to the registry.
            row.name = writtenDifferently(row.name);
            return Expect::nameWrittenDifferently;
        }
        if (stream.chance(0.02)) {
            // Someone else's name: a typo would be too close to call for a reader's name rule.
            for (std::uint64_t other = 1; row.name == record->name; ++other) {
                row.name = record->company ? population_.companyName(population_.businessNumberAt(person + other))
                                           : population_.randomPersonName(person + other);
            }
            return Expect::nameMismatch;
        }
        return Expect::found;
    }

    std::string registeredName(const std::string& id, std::uint64_t person) const {
        const auto record = population_.registryRecord(id);
        return record ? record->name : population_.randomPersonName(person);
    }

    /// A good row before this one, or nullptr.
    const Row* pickEarlier(Stream& stream) const {
        if (recentGood_.empty()) return nullptr;
        return &recentGood_[static_cast<std::size_t>(stream.below(recentGood_.size()))];
    }

    /// Keeps the latest good rows (not all: `gen` may write millions) for duplicates to repeat.
    void remember(const Row& row) {
        if (recentGood_.size() < kRecentGood) {
            recentGood_.push_back(row);
        } else {
            recentGood_[nextRecent_] = row;
            nextRecent_ = (nextRecent_ + 1) % kRecentGood;
        }
    }

    const BatchGenOptions& options_;
    Population population_;
    std::unique_ptr<Poco::Windows950Encoding> big5_;
    std::uint64_t badPpm_ = 0;
    static constexpr std::size_t kRecentGood = 4096;
    std::vector<Row> recentGood_;
    std::size_t nextRecent_ = 0;
    /// Hashes of the keys so far: 8 bytes a row. A false collision only makes a row draw another person.
    std::unordered_set<std::uint64_t> keys_;
    BatchGenReport report_;
};

}  // namespace

BatchGenReport writeBatchCsv(std::ostream& out, const BatchGenOptions& options) {
    return Generator(options).run(out);
}

}  // namespace taxdesk::demo_data
