#pragma once
// Compact text forms of connector answers for the Redis cache: cheaper to write and read than JSON, and never
// shown to anyone. Fields are separated by US (0x1f), records by RS (0x1e), the two answers of an entry by GS (0x1d);
// none of them occurs in the data.
//
// One entry a question (ID, scope, income years), under one key (entryKey): the registry's answer for the ID and,
// once the tax data was asked, its answer for the question, in one value. A row costs one key in the MGET and at most
// one SET, where the layout before (v1: a `reg:` key an ID and a `tax:` key a question) cost two of each. The key
// prefix is versioned (v2:), so entries of the old layout are never read (they read as misses and expire by their
// TTL); a value holding only a registry answer is one whose tax data was not needed when it was written.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/api/registry.hpp"
#include "connectors/api/taxdata.hpp"

namespace taxdesk::engine::cache {

/// The key of the entry of one question (without the client's key prefix): `v2:q:<id>:<i?p?>:<year,>*`.
std::string entryKey(std::string_view id, bool income, bool property, std::span<const int> years);
/// The same key appended to `out` (issue 11: a batch's keys written one after another into one buffer, not a string
/// each).
void appendEntryKey(std::string& out, std::string_view id, bool income, bool property, std::span<const int> years);

/// A registry answer, including "not registered" (nullopt).
std::string encodeRegistry(const std::optional<connectors::RegistryRecord>& record);
/// Returns nullopt when the cached text is not a registry answer (then it is treated as a miss).
std::optional<std::optional<connectors::RegistryRecord>> decodeRegistry(std::string_view text);

std::string encodeTax(const connectors::TaxRecords& records);
std::optional<connectors::TaxRecords> decodeTax(std::string_view text);

/// What a cached entry holds: each answer, or nullopt when it is not there (or not readable: a miss).
struct Entry {
    std::optional<std::optional<connectors::RegistryRecord>> registry;
    std::optional<connectors::TaxRecords> tax;
};
/// The value of an entry: the registry's answer and, when `tax` is not null, the tax data's.
std::string encodeEntry(const std::optional<connectors::RegistryRecord>& registry, const connectors::TaxRecords* tax);
/// The same value appended to `out`.
void appendEntry(std::string& out, const std::optional<connectors::RegistryRecord>& registry,
                 const connectors::TaxRecords* tax);
/// Reads a value of encodeEntry. An entry whose registry answer does not read is a miss as a whole (both nullopt).
Entry decodeEntry(std::string_view text);

}  // namespace taxdesk::engine::cache
