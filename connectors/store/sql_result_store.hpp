#pragma once
// The results area over SQL (table inquiry_results; rows_done and the state of the batches they belong to).
#include "connectors/store/database.hpp"
#include "connectors/store/result_store.hpp"

namespace taxdesk::connectors {

class SqlAuditStore;

class SqlResultStore final : public ResultStore {
  public:
    /// Over an open database; must not outlive it. `audit` (may be null) records new results in their transaction.
    explicit SqlResultStore(Database& db, SqlAuditStore* audit = nullptr) : db_(db), audit_(audit) {}

    using ResultStore::upsertResults;
    /// upsertResultsWithAudit() with the audit trail's share prepared here (no request ids).
    void upsertResults(const std::vector<StoredResult>& results) override;
    PreparedAudit prepareAudit(const std::vector<StoredResult>& results,
                               const std::vector<std::string_view>& requestIds,
                               const std::vector<std::string_view>& titleRefs) override;
    void upsertResultsWithAudit(const std::vector<StoredResult>& results, const PreparedAudit& audit) override;
    int insertMissingResults(const std::vector<StoredResult>& results) override;
    int countResultsWithStatus(const std::string& batchId, const std::string& status) override;
    int retryErrorRows(const std::string& batchId) override;
    std::optional<StoredResult> findResult(const std::string& batchId, int row) override;
    std::vector<StoredResult> resultsOfBatch(const std::string& batchId) override;
    std::vector<StoredResult> resultsPage(const std::string& batchId, int afterRow, int limit) override;

  private:
    Database& db_;
    SqlAuditStore* audit_;
};

}  // namespace taxdesk::connectors
