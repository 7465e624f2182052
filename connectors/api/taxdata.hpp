#pragma once
// Tax data (財稅資料) connector: income and property records of an ID.
#include <span>
#include <string>
#include <vector>

#include "connectors/api/batch.hpp"
#include "jobs/records/taxdata.hpp"

namespace taxdesk::connectors {

// The records are domain data (jobs/records): the names connectors have always used for them.
using IncomeRecord = jobs::records::IncomeRecord;
using PropertyRecord = jobs::records::PropertyRecord;
using TaxRecords = jobs::records::TaxRecords;
/// One answer of TaxData::lookupMany.
using TaxAnswer = BatchAnswer<TaxRecords>;

/// One request of TaxData::lookupMany: the arguments of lookup(), referring to the caller's data for the call.
struct TaxQuery {
    const std::string& id;
    const std::vector<int>& years;
    bool income = true;
    bool property = true;
};

/// Thread-safe.
class TaxData {
  public:
    virtual ~TaxData() = default;
    /// Records of a registered ID: income for each of `years` (Gregorian) when `income`, property when `property`.
    /// Throws ConnectorError.
    virtual TaxRecords lookup(const std::string& id, const std::vector<int>& years, bool income, bool property) = 0;
    /// lookup() of every query, one answer each in the same order; a failed look-up leaves its error in its answer.
    /// Throws only std::bad_alloc. The default calls lookup() for each query in turn on the calling thread.
    virtual std::vector<TaxAnswer> lookupMany(std::span<const TaxQuery> queries) {
        return answerEach<TaxRecords>(queries.size(), [&](std::size_t i) {
            const TaxQuery& query = queries[i];
            return lookup(query.id, query.years, query.income, query.property);
        });
    }
    /// As Registry::answersSetsAtOnce.
    [[nodiscard]] virtual bool answersSetsAtOnce() const noexcept { return false; }
};

}  // namespace taxdesk::connectors
