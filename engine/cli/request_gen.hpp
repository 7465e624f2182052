#pragma once
// Generated `inquiry.requests` messages matching the stub population: for `taxdesk gen --format requests`, the
// demo in scripts/run and the throughput bench (rows that skip the upload step).
#include <cstdint>
#include <string>

#include "jobs/inquiry/inquiry.hpp"

namespace taxdesk::engine {

/// Row `row` (1-based) of a generated batch: mostly living persons with their registered names, and a few unknown,
/// deceased and mismatched ones so that every result status occurs. Deterministic in (batchId, row, seed). Its
/// title_ref is generatedTitle(row), as the dispatcher copies a stored row's title into its request.
jobs::inquiry::InquiryRequest generatedRequest(const std::string& batchId, const std::string& creditorId, int row,
                                               std::uint64_t seed);

/// The enforcement title reference of generated row `row`: `臺灣臺北地方法院112年度司執字第<row>號`. A bench that
/// stores the generated batch's rows stores this title with each, so that the store and the requests agree.
std::string generatedTitle(int row);

/// Message `index` (0-based) of a generated stream of inbound SMS (SPEC 4.1) as a JSON object: mostly valid
/// applications of living people of the stub population (their NHI card digits), and, for a share `badFraction`, one
/// mistake each in turn: invalid ID, wrong NHI digits, unknown service, malformed text, help, a deceased applicant.
/// Each message has its own msisdn and gateway_msg_id.
std::string generatedSms(std::uint64_t index, std::uint64_t seed, double badFraction, const std::string& receivedAt);

}  // namespace taxdesk::engine
