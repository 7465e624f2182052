#pragma once
// What the household registry (戶籍) knows of an ID: domain data, read by the inquiry and SMS rules. The registry
// connector (connectors/api/registry.hpp) answers with it; jobs/ never includes connectors/.
#include <string>

namespace taxdesk::jobs::records {

/// What the registry knows of a person (national ID, resident certificate) or a company (business number).
struct RegistryRecord {
    std::string id;
    std::string name;       ///< name as registered (company name for a business number)
    std::string birthDate;  ///< YYYY-MM-DD; founding date for a company
    std::string district;   ///< household district in Taipei, e.g. "信義區"
    bool deceased = false;  ///< a company that has been dissolved is reported as deceased
    bool company = false;

    bool operator==(const RegistryRecord&) const = default;
};

}  // namespace taxdesk::jobs::records
