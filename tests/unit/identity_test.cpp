// SPEC 2: identifiers — normalisation, validation, masking.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

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
    ::testing::Values(
        ClassifyCase{"spec_valid_national_id", "A123456789", IdKind::nationalId},
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
        ClassifyCase{"digit_first", "1123456789", IdKind::invalid}, ClassifyCase{"empty", "", IdKind::invalid},
        ClassifyCase{"only_spaces", " \u3000 ", IdKind::invalid},
        ClassifyCase{"resident_certificate_male", "A800000014", IdKind::residentCertificate},
        ClassifyCase{"resident_certificate_female", "A900000016", IdKind::residentCertificate},
        ClassifyCase{"resident_certificate_bad_checksum", "A800000015", IdKind::invalid},
        ClassifyCase{"resident_certificate_full_width", "ａ９００００００１６", IdKind::residentCertificate},
        // Old format (舊式統一證號): first letter tens ×1 + units ×9, the second letter's code's last
        // digit ×8, the next seven digits ×7..1, the check digit ×1.
        // A10: 1 + 0; C12 → 2·8 = 16; 1·7+2·6+3·5+4·4+5·3+6·2+7·1 = 84; + 9 → 110.
        ClassifyCase{"old_resident_certificate_C", "AC12345679", IdKind::residentCertificate},
        // The same with check digit 8: 109.
        ClassifyCase{"old_resident_certificate_bad_checksum", "AC12345678", IdKind::invalid},
        // A10: 1; B11 → 1·8 = 8; 84; + 8 → 101 (this case asserted "old formats are invalid" before).
        ClassifyCase{"old_resident_certificate_B_bad_checksum", "AB12345678", IdKind::invalid},
        // A10: 1; B11 → 8; 84; + 7 → 100.
        ClassifyCase{"old_resident_certificate_B", "AB12345677", IdKind::residentCertificate},
        // A10: 1; A10 → 0·8 = 0; 0; + 9 → 10.
        ClassifyCase{"old_resident_certificate_A", "AA00000009", IdKind::residentCertificate},
        // A10: 1; D13 → 3·8 = 24; 0; + 5 → 30.
        ClassifyCase{"old_resident_certificate_D", "AD00000005", IdKind::residentCertificate},
        // W32: 3 + 2·9 = 21; C12 → 16; 0; + 3 → 40.
        ClassifyCase{"old_resident_certificate_W", "WC00000003", IdKind::residentCertificate},
        // F15: 1 + 5·9 = 46; A10 → 0; 1·7+2·6+3·5+4·4+5·3+6·2+8·1 = 85; + 9 → 140.
        ClassifyCase{"old_resident_certificate_F", "FA12345689", IdKind::residentCertificate},
        // F15: 46; 0; 85; + 8 → 139.
        ClassifyCase{"old_resident_certificate_F_bad_checksum", "FA12345688", IdKind::invalid},
        ClassifyCase{"old_resident_certificate_lower_case", "ac12345679", IdKind::residentCertificate},
        ClassifyCase{"old_resident_certificate_full_width", "ＡＣ１２３４５６７９", IdKind::residentCertificate},
        ClassifyCase{"old_resident_certificate_full_width_lower_padded", "\u00A0ａｃ１２３４５６７９\u200B",
                     IdKind::residentCertificate},
        // E is no second letter of either format, whatever the digits.
        ClassifyCase{"old_format_second_letter_E", "AE00000001", IdKind::invalid},
        ClassifyCase{"old_format_second_letter_E_other_digit", "AE00000007", IdKind::invalid},
        ClassifyCase{"old_format_too_short", "AC1234567", IdKind::invalid},
        ClassifyCase{"old_format_letter_in_digits", "AC1234567A", IdKind::invalid},
        ClassifyCase{"national_id_no_break_spaces", "\u00A0A123456789\u00A0", IdKind::nationalId},
        ClassifyCase{"national_id_zero_width_spaces", "\u200BA123456789\uFEFF", IdKind::nationalId},
        ClassifyCase{"inner_zero_width_space_is_kept", "A1234\u200B56789", IdKind::invalid},
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
    EXPECT_FALSE(isValidOldResidentCertificate("A800000014"));

    EXPECT_TRUE(isValidResidentCertificate("AC12345679"));
    EXPECT_TRUE(isValidOldResidentCertificate("AC12345679"));
    EXPECT_FALSE(isValidNationalId("AC12345679"));
    EXPECT_FALSE(isValidBusinessNumber("AC12345679"));
    EXPECT_FALSE(isValidOldResidentCertificate("A123456789"));
    EXPECT_FALSE(isValidOldResidentCertificate("ac12345679"));  // not normalised

    EXPECT_TRUE(isValidBusinessNumber("22099131"));
    EXPECT_FALSE(isValidNationalId("22099131"));
    // The validators do not normalise: that is the caller's first step.
    EXPECT_FALSE(isValidNationalId("a123456789"));
    EXPECT_FALSE(isValidNationalId(" A123456789"));
}

TEST(IdentityValidators, OldCertificatesAreValidUntilTheEndOf2030) {
    // SPEC 2: 舊式統一證號 are valid until 2030-12-31; classifyIn judges an ID as an entry point does, in a year.
    EXPECT_EQ(classifyIn("AC12345679", 2026), IdKind::residentCertificate);
    EXPECT_EQ(classifyIn("AC12345679", 2030), IdKind::residentCertificate);
    EXPECT_EQ(classifyIn("AC12345679", 2031), IdKind::invalid);
    EXPECT_EQ(classify("AC12345679"), IdKind::residentCertificate)
        << "classify() recognises the form, whatever the year";
    // Every other kind is the same in any year.
    for (const char* id : {"A123456789", "A800000014", "22099131", "A123456788"}) {
        EXPECT_EQ(classifyIn(id, 2031), classify(id)) << id;
        EXPECT_EQ(classifyIn(id, 2026), classify(id)) << id;
    }
}

TEST(IdentityValidators, ExactlyOneCheckDigitCompletesEachNationalId) {
    const std::string stems[] = {"A12345678", "Z29876543", "I10000000", "F22222222",
                                 "K80000000", "AC1234567", "ZD0000000", "OB9999999"};
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

TEST(IdentityValidators, OldCertificateCheckDigitsAgreeWithAnIndependentSum) {
    // The sum written out differently from the code under test: the second letter's code A10..D13 contributes
    // (code mod 10) × 8, i.e. 0, 8, 16, 24.
    const int letterCodes[26] = {10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21,
                                 22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33};
    int valid = 0;
    for (char first = 'A'; first <= 'Z'; ++first) {
        for (char second = 'A'; second <= 'D'; ++second) {
            for (int digit = 0; digit <= 9; ++digit) {
                const std::string id = std::string{first, second} + "765432" + std::to_string(digit) + "1";
                const int code = letterCodes[first - 'A'];
                const int sum = code / 10 + code % 10 * 9 + (second - 'A') * 8 + 7 * 7 + 6 * 6 + 5 * 5 + 4 * 4 + 3 * 3 +
                                2 * 2 + digit + 1;
                SCOPED_TRACE(id);
                EXPECT_EQ(isValidResidentCertificate(id), sum % 10 == 0);
                valid += sum % 10 == 0 ? 1 : 0;
            }
        }
    }
    EXPECT_EQ(valid, 26 * 4);  // the 8th digit has weight 1: exactly one of ten completes each stem
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

/// Every code point SPEC 2 (and the brief) counts as a space, as UTF-8.
const std::vector<std::pair<char32_t, std::string>> kSpaces = {
    {U' ', " "},        {U'\t', "\t"},      {U'\n', "\n"},      {U'\v', "\v"},      {U'\f', "\f"},
    {U'\r', "\r"},      {0x0085, "\u0085"}, {0x00A0, "\u00A0"}, {0x1680, "\u1680"}, {0x2000, "\u2000"},
    {0x2001, "\u2001"}, {0x2002, "\u2002"}, {0x2003, "\u2003"}, {0x2004, "\u2004"}, {0x2005, "\u2005"},
    {0x2006, "\u2006"}, {0x2007, "\u2007"}, {0x2008, "\u2008"}, {0x2009, "\u2009"}, {0x200A, "\u200A"},
    {0x2028, "\u2028"}, {0x2029, "\u2029"}, {0x202F, "\u202F"}, {0x205F, "\u205F"}, {0x3000, "\u3000"},
    {0x200B, "\u200B"}, {0x200C, "\u200C"}, {0x200D, "\u200D"}, {0x2060, "\u2060"}, {0xFEFF, "\uFEFF"},
};

TEST(IdentitySpaces, EveryListedSpaceIsASpace) {
    ASSERT_EQ(kSpaces.size(), 30U);  // 6 ASCII + U+0085, U+00A0, U+1680, 11 of U+2000–200A, 7 more, 4 zero-width
    for (const auto& [cp, utf8] : kSpaces) {
        SCOPED_TRACE(static_cast<unsigned>(cp));
        EXPECT_TRUE(isSpace(cp));
    }
}

TEST(IdentitySpaces, OtherCodePointsAreNot) {
    // Neighbours of the listed ranges, visible punctuation, and invisible characters that are not spaces.
    for (const char32_t cp :
         {char32_t{0x08}, char32_t{0x0E}, char32_t{0x1F}, char32_t{'A'}, char32_t{'0'}, char32_t{0x00B7},
          char32_t{0x1FFF}, char32_t{0x200E}, char32_t{0x200F}, char32_t{0x2010}, char32_t{0x2027}, char32_t{0x202E},
          char32_t{0x2061}, char32_t{0x3001}, char32_t{0xFEFE}, char32_t{0xFF01}, char32_t{0x738B}}) {
        SCOPED_TRACE(static_cast<unsigned>(cp));
        EXPECT_FALSE(isSpace(cp));
    }
}

TEST(IdentitySpaces, EveryListedSpaceIsTrimmedAroundIdsAndNames) {
    for (const auto& [cp, space] : kSpaces) {
        SCOPED_TRACE(static_cast<unsigned>(cp));
        // Leading, trailing, both, and doubled.
        EXPECT_EQ(normalize(space + "A123456789"), "A123456789");
        EXPECT_EQ(normalize("a123456789" + space), "A123456789");
        EXPECT_EQ(normalize(space + space + "ac12345679" + space), "AC12345679");
        EXPECT_EQ(classify(normalize(space + "22099131" + space)), IdKind::businessNumber);
        EXPECT_EQ(trimSpaces(space + "王小明"), "王小明");
        EXPECT_EQ(trimSpaces("王小明" + space), "王小明");
        EXPECT_EQ(trimSpaces(space + "瓦旦·達利" + space + space), "瓦旦·達利");
        // Inner spaces stay: trimming is about the edges only.
        EXPECT_EQ(trimSpaces(space + "王" + space + "小明" + space), "王" + space + "小明");
        EXPECT_EQ(trimSpaces(space), "");
    }
}

TEST(IdentitySpaces, AllSpacesTogetherAreTrimmed) {
    std::string all;
    for (const auto& entry : kSpaces) all += entry.second;
    EXPECT_EQ(normalize(all + "Ａ１２３４５６７８９" + all), "A123456789");
    EXPECT_EQ(trimSpaces(all + "John Smith" + all), "John Smith");
    EXPECT_EQ(trimSpaces(all), "");
}

TEST(IdentitySpaces, TrimmingStopsAtBytesThatAreNotUtf8) {
    EXPECT_EQ(trimSpaces(" \x80 "), "\x80");
    // A no-break space, then a stray continuation byte: the space goes; seen from the end, the three bytes are no
    // one sequence, so the byte stays.
    EXPECT_EQ(trimSpaces("\xC2\xA0\x80"), "\x80");
    EXPECT_EQ(trimSpaces("\x80\xC2\xA0"), "\x80");
    // A truncated U+3000 at the end is not a space either.
    EXPECT_EQ(trimSpaces("A\xE3\x80"), "A\xE3\x80");
    const std::string truncatedFirst = std::string("\xE3\x80") + "A";
    EXPECT_EQ(trimSpaces(truncatedFirst), truncatedFirst);
    EXPECT_EQ(trimSpaces(""), "");
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
        {"AC12345679", "AC1****679"},
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

TEST(IdentityMask, MasksEveryIdInFreeText) {
    // Connector error messages and access-log paths (issue 9, finding 17).
    EXPECT_EQ(maskIdsIn("registry: GET http://127.0.0.1:8091/registry/v1/persons/A123456789: timed out"),
              "registry: GET http://127.0.0.1:8091/registry/v1/persons/A12****789: timed out");
    EXPECT_EQ(maskIdsIn("/api/v1/batches/A123456789"), "/api/v1/batches/A12****789");
    // Old and new resident certificates, lower case, a bad checksum, two in one line.
    EXPECT_EQ(maskIdsIn("AC12345679 a800000014 A123456788"), "AC1****679 a80****014 A12****788");
    EXPECT_EQ(maskIdsIn("id=A123456789;"), "id=A12****789;");
    // Not of the form: a batch id, a second letter outside A-D, too few digits, a business number.
    EXPECT_EQ(maskIdsIn("B20261201-0a1b2c3d4e"), "B20261201-0a1b2c3d4e");
    EXPECT_EQ(maskIdsIn("AE12345678 A12345678 22099131"), "AE12345678 A12345678 22099131");
    EXPECT_EQ(maskIdsIn(""), "");
}

}  // namespace
}  // namespace taxdesk::jobs::identity
