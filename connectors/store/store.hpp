#pragma once
// The SQL store, the record of work: Poco::Data over SQLite (default) or PostgreSQL, one code path. Store is the
// aggregate the composition root builds: one Database and one SQL implementation of each area, handed out as the
// narrow interfaces engine parts take: result_store.hpp, batch_store.hpp, payment_ledger.hpp, token_store.hpp and,
// for SMS, pickup_store.hpp, notification_store.hpp, sms_inbox.hpp (sms_areas.hpp bundles the three).
#include <memory>
#include <string>

#include "connectors/store/batch_store.hpp"
#include "connectors/store/database.hpp"
#include "connectors/store/notification_store.hpp"
#include "connectors/store/payment_ledger.hpp"
#include "connectors/store/pickup_store.hpp"
#include "connectors/store/result_store.hpp"
#include "connectors/store/sms_areas.hpp"
#include "connectors/store/sms_inbox.hpp"
#include "connectors/store/sql_notification_store.hpp"
#include "connectors/store/sql_pickup_store.hpp"
#include "connectors/store/sql_sms_inbox.hpp"
#include "connectors/store/sql_webhook_store.hpp"
#include "connectors/store/token_store.hpp"

namespace taxdesk::connectors {

class SqlResultStore;
class SqlAuditStore;
class SqlBatchStore;
class SqlPaymentLedger;
class SqlTokenStore;

/// Thread-safe: each call takes a session from a pool (a BatchWriter keeps one while it is open). Every call throws
/// StoreError when the store fails; the message names the backend and what the call was doing.
class Store {
  public:
    /// Opens the store (creating the SQLite file and its folder when needed) and applies every migration not yet
    /// applied, each in its own transaction. Throws StoreError, and std::invalid_argument for an unknown backend or a
    /// pool size below 1.
    explicit Store(const StoreSettings& settings);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    /// The highest migration applied.
    int schemaVersion() { return db_.schemaVersion(); }
    /// A trivial query; throws StoreError when the store is unreachable.
    void ping() { db_.ping(); }

    /// The inquiry results (SqlResultStore).
    [[nodiscard]] ResultStore& results();
    /// The audit trail (issue 13): every new result (recorded by results() in its transaction) and every download.
    [[nodiscard]] SqlAuditStore& audit();
    /// Uploaded batches and their rows (SqlBatchStore).
    [[nodiscard]] BatchStore& batches();
    /// The payments ledger (SqlPaymentLedger).
    [[nodiscard]] PaymentLedger& payments();
    /// API tokens (SqlTokenStore).
    [[nodiscard]] TokenStore& tokens();

    [[nodiscard]] const std::string& backend() const { return db_.backend(); }
    /// The database the store's areas share.
    [[nodiscard]] Database& database() { return db_; }

  private:
    Database db_;
    std::unique_ptr<SqlAuditStore> audit_;  ///< before results_, which records through it
    std::unique_ptr<SqlResultStore> results_;
    std::unique_ptr<SqlBatchStore> batches_;
    std::unique_ptr<SqlPaymentLedger> payments_;
    std::unique_ptr<SqlTokenStore> tokens_;

    // SMS areas (SPEC 4): built over db_, so declared after it
  public:
    [[nodiscard]] PickupStore& pickups() { return pickups_; }
    [[nodiscard]] NotificationStore& notifications() { return notifications_; }
    [[nodiscard]] SmsInbox& inbox() { return inbox_; }
    [[nodiscard]] SmsAreas sms() { return {pickups_, notifications_, inbox_}; }

  private:
    SqlPickupStore pickups_{db_};
    SqlNotificationStore notifications_{db_};
    SqlSmsInbox inbox_{db_};

  public:
    /// Batch notification registrations per creditor token (issue 13).
    [[nodiscard]] WebhookStore& webhooks() { return webhooks_; }

  private:
    SqlWebhookStore webhooks_{db_};
};

}  // namespace taxdesk::connectors
