#pragma once
// SPEC 3.3: a batch's results as CSV (GET /api/v1/batches/{id}/results?format=csv). One line per income or property
// record of a row, one line for a row without records; cells quoted and formula-safe (csv.hpp). Pure functions: the
// handler streams the text page by page.
#include <string>
#include <vector>

#include "jobs/inquiry/inquiry.hpp"

namespace taxdesk::jobs::inquiry {

/// The file's start: a UTF-8 byte order mark (spreadsheets in Taiwan then read UTF-8) and the header line (row,
/// debtor_id, status, reason, record, year, payer_id, payer_name, income_type, amount, kind, description, location,
/// value).
std::string resultsCsvHeader();

/// Appends the lines of one result: its row, debtor, status and reason on each, then "income" with the year, payer
/// and amount, or "property" with the kind, description, location and value; a result without records gets one line
/// with the record cells empty.
void appendResultCsv(std::string& out, const InquiryResult& result);

/// The whole CSV text of these results (header first), in the order given.
std::string resultsCsv(const std::vector<InquiryResult>& results);

}  // namespace taxdesk::jobs::inquiry
