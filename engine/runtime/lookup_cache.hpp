#pragma once
// Compact text forms of connector answers for the Redis cache: cheaper to write and read than JSON, and never
// shown to anyone. Fields are separated by US (0x1f), records by RS (0x1e); neither occurs in the data.
#include <optional>
#include <string>
#include <vector>

#include "connectors/api/registry.hpp"
#include "connectors/api/taxdata.hpp"

namespace taxdesk::engine::cache {

std::string registryKey(const std::string& id);
std::string taxKey(const std::string& id, bool income, bool property, const std::vector<int>& years);

/// A registry answer, including "not registered" (nullopt).
std::string encodeRegistry(const std::optional<connectors::RegistryRecord>& record);
/// Returns nullopt when the cached text is not a registry answer (then it is treated as a miss).
std::optional<std::optional<connectors::RegistryRecord>> decodeRegistry(const std::string& text);

std::string encodeTax(const connectors::TaxRecords& records);
std::optional<connectors::TaxRecords> decodeTax(const std::string& text);

}  // namespace taxdesk::engine::cache
