#pragma once
// What the batch file tests share (batch_file_test, csv_reader_test, charset_test): the rules, reading a text whole,
// Big5 text, and hand-made IDs.
#include <Poco/TextConverter.h>
#include <Poco/UTF8Encoding.h>
#include <Poco/Windows950Encoding.h>
#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "jobs/inquiry/batch_file.hpp"

namespace taxdesk::jobs::inquiry::test_support {

inline constexpr int kCurrentYear = 2026;
inline constexpr int kLatestTaxYear = 2025;
inline const std::string kHeader = "debtor_id,debtor_name,title_ref,scope,income_years\n";
inline const std::string kTitle = "臺灣臺北地方法院112年度司執字第12345號";

inline BatchRules rules() {
    BatchRules r;
    r.currentYear = kCurrentYear;
    r.latestTaxYear = kLatestTaxYear;
    return r;
}

struct Outcome {
    std::vector<BatchRow> rows;
    BatchTotals totals;
};

inline Outcome readText(const std::string& text, Charset charset = Charset::utf8, const BatchRules& r = rules()) {
    std::istringstream in(text);
    Outcome outcome;
    outcome.totals = BatchFileReader(r, charset).read(in, [&](const BatchRow& row) { outcome.rows.push_back(row); });
    return outcome;
}

/// The FileError that reading `text` throws; fails the test when none is thrown.
inline FileError readError(const std::string& text, Charset charset = Charset::utf8, const BatchRules& r = rules(),
                           int* rowsSeen = nullptr) {
    std::istringstream in(text);
    int seen = 0;
    try {
        BatchFileReader(r, charset).read(in, [&](const BatchRow&) { ++seen; });
    } catch (const FileError& error) {
        if (rowsSeen != nullptr) *rowsSeen = seen;
        return error;
    }
    ADD_FAILURE() << "no FileError for:\n" << text;
    return {0, "none", 0, "none"};
}

inline std::string toBig5(const std::string& utf8) {
    Poco::UTF8Encoding from;
    Poco::Windows950Encoding to;
    Poco::TextConverter converter(from, to);
    std::string out;
    EXPECT_EQ(converter.convert(utf8, out), 0) << "no Big5 form for " << utf8;
    return out;
}

inline Charset detect(const std::string& bytes, std::optional<Charset> declared = std::nullopt) {
    std::istringstream in(bytes);
    return detectCharset(in, declared);
}

/// Appends the SPEC 2 check digit to a letter and eight digits.
inline std::string withCheckDigit(const std::string& nine) {
    constexpr int kCodes[26] = {10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21,
                                22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33};
    const int code = kCodes[nine[0] - 'A'];
    int sum = code / 10 + (code % 10) * 9;
    for (int i = 1; i <= 8; ++i) sum += (nine[static_cast<std::size_t>(i)] - '0') * (9 - i);
    return nine + std::to_string((10 - sum % 10) % 10);
}

inline std::string repeat(const std::string& unit, int times) {
    std::string out;
    for (int i = 0; i < times; ++i) out += unit;
    return out;
}

}  // namespace taxdesk::jobs::inquiry::test_support
