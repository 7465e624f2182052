#include "connectors/store/store.hpp"

#include "connectors/store/sql_batch_store.hpp"
#include "connectors/store/sql_payment_ledger.hpp"
#include "connectors/store/sql_result_store.hpp"
#include "connectors/store/sql_token_store.hpp"

namespace taxdesk::connectors {

Store::Store(const StoreSettings& settings)
    : db_(settings),
      results_(std::make_unique<SqlResultStore>(db_)),
      batches_(std::make_unique<SqlBatchStore>(db_)),
      payments_(std::make_unique<SqlPaymentLedger>(db_)),
      tokens_(std::make_unique<SqlTokenStore>(db_)) {}

Store::~Store() = default;

ResultStore& Store::results() {
    return *results_;
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
