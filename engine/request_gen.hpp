#pragma once
// Generated `inquiry.requests` messages matching the stub population: for `taxdesk gen --format requests`, the
// demo in scripts/run and the throughput bench (rows that skip the upload step).
#include <cstdint>
#include <string>

#include "jobs/inquiry/inquiry.hpp"

namespace taxdesk::engine {

/// Row `row` (1-based) of a generated batch: mostly living persons with their registered names, and a few unknown,
/// deceased and mismatched ones so that every result status occurs. Deterministic in (batchId, row, seed).
jobs::inquiry::InquiryRequest generatedRequest(const std::string& batchId, const std::string& creditorId, int row,
                                               std::uint64_t seed);

}  // namespace taxdesk::engine
