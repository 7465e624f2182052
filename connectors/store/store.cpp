#include "connectors/store/store.hpp"

#include "connectors/store/sql_audit_store.hpp"
#include "connectors/store/sql_batch_store.hpp"
#include "connectors/store/sql_payment_ledger.hpp"
#include "connectors/store/sql_result_store.hpp"
#include "connectors/store/sql_token_store.hpp"

namespace taxdesk::connectors {

Store::Store(const StoreSettings& settings)
    : db_(settings),
      audit_(std::make_unique<SqlAuditStore>(db_)),
      results_(std::make_unique<SqlResultStore>(db_, audit_.get())),
      batches_(std::make_unique<SqlBatchStore>(db_)),
      payments_(std::make_unique<SqlPaymentLedger>(db_)),
      tokens_(std::make_unique<SqlTokenStore>(db_)) {}

Store::~Store() = default;

ResultStore& Store::results() {
    return *results_;
}

SqlAuditStore& Store::audit() {
    return *audit_;
}

BatchStore& Store::batches() {
    return *batches_;
}

PaymentLedger& Store::payments() {
    return *payments_;
}

TokenStore& Store::tokens() {
    return *tokens_;
}

}  // namespace taxdesk::connectors
