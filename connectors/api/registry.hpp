#pragma once
// Household registry (戶籍) connector: does this ID exist, and who is it.
#include <optional>
#include <string>

#include "jobs/records/registry.hpp"

namespace taxdesk::connectors {

/// The registry's record is domain data (jobs/records): the name connectors have always used for it.
using RegistryRecord = jobs::records::RegistryRecord;

/// Thread-safe: implementations may be called from many threads at once.
class Registry {
  public:
    virtual ~Registry() = default;
    /// Looks up a normalised, valid ID. Returns nullopt when the registry has no such person or company.
    /// Throws ConnectorError (TransientError when a retry may help).
    virtual std::optional<RegistryRecord> lookup(const std::string& id) = 0;
};

}  // namespace taxdesk::connectors
