#pragma once
// `taxdesk gen --rows N [--seed S] [--bad-fraction F] [--charset big5]`: a creditor batch file (SPEC 3.1) whose
// rows match the synthetic population that the stubs answer from, with a chosen share of faulty rows.
#include <cstddef>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>

#include "connectors/api/connector_set.hpp"

namespace taxdesk::demo_data {

struct BatchGenOptions {
    std::size_t rows = 100;  ///< data rows, not counting the header
    /// The population's seed: use the stubs' seed so that rows match.
    std::uint64_t seed = connectors::StubSettings{}.seed;
    double badFraction = 0.0;       ///< share of rows with a row error, 0..1, spread evenly over the reasons
    std::string charset = "utf-8";  ///< "utf-8" or "big5" (CP950); case-insensitive, "utf8" and "cp950" too
    /// The first row is made as the row of this index would be: batches made from indexes far enough apart (64
    /// people a row) share no debtor, so that one does not find the other's answers in the cache.
    std::uint64_t firstIndex = 0;
};

/// What was written, so that `gen` can say what to expect from the batch.
struct BatchGenReport {
    std::size_t rows = 0;            ///< data rows written
    std::size_t good = 0;            ///< rows without a row error
    std::size_t nameMismatches = 0;  ///< good rows whose name differs from the registry's (name_mismatch)
    std::size_t notRegistered = 0;   ///< good rows with a valid ID the registry does not know (not_registered)
    std::size_t deceased = 0;        ///< good rows of deceased persons (deceased)
    std::map<std::string, std::size_t> rejected;  ///< faulty rows by SPEC 3.1 reason: invalid_id, missing_field,
                                                  ///< bad_scope, bad_year, too_long, duplicate
    /// Good rows whose name is the registry's written another way (台 for 臺, 王　小明): found all the same.
    std::size_t namesWrittenDifferently = 0;
};

/// Writes a batch CSV to `out`: the header `debtor_id,debtor_name,title_ref,scope,income_years`, then
/// options.rows rows, LF line ends, RFC 4180 quoting where a field needs it. Good rows are mostly living persons
/// (national IDs, some resident certificates, new and old format) and some companies, with the registered name, a title
/// reference such as `臺灣臺北地方法院112年度司執字第12345號`, mixed scopes and 1–5 income years up to 2025 (ROC or
/// Gregorian, or left to the default); a few are unknown, deceased or carry a wrong name, so that every result
/// status occurs, and a few carry the registered name written another way (台 for 臺, an inner full-width space).
/// floor(rows × badFraction) rows carry exactly one row error each, the reasons taking turns. Deterministic in the
/// options: row i is the same whatever the number of rows. Throws std::invalid_argument for a bad fraction outside 0..1
/// or an unknown charset.
BatchGenReport writeBatchCsv(std::ostream& out, const BatchGenOptions& options);

}  // namespace taxdesk::demo_data
