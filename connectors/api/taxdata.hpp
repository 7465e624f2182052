#pragma once
// Tax data (財稅資料) connector: income and property records of an ID.
#include <string>
#include <vector>

namespace taxdesk::connectors {

/// One income record. `year` is the Gregorian tax year (2023 for ROC 112).
struct IncomeRecord {
    int year = 0;
    std::string payerId;     ///< unified business number of the payer
    std::string payerName;
    std::string incomeType;  ///< MOF income type code: "50" salary, "9A" professional, "5A" interest, "51" rent, "54" dividends
    long long amount = 0;    ///< NT$

    bool operator==(const IncomeRecord&) const = default;
};

/// One property record. `kind` is one of land, building, vehicle, investment.
struct PropertyRecord {
    std::string kind;
    std::string description;
    std::string location;
    long long value = 0;  ///< NT$ (assessed value)

    bool operator==(const PropertyRecord&) const = default;
};

struct TaxRecords {
    std::vector<IncomeRecord> income;
    std::vector<PropertyRecord> property;

    bool operator==(const TaxRecords&) const = default;
};

/// Thread-safe.
class TaxData {
public:
    virtual ~TaxData() = default;
    /// Records of a registered ID: income for each of `years` (Gregorian) when `income`, property when `property`.
    /// Throws ConnectorError.
    virtual TaxRecords lookup(const std::string& id, const std::vector<int>& years, bool income, bool property) = 0;
};

}  // namespace taxdesk::connectors
