// The Redis cache format of connector answers (engine/lookup_cache).
#include "engine/runtime/lookup_cache.hpp"

#include <gtest/gtest.h>

#include <optional>

TEST(LookupCache, RoundTripsConnectorAnswers) {
    namespace cache = taxdesk::engine::cache;
    taxdesk::connectors::RegistryRecord person{"A123456789", "王小明", "1980-01-02", "信義區", false, false};
    EXPECT_EQ(cache::decodeRegistry(cache::encodeRegistry(person)), std::optional(std::optional(person)));
    const std::optional<taxdesk::connectors::RegistryRecord> unknown;
    const auto decoded = cache::decodeRegistry(cache::encodeRegistry(unknown));
    ASSERT_TRUE(decoded.has_value()) << "'not registered' is an answer, not a miss";
    EXPECT_FALSE(decoded->has_value());
    EXPECT_EQ(cache::decodeRegistry("garbage"), std::nullopt);

    taxdesk::connectors::TaxRecords records;
    records.income.push_back({2024, "22099131", "臺北股份有限公司", "50", 1234567});
    records.property.push_back({"land", "土地 100 m²", "臺北市信義區", 9876543});
    EXPECT_EQ(cache::decodeTax(cache::encodeTax(records)), records);
    EXPECT_EQ(cache::decodeTax(cache::encodeTax({})), taxdesk::connectors::TaxRecords{});
    EXPECT_EQ(cache::decodeTax("T\x1eX\x1f"
                               "1"),
              std::nullopt);
    EXPECT_NE(cache::taxKey("A123456789", true, false, {2024}), cache::taxKey("A123456789", true, true, {2024}));
}
