// SPEC 5: API tokens' expiry, revocation and public id (jobs/auth/tokens).
#include "jobs/auth/tokens.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace taxdesk::jobs::auth {
namespace {

constexpr const char* kNow = "2026-12-01T13:20:05.123Z";

TEST(TokenState, ATokenWithoutExpiryOrRevocationIsValid) {
    EXPECT_EQ(tokenState("", "", kNow), TokenState::valid);
}

TEST(TokenState, ATokenExpiresAtItsExpiryNotAMillisecondEarlier) {
    EXPECT_EQ(tokenState("2026-12-01T13:20:05.124Z", "", kNow), TokenState::valid);
    EXPECT_EQ(tokenState("2026-12-01T13:20:05.123Z", "", kNow), TokenState::expired);
    EXPECT_EQ(tokenState("2026-11-30T00:00:00.000Z", "", kNow), TokenState::expired);
    EXPECT_EQ(tokenState("2027-01-01T00:00:00.000Z", "", kNow), TokenState::valid);
}

TEST(TokenState, RevocationWinsOverExpiry) {
    EXPECT_EQ(tokenState("", "2026-12-01T10:00:00.000Z", kNow), TokenState::revoked);
    EXPECT_EQ(tokenState("2027-01-01T00:00:00.000Z", "2026-12-01T10:00:00.000Z", kNow), TokenState::revoked);
    EXPECT_EQ(tokenState("2026-11-30T00:00:00.000Z", "2026-12-01T10:00:00.000Z", kNow), TokenState::revoked);
}

TEST(TokenId, IsTheFirstTwelveHexDigitsOfTheHash) {
    EXPECT_EQ(tokenIdOf("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), "0123456789ab");
}

TEST(TokenExpiry, NoOptionMeansNoExpiry) {
    EXPECT_EQ(expiryFor(std::nullopt, std::nullopt, kNow), std::nullopt);
}

TEST(TokenExpiry, ExpiresInCountsWholeDaysFromNow) {
    EXPECT_EQ(expiryFor("30", std::nullopt, kNow), "2026-12-31T13:20:05.123Z");
    EXPECT_EQ(expiryFor("1", std::nullopt, kNow), "2026-12-02T13:20:05.123Z");
    EXPECT_EQ(expiryFor("1", std::nullopt, "2024-02-28T23:00:00.000Z"), "2024-02-29T23:00:00.000Z");
    EXPECT_EQ(expiryFor("3650", std::nullopt, "2026-01-01T00:00:00.000Z"), "2035-12-30T00:00:00.000Z");
}

TEST(TokenExpiry, ExpiresOnADateIsValidThroughThatDayUtc) {
    // Through the end of the day in Taipei: 00:00 +08:00 of the next day is 16:00 UTC on the day.
    EXPECT_EQ(expiryFor(std::nullopt, "2026-12-31", kNow), "2026-12-31T16:00:00.000Z");
    EXPECT_EQ(expiryFor(std::nullopt, "2026-12-01", kNow), "2026-12-01T16:00:00.000Z") << "today is allowed";
    EXPECT_EQ(expiryFor(std::nullopt, "2028-02-29", kNow), "2028-02-29T16:00:00.000Z");
}

TEST(TokenExpiry, BadValuesAreRefusedNamingTheOption) {
    for (const char* days : {"0", "-1", "3651", "abc", "1.5", "", " 3", "00000001"}) {
        try {
            (void)expiryFor(std::string(days), std::nullopt, kNow);
            ADD_FAILURE() << "--expires-in '" << days << "' accepted";
        } catch (const std::invalid_argument& error) {
            EXPECT_NE(std::string(error.what()).find("--expires-in"), std::string::npos) << error.what();
        }
    }
    for (const char* date : {"2026-11-30", "2026-02-30", "2026-13-01", "26-01-01", "2026/12/31", "2026-12-3x", ""}) {
        try {
            (void)expiryFor(std::nullopt, std::string(date), kNow);
            ADD_FAILURE() << "--expires '" << date << "' accepted";
        } catch (const std::invalid_argument& error) {
            EXPECT_NE(std::string(error.what()).find("--expires"), std::string::npos) << error.what();
        }
    }
    EXPECT_THROW((void)expiryFor("30", "2026-12-31", kNow), std::invalid_argument) << "both options";
}

}  // namespace
}  // namespace taxdesk::jobs::auth
