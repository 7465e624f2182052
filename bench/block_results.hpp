#pragma once
// A measuring device for issue 11, not a store the engine uses: results written a block at a time into a SQLite file
// of their own (`taxdesk_bench_throughput --store block`), to learn what the engine's rate would be if the store kept
// one row a block of results instead of one a result. It writes what the real store writes for each result (its
// batch, row, debtor, status, reason and payload, and a batch counter a call), in one transaction a call, with the
// store's settings (WAL, synchronous NORMAL, 8 KiB pages); it reads nothing back and keeps no audit trail.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connectors/store/result_store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace taxdesk::bench {

class BlockResults : public connectors::ResultStore {
  public:
    /// `rowsPerBlock` results at most a block (consecutive rows of one batch in one call).
    BlockResults(const std::string& path, int rowsPerBlock);

    void upsertResults(const std::vector<connectors::StoredResult>& results) override;
    int insertMissingResults(const std::vector<connectors::StoredResult>& results) override;
    int countResultsWithStatus(const std::string& batchId, const std::string& status) override;
    int retryErrorRows(const std::string& batchId) override;
    std::optional<connectors::StoredResult> findResult(const std::string& batchId, int row) override;
    std::vector<connectors::StoredResult> resultsOfBatch(const std::string& batchId) override;
    std::vector<connectors::StoredResult> resultsPage(const std::string& batchId, int afterRow, int limit) override;

    /// Results stored so far (the batch counters' sum): the bench checks that every row was.
    [[nodiscard]] long long storedResults();

  private:
    using Connection = std::unique_ptr<sqlite3, int (*)(sqlite3*)>;
    using Statement = std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)>;
    void exec(const char* sql);
    [[nodiscard]] Statement prepare(const char* sql);
    /// Runs a bound statement to its end and resets it; false when it failed (sqlite3_errmsg() says why).
    static bool stepToDone(sqlite3_stmt* statement);

    Connection db_;
    int rowsPerBlock_;
    Statement insertBlock_;  ///< prepared once, stepped once a block
    Statement countRows_;    ///< prepared once, stepped once a batch of a call
    Statement sumRows_;
};

}  // namespace taxdesk::bench
