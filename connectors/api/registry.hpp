#pragma once
// Household registry (戶籍) connector: does this ID exist, and who is it.
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "connectors/api/batch.hpp"
#include "jobs/records/registry.hpp"

namespace taxdesk::connectors {

/// The registry's record is domain data (jobs/records): the name connectors have always used for it.
using RegistryRecord = jobs::records::RegistryRecord;
/// One answer of Registry::lookupMany: the record, nullopt for "no such person or company", or the error.
using RegistryAnswer = BatchAnswer<std::optional<RegistryRecord>>;

/// Thread-safe: implementations may be called from many threads at once.
class Registry {
  public:
    virtual ~Registry() = default;
    /// Looks up a normalised, valid ID. Returns nullopt when the registry has no such person or company.
    /// Throws ConnectorError (TransientError when a retry may help).
    virtual std::optional<RegistryRecord> lookup(const std::string& id) = 0;
    /// lookup() of every ID, one answer each in the same order; a look-up that failed leaves its error (what lookup
    /// would have thrown) in its answer and the others stand. Throws only std::bad_alloc. The default calls lookup()
    /// for each ID in turn on the calling thread.
    virtual std::vector<RegistryAnswer> lookupMany(std::span<const std::string> ids) {
        return answerEach<std::optional<RegistryRecord>>(ids.size(), [&](std::size_t i) { return lookup(ids[i]); });
    }
    /// True when lookupMany answers a set in about the time of one lookup (its requests wait together), so that a
    /// caller should give it the whole set in one call rather than spread slices of it over threads.
    [[nodiscard]] virtual bool answersSetsAtOnce() const noexcept { return false; }
};

}  // namespace taxdesk::connectors
