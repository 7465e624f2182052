#pragma once
// `taxdesk audit search|verify|prune` (issue 13): the audit trail from the command line, on the configured store.
#include <string>
#include <vector>

#include "engine/runtime/config.hpp"

namespace taxdesk::engine {

/// `audit search [--debtor-id ID] [--creditor C] [--from D] [--to D] [--limit N] [--cursor C] [--format csv|json]`:
/// hits to stdout (the next page's cursor on stderr). `audit verify [--from D] [--to D]`: 0 with counts when every
/// chain holds, 1 naming the first broken record. `audit prune [--retention-days N]`: removes whole days older than
/// audit.retention_days after a signed checkpoint each. Throws UsageError for bad arguments.
int commandAudit(const Settings& settings, const std::vector<std::string>& args);

}  // namespace taxdesk::engine
