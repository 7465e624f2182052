#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "jobs/common/json.hpp"
#include "jobs/common/utf8.hpp"
#include "jobs/inquiry/codec.hpp"
#include "jobs/inquiry/inquiry.hpp"
#include "jobs/inquiry/name_variants.hpp"
#include "jobs/inquiry/retry.hpp"

using namespace taxdesk::jobs::inquiry;
using taxdesk::jobs::records::RegistryRecord;
using taxdesk::jobs::records::TaxRecords;

namespace {

InquiryRequest request(Scope scope = Scope::both) {
    InquiryRequest r;
    r.batchId = "B1";
    r.row = 3;
    r.creditorId = "C1";
    r.debtorId = "A123456789";
    r.debtorName = "王小明";
    r.scope = scope;
    r.incomeYears = {2023};
    return r;
}

RegistryRecord person(bool deceased = false) {
    return {"A123456789", "王小明", "1980-01-02", "信義區", deceased, false};
}

}  // namespace

TEST(InquiryRules, RegistrySettlesUnknownMismatchedAndDeceased) {
    EXPECT_EQ(decideFromRegistry(request(), std::nullopt)->status, ResultStatus::not_registered);
    auto other = person();
    other.name = "王大明";
    EXPECT_EQ(decideFromRegistry(request(), other)->status, ResultStatus::name_mismatch);
    EXPECT_EQ(decideFromRegistry(request(), person(true))->status, ResultStatus::deceased);
    EXPECT_FALSE(decideFromRegistry(request(), person()).has_value()) << "a living match needs the tax data";
}

TEST(InquiryRules, NamesMatchAcrossWidthAndSpacing) {
    EXPECT_TRUE(namesMatch(" 王 小明 ", "王小明"));
    EXPECT_TRUE(namesMatch("ＡＢＣ　Ｃｏ", "ABC Co"));
    EXPECT_FALSE(namesMatch("王小明", "王小名"));
}

TEST(InquiryRules, NamesMatchAsTheRegistryDoes) {
    // SPEC 3.3: full-width/half-width forms, ASCII case, spaces (inside too), middle dots and variant characters.
    EXPECT_TRUE(namesMatch("台積電股份有限公司", "臺積電股份有限公司"));
    EXPECT_TRUE(namesMatch("臺積電股份有限公司", "台積電股份有限公司"));
    EXPECT_TRUE(namesMatch("JOHN SMITH", "John  Smith"));
    EXPECT_TRUE(namesMatch("王　小明", "王小明"));
    EXPECT_TRUE(namesMatch("Ｊｏｈｎ", "john"));
    EXPECT_TRUE(namesMatch("瓦旦·達利", "瓦旦‧達利"));
    EXPECT_TRUE(namesMatch("黄大明", "黃大明"));
    EXPECT_TRUE(namesMatch("吴美玲", "吳美玲"));
    EXPECT_TRUE(namesMatch("吕 建宏", "呂建宏"));
    EXPECT_TRUE(namesMatch("台北羣峯温泉股份有限公司", "臺北群峰溫泉股份有限公司"));  // four variants in one name
    EXPECT_TRUE(namesMatch("ＡＢＣ股份有限公司", "abc股份有限公司"));
    EXPECT_TRUE(namesMatch("\u00A0王小明\u200B", "王小明"));
    EXPECT_TRUE(namesMatch("王\u200B小\uFEFF明", "王小明"));
    EXPECT_TRUE(namesMatch("", " \u3000"));
}

TEST(InquiryRules, DifferentNamesStayDifferent) {
    EXPECT_FALSE(namesMatch("王小明", "王小民"));
    EXPECT_FALSE(namesMatch("王小明", "王小"));
    EXPECT_FALSE(namesMatch("王小", "王小明"));
    EXPECT_FALSE(namesMatch("陳志杰", "陳志傑"));  // 杰 and 傑 are two names, not two spellings
    EXPECT_FALSE(namesMatch("岳文", "嶽文"));
    EXPECT_FALSE(namesMatch("JOHN SMITH", "JOHN SMYTH"));
    EXPECT_FALSE(namesMatch("瓦旦·達利", "瓦旦達利"));  // a dot is not a space
    EXPECT_FALSE(namesMatch("王小明", ""));
    // Bytes that are not UTF-8 compare as themselves.
    EXPECT_TRUE(namesMatch("王\x80", "王\x80"));
    EXPECT_FALSE(namesMatch("王\x80", "王\x81"));
    EXPECT_FALSE(namesMatch("\xE7\x8E", "王"));  // the first two bytes of 王
}

TEST(InquiryRules, EveryMiddleDotIsOne) {
    const std::vector<std::string> dots = {"·", "‧", "・", "•", "．", "･", "."};
    for (const std::string& a : dots) {
        for (const std::string& b : dots) {
            SCOPED_TRACE(a + " " + b);
            EXPECT_TRUE(namesMatch("瓦旦" + a + "達利", "瓦旦" + b + "達利"));
        }
    }
}

TEST(InquiryRules, TheVariantsTheBriefNamesAreInTheTable) {
    // Written out here rather than read from the table, so that dropping an entry fails.
    const std::vector<std::pair<std::string, std::string>> pairs = {
        {"台", "臺"}, {"峯", "峰"}, {"羣", "群"}, {"裏", "裡"}, {"綫", "線"}, {"啓", "啟"}, {"恒", "恆"},
        {"温", "溫"}, {"黄", "黃"}, {"吴", "吳"}, {"吕", "呂"}, {"牀", "床"}, {"鷄", "雞"}, {"却", "卻"},
        {"爲", "為"}, {"为", "為"}, {"内", "內"}, {"税", "稅"}, {"説", "說"},
    };
    for (const auto& [variant, canonical] : pairs) {
        SCOPED_TRACE(variant + canonical);
        EXPECT_TRUE(namesMatch(variant, canonical));
        EXPECT_TRUE(namesMatch("王" + canonical + "明", "王" + variant + "明"));
    }
}

std::string utf8Of(char32_t cp) {
    std::string out;
    taxdesk::jobs::utf8::append(out, cp);
    return out;
}

TEST(NameVariants, EveryPairFoldsBothWays) {
    const auto table = nameVariants();
    ASSERT_GT(table.size(), 40U);
    for (const VariantPair& pair : table) {
        const std::string variant = utf8Of(pair.variant);
        const std::string canonical = utf8Of(pair.canonical);
        SCOPED_TRACE(variant + " → " + canonical);
        EXPECT_EQ(canonicalCharacter(pair.variant), pair.canonical);
        EXPECT_EQ(canonicalCharacter(pair.canonical), pair.canonical);
        EXPECT_TRUE(namesMatch(variant, canonical));
        EXPECT_TRUE(namesMatch(canonical, variant));
        EXPECT_TRUE(namesMatch("林" + variant + "華", "林 " + canonical + "華"));
    }
}

TEST(NameVariants, TableIsSortedAndCanonicalFormsAreDistinctCharacters) {
    const auto table = nameVariants();
    std::set<char32_t> canonicals;
    for (std::size_t i = 0; i < table.size(); ++i) {
        if (i > 0) {
            EXPECT_LT(table[i - 1].variant, table[i].variant);
        }
        canonicals.insert(table[i].canonical);
    }
    // Two different canonical forms never match each other: the table joins spellings, not characters.
    for (char32_t a : canonicals) {
        for (char32_t b : canonicals) {
            if (a != b) {
                EXPECT_FALSE(namesMatch(utf8Of(a), utf8Of(b))) << utf8Of(a) << utf8Of(b);
            }
        }
    }
    // Characters outside the table are themselves.
    EXPECT_EQ(canonicalCharacter(U'王'), U'王');
    EXPECT_EQ(canonicalCharacter(U'A'), U'A');
    EXPECT_EQ(canonicalCharacter(0), 0U);
    EXPECT_EQ(canonicalCharacter(0x10FFFF), 0x10FFFFU);
}

TEST(InquiryRules, RegistryAcceptsAVariantName) {
    auto req = request();
    req.debtorName = "黄小明";
    auto record = person();
    record.name = "黃小明";
    EXPECT_FALSE(decideFromRegistry(req, record).has_value()) << "no name_mismatch for a variant spelling";

    req.debtorId = "22099131";
    req.debtorName = "台積電股份有限公司";
    RegistryRecord company{"22099131", "臺積電股份有限公司", "1987-02-21", "信義區", false, true};
    EXPECT_FALSE(decideFromRegistry(req, company).has_value());

    req.debtorName = "ＪＯＨＮ　smith";
    record.name = "John Smith";
    EXPECT_FALSE(decideFromRegistry(req, record).has_value());

    req.debtorName = "王小民";
    record.name = "王小明";
    EXPECT_EQ(decideFromRegistry(req, record)->status, ResultStatus::name_mismatch);
}

TEST(InquiryRules, TaxDataKeepsOnlyTheRequestedScope) {
    TaxRecords records;
    records.income.push_back({2023, "22099131", "甲公司", "50", 100});
    records.property.push_back({"land", "土地", "臺北市", 5});
    const auto income = decideFromTaxData(request(Scope::income), records);
    EXPECT_EQ(income.status, ResultStatus::found);
    EXPECT_EQ(income.income.size(), 1u);
    EXPECT_TRUE(income.property.empty());
    const auto property = decideFromTaxData(request(Scope::property), records);
    EXPECT_TRUE(property.income.empty());
    EXPECT_EQ(property.property.size(), 1u);
    TaxRecords onlyProperty;
    onlyProperty.property = records.property;
    EXPECT_EQ(decideFromTaxData(request(Scope::income), onlyProperty).status, ResultStatus::no_records);
    const auto error = errorResult(request(), "registry unavailable: timeout");
    EXPECT_EQ(error.status, ResultStatus::error);
    EXPECT_EQ(error.reason, "registry unavailable: timeout");
}

TEST(InquiryCodec, RequestRoundTripsAndNormalises) {
    const auto original = request();
    EXPECT_EQ(decodeRequest(encodeRequest(original)), original);
    const auto decoded = decodeRequest(
        R"({"batch_id":"B2","row":"7","creditor_id":"C9","debtor_id":" ａ123456789 ","debtor_name":"王\u5c0f明",)"
        R"("scope":"income","income_years":"112;2022;112","extra":true})");
    EXPECT_EQ(decoded.row, 7);
    EXPECT_EQ(decoded.debtorId, "A123456789");
    EXPECT_EQ(decoded.debtorName, "王小明");
    EXPECT_EQ(decoded.incomeYears, (std::vector<int>{2022, 2023})) << "ROC 112 is 2023; duplicates dropped";
}

TEST(InquiryCodec, IncomeYearsAsAnArrayAreReadItemByItem) {
    const std::string head = R"({"batch_id":"B","row":1,"creditor_id":"C","debtor_id":"A123456789","debtor_name":"x",)";
    // ROC and Gregorian years, numbers written as 2024.0 or as strings, duplicates: sorted Gregorian, unique.
    EXPECT_EQ(decodeRequest(head + R"("income_years":[2025,113,"112",2024.0,2023,113]})").incomeYears,
              (std::vector<int>{2023, 2024, 2025}));
    EXPECT_EQ(decodeRequest(head + R"("income_years":[]})").incomeYears, std::vector<int>{});
    EXPECT_EQ(decodeRequest(head + R"("income_years":null})").incomeYears, std::vector<int>{});
    for (const char* bad : {R"([2024.5])", R"([true])", R"([2024,null])", R"([[2024]])", R"(["20x4"])", R"([1e9])",
                            R"({"y":2024})", R"(2024)",
                            // Not years: a negative year read as ROC would encode as another (json_fuzz's finding).
                            R"([-2024,113])", R"([0])", R"(["-1"])", R"("2024;-113")"}) {
        SCOPED_TRACE(bad);
        try {
            (void)decodeRequest(head + R"("income_years":)" + bad + "}");
            ADD_FAILURE() << "accepted";
        } catch (const DecodeError& error) {
            EXPECT_NE(std::string(error.what()).find("income_years"), std::string::npos) << error.what();
        }
    }
}

// Issue 13: the dispatcher copies the stored row's title into its request for the audit trail; optional, written only
// when set. A value that is not text of at most SPEC 3.1's 200 characters (counted as characters, not bytes) is not
// taken, and never makes the request unreadable: the row is still looked up (the trail reads the stored title).
TEST(InquiryCodec, ATitleRefIsOptionalRoundTripsAndABadOneIsLeftOutNotFatal) {
    auto original = request();
    EXPECT_EQ(encodeRequest(original).find("title_ref"), std::string::npos) << "not written when empty";
    EXPECT_EQ(decodeRequest(encodeRequest(original)).titleRef, "");
    original.titleRef = "臺灣臺北地方法院112年度司執字第12345號 \"\t";
    EXPECT_NE(encodeRequest(original).find("\"title_ref\":"), std::string::npos);
    EXPECT_EQ(decodeRequest(encodeRequest(original)), original);
    const std::string head = R"({"batch_id":"B","row":1,"creditor_id":"C","debtor_id":"A123456789","debtor_name":"x",)";
    std::string title200;
    for (int i = 0; i < 200; ++i) title200 += "號";  // 600 bytes, 200 characters: taken
    EXPECT_EQ(decodeRequest(head + R"("title_ref":")" + title200 + R"("})").titleRef, title200);
    for (const std::string& bad : {R"("title_ref":")" + title200 + R"(x"})", std::string(R"("title_ref":12})"),
                                   std::string(R"("title_ref":["t"]})"), std::string(R"("title_ref":null})"),
                                   std::string(R"("title_ref":"good","title_ref":12})")}) {
        SCOPED_TRACE(bad);
        const InquiryRequest decoded = decodeRequest(head + bad);
        EXPECT_EQ(decoded.titleRef, "") << "not taken";
        EXPECT_EQ(decoded.debtorId, "A123456789") << "the request itself is read";
    }
}

TEST(InquiryCodec, BadRequestsNameTheField) {
    struct Case {
        const char* json;
        const char* says;
    };
    const Case cases[] = {
        {R"({"row":1,"creditor_id":"C","debtor_id":"A123456789","debtor_name":"x"})", "batch_id"},
        {R"({"batch_id":"B","row":0,"creditor_id":"C","debtor_id":"A123456789","debtor_name":"x"})", "row"},
        {R"({"batch_id":"B","row":1,"creditor_id":"C","debtor_id":"A123456788","debtor_name":"x"})", "debtor_id"},
        {R"({"batch_id":"B","row":1,"creditor_id":"C","debtor_id":"A123456789","debtor_name":"x","scope":"all"})",
         "scope"},
        {R"({"batch_id":"B","row":1,"creditor_id":"C","debtor_id":"A123456789","debtor_name":"x","income_years":["x"]})",
         "income_years"},
        {R"({"batch_id":"B","row":1.5,"creditor_id":"C","debtor_id":"A123456789","debtor_name":"x"})", "row"},
        {R"({"batch_id":"B",)", "JSON"},
        {R"(not json)", "JSON"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.json);
        try {
            (void)decodeRequest(c.json);
            ADD_FAILURE() << "accepted";
        } catch (const DecodeError& error) {
            EXPECT_NE(std::string(error.what()).find(c.says), std::string::npos) << error.what();
            EXPECT_EQ(std::string(error.what()).find("A123456788"), std::string::npos) << "IDs are masked";
        }
    }
}

TEST(InquiryCodec, ResultTextIsExactlyTheContractsFields) {
    InquiryResult result;
    result.batchId = "B1";
    result.row = 3;
    result.debtorId = "A123456789";
    result.status = ResultStatus::found;
    result.income.push_back({2024, "22099131", "甲公司", "50", 1500});
    result.income.push_back({2023, "22099131", "甲公司", "9A", -2});
    result.property.push_back({"land", "土地", "臺北市", 7});
    EXPECT_EQ(encodeResult(result),
              R"({"batch_id":"B1","row":3,"debtor_id":"A123456789","status":"found","income":[)"
              R"({"year":2024,"payer_id":"22099131","payer_name":"甲公司","income_type":"50","amount":1500},)"
              R"({"year":2023,"payer_id":"22099131","payer_name":"甲公司","income_type":"9A","amount":-2}],)"
              R"("property":[{"kind":"land","description":"土地","location":"臺北市","value":7}]})");
    result.income.clear();
    result.property.clear();
    result.status = ResultStatus::no_records;
    EXPECT_EQ(encodeResult(result),
              R"({"batch_id":"B1","row":3,"debtor_id":"A123456789","status":"no_records","income":[],"property":[]})");
}

TEST(InquiryCodec, ResultRoundTripsWithRecordsAndEscapes) {
    InquiryResult result;
    result.batchId = "B\"1";
    result.row = 9;
    result.debtorId = "A123456789";
    result.status = ResultStatus::found;
    result.income.push_back({2024, "22099131", "甲\n公司", "9A", 1500000});
    result.property.push_back({"building", "房屋 \\ 2F", "臺北市大安區", 12000000});
    EXPECT_EQ(decodeResult(encodeResult(result)), result);
    result.status = ResultStatus::error;
    result.reason = "tax data unavailable";
    result.income.clear();
    result.property.clear();
    const std::string json = encodeResult(result);
    EXPECT_NE(json.find(R"("status":"error","reason":"tax data unavailable","income":[],"property":[])"),
              std::string::npos)
        << json;
    EXPECT_EQ(decodeResult(json), result);
}

// Found by tests/fuzz/json_fuzz: a null reason and records that are not objects escaped as Poco exceptions
// (InvalidAccessException, NullPointerException), which the pipeline does not know to be permanent.
TEST(InquiryCodec, ResultOfTheWrongShapeIsADecodeError) {
    const std::string head = R"({"batch_id":"B1","row":1,"debtor_id":"A123456789","status":"found",)";
    const struct {
        std::string tail;
        std::string says;
    } cases[] = {
        {R"("reason":null})", "'reason'"},
        {R"("income":[1]})", "'income'"},
        {R"("income":[{"year":2024,"payer_id":"22099131","payer_name":"p","income_type":"9A","amount":1},null]})",
         "'income'"},
        {R"("property":["house"]})", "'property'"},
        {R"("income":[{"year":"x","payer_id":"22099131","payer_name":"p","income_type":"9A","amount":1}]})", "'year'"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.tail);
        try {
            (void)decodeResult(head + c.tail);
            ADD_FAILURE() << "decoded";
        } catch (const DecodeError& error) {
            EXPECT_NE(std::string(error.what()).find(c.says), std::string::npos) << error.what();
        }
    }
    EXPECT_EQ(decodeResult(head + R"("reason":"r"})").reason, "r");
}

TEST(FlatJson, ParsesScalarsArraysAndEscapes) {
    const auto fields = taxdesk::jobs::json::parseFlatObject(
        R"( {"a":"x\"y\u00e9\ud83d\ude00","b":-1.5e2,"c":[1,"2",null],"d":true} )");
    ASSERT_EQ(fields.size(), 4u);
    EXPECT_EQ(std::get<std::string>(fields[0].value.scalar), "x\"y\xc3\xa9\xf0\x9f\x98\x80");
    EXPECT_DOUBLE_EQ(std::get<double>(fields[1].value.scalar), -150);
    EXPECT_TRUE(fields[2].value.isArray);
    EXPECT_EQ(fields[2].value.array.size(), 3u);
    EXPECT_TRUE(std::get<bool>(fields[3].value.scalar));
    EXPECT_THROW(taxdesk::jobs::json::parseFlatObject(R"({"a":{"nested":1}})"), taxdesk::jobs::json::ParseError);
    EXPECT_THROW(taxdesk::jobs::json::parseFlatObject(R"({"a":1} x)"), taxdesk::jobs::json::ParseError);
}

// Found by tests/fuzz/json_fuzz: an unpaired surrogate escape decoded to bytes that are not UTF-8 (a lone low one
// was written as the three bytes ED B8 80; a high one before another escape swallowed it and wrapped around).
TEST(FlatJson, RefusesUnpairedSurrogateEscapes) {
    using taxdesk::jobs::json::ParseError;
    using taxdesk::jobs::json::parseFlatObject;
    EXPECT_THROW(parseFlatObject(R"({"a":"\ude00"})"), ParseError);
    EXPECT_THROW(parseFlatObject(R"({"a":"\ud83d"})"), ParseError);
    EXPECT_THROW(parseFlatObject(R"({"a":"\ud83dx"})"), ParseError);
    EXPECT_THROW(parseFlatObject(R"({"a":"\ud83d\u0041"})"), ParseError);
    EXPECT_THROW(parseFlatObject(R"({"\udfff":1})"), ParseError);
    // U+1F600 (F0 9F 98 80) and the last character, U+10FFFF (F4 8F BF BF), still read.
    EXPECT_EQ(std::get<std::string>(parseFlatObject(R"({"a":"\uD83D\uDE00\udbff\udfff"})")[0].value.scalar),
              "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
}

// Found by tests/fuzz/route_fuzz: an error reply echoing a path with a byte that is not UTF-8 was not JSON.
TEST(FlatJson, WriterReplacesBytesThatAreNotUtf8) {
    std::string out;
    taxdesk::jobs::json::appendString(out,
                                      "a\x8d"
                                      "b\xe7\x8e\"\xc3\xa9\xed\xa0\x80");
    // 0x8D alone, a cut-short 王 (E7 8E), then é kept, then an encoded surrogate (ED A0 80): one U+FFFD per byte.
    const std::string replacement = "\xef\xbf\xbd";
    EXPECT_EQ(out, "\"a" + replacement + "b" + replacement + replacement + "\\\"\xc3\xa9" + replacement + replacement +
                       replacement + "\"");
    EXPECT_EQ(
        std::get<std::string>(taxdesk::jobs::json::parseFlatObject("{\"k\":" + out + "}")[0].value.scalar),
        "a" + replacement + "b" + replacement + replacement + "\"\xc3\xa9" + replacement + replacement + replacement);
}

// ---- retrying a batch's error rows (POST /api/v1/batches/{id}/retry) ----------------------------------------------

namespace {

RetryView view(const std::string& state, bool paid, int errorRows, std::vector<std::string> open = {}) {
    return RetryView{"B20261201-ab", state, paid, errorRows, std::move(open)};
}

RetryRefused refused(const RetryDecision& decision) {
    EXPECT_TRUE(std::holds_alternative<RetryRefused>(decision));
    return std::holds_alternative<RetryRefused>(decision) ? std::get<RetryRefused>(decision) : RetryRefused{};
}

}  // namespace

TEST(InquiryRetry, CompletedPaidBatchWithErrorRowsIsRetried) {
    const auto decision = decideRetry(view("completed", true, 7));
    ASSERT_TRUE(std::holds_alternative<RetryAccepted>(decision));
    EXPECT_EQ(std::get<RetryAccepted>(decision).rows, 7);
    ASSERT_TRUE(std::holds_alternative<RetryAccepted>(decideRetry(view("completed", true, 1))));
}

TEST(InquiryRetry, BatchNotCompletedIsAConflictNamingItsState) {
    // Asked twice: the first retry moved the batch back to processing, so the second finds it running.
    for (const char* state : {"awaiting_payment", "queued", "processing"}) {
        SCOPED_TRACE(state);
        const auto answer = refused(decideRetry(view(state, std::string(state) != "awaiting_payment", 3)));
        EXPECT_EQ(answer.status, 409);
        EXPECT_EQ(answer.code, "not_completed");
        EXPECT_NE(answer.message.find("B20261201-ab"), std::string::npos) << answer.message;
    }
    EXPECT_NE(refused(decideRetry(view("processing", true, 0))).message.find("processing"), std::string::npos);
    EXPECT_NE(refused(decideRetry(view("awaiting_payment", false, 0))).message.find("awaiting payment"),
              std::string::npos);
}

TEST(InquiryRetry, CompletedBatchWithoutErrorRowsIsAConflict) {
    const auto answer = refused(decideRetry(view("completed", true, 0)));
    EXPECT_EQ(answer.status, 409);
    EXPECT_EQ(answer.code, "no_error_rows");
    EXPECT_NE(answer.message.find("no rows whose result is error"), std::string::npos) << answer.message;
}

TEST(InquiryRetry, AnOpenBreakerIsTryAgainSoonNotARetryThatFailsAtOnce) {
    const auto answer = refused(decideRetry(view("completed", true, 5, {"registry", "taxdata"})));
    EXPECT_EQ(answer.status, 503);
    EXPECT_EQ(answer.code, "connectors_unavailable");
    EXPECT_NE(answer.message.find("registry, taxdata"), std::string::npos) << answer.message;
    // What the batch itself says comes first: a breaker does not make a running batch retryable later.
    EXPECT_EQ(refused(decideRetry(view("processing", true, 5, {"registry"}))).code, "not_completed");
    EXPECT_EQ(refused(decideRetry(view("completed", true, 0, {"registry"}))).code, "no_error_rows");
    ASSERT_TRUE(std::holds_alternative<RetryAccepted>(decideRetry(view("completed", true, 5, {}))));
}

TEST(InquiryRetry, FailedOrUnpaidBatchesAreNotRetried) {
    const auto failed = refused(decideRetry(view("failed", true, 4)));
    EXPECT_EQ(failed.status, 409);
    EXPECT_EQ(failed.code, "batch_failed");
    // Completed without payment: a file whose rows were all rejected. Nothing was looked up, nothing is owed.
    const auto unpaid = refused(decideRetry(view("completed", false, 2)));
    EXPECT_EQ(unpaid.status, 409);
    EXPECT_EQ(unpaid.code, "not_paid");
    EXPECT_EQ(refused(decideRetry(view("exploded", true, 2))).code, "not_completed");
}

TEST(InquiryCodec, TheRowOfARequestIsReadEvenWhenTheRequestIsRefused) {
    // decodeRequest refuses these (an invalid ID, a missing name), but the row they are about is known.
    EXPECT_EQ(rowOfRequest(R"({"batch_id":"B1","row":7,"creditor_id":"C1","debtor_id":"A123456788"})"),
              (RowRef{"B1", 7}));
    EXPECT_EQ(rowOfRequest(R"({"row":"12","batch_id":"B2"})"), (RowRef{"B2", 12}));
    EXPECT_FALSE(rowOfRequest(R"({"batch_id":"B1"})").has_value());
    EXPECT_FALSE(rowOfRequest(R"({"batch_id":"","row":3})").has_value());
    EXPECT_FALSE(rowOfRequest(R"({"batch_id":"B1","row":0})").has_value());
    EXPECT_FALSE(rowOfRequest(R"({"batch_id":"B1","row":1.5})").has_value());
    EXPECT_FALSE(rowOfRequest(R"({"batch_id":5,"row":3})").has_value());
    EXPECT_FALSE(rowOfRequest("not json").has_value());
    EXPECT_FALSE(rowOfRequest(R"({"batch_id":"B1","row":[3]})").has_value());
}

TEST(InquiryCodec, TheRowOfARequestIsReadWhateverElseTheRequestHolds) {
    // Found by json_fuzz in CI: a field holding objects (which decodeRequest() reads past and the flat reader does not
    // read at all) left a refused request without its row, and so its batch without a result for that row.
    EXPECT_EQ(rowOfRequest(R"({"batch_id":"B1","row":7,"debtor_id":"A123456788","extra":[{"on":"l","value":5}]})"),
              (RowRef{"B1", 7}));
    EXPECT_EQ(rowOfRequest(R"({"batch_id":"B1","note":{"a":{"b":[1]}},"row":"8"})"), (RowRef{"B1", 8}));
    // A repeated field's last value wins, as in decodeRequest().
    EXPECT_EQ(rowOfRequest(R"({"batch_id":"B1","row":"2","property":[{}],"row":3})"), (RowRef{"B1", 3}));
    // The request CI found: it decodes, and its row is the request's.
    const std::string found =
        R"({"batch_id":"b-b","row":"2","creditor_id":"c","debtor_id":" a123456789 ","debtor_name":"\u738b\ud83d\ude00",)"
        R"("scope":"income","income_yearch_id":"b","row":2,"property":[{"on":"l","val]e":5}]})";
    const InquiryRequest request = decodeRequest(found);
    EXPECT_EQ(rowOfRequest(found), (RowRef{request.batchId, request.row}));
}
