// The Redis cache format of connector answers (engine/lookup_cache).
#include "engine/runtime/lookup_cache.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace cache = taxdesk::engine::cache;
using taxdesk::connectors::RegistryRecord;
using taxdesk::connectors::TaxRecords;

namespace {

TaxRecords someRecords() {
    TaxRecords records;
    records.income.push_back({2024, "22099131", "臺北股份有限公司", "50", 1234567});
    records.income.push_back({2023, "22099131", "臺北股份有限公司", "9A", -5});
    records.property.push_back({"land", "土地 100 m²", "臺北市信義區", 9876543});
    return records;
}

}  // namespace

TEST(LookupCache, RoundTripsConnectorAnswers) {
    RegistryRecord person{"A123456789", "王小明", "1980-01-02", "信義區", false, false};
    EXPECT_EQ(cache::decodeRegistry(cache::encodeRegistry(person)), std::optional(std::optional(person)));
    const std::optional<RegistryRecord> unknown;
    const auto decoded = cache::decodeRegistry(cache::encodeRegistry(unknown));
    ASSERT_TRUE(decoded.has_value()) << "'not registered' is an answer, not a miss";
    EXPECT_FALSE(decoded->has_value());
    EXPECT_EQ(cache::decodeRegistry("garbage"), std::nullopt);
    EXPECT_EQ(cache::decodeRegistry("1\x1f"
                                    "A123456789\x1f"
                                    "x"),
              std::nullopt)
        << "a registry record has seven fields";

    const TaxRecords records = someRecords();
    EXPECT_EQ(cache::decodeTax(cache::encodeTax(records)), records);
    EXPECT_EQ(cache::decodeTax(cache::encodeTax({})), TaxRecords{});
    EXPECT_EQ(cache::decodeTax("T\x1eX\x1f"
                               "1"),
              std::nullopt);
    EXPECT_EQ(cache::decodeTax("T\x1e"), std::nullopt) << "an empty record is not a record";
    EXPECT_EQ(cache::decodeTax("T\x1eI\x1f"
                               "2024\x1fp\x1fn\x1ft\x1f"
                               "12x"),
              std::nullopt)
        << "an amount must be a number";
}

TEST(LookupCache, TheTextOfEachAnswerIsTheOneWrittenBefore) {
    // Written out by hand: US (0x1f) between fields, RS (0x1e) between records.
    RegistryRecord person{"A123456789", "王小明", "1980-01-02", "信義區", true, false};
    EXPECT_EQ(cache::encodeRegistry(person),
              "1\x1f"
              "A123456789\x1f王小明\x1f"
              "1980-01-02\x1f信義區\x1f"
              "1\x1f"
              "0");
    EXPECT_EQ(cache::encodeRegistry(std::nullopt), "0");
    TaxRecords records;
    records.income.push_back({2024, "22099131", "臺北", "50", 1234567});
    records.property.push_back({"land", "土地", "臺北市", 42});
    EXPECT_EQ(cache::encodeTax(records),
              "T\x1eI\x1f"
              "2024\x1f"
              "22099131\x1f臺北\x1f"
              "50\x1f"
              "1234567\x1eP\x1fland\x1f土地\x1f臺北市\x1f"
              "42");
}

TEST(LookupCache, OneKeyAQuestionUnderANewVersion) {
    EXPECT_EQ(cache::entryKey("A123456789", true, false, std::vector<int>{2023, 2024}), "v2:q:A123456789:i:2023,2024,");
    EXPECT_EQ(cache::entryKey("A123456789", true, true, std::vector<int>{}), "v2:q:A123456789:ip:");
    EXPECT_EQ(cache::entryKey("A123456789", false, true, std::vector<int>{2024}), "v2:q:A123456789:p:2024,");
    // Every part of the question is in the key: no two questions share an entry.
    EXPECT_NE(cache::entryKey("A123456789", true, false, std::vector<int>{2024}),
              cache::entryKey("A123456789", true, true, std::vector<int>{2024}));
    EXPECT_NE(cache::entryKey("A123456789", true, false, std::vector<int>{2024}),
              cache::entryKey("A123456789", true, false, std::vector<int>{2023}));
    EXPECT_NE(cache::entryKey("A123456789", true, false, std::vector<int>{2024}),
              cache::entryKey("B123456789", true, false, std::vector<int>{2024}));
    // The old layout's keys (v1:reg:<id>, v1:tax:<id>:…) are never asked for: a key of this layout starts with v2:.
    EXPECT_EQ(cache::entryKey("A123456789", true, false, std::vector<int>{2024}).rfind("v2:", 0), 0U);
}

// Issue 11: the stage writes a batch's keys and values one after another into one buffer; each append is the text of
// the one-string form, after whatever the buffer held.
TEST(LookupCache, KeysAndValuesAppendAfterWhatTheBufferHolds) {
    std::string keys = "x";
    cache::appendEntryKey(keys, "A123456789", true, false, std::vector<int>{2023, 2024});
    cache::appendEntryKey(keys, "B223456789", false, true, std::vector<int>{});
    EXPECT_EQ(keys, "xv2:q:A123456789:i:2023,2024,v2:q:B223456789:p:");
    std::string values = "y";
    const TaxRecords none;
    cache::appendEntry(values, std::nullopt, &none);
    cache::appendEntry(values, std::nullopt, nullptr);
    EXPECT_EQ(values, "y0\x1dT0");
}

TEST(LookupCache, AnEntryHoldsTheRegistryAnswerAndTheTaxDataWhenAsked) {
    RegistryRecord person{"A123456789", "王小明", "1980-01-02", "信義區", false, false};
    const TaxRecords records = someRecords();

    const auto both = cache::decodeEntry(cache::encodeEntry(person, &records));
    EXPECT_EQ(both.registry, std::optional(std::optional(person)));
    EXPECT_EQ(both.tax, records);

    const auto registryOnly = cache::decodeEntry(cache::encodeEntry(person, nullptr));
    EXPECT_EQ(registryOnly.registry, std::optional(std::optional(person)));
    EXPECT_EQ(registryOnly.tax, std::nullopt) << "tax data not asked yet: a miss for the tax step";

    const auto notRegistered = cache::decodeEntry(cache::encodeEntry(std::nullopt, nullptr));
    ASSERT_TRUE(notRegistered.registry.has_value());
    EXPECT_FALSE(notRegistered.registry->has_value());

    const TaxRecords none;
    const auto noRecords = cache::decodeEntry(cache::encodeEntry(person, &none));
    EXPECT_EQ(noRecords.tax, TaxRecords{}) << "no records is an answer, not a miss";

    // The value is the registry's text, GS (0x1d), the tax data's text: written out by hand.
    EXPECT_EQ(cache::encodeEntry(std::nullopt, &none), "0\x1dT");
    // A v1 registry value under a key is read as an entry without tax data.
    EXPECT_EQ(cache::decodeEntry(cache::encodeRegistry(person)).registry, std::optional(std::optional(person)));
}

TEST(LookupCache, AnEntryThatDoesNotReadIsAMiss) {
    const auto garbage = cache::decodeEntry("garbage\x1dT");
    EXPECT_EQ(garbage.registry, std::nullopt);
    EXPECT_EQ(garbage.tax, std::nullopt) << "no tax data without the registry's answer";
    const auto badTax = cache::decodeEntry("0\x1dX");
    ASSERT_TRUE(badTax.registry.has_value());
    EXPECT_EQ(badTax.tax, std::nullopt);
    EXPECT_EQ(cache::decodeEntry("").registry, std::nullopt);
}
