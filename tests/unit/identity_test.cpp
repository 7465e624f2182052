// SPEC 2: identifiers — normalisation, validation, masking.
#include <gtest/gtest.h>

#include <string>

#include "jobs/identity/identifiers.hpp"

namespace taxdesk::jobs::identity {
namespace {

struct ClassifyCase {
    const char* label;
    std::string raw;  ///< as a user might type it
    IdKind expected;  ///< after normalize()
};

void PrintTo(const ClassifyCase& c, std::ostream* os) {
    *os << c.label;
}

class ClassifyTest : public ::testing::TestWithParam<ClassifyCase> {};

TEST_P(ClassifyTest, NormalizeThenClassify) {
    const ClassifyCase& c = GetParam();
    EXPECT_EQ(classify(normalize(c.raw)), c.expected) << "normalized: '" << normalize(c.raw) << "'";
}

// Check digits below were computed by hand from the SPEC 2 formula (see the comments).
INSTANTIATE_TEST_SUITE_P(
    Spec2, ClassifyTest,
    ::testing::Values(ClassifyCase{"spec_valid_national_id", "A123456789", IdKind::nationalId},
                      ClassifyCase{"spec_invalid_checksum", "A123456788", IdKind::invalid},
                      ClassifyCase{"female_national_id", "A223456781", IdKind::nationalId},  // 1 + 128 + 1 = 130
                      ClassifyCase{"letter_W_code_32", "W100000001", IdKind::nationalId},    // 3 + 2·9 + 8 + 1 = 30
                      ClassifyCase{"letter_I_code_34", "I100000003", IdKind::nationalId},    // 3 + 36 + 8 + 3 = 50
                      ClassifyCase{"letter_O_code_35", "O200000006", IdKind::nationalId},    // 3 + 45 + 16 + 6 = 70
                      ClassifyCase{"letter_Z_code_33", "Z298765438", IdKind::nationalId},
                      ClassifyCase{"lower_case", "a123456789", IdKind::nationalId},
                      ClassifyCase{"surrounding_ascii_space", "  A123456789\t\r\n", IdKind::nationalId},
                      ClassifyCase{"surrounding_ideographic_space", "\u3000A123456789\u3000", IdKind::nationalId},
                      ClassifyCase{"full_width", "Ａ１２３４５６７８９", IdKind::nationalId},
                      ClassifyCase{"full_width_lower_case", "ａ１２３４５６７８９", IdKind::nationalId},
                      ClassifyCase{"inner_space_is_kept", "A12345 6789", IdKind::invalid},
                      ClassifyCase{"second_digit_3", "A323456789", IdKind::invalid},
                      ClassifyCase{"too_short", "A12345678", IdKind::invalid},
                      ClassifyCase{"too_long", "A1234567890", IdKind::invalid},
                      ClassifyCase{"digit_first", "1123456789", IdKind::invalid},
                      ClassifyCase{"empty", "", IdKind::invalid},
                      ClassifyCase{"only_spaces", " \u3000 ", IdKind::invalid},
                      ClassifyCase{"resident_certificate_male", "A800000014", IdKind::residentCertificate},
                      ClassifyCase{"resident_certificate_female", "A900000016", IdKind::residentCertificate},
                      ClassifyCase{"resident_certificate_bad_checksum", "A800000015", IdKind::invalid},
                      ClassifyCase{"resident_certificate_full_width", "ａ９００００００１６",
                                   IdKind::residentCertificate},
                      ClassifyCase{"old_format_resident_certificate", "AB12345678", IdKind::invalid},
                      ClassifyCase{"spec_business_number", "22099131", IdKind::businessNumber},
                      ClassifyCase{"business_number_bad_checksum", "22099132", IdKind::invalid},
                      // 7th digit 7: the other positions sum to 19, so only counting 7×4 = 28 as 1 makes 20.
                      ClassifyCase{"business_7th_digit_special_case", "10458574", IdKind::businessNumber},
                      // 7th digit 7 with the other positions summing to 20: valid counting the position as 0.
                      ClassifyCase{"business_7th_digit_counted_0", "10458575", IdKind::businessNumber},
                      ClassifyCase{"business_7th_digit_neither", "10458576", IdKind::invalid},
                      ClassifyCase{"business_full_width_spaced", "\u3000２２０９９１３１ ", IdKind::businessNumber},
                      ClassifyCase{"business_too_short", "2209913", IdKind::invalid},
                      ClassifyCase{"business_too_long", "220991310", IdKind::invalid},
                      ClassifyCase{"business_with_letter", "2209913A", IdKind::invalid}),
    [](const ::testing::TestParamInfo<ClassifyCase>& caseInfo) { return std::string(caseInfo.param.label); });

TEST(IdentityValidators, EachValidatorAcceptsOnlyItsKind) {
    EXPECT_TRUE(isValidNationalId("A123456789"));
    EXPECT_FALSE(isValidResidentCertificate("A123456789"));
    EXPECT_FALSE(isValidBusinessNumber("A123456789"));

    EXPECT_TRUE(isValidResidentCertificate("A800000014"));
    EXPECT_FALSE(isValidNationalId("A800000014"));

    EXPECT_TRUE(isValidBusinessNumber("22099131"));
    EXPECT_FALSE(isValidNationalId("22099131"));
    // The validators do not normalise: that is the caller's first step.
    EXPECT_FALSE(isValidNationalId("a123456789"));
    EXPECT_FALSE(isValidNationalId(" A123456789"));
}

TEST(IdentityValidators, ExactlyOneCheckDigitCompletesEachNationalId) {
    const std::string stems[] = {"A12345678", "Z29876543", "I10000000", "F22222222", "K80000000"};
    for (const std::string& stem : stems) {
        int valid = 0;
        for (char digit = '0'; digit <= '9'; ++digit) {
            const std::string id = stem + digit;
            if (isValidNationalId(id) || isValidResidentCertificate(id)) ++valid;
        }
        SCOPED_TRACE(stem);
        EXPECT_EQ(valid, 1);
    }
}

TEST(IdentityValidators, TwoCheckDigitsCompleteEachBusinessNumber) {
    // The checksum is mod 5 and the last weight is 1: two of ten digits fit (more when the 7th digit is 7).
    const std::string stems[] = {"2209913", "1234560", "0000000", "9999999"};
    for (const std::string& stem : stems) {
        int valid = 0;
        for (char digit = '0'; digit <= '9'; ++digit) valid += isValidBusinessNumber(stem + digit) ? 1 : 0;
        SCOPED_TRACE(stem);
        EXPECT_EQ(valid, 2);
    }
}

TEST(IdentityNormalize, FoldsTrimsAndUpperCases) {
    struct Case {
        std::string input;
        std::string expected;
    };
    const Case cases[] = {
        {"a123456789", "A123456789"},
        {"  a123456789  ", "A123456789"},
        {"\u3000\u3000A123456789\u3000", "A123456789"},
        {"Ａ１２３４５６７８９", "A123456789"},
        {"ａｂｃ！～", "ABC!~"},
        {"A1\u30002", "A1 2"},  // an inner ideographic space becomes a space, not removed
        {"王小明 ", "王小明"},  // other characters pass through
        {"\t\n", ""},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.input);
        EXPECT_EQ(normalize(c.input), c.expected);
    }
}

TEST(IdentityNormalize, InvalidUtf8GetsOnlyAsciiFolding) {
    // A stray continuation byte makes the input invalid UTF-8: no full-width folding, but trimming and case.
    const std::string input = std::string(" a1\x80") + "Ａ ";
    EXPECT_EQ(normalize(input), std::string("A1\x80") + "Ａ");
}

TEST(IdentityFoldFullWidth, FoldsWithoutTrimmingOrCaseChange) {
    EXPECT_EQ(foldFullWidth("\u3000ａ１\u3000"), " a1 ");
    EXPECT_EQ(foldFullWidth("說明？"), "說明?");
    EXPECT_EQ(foldFullWidth("plain"), "plain");
    // U+FF5F (just past the range) and U+FF00 (just before) are not folded.
    EXPECT_EQ(foldFullWidth("\uFF5F\uFF00"), "\uFF5F\uFF00");
}

TEST(IdentityMask, HidesTheMiddle) {
    struct Case {
        std::string id;
        std::string expected;
    };
    const Case cases[] = {
        {"A123456789", "A12****789"},
        {"A800000014", "A80****014"},
        {"22099131", "22****31"},
        {"ABCDE", "A****E"},
        {"王小明", "王****明"},  // characters, not bytes
        {"AB", "****"},          // too short to show anything
        {"", "****"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.id);
        const std::string masked = mask(c.id);
        EXPECT_EQ(masked, c.expected);
        if (c.id.size() >= 8) {
            EXPECT_EQ(masked.find(c.id), std::string::npos);
        }
    }
}

TEST(IdentityToString, NamesEveryKind) {
    EXPECT_STREQ(toString(IdKind::nationalId), "national_id");
    EXPECT_STREQ(toString(IdKind::residentCertificate), "resident_certificate");
    EXPECT_STREQ(toString(IdKind::businessNumber), "business_number");
    EXPECT_STREQ(toString(IdKind::invalid), "invalid");
}

}  // namespace
}  // namespace taxdesk::jobs::identity
