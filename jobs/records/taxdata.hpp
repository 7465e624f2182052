#pragma once
// Tax data (財稅資料) of an ID: income and property records, domain data that an inquiry's result carries (SPEC 3.3).
// The tax data connector (connectors/api/taxdata.hpp) answers with it; jobs/ never includes connectors/.
#include <string>
#include <vector>

namespace taxdesk::jobs::records {

/// One income record. `year` is the Gregorian tax year (2023 for ROC 112).
struct IncomeRecord {
    int year = 0;
    std::string payerId;  ///< unified business number of the payer
    std::string payerName;
    std::string incomeType;  ///< MOF income type code: "50" salary, "9A" professional, "5A" interest, "51" rent,
                             ///< "54" dividends
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

}  // namespace taxdesk::jobs::records
