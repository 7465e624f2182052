#pragma once
// Internal to connectors/store: what the creditor areas' SQL shares (the select into records, each with a
// Poco::Data::TypeHandler, is store_internal.hpp's selectRows): a result row (StoredResult) as Poco::Data binds and
// extracts it, for the areas that write results (SqlResultStore, and SqlBatchStore for a rejected row's result). Not
// for use outside this folder.
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Data/TypeHandler.h>

#include <string>
#include <vector>

#include "connectors/store/result_store.hpp"
#include "connectors/store/store_internal.hpp"

namespace taxdesk::connectors::detail {

/// The columns of a result, in the TypeHandler's order.
inline constexpr const char* kResultColumns = "batch_id, row_no, debtor_id, status, reason, payload";

/// The statement that stores results idempotently, by (batch_id, row): a result, then its updated_at.
inline constexpr const char* kUpsertResult =
    "INSERT INTO inquiry_results (batch_id, row_no, debtor_id, status, reason, payload, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (batch_id, row_no) DO UPDATE SET debtor_id = excluded.debtor_id, status = excluded.status,"
    " reason = excluded.reason, payload = excluded.payload, updated_at = excluded.updated_at";

}  // namespace taxdesk::connectors::detail

namespace Poco::Data {

/// StoredResult as the six columns of detail::kResultColumns.
template <>
class TypeHandler<taxdesk::connectors::StoredResult> {
  public:
    using Result = taxdesk::connectors::StoredResult;
    static std::size_t size() { return 6; }
    static void bind(std::size_t pos, const Result& result, const AbstractBinder::Ptr& binder,
                     AbstractBinder::Direction direction) {
        TypeHandler<std::string>::bind(pos++, result.batchId, binder, direction);
        TypeHandler<int>::bind(pos++, result.row, binder, direction);
        TypeHandler<std::string>::bind(pos++, result.debtorId, binder, direction);
        TypeHandler<std::string>::bind(pos++, result.status, binder, direction);
        TypeHandler<std::string>::bind(pos++, result.reason, binder, direction);
        TypeHandler<std::string>::bind(pos, result.payload, binder, direction);
    }
    static void prepare(std::size_t pos, const Result& result, const AbstractPreparator::Ptr& preparator) {
        TypeHandler<std::string>::prepare(pos++, result.batchId, preparator);
        TypeHandler<int>::prepare(pos++, result.row, preparator);
        TypeHandler<std::string>::prepare(pos++, result.debtorId, preparator);
        TypeHandler<std::string>::prepare(pos++, result.status, preparator);
        TypeHandler<std::string>::prepare(pos++, result.reason, preparator);
        TypeHandler<std::string>::prepare(pos, result.payload, preparator);
    }
    static void extract(std::size_t pos, Result& result, const Result& fallback,
                        const AbstractExtractor::Ptr& extractor) {
        TypeHandler<std::string>::extract(pos++, result.batchId, fallback.batchId, extractor);
        TypeHandler<int>::extract(pos++, result.row, fallback.row, extractor);
        TypeHandler<std::string>::extract(pos++, result.debtorId, fallback.debtorId, extractor);
        TypeHandler<std::string>::extract(pos++, result.status, fallback.status, extractor);
        TypeHandler<std::string>::extract(pos++, result.reason, fallback.reason, extractor);
        TypeHandler<std::string>::extract(pos, result.payload, fallback.payload, extractor);
    }
};

}  // namespace Poco::Data
