#pragma once
// The Republic of China (民國) calendar's years, as Taiwanese forms and files write them: ROC year 1 is 1912, so the
// Gregorian year is the ROC year + 1911 (民國115年 = 2026). The one home of that offset.

namespace taxdesk::jobs {

/// Gregorian year = ROC year + kRocYearOffset.
inline constexpr int kRocYearOffset = 1911;

/// The Gregorian year of `year` read as a file writes it: a year below kRocYearOffset is an ROC year (115 → 2026),
/// any other already Gregorian (1911 stays 1911).
constexpr int gregorianYear(int year) noexcept {
    return year < kRocYearOffset ? year + kRocYearOffset : year;
}

/// The ROC year of the Gregorian `year` (2026 → 115).
constexpr int rocYear(int gregorian) noexcept {
    return gregorian - kRocYearOffset;
}

}  // namespace taxdesk::jobs
