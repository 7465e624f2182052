#pragma once
// The SMS service's tables: the district → office table and the holiday list. Embedded in the binary from config/
// at build time, so the engine runs without its source tree; a configured file replaces the embedded one.
#include <string>

#include "jobs/sms/pickup_rules.hpp"

namespace taxdesk::engine {

/// The office table from `path`, or the embedded config/offices.properties when `path` is empty. Throws
/// std::runtime_error naming the file and the problem.
jobs::sms::OfficeTable loadOffices(const std::string& path);
/// The holidays from `path`, or the embedded config/holidays.txt when `path` is empty. Throws std::runtime_error.
jobs::sms::BusinessCalendar loadCalendar(const std::string& path);

}  // namespace taxdesk::engine
