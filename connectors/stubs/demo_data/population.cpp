#include "connectors/stubs/demo_data/population.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <memory>
#include <mutex>
#include <string_view>

#include "connectors/stubs/demo_data/deterministic.hpp"
#include "jobs/identity/identifiers.hpp"

namespace taxdesk::demo_data {
namespace {

using detail::combine;
using detail::Stream;
using jobs::identity::IdKind;

// Salts separate the streams of one ID, so that e.g. asking for 2023's income does not shift the 2024 records.
constexpr std::uint64_t kSaltRegistry = 1;
constexpr std::uint64_t kSaltCompanyName = 2;
constexpr std::uint64_t kSaltNhi = 3;
constexpr std::uint64_t kSaltHasRecords = 4;
constexpr std::uint64_t kSaltEmployer = 5;
constexpr std::uint64_t kSaltProperty = 6;
constexpr std::uint64_t kSaltIncomeYear = 1'000'000;  // + the year
constexpr std::uint64_t kSaltNationalId = 101;
constexpr std::uint64_t kSaltResident = 102;
constexpr std::uint64_t kSaltBusiness = 103;
constexpr std::uint64_t kSaltUnregistered = 104;
constexpr std::uint64_t kSaltDeceased = 105;
constexpr std::uint64_t kSaltRandomName = 106;
constexpr std::uint64_t kSaltOldResident = 107;

constexpr double kUnknownShare = 0.03;
constexpr double kDeceasedShare = 0.01;
constexpr double kNoRecordsShare = 0.10;
/// Payers of income are drawn from this many companies, so that the same employers recur across people.
constexpr std::uint64_t kPayerPool = 400;

constexpr std::array<std::string_view, 12> kDistricts = {
    "中正區", "大同區", "中山區", "松山區", "大安區", "萬華區",
    "信義區", "士林區", "北投區", "內湖區", "南港區", "文山區",
};

/// Streets of each district, in the order of kDistricts.
constexpr std::array<std::array<std::string_view, 3>, 12> kStreets = {{
    {"重慶南路一段", "羅斯福路一段", "杭州南路一段"},
    {"承德路二段", "民生西路", "延平北路二段"},
    {"南京東路二段", "林森北路", "中山北路二段"},
    {"八德路四段", "民生東路四段", "光復北路"},
    {"復興南路一段", "和平東路二段", "忠孝東路四段"},
    {"西園路一段", "康定路", "艋舺大道"},
    {"松仁路", "信義路五段", "基隆路一段"},
    {"中正路", "文林路", "天母東路"},
    {"石牌路二段", "中央北路一段", "光明路"},
    {"內湖路一段", "成功路四段", "瑞光路"},
    {"南港路一段", "經貿二路", "研究院路二段"},
    {"木柵路一段", "興隆路二段", "羅斯福路六段"},
}};

constexpr std::array<std::string_view, 50> kSurnames = {
    "陳", "林", "黃", "張", "李", "王", "吳", "劉", "蔡", "楊", "許", "鄭", "謝", "洪", "郭", "邱", "曾",
    "廖", "賴", "徐", "周", "葉", "蘇", "莊", "呂", "江", "何", "蕭", "羅", "高", "潘", "簡", "朱", "鍾",
    "游", "彭", "詹", "胡", "施", "沈", "余", "盧", "梁", "趙", "顏", "柯", "翁", "魏", "孫", "戴",
};
constexpr std::array<std::string_view, 30> kMaleGiven = {
    "志", "明", "俊", "傑", "建", "宏", "家", "豪", "冠", "廷", "承", "恩", "宇", "翔", "柏",
    "文", "哲", "偉", "信", "榮", "國", "華", "正", "雄", "彥", "凱", "威", "安", "德", "睿",
};
constexpr std::array<std::string_view, 30> kFemaleGiven = {
    "淑", "芬", "美", "玲", "雅", "婷", "怡", "君", "佩", "珊", "惠", "如", "欣", "宜", "靜",
    "慧", "佳", "穎", "詩", "涵", "心", "瑜", "思", "庭", "筱", "萱", "琪", "曉", "秀", "麗",
};

static_assert(kMaleGiven.size() == kFemaleGiven.size(), "basicsOf() draws a given name from either");

constexpr std::array<std::string_view, 20> kBrands = {
    "華新", "宏遠", "聯合", "中興", "東方", "永信", "金鼎", "嘉新", "正隆", "光華",
    "寶成", "日新", "大安", "信義", "松山", "南港", "士林", "鼎泰", "恆昌", "立德",
};
constexpr std::array<std::string_view, 15> kTrades = {
    "科技", "實業", "貿易", "建設", "食品", "電子", "資訊", "國際",
    "生技", "精密", "物流", "營造", "開發", "投資", "紡織",
};
constexpr std::array<std::string_view, 8> kCarBrands = {
    "TOYOTA", "NISSAN", "HONDA", "MAZDA", "FORD", "LUXGEN", "MITSUBISHI", "SUZUKI",
};
constexpr std::array<std::string_view, 3> kLandSections = {"一小段", "二小段", "三小段"};

template <typename T, std::size_t N>
const T& pick(Stream& stream, const std::array<T, N>& items) {
    return items[static_cast<std::size_t>(stream.below(N))];
}

/// Picks an index by weights (summing to any positive total).
template <std::size_t N>
std::size_t weighted(Stream& stream, const std::array<int, N>& weights) {
    int total = 0;
    for (int w : weights) total += w;
    auto roll = static_cast<int>(stream.below(static_cast<std::uint64_t>(total)));
    for (std::size_t i = 0; i < N; ++i) {
        if (roll < weights[i]) return i;
        roll -= weights[i];
    }
    return N - 1;
}

bool isLeap(int year) {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int daysIn(int year, int month) {
    constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && isLeap(year) ? 29 : kDays[static_cast<std::size_t>(month - 1)];
}

std::string date(Stream& stream, int firstYear, int lastYear) {
    const auto year = static_cast<int>(stream.between(firstYear, lastYear));
    const auto month = static_cast<int>(stream.between(1, 12));
    const auto day = static_cast<int>(stream.between(1, daysIn(year, month)));
    // Written out rather than snprintf'd: this runs for every registry answer.
    std::string text = "0000-00-00";
    for (int i = 3, y = year; i >= 0; --i, y /= 10) text[static_cast<std::size_t>(i)] = static_cast<char>('0' + y % 10);
    text[5] = static_cast<char>('0' + month / 10);
    text[6] = static_cast<char>('0' + month % 10);
    text[8] = static_cast<char>('0' + day / 10);
    text[9] = static_cast<char>('0' + day % 10);
    return text;
}

std::string digits(Stream& stream, int count) {
    std::string out;
    for (int i = 0; i < count; ++i) out.push_back(static_cast<char>('0' + stream.below(10)));
    return out;
}

std::string personName(Stream& stream, bool female) {
    std::string name(pick(stream, kSurnames));
    const int givenCount = stream.chance(0.1) ? 1 : 2;
    for (int i = 0; i < givenCount; ++i) name += female ? pick(stream, kFemaleGiven) : pick(stream, kMaleGiven);
    return name;
}

/// The second character of national IDs and resident certificates gives the sex: 1/8 male, 2/9 female; on the
/// old resident certificates A/C male, B/D female.
bool isFemale(const std::string& id) {
    return id[1] == '2' || id[1] == '9' || id[1] == 'B' || id[1] == 'D';
}

/// Appends `value` in decimal (what std::to_string writes), without a temporary string.
void appendNumber(std::string& out, long long value) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    out.append(digits, static_cast<std::size_t>(end - digits));
}

void appendStreetAddress(std::string& out, Stream& stream, std::size_t district) {
    out += "臺北市";
    out += kDistricts[district];
    out += pick(stream, kStreets[district]);
    appendNumber(out, stream.between(1, 350));
    out += "號";
    if (stream.chance(0.7)) {
        appendNumber(out, stream.between(2, 15));
        out += "樓";
    }
}

/// A short text on the stack (an area drawn before the text it goes into is begun): no allocation.
struct ShortText {
    std::array<char, 40> data{};
    std::size_t size = 0;
    void append(const char* text, std::size_t length) {
        std::copy(text, text + length, data.data() + size);
        size += length;
    }
    ShortText& operator+=(std::string_view text) {
        append(text.data(), text.size());
        return *this;
    }
    ShortText& operator+=(char c) {
        data[size++] = c;
        return *this;
    }
    [[nodiscard]] std::string_view view() const { return {data.data(), size}; }
};

/// Appends "<whole>.<hundredths>平方公尺" (at most 7 + 1 + 2 + 12 bytes) to a std::string or a ShortText.
template <typename Out>
void appendArea(Out& out, Stream& stream, int low, int high) {
    const long long hundredths = stream.between(low * 100LL, high * 100LL);
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, hundredths / 100).ptr;
    out.append(digits, static_cast<std::size_t>(end - digits));
    out += '.';
    out += static_cast<char>('0' + hundredths % 100 / 10);
    out += static_cast<char>('0' + hundredths % 10);
    out += std::string_view("平方公尺");
}

/// A district's name without its last character 區 (land sections are named after it).
std::string_view withoutQu(std::string_view district) {
    return district.substr(0, district.size() - std::string_view("區").size());
}

/// True when normalising `id` would leave it as it is (upper-case ASCII letters and digits only), the usual case
/// on the hot path (IDs in inquiry requests are normalised already): normalize() and its UTF-8 decoding are skipped.
bool isNormalisedAscii(const std::string& id) {
    if (id.empty()) return false;
    for (const char c : id)
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
    return true;
}

std::string normalised(const std::string& id) {
    return isNormalisedAscii(id) ? id : jobs::identity::normalize(id);
}

std::string makeBusinessNumber(Stream& stream) {
    std::string first7 = digits(stream, 7);
    // Every 7-digit prefix has valid check digits (the last weight is 1, so 10 digits cover every residue
    // mod 5); starting from a random one spreads them.
    const auto start = static_cast<int>(stream.below(10));
    for (int i = 0; i < 10; ++i) {
        std::string candidate = first7 + static_cast<char>('0' + (start + i) % 10);
        if (jobs::identity::isValidBusinessNumber(candidate)) return candidate;
    }
    return first7 + "0";  // unreachable, see above
}

}  // namespace

std::string withCheckDigit(const std::string& first9) {
    constexpr std::array<int, 26> kLetterCodes = {10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21,
                                                  22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33};
    auto codeOf = [&](char letter) { return kLetterCodes[static_cast<std::size_t>(letter - 'A')]; };
    const int code = codeOf(first9[0]);
    // An old resident certificate's second letter counts with the last digit of its code (SPEC 2).
    const bool letter = first9[1] >= 'A' && first9[1] <= 'Z';
    int sum = code / 10 + (code % 10) * 9 + (letter ? codeOf(first9[1]) % 10 : first9[1] - '0') * 8;
    for (std::size_t i = 2; i <= 8; ++i) sum += (first9[i] - '0') * static_cast<int>(9 - i);
    return first9 + static_cast<char>('0' + (10 - sum % 10) % 10);
}

Population::Population(std::uint64_t seed) : seed_(seed), payers_(std::make_shared<Payers>()) {}

const Population::Payer& Population::payerAt(std::uint64_t index) const {
    // Every income record names a payer from the pool: finding a payer's business number runs the registry over
    // candidates, so the pool is found once, on the first tax-data answer, rather than once a record (the answers
    // are the same). Not in the constructor: some callers make a Population per generated row.
    std::call_once(payers_->once, [this] {
        payers_->table.reserve(kPayerPool);
        for (std::uint64_t i = 0; i < kPayerPool; ++i) {
            std::string number = findId(i, kSaltBusiness, 'B', Want::living);
            std::string name = companyName(number);
            payers_->table.push_back({std::move(number), std::move(name)});
        }
    });
    return payers_->table[static_cast<std::size_t>(index)];
}

std::uint64_t Population::keyOf(const std::string& normalizedId) const noexcept {
    return combine(detail::fnv1a(normalizedId), seed_);
}

std::string Population::companyName(const std::string& businessNumber) const {
    Stream stream(combine(keyOf(normalised(businessNumber)), kSaltCompanyName));
    std::string name = stream.chance(0.3) ? "臺北" : "";
    name += pick(stream, kBrands);
    name += pick(stream, kTrades);
    name += stream.chance(0.8) ? "股份有限公司" : "有限公司";
    return name;
}

std::optional<RegistryRecord> Population::registryRecord(const std::string& id) const {
    const std::string normalized = normalised(id);
    const IdKind kind = jobs::identity::classify(normalized);
    if (kind == IdKind::invalid) return std::nullopt;

    Stream stream(combine(keyOf(normalized), kSaltRegistry));
    if (stream.chance(kUnknownShare)) return std::nullopt;

    RegistryRecord record;
    record.id = normalized;
    record.deceased = stream.chance(kDeceasedShare);
    record.district = std::string(pick(stream, kDistricts));
    if (kind == IdKind::businessNumber) {
        record.company = true;
        record.name = companyName(normalized);
        record.birthDate = date(stream, 1950, kLatestTaxYear - 1);
    } else {
        record.name = personName(stream, isFemale(normalized));
        record.birthDate = date(stream, kReferenceYear - 90, kReferenceYear - 20);
    }
    return record;
}

std::string Population::nhiCardNumber(const std::string& id) const {
    const auto record = registryRecord(id);
    if (!record || record->company) return {};
    Stream stream(combine(keyOf(record->id), kSaltNhi));
    // Issued card numbers start with four zeros; the last eight are what differ.
    return "0000" + digits(stream, 8);
}

std::optional<Population::Basics> Population::basicsOf(const std::string& normalized) const {
    // The draws of registryRecord(), in its order, without building the name, district and date strings: what the
    // tax data needs of the registry (is the ID known, a company, its birth or founding year).
    const IdKind kind = jobs::identity::classify(normalized);
    if (kind == IdKind::invalid) return std::nullopt;
    Stream stream(combine(keyOf(normalized), kSaltRegistry));
    if (stream.chance(kUnknownShare)) return std::nullopt;
    stream.chance(kDeceasedShare);
    stream.below(kDistricts.size());
    Basics basics;
    if (kind == IdKind::businessNumber) {
        basics.company = true;
        basics.birthYear = static_cast<int>(stream.between(1950, kLatestTaxYear - 1));
    } else {
        stream.below(kSurnames.size());
        const int givenCount = stream.chance(0.1) ? 1 : 2;
        for (int i = 0; i < givenCount; ++i) stream.below(kMaleGiven.size());  // kFemaleGiven has as many
        basics.birthYear = static_cast<int>(stream.between(kReferenceYear - 90, kReferenceYear - 20));
    }
    return basics;
}

TaxRecords Population::taxRecords(const std::string& id, const std::vector<int>& years, bool income,
                                  bool property) const {
    TaxRecords records;
    const std::string normalizedId = normalised(id);
    const auto basics = basicsOf(normalizedId);
    if (!basics) return records;
    const std::uint64_t key = keyOf(normalizedId);
    if (Stream(combine(key, kSaltHasRecords)).chance(kNoRecordsShare)) return records;

    constexpr std::array<int, 5> kCountWeights = {15, 35, 25, 15, 10};
    if (income) {
        // A company earns from its founding year, a person from the year they turned 18.
        const int firstYear = basics->birthYear + (basics->company ? 0 : 18);
        const std::uint64_t employer = Stream(combine(key, kSaltEmployer)).below(kPayerPool);
        auto streamOf = [&](int year) {
            return Stream(combine(key, kSaltIncomeYear + static_cast<std::uint64_t>(year)));
        };
        // Each year's count is its stream's first draw: counted first, so that the records take one allocation.
        std::size_t total = 0;
        for (int year : years) {
            if (year < firstYear || year > kLatestTaxYear) continue;
            Stream stream = streamOf(year);
            total += weighted(stream, kCountWeights);
        }
        records.income.reserve(total);
        for (int year : years) {
            if (year < firstYear || year > kLatestTaxYear) continue;
            Stream stream = streamOf(year);
            const std::size_t count = weighted(stream, kCountWeights);
            for (std::size_t i = 0; i < count; ++i) {
                IncomeRecord& item = records.income.emplace_back();
                item.year = year;
                // Companies draw no salary or professional fees.
                const std::size_t type = basics->company ? 2 + weighted(stream, std::array<int, 3>{50, 20, 30})
                                                         : weighted(stream, std::array<int, 5>{45, 10, 25, 8, 12});
                std::uint64_t payer = stream.below(kPayerPool);
                switch (type) {
                    case 0:
                        item.incomeType = "50";
                        payer = employer;  // the same employer year after year
                        item.amount = stream.between(300'000, 2'400'000);
                        break;
                    case 1:
                        item.incomeType = "9A";
                        item.amount = stream.between(20'000, 600'000);
                        break;
                    case 2:
                        item.incomeType = "5A";
                        item.amount = stream.between(100, 80'000);
                        break;
                    case 3:
                        item.incomeType = "51";
                        item.amount = stream.between(60'000, 720'000);
                        break;
                    default:
                        item.incomeType = "54";
                        item.amount = stream.between(1'000, 400'000);
                        break;
                }
                const Payer& payerRecord = payerAt(payer);
                item.payerId = payerRecord.businessNumber;
                item.payerName = payerRecord.name;
            }
        }
    }

    if (property) {
        Stream stream(combine(key, kSaltProperty));
        const std::size_t count = weighted(stream, std::array<int, 4>{30, 35, 20, 15});
        records.property.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
            PropertyRecord& item = records.property.emplace_back();
            const auto district = static_cast<std::size_t>(stream.below(kDistricts.size()));
            const std::string_view districtName = kDistricts[district];
            // Each text is written into its field in place (reserved once), the draws in the order they always had.
            switch (stream.below(4)) {
                case 0: {
                    item.kind = "land";
                    // The draws in the order the code before drew them (its operator+ chain took them last to first).
                    ShortText area;
                    appendArea(area, stream, 30, 600);
                    const long long number = stream.between(1, 2000);
                    const std::string_view section = pick(stream, kLandSections);
                    auto& text = item.description;
                    text.reserve(64);
                    text += withoutQu(districtName);
                    text += "段";
                    text += section;
                    appendNumber(text, number);
                    text += "地號 ";
                    text += area.view();
                    item.location.reserve(18);
                    item.location += "臺北市";
                    item.location += districtName;
                    item.value = stream.between(2'000'000, 60'000'000);
                    break;
                }
                case 1: {
                    item.kind = "building";
                    ShortText area;  // drawn before the use, as the code before did
                    appendArea(area, stream, 25, 300);
                    auto& text = item.description;
                    text.reserve(48);
                    text += stream.chance(0.8) ? "住家用" : "商業用";
                    text += "建物 ";
                    text += area.view();
                    item.location.reserve(64);
                    appendStreetAddress(item.location, stream, district);
                    item.value = stream.between(1'000'000, 30'000'000);
                    break;
                }
                case 2: {
                    item.kind = "vehicle";
                    auto& text = item.description;
                    text.reserve(48);
                    text += basics->company ? "營業用貨車 " : "自用小客車 ";
                    const long long model = stream.between(2008, kLatestTaxYear);  // drawn before the brand
                    text += pick(stream, kCarBrands);
                    text += ' ';
                    appendNumber(text, model);
                    text += "年式";
                    item.location.reserve(18);
                    item.location += "臺北市";
                    item.location += districtName;
                    item.value = stream.between(100'000, 2'000'000);
                    break;
                }
                default: {
                    item.kind = "investment";
                    const Payer& issuer = payerAt(stream.below(kPayerPool));
                    auto& text = item.description;
                    text.reserve(issuer.name.size() + 32);
                    text += issuer.name;
                    text += " 股票 ";
                    appendNumber(text, stream.between(1, 500) * 1000);
                    text += "股";
                    item.location.reserve(64);
                    appendStreetAddress(item.location, stream, district);
                    item.value = stream.between(10'000, 5'000'000);
                    break;
                }
            }
        }
    }
    return records;
}

std::string Population::findId(std::uint64_t index, std::uint64_t salt, char kind, Want want) const {
    Stream stream(combine(combine(index, salt), seed_));
    std::string candidate;
    // Deceased persons are 1 in ~100, the rarest wanted kind: this bound is never reached in practice, and a
    // valid ID is returned even then.
    for (int attempt = 0; attempt < 100'000; ++attempt) {
        if (kind == 'B') {
            candidate = makeBusinessNumber(stream);
        } else {
            std::string first9(1, static_cast<char>('A' + stream.below(26)));
            const bool second = stream.chance(0.5);
            if (kind == 'O') {
                // 舊式統一證號: A/B, C/D (male, female); the draw for the pair keeps the other kinds' streams.
                first9 += static_cast<char>((second ? 'B' : 'A') + 2 * static_cast<int>(stream.below(2)));
            } else {
                first9 += kind == 'R' ? (second ? '9' : '8') : (second ? '2' : '1');
            }
            first9 += digits(stream, 7);
            candidate = withCheckDigit(first9);
        }
        const auto record = registryRecord(candidate);
        const bool matches = want == Want::unknown    ? !record
                             : want == Want::deceased ? record && record->deceased
                                                      : record && !record->deceased;
        if (matches) break;
    }
    return candidate;
}

std::string Population::nationalIdAt(std::uint64_t index) const {
    return findId(index, kSaltNationalId, 'N', Want::living);
}

std::string Population::residentCertificateAt(std::uint64_t index) const {
    return findId(index, kSaltResident, 'R', Want::living);
}

std::string Population::oldResidentCertificateAt(std::uint64_t index) const {
    return findId(index, kSaltOldResident, 'O', Want::living);
}

std::string Population::businessNumberAt(std::uint64_t index) const {
    return findId(index, kSaltBusiness, 'B', Want::living);
}

std::string Population::unregisteredIdAt(std::uint64_t index) const {
    return findId(index, kSaltUnregistered, 'N', Want::unknown);
}

std::string Population::deceasedIdAt(std::uint64_t index) const {
    return findId(index, kSaltDeceased, 'N', Want::deceased);
}

std::string Population::randomPersonName(std::uint64_t index) const {
    Stream stream(combine(combine(index, kSaltRandomName), seed_));
    return personName(stream, stream.chance(0.5));
}

}  // namespace taxdesk::demo_data
