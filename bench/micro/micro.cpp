// taxdesk_micro: Google Benchmark micro-benchmarks of the pure rules on the hot paths (issue 11): the ID rules, the
// batch file reader (bytes → charset → CSV → judged rows) in MB/s of UTF-8 and of Big5, the topic codecs, and the
// hand-written JSON reader against simdjson (ondemand) and RapidJSON on the real messages.
//   ninja -C build taxdesk_micro && build/bench/micro/taxdesk_micro --benchmark_repetitions=3
// The inputs are generated here (the real upload format, as connectors/stubs/demo_data writes it), so that the bench
// links nothing from connectors/.
#include <Poco/JSON/Parser.h>
#include <Poco/TextConverter.h>
#include <Poco/UTF8Encoding.h>
#include <Poco/Windows950Encoding.h>
#include <benchmark/benchmark.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <simdjson.h>
#include <array>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "jobs/common/json.hpp"
#include "jobs/common/utf8.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/inquiry/batch_file.hpp"
#include "jobs/inquiry/codec.hpp"

namespace {

namespace identity = taxdesk::jobs::identity;
namespace inquiry = taxdesk::jobs::inquiry;
namespace json = taxdesk::jobs::json;

/// A small deterministic generator (splitmix64): the same inputs on every run.
class Rng {
  public:
    explicit Rng(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
    bool chance(int percent) { return below(100) < static_cast<std::size_t>(percent); }

  private:
    std::uint64_t state_;
};

constexpr std::array<int, 26> kLetterCodes = {10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21,
                                              22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33};

/// A valid national ID (second character 1 or 2) or new resident certificate (8 or 9), checksum included.
std::string letterId(Rng& rng, bool resident) {
    std::string id(10, '0');
    id[0] = static_cast<char>('A' + rng.below(26));
    id[1] = resident ? (rng.chance(50) ? '8' : '9') : (rng.chance(50) ? '1' : '2');
    const int code = kLetterCodes[static_cast<std::size_t>(id[0] - 'A')];
    int sum = code / 10 + (code % 10) * 9 + (id[1] - '0') * 8;
    for (std::size_t i = 2; i <= 8; ++i) {
        id[i] = static_cast<char>('0' + rng.below(10));
        sum += (id[i] - '0') * static_cast<int>(9 - i);
    }
    id[9] = static_cast<char>('0' + (10 - sum % 10) % 10);
    return id;
}

/// IDs as people type them: mostly clean, some lower case, full-width or padded with spaces.
std::string presentedId(Rng& rng) {
    std::string id = letterId(rng, rng.chance(10));
    const auto roll = rng.below(100);
    if (roll < 2) id[0] = static_cast<char>(id[0] - 'A' + 'a');
    if (roll >= 2 && roll < 3) {
        std::string wide;
        for (const char c : id) {
            const auto code = static_cast<unsigned>(0xFEE0 + static_cast<unsigned char>(c));
            wide.push_back(static_cast<char>(0xE0 | (code >> 12)));
            wide.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            wide.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        }
        return wide;
    }
    if (roll >= 3 && roll < 5) return " " + id + "\xE3\x80\x80";  // a space before, U+3000 after
    return id;
}

constexpr std::array<std::string_view, 10> kSurnames = {"陳", "林", "黃", "張", "李", "王", "吳", "劉", "蔡", "楊"};
constexpr std::array<std::string_view, 12> kGiven = {"志", "明", "淑", "芬", "家", "豪",
                                                     "怡", "君", "俊", "傑", "美", "玲"};
constexpr std::array<std::string_view, 6> kCourts = {"臺灣臺北地方法院", "臺灣士林地方法院", "臺灣新北地方法院",
                                                     "臺灣桃園地方法院", "臺灣臺中地方法院", "臺灣高雄地方法院"};

std::string name(Rng& rng) {
    std::string out(kSurnames[rng.below(kSurnames.size())]);
    out += kGiven[rng.below(kGiven.size())];
    out += kGiven[rng.below(kGiven.size())];
    return out;
}

/// A batch file of `rows` data rows in the format of SPEC 3.1 as `taxdesk gen` writes it (LF line ends, a title
/// reference with a comma quoted now and then, mixed scopes, ROC and Gregorian years, a few padded or full-width IDs).
std::string batchCsv(std::size_t rows) {
    Rng rng(11);
    std::string out = "debtor_id,debtor_name,title_ref,scope,income_years\n";
    for (std::size_t i = 0; i < rows; ++i) {
        out += presentedId(rng);
        out += ',';
        out += name(rng);
        out += ',';
        std::string title(kCourts[rng.below(kCourts.size())]);
        title += std::to_string(105 + rng.below(10));
        title += rng.chance(80) ? "年度司執字第" : "年度執字第";
        title += std::to_string(1 + rng.below(99999));
        title += "號";
        if (rng.chance(3)) {
            out += "\"" + title + "，債權憑證,換發\"";
        } else {
            out += title;
        }
        out += ',';
        static constexpr std::array<std::string_view, 4> kScopes = {"both", "income", "property", ""};
        out += kScopes[rng.below(kScopes.size())];
        out += ',';
        if (!rng.chance(10)) {
            const std::size_t count = 1 + rng.below(3);
            const bool roc = rng.chance(55);
            for (std::size_t y = 0; y < count; ++y) {
                if (y) out += ';';
                const int year = 2021 + static_cast<int>(y) + static_cast<int>(rng.below(2));
                out += std::to_string(roc ? year - 1911 : year);
            }
        }
        out += '\n';
    }
    return out;
}

std::string toBig5(const std::string& utf8) {
    Poco::UTF8Encoding from;
    Poco::Windows950Encoding to;
    Poco::TextConverter converter(from, to);
    std::string out;
    if (converter.convert(utf8, out) != 0) throw std::runtime_error("a character of the bench file is not in Big5");
    return out;
}

const std::string& utf8File() {
    static const std::string file = batchCsv(100000);
    return file;
}
const std::string& big5File() {
    static const std::string file = toBig5(utf8File());
    return file;
}

std::vector<std::string> presentedIds(std::size_t n) {
    Rng rng(7);
    std::vector<std::string> ids;
    ids.reserve(n);
    for (std::size_t i = 0; i < n; ++i) ids.push_back(presentedId(rng));
    return ids;
}

// ---- the ID rules -------------------------------------------------------------------------------------------------

void BM_IdNormalize(benchmark::State& state) {
    const auto ids = presentedIds(4096);
    for (auto _ : state) {
        for (const auto& id : ids) benchmark::DoNotOptimize(identity::normalize(id));
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(ids.size()));
}
BENCHMARK(BM_IdNormalize);

void BM_IdClassify(benchmark::State& state) {
    std::vector<std::string> ids;
    for (const auto& id : presentedIds(4096)) ids.push_back(identity::normalize(id));
    for (auto _ : state) {
        for (const auto& id : ids) benchmark::DoNotOptimize(identity::classifyIn(id, 2026));
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(ids.size()));
}
BENCHMARK(BM_IdClassify);

void BM_IdMask(benchmark::State& state) {
    const auto ids = presentedIds(4096);
    for (auto _ : state) {
        for (const auto& id : ids) benchmark::DoNotOptimize(identity::mask(id));
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(ids.size()));
}
BENCHMARK(BM_IdMask);

void BM_IdFoldFullWidth(benchmark::State& state) {
    const auto ids = presentedIds(4096);
    for (auto _ : state) {
        for (const auto& id : ids) benchmark::DoNotOptimize(identity::foldFullWidth(id));
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(ids.size()));
}
BENCHMARK(BM_IdFoldFullWidth);

void BM_TrimSpaces(benchmark::State& state) {
    const auto ids = presentedIds(4096);
    for (auto _ : state) {
        for (const auto& id : ids) benchmark::DoNotOptimize(identity::trimSpaces(id));
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(ids.size()));
}
BENCHMARK(BM_TrimSpaces);

// ---- the batch file: bytes → charset → CSV → judged rows ------------------------------------------------------------

inquiry::BatchRules rules() {
    inquiry::BatchRules r;
    r.maxRows = 1000000;
    r.currentYear = 2026;
    r.latestTaxYear = 2025;
    return r;
}

/// An istream over a string without copying it (the upload is a file; copying 9 MB per read would be the bench's
/// cost, not the reader's). Seeks, so that detection can rewind it.
class ViewBuffer : public std::streambuf {
  public:
    explicit ViewBuffer(const std::string& text) {
        char* begin = const_cast<char*>(text.data());  // NOLINT: read only (no overflow or putback writes)
        setg(begin, begin, begin + text.size());
    }

  protected:
    pos_type seekoff(off_type off, std::ios_base::seekdir dir, std::ios_base::openmode) override {
        const off_type base = dir == std::ios_base::beg   ? 0
                              : dir == std::ios_base::cur ? gptr() - eback()
                                                          : egptr() - eback();
        const off_type to = base + off;
        if (to < 0 || to > egptr() - eback()) return pos_type(off_type(-1));
        setg(eback(), eback() + to, egptr());
        return pos_type(to);
    }
    pos_type seekpos(pos_type pos, std::ios_base::openmode which) override {
        return seekoff(off_type(pos), std::ios_base::beg, which);
    }
};

/// The upload's jobs path: detection (when no charset is declared) then the read; every row is counted.
void readFile(benchmark::State& state, const std::string& file, bool declared, inquiry::Charset charset) {
    const inquiry::BatchRules r = rules();
    std::int64_t accepted = 0;
    for (auto _ : state) {
        ViewBuffer buffer(file);
        std::istream in(&buffer);
        const inquiry::Charset used =
            inquiry::detectCharset(in, declared ? std::optional<inquiry::Charset>(charset) : std::nullopt);
        if (used != charset) state.SkipWithError("charset detected wrongly");
        in.clear();
        in.seekg(0);
        const inquiry::BatchFileReader reader(r, used);
        const auto totals = reader.read(in, [&](const inquiry::BatchRow& row) { accepted += row.accepted ? 1 : 0; });
        benchmark::DoNotOptimize(totals);
    }
    benchmark::DoNotOptimize(accepted);
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(file.size()));
    state.counters["rows"] = 100000;
    state.counters["file_MB"] = static_cast<double>(file.size()) / 1e6;
}

void BM_BatchFileUtf8(benchmark::State& state) {
    readFile(state, utf8File(), state.range(0) != 0, inquiry::Charset::utf8);
}
BENCHMARK(BM_BatchFileUtf8)->ArgName("declared")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_BatchFileBig5(benchmark::State& state) {
    readFile(state, big5File(), state.range(0) != 0, inquiry::Charset::big5);
}
BENCHMARK(BM_BatchFileBig5)->ArgName("declared")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

/// The least any reader must do with the UTF-8 file, as the ceiling the figures above are set against: validate it
/// (SIMD) and find its line ends (memchr).
void BM_CeilingUtf8ValidateAndSplit(benchmark::State& state) {
    const std::string& file = utf8File();
    for (auto _ : state) {
        bool valid = taxdesk::jobs::utf8::isValid(file);
        std::size_t lines = 0;
        for (const char* p = file.data(); (p = static_cast<const char*>(std::memchr(
                                               p, '\n', static_cast<std::size_t>(file.data() + file.size() - p))));
             ++p) {
            ++lines;
        }
        benchmark::DoNotOptimize(valid);
        benchmark::DoNotOptimize(lines);
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(file.size()));
}
BENCHMARK(BM_CeilingUtf8ValidateAndSplit)->Unit(benchmark::kMillisecond);

/// The first step of the Big5 upload alone: the file decoded to UTF-8 (what BatchFileBig5 costs beyond the UTF-8
/// read), so that its share of the upload can be seen.
void BM_DecodeBig5(benchmark::State& state) {
    const std::string& file = big5File();
    std::size_t decoded = 0;
    for (auto _ : state) {
        ViewBuffer buffer(file);
        std::istream in(&buffer);
        inquiry::DecodedText text(in, inquiry::Charset::big5);
        for (std::string_view piece = text.next(); !piece.empty(); piece = text.next()) decoded += piece.size();
    }
    benchmark::DoNotOptimize(decoded);
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(file.size()));
}
BENCHMARK(BM_DecodeBig5)->Unit(benchmark::kMillisecond);

// ---- the topic codecs -----------------------------------------------------------------------------------------------

inquiry::InquiryRequest sampleRequest() {
    inquiry::InquiryRequest request;
    request.batchId = "b-7f3a9c2e-1d4b-4e8a-9f00-123456789abc";
    request.row = 12345;
    request.creditorId = "22099131";
    request.debtorId = "A123456789";
    request.debtorName = "王小明";
    request.scope = inquiry::Scope::both;
    request.incomeYears = {2021, 2022, 2023};
    return request;
}

inquiry::InquiryResult sampleResult() {
    inquiry::InquiryResult result;
    result.batchId = "b-7f3a9c2e-1d4b-4e8a-9f00-123456789abc";
    result.row = 12345;
    result.debtorId = "A123456789";
    result.status = inquiry::ResultStatus::found;
    for (int year : {2021, 2022, 2023}) {
        result.income.push_back({year, "22099131", "台灣積體電路製造股份有限公司", "50", 1234567});
    }
    result.property.push_back({"land", "臺北市大安區仁愛段一小段 123 地號", "臺北市大安區", 8765432});
    result.property.push_back({"car", "自用小客車 ABC-1234", "臺北市", 450000});
    return result;
}

void BM_EncodeRequest(benchmark::State& state) {
    const auto request = sampleRequest();
    for (auto _ : state) benchmark::DoNotOptimize(inquiry::encodeRequest(request));
}
BENCHMARK(BM_EncodeRequest);

void BM_DecodeRequest(benchmark::State& state) {
    const std::string message = inquiry::encodeRequest(sampleRequest());
    for (auto _ : state) benchmark::DoNotOptimize(inquiry::decodeRequest(message));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(message.size()));
}
BENCHMARK(BM_DecodeRequest);

void BM_RowOfRequest(benchmark::State& state) {
    const std::string message = inquiry::encodeRequest(sampleRequest());
    for (auto _ : state) benchmark::DoNotOptimize(inquiry::rowOfRequest(message));
}
BENCHMARK(BM_RowOfRequest);

void BM_EncodeResult(benchmark::State& state) {
    const auto result = sampleResult();
    for (auto _ : state) benchmark::DoNotOptimize(inquiry::encodeResult(result));
}
BENCHMARK(BM_EncodeResult);

void BM_DecodeResult(benchmark::State& state) {
    const std::string message = inquiry::encodeResult(sampleResult());
    for (auto _ : state) benchmark::DoNotOptimize(inquiry::decodeResult(message));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(message.size()));
}
BENCHMARK(BM_DecodeResult);

// ---- JSON readers on the real messages: the same work (every field copied out) with each library
// ----------------------

struct RequestFields {
    std::string batchId, creditorId, debtorId, debtorName, scope;
    long long row = 0;
    std::vector<int> years;
};

RequestFields requestByHand(std::string_view message) {
    RequestFields out;
    for (auto& field : json::parseFlatObject(message)) {
        auto* text = std::get_if<std::string>(&field.value.scalar);
        if (field.name == "batch_id" && text) out.batchId = std::move(*text);
        if (field.name == "creditor_id" && text) out.creditorId = std::move(*text);
        if (field.name == "debtor_id" && text) out.debtorId = std::move(*text);
        if (field.name == "debtor_name" && text) out.debtorName = std::move(*text);
        if (field.name == "scope" && text) out.scope = std::move(*text);
        if (field.name == "row") out.row = static_cast<long long>(std::get<double>(field.value.scalar));
        if (field.name == "income_years")
            for (const auto& item : field.value.array) out.years.push_back(static_cast<int>(std::get<double>(item)));
    }
    return out;
}

RequestFields requestBySimdjson(simdjson::ondemand::parser& parser, std::string_view message) {
    // ondemand needs SIMDJSON_PADDING readable bytes after the text: a Kafka payload has none, so it is copied.
    const simdjson::padded_string padded(message);
    RequestFields out;
    simdjson::ondemand::document doc = parser.iterate(padded);
    for (auto field : doc.get_object()) {
        const std::string_view key = field.unescaped_key();
        auto value = field.value();
        if (key == "batch_id") out.batchId = std::string_view(value.get_string());
        if (key == "creditor_id") out.creditorId = std::string_view(value.get_string());
        if (key == "debtor_id") out.debtorId = std::string_view(value.get_string());
        if (key == "debtor_name") out.debtorName = std::string_view(value.get_string());
        if (key == "scope") out.scope = std::string_view(value.get_string());
        if (key == "row") out.row = value.get_int64();
        if (key == "income_years")
            for (auto year : value.get_array()) out.years.push_back(static_cast<int>(year.get_int64()));
    }
    return out;
}

RequestFields requestByRapidjson(std::string_view message) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(message.data(), message.size());
    if (doc.HasParseError() || !doc.IsObject()) throw std::runtime_error("rapidjson: bad message");
    RequestFields out;
    for (const auto& member : doc.GetObject()) {
        const std::string_view key(member.name.GetString(), member.name.GetStringLength());
        const auto& value = member.value;
        auto text = [&value] { return std::string(value.GetString(), value.GetStringLength()); };
        if (key == "batch_id") out.batchId = text();
        if (key == "creditor_id") out.creditorId = text();
        if (key == "debtor_id") out.debtorId = text();
        if (key == "debtor_name") out.debtorName = text();
        if (key == "scope") out.scope = text();
        if (key == "row") out.row = value.GetInt64();
        if (key == "income_years")
            for (const auto& year : value.GetArray()) out.years.push_back(year.GetInt());
    }
    return out;
}

void BM_JsonRequest_Hand(benchmark::State& state) {
    const std::string message = inquiry::encodeRequest(sampleRequest());
    for (auto _ : state) benchmark::DoNotOptimize(requestByHand(message));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(message.size()));
}
BENCHMARK(BM_JsonRequest_Hand);

void BM_JsonRequest_Simdjson(benchmark::State& state) {
    const std::string message = inquiry::encodeRequest(sampleRequest());
    simdjson::ondemand::parser parser;
    for (auto _ : state) benchmark::DoNotOptimize(requestBySimdjson(parser, message));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(message.size()));
}
BENCHMARK(BM_JsonRequest_Simdjson);

void BM_JsonRequest_Rapidjson(benchmark::State& state) {
    const std::string message = inquiry::encodeRequest(sampleRequest());
    for (auto _ : state) benchmark::DoNotOptimize(requestByRapidjson(message));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(message.size()));
}
BENCHMARK(BM_JsonRequest_Rapidjson);

inquiry::InquiryResult resultBySimdjson(simdjson::ondemand::parser& parser, std::string_view message) {
    const simdjson::padded_string padded(message);
    inquiry::InquiryResult out;
    simdjson::ondemand::document doc = parser.iterate(padded);
    auto text = [](auto value) { return std::string(std::string_view(value.get_string())); };
    for (auto field : doc.get_object()) {
        const std::string_view key = field.unescaped_key();
        auto value = field.value();
        if (key == "batch_id") out.batchId = text(value);
        if (key == "row") out.row = static_cast<int>(value.get_int64());
        if (key == "debtor_id") out.debtorId = text(value);
        if (key == "status") out.status = *inquiry::parseResultStatus(std::string_view(value.get_string()));
        if (key == "reason") out.reason = text(value);
        if (key == "income") {
            for (auto item : value.get_array()) {
                taxdesk::jobs::records::IncomeRecord record;
                for (auto f : item.get_object()) {
                    const std::string_view k = f.unescaped_key();
                    auto v = f.value();
                    if (k == "year") record.year = static_cast<int>(v.get_int64());
                    if (k == "payer_id") record.payerId = text(v);
                    if (k == "payer_name") record.payerName = text(v);
                    if (k == "income_type") record.incomeType = text(v);
                    if (k == "amount") record.amount = v.get_int64();
                }
                out.income.push_back(std::move(record));
            }
        }
        if (key == "property") {
            for (auto item : value.get_array()) {
                taxdesk::jobs::records::PropertyRecord record;
                for (auto f : item.get_object()) {
                    const std::string_view k = f.unescaped_key();
                    auto v = f.value();
                    if (k == "kind") record.kind = text(v);
                    if (k == "description") record.description = text(v);
                    if (k == "location") record.location = text(v);
                    if (k == "value") record.value = v.get_int64();
                }
                out.property.push_back(std::move(record));
            }
        }
    }
    return out;
}

inquiry::InquiryResult resultByRapidjson(std::string_view message) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(message.data(), message.size());
    if (doc.HasParseError() || !doc.IsObject()) throw std::runtime_error("rapidjson: bad message");
    auto text = [](const rapidjson::Value& v) { return std::string(v.GetString(), v.GetStringLength()); };
    inquiry::InquiryResult out;
    out.batchId = text(doc["batch_id"]);
    out.row = doc["row"].GetInt();
    out.debtorId = text(doc["debtor_id"]);
    out.status = *inquiry::parseResultStatus(doc["status"].GetString());
    if (doc.HasMember("reason")) out.reason = text(doc["reason"]);
    for (const auto& item : doc["income"].GetArray()) {
        out.income.push_back({item["year"].GetInt(), text(item["payer_id"]), text(item["payer_name"]),
                              text(item["income_type"]), item["amount"].GetInt64()});
    }
    for (const auto& item : doc["property"].GetArray()) {
        out.property.push_back(
            {text(item["kind"]), text(item["description"]), text(item["location"]), item["value"].GetInt64()});
    }
    return out;
}

/// What decodeResult() was before issue 11: Poco's DOM (the reference figure).
inquiry::InquiryResult resultByPoco(std::string_view message) {
    const auto object = Poco::JSON::Parser().parse(std::string(message)).extract<Poco::JSON::Object::Ptr>();
    inquiry::InquiryResult out;
    out.batchId = object->getValue<std::string>("batch_id");
    out.row = object->getValue<int>("row");
    out.debtorId = object->getValue<std::string>("debtor_id");
    out.status = *inquiry::parseResultStatus(object->getValue<std::string>("status"));
    if (object->has("reason")) out.reason = object->getValue<std::string>("reason");
    if (const auto income = object->getArray("income")) {
        for (std::size_t i = 0; i < income->size(); ++i) {
            const auto item = income->getObject(static_cast<unsigned>(i));
            out.income.push_back({item->getValue<int>("year"), item->getValue<std::string>("payer_id"),
                                  item->getValue<std::string>("payer_name"), item->getValue<std::string>("income_type"),
                                  item->getValue<long long>("amount")});
        }
    }
    if (const auto property = object->getArray("property")) {
        for (std::size_t i = 0; i < property->size(); ++i) {
            const auto item = property->getObject(static_cast<unsigned>(i));
            out.property.push_back({item->getValue<std::string>("kind"), item->getValue<std::string>("description"),
                                    item->getValue<std::string>("location"), item->getValue<long long>("value")});
        }
    }
    return out;
}

void BM_JsonResult_Poco(benchmark::State& state) {
    const std::string message = inquiry::encodeResult(sampleResult());
    if (resultByPoco(message) != sampleResult()) state.SkipWithError("Poco reads the result differently");
    for (auto _ : state) benchmark::DoNotOptimize(resultByPoco(message));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(message.size()));
}
BENCHMARK(BM_JsonResult_Poco);

void BM_JsonResult_Simdjson(benchmark::State& state) {
    const std::string message = inquiry::encodeResult(sampleResult());
    if (resultBySimdjson(*std::make_unique<simdjson::ondemand::parser>(), message) != sampleResult())
        state.SkipWithError("simdjson reads the result differently");
    simdjson::ondemand::parser parser;
    for (auto _ : state) benchmark::DoNotOptimize(resultBySimdjson(parser, message));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(message.size()));
}
BENCHMARK(BM_JsonResult_Simdjson);

void BM_JsonResult_Rapidjson(benchmark::State& state) {
    const std::string message = inquiry::encodeResult(sampleResult());
    if (resultByRapidjson(message) != sampleResult()) state.SkipWithError("RapidJSON reads the result differently");
    for (auto _ : state) benchmark::DoNotOptimize(resultByRapidjson(message));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(message.size()));
}
BENCHMARK(BM_JsonResult_Rapidjson);

}  // namespace

BENCHMARK_MAIN();
