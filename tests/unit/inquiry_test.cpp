#include <gtest/gtest.h>

#include "jobs/common/json.hpp"
#include "jobs/inquiry/codec.hpp"
#include "jobs/inquiry/inquiry.hpp"

using namespace taxdesk::jobs::inquiry;
using taxdesk::connectors::RegistryRecord;
using taxdesk::connectors::TaxRecords;

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

RegistryRecord person(bool deceased = false) { return {"A123456789", "王小明", "1980-01-02", "信義區", deceased, false}; }

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

TEST(FlatJson, ParsesScalarsArraysAndEscapes) {
    const auto fields = taxdesk::jobs::json::parseFlatObject(R"( {"a":"x\"y\u00e9\ud83d\ude00","b":-1.5e2,"c":[1,"2",null],"d":true} )");
    ASSERT_EQ(fields.size(), 4u);
    EXPECT_EQ(std::get<std::string>(fields[0].value.scalar), "x\"y\xc3\xa9\xf0\x9f\x98\x80");
    EXPECT_DOUBLE_EQ(std::get<double>(fields[1].value.scalar), -150);
    EXPECT_TRUE(fields[2].value.isArray);
    EXPECT_EQ(fields[2].value.array.size(), 3u);
    EXPECT_TRUE(std::get<bool>(fields[3].value.scalar));
    EXPECT_THROW(taxdesk::jobs::json::parseFlatObject(R"({"a":{"nested":1}})"), taxdesk::jobs::json::ParseError);
    EXPECT_THROW(taxdesk::jobs::json::parseFlatObject(R"({"a":1} x)"), taxdesk::jobs::json::ParseError);
}
