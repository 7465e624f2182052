#pragma once
// Household registry (戶籍) connector: does this ID exist, and who is it.
#include <optional>
#include <string>

namespace taxdesk::connectors {

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

/// Thread-safe: implementations may be called from many threads at once.
class Registry {
public:
    virtual ~Registry() = default;
    /// Looks up a normalised, valid ID. Returns nullopt when the registry has no such person or company.
    /// Throws ConnectorError (TransientError when a retry may help).
    virtual std::optional<RegistryRecord> lookup(const std::string& id) = 0;
};

}  // namespace taxdesk::connectors
