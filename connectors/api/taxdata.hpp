#pragma once
// Tax data (財稅資料) connector: income and property records of an ID.
#include <string>
#include <vector>

#include "jobs/records/taxdata.hpp"

namespace taxdesk::connectors {

// The records are domain data (jobs/records): the names connectors have always used for them.
using IncomeRecord = jobs::records::IncomeRecord;
using PropertyRecord = jobs::records::PropertyRecord;
using TaxRecords = jobs::records::TaxRecords;

/// Thread-safe.
class TaxData {
  public:
    virtual ~TaxData() = default;
    /// Records of a registered ID: income for each of `years` (Gregorian) when `income`, property when `property`.
    /// Throws ConnectorError.
    virtual TaxRecords lookup(const std::string& id, const std::vector<int>& years, bool income, bool property) = 0;
};

}  // namespace taxdesk::connectors
