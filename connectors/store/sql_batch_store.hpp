#pragma once
// The batches area over SQL (tables batches and batch_rows; a rejected row's result goes to inquiry_results with its
// batch).
#include "connectors/store/batch_store.hpp"
#include "connectors/store/database.hpp"

namespace taxdesk::connectors {

class SqlBatchStore final : public BatchStore {
  public:
    /// Over an open database; must not outlive it (nor must the writers it makes).
    explicit SqlBatchStore(Database& db) : db_(db) {}

    std::unique_ptr<BatchWriter> beginBatch(const BatchRecord& batch) override;
    std::optional<BatchRecord> findBatch(const std::string& batchId) override;
    std::optional<BatchRecord> findBatchByReceiptToken(const std::string& receiptToken) override;
    std::vector<BatchRecord> listBatches(const std::string& creditorId, int limit, int offset) override;
    std::vector<BatchRecord> activeBatches(int limit = 100) override;
    std::map<std::string, int> countBatchesByState() override;
    std::vector<BatchRowRecord> pendingRows(const std::string& batchId, int afterRow, int limit) override;
    std::vector<PendingRequest> pendingRequests(const std::string& batchId, int afterRow, int limit) override;
    bool setBatchState(const std::string& batchId, jobs::inquiry::BatchState from, jobs::inquiry::BatchState to,
                       const std::string& reason = "") override;

  private:
    Database& db_;
};

}  // namespace taxdesk::connectors
