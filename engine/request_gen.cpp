#include "engine/request_gen.hpp"

#include "connectors/population/population.hpp"

namespace taxdesk::engine {

jobs::inquiry::InquiryRequest generatedRequest(const std::string& batchId, const std::string& creditorId, int row,
                                               std::uint64_t seed) {
    const connectors::Population population(seed);
    jobs::inquiry::InquiryRequest request;
    request.batchId = batchId;
    request.creditorId = creditorId;
    request.row = row;
    const auto index = static_cast<std::uint64_t>(row);
    // Shares of the unusual statuses, by row number: 3% unknown, 1% deceased, 2% wrong name.
    switch (row % 100) {
        case 7:
        case 37:
        case 77: request.debtorId = population.unregisteredIdAt(index); break;
        case 57: request.debtorId = population.deceasedIdAt(index); break;
        case 91: request.debtorId = population.businessNumberAt(index); break;
        default: request.debtorId = population.nationalIdAt(index);
    }
    const auto record = population.registryRecord(request.debtorId);
    request.debtorName = record ? record->name : population.randomPersonName(index);
    if (row % 100 == 13 || row % 100 == 63) request.debtorName = population.randomPersonName(index + 1);
    request.scope = row % 3 == 0 ? jobs::inquiry::Scope::income
                                 : (row % 3 == 1 ? jobs::inquiry::Scope::both : jobs::inquiry::Scope::property);
    if (request.wantsIncome()) {
        request.incomeYears = {connectors::Population::kLatestTaxYear - 1, connectors::Population::kLatestTaxYear};
        if (row % 2 == 0) request.incomeYears.erase(request.incomeYears.begin());
    }
    return request;
}

}  // namespace taxdesk::engine
