// The message key of a batch's rows on inquiry.requests (issue 11): `<batch_id>:<block>`, blocks of
// dispatch.block_rows consecutive rows, so that one batch spreads over every partition.
#include <gtest/gtest.h>

#include <set>

#include "engine/flow/batch_dispatcher.hpp"

using taxdesk::engine::requestKey;

TEST(RequestKey, RowsOfOneBlockShareTheirKey) {
    // Blocks of 500: rows 1-500 are block 0, 501-1000 block 1, 3501 block 7.
    EXPECT_EQ(requestKey("B123", 1, 500), "B123:0000");
    EXPECT_EQ(requestKey("B123", 500, 500), "B123:0000");
    EXPECT_EQ(requestKey("B123", 501, 500), "B123:0001");
    EXPECT_EQ(requestKey("B123", 1000, 500), "B123:0001");
    EXPECT_EQ(requestKey("B123", 3501, 500), "B123:0007");
}

TEST(RequestKey, TheBlockNumberHasAtLeastFourDigitsAndGrowsBeyond) {
    EXPECT_EQ(requestKey("B20261202-ab", 9999 * 100 + 1, 100), "B20261202-ab:9999");
    EXPECT_EQ(requestKey("B20261202-ab", 10000 * 100 + 1, 100), "B20261202-ab:10000");
    // One row a block: row 1 000 000 is block 999 999.
    EXPECT_EQ(requestKey("B1", 1000000, 1), "B1:999999");
}

TEST(RequestKey, ABatchOfManyBlocksHasAsManyKeys) {
    std::set<std::string> keys;
    for (int row = 1; row <= 10000; ++row) keys.insert(requestKey("B9", row, 250));
    EXPECT_EQ(keys.size(), 40u);  // 10000 / 250
}

TEST(RequestKey, ANonsensicalBlockSizeOrRowStillGivesAKey) {
    // The configuration refuses block_rows < 1; the function does not divide by zero either.
    EXPECT_EQ(requestKey("B5", 3, 0), "B5:0002");
    EXPECT_EQ(requestKey("B5", 0, 10), "B5:0000");
}
