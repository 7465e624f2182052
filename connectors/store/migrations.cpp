#include "connectors/store/migrations.hpp"

#include <Poco/Data/Session.h>
#include <Poco/Data/Transaction.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Timestamp.h>

#include <chrono>
#include <set>
#include <thread>

namespace taxdesk::connectors::detail {
namespace {

using namespace Poco::Data::Keywords;

// Plain types only (TEXT, INTEGER) and ON CONFLICT upserts: the subset SQLite and PostgreSQL share. Timestamps are
// ISO 8601 text (utcNow()) so that both sort and compare them the same way.
const std::vector<Migration> kMigrations = {
    {1,
     "inquiry results by (batch, row); API tokens by hash",
     {
         "CREATE TABLE inquiry_results ("
         " batch_id TEXT NOT NULL,"
         " row_no INTEGER NOT NULL,"
         " debtor_id TEXT NOT NULL,"
         " status TEXT NOT NULL,"
         " reason TEXT NOT NULL DEFAULT '',"
         " payload TEXT NOT NULL,"
         " updated_at TEXT NOT NULL,"
         " PRIMARY KEY (batch_id, row_no))",
         "CREATE TABLE api_tokens ("
         " token_hash TEXT PRIMARY KEY,"
         " role TEXT NOT NULL,"
         " creditor_id TEXT NOT NULL DEFAULT '',"
         " created_at TEXT NOT NULL)",
     }},
    {2,
     "batches, their rows, payments",
     {
         // Flags are INTEGER 0/1 and amounts BIGINT (NT$): both backends store and compare them alike.
         "CREATE TABLE batches ("
         " batch_id TEXT PRIMARY KEY,"
         " creditor_id TEXT NOT NULL,"
         " state TEXT NOT NULL,"
         " failure_reason TEXT NOT NULL DEFAULT '',"
         " filename TEXT NOT NULL DEFAULT '',"
         " charset TEXT NOT NULL DEFAULT '',"
         " rows_total INTEGER NOT NULL DEFAULT 0,"
         " rows_accepted INTEGER NOT NULL DEFAULT 0,"
         " rows_rejected INTEGER NOT NULL DEFAULT 0,"
         " rows_done INTEGER NOT NULL DEFAULT 0,"
         " fee_total BIGINT NOT NULL DEFAULT 0,"
         " paid INTEGER NOT NULL DEFAULT 0,"
         " receipt_token TEXT NOT NULL UNIQUE,"
         " created_at TEXT NOT NULL,"
         " queued_at TEXT NOT NULL DEFAULT '',"
         " completed_at TEXT NOT NULL DEFAULT '')",
         "CREATE INDEX batches_by_creditor ON batches (creditor_id, created_at)",
         "CREATE TABLE batch_rows ("
         " batch_id TEXT NOT NULL,"
         " row_no INTEGER NOT NULL,"
         " debtor_id TEXT NOT NULL DEFAULT '',"
         " debtor_name TEXT NOT NULL DEFAULT '',"
         " title_ref TEXT NOT NULL DEFAULT '',"
         " scope TEXT NOT NULL DEFAULT '',"
         " income_years TEXT NOT NULL DEFAULT '',"
         " accepted INTEGER NOT NULL,"
         " reason TEXT NOT NULL DEFAULT '',"
         " column_name TEXT NOT NULL DEFAULT '',"
         " fee BIGINT NOT NULL DEFAULT 0,"
         " PRIMARY KEY (batch_id, row_no))",
         "CREATE TABLE payments ("
         " payment_id TEXT PRIMARY KEY,"
         " idempotency_key TEXT NOT NULL UNIQUE,"
         " batch_id TEXT NOT NULL,"
         " creditor_id TEXT NOT NULL,"
         " amount BIGINT NOT NULL,"
         " method TEXT NOT NULL DEFAULT '',"
         " card TEXT NOT NULL DEFAULT '',"
         " provider_txn_id TEXT NOT NULL DEFAULT '',"
         " status TEXT NOT NULL,"
         " error TEXT NOT NULL DEFAULT '',"
         " created_at TEXT NOT NULL,"
         " updated_at TEXT NOT NULL,"
         " published INTEGER NOT NULL DEFAULT 0)",
         "CREATE INDEX payments_by_batch ON payments (batch_id, status)",
         "CREATE INDEX payments_by_status ON payments (status, created_at)",
         "CREATE INDEX payments_outbox ON payments (published, created_at)",
     }},
    {3,
     "SMS application and quick pickup: inbound SMS, pickups, notifications; one live payment per batch",
     {
         // One row per processed inbound SMS: the record that makes a redelivered gateway message a no-op.
         "CREATE TABLE sms_inbound ("
         " gateway_msg_id TEXT PRIMARY KEY,"
         " msisdn TEXT NOT NULL,"
         " received_at TEXT NOT NULL DEFAULT '',"
         " outcome TEXT NOT NULL,"
         " reply_notification_id TEXT NOT NULL DEFAULT '',"
         " created_at TEXT NOT NULL)",
         "CREATE INDEX sms_inbound_by_msisdn ON sms_inbound (msisdn, received_at)",
         // Deadlines and reminder times are unix seconds (BIGINT) so that due work is a plain comparison.
         "CREATE TABLE pickups ("
         " pickup_id TEXT PRIMARY KEY,"
         " code TEXT NOT NULL,"
         " applicant_id TEXT NOT NULL,"
         " msisdn TEXT NOT NULL,"
         " service INTEGER NOT NULL,"
         " office TEXT NOT NULL DEFAULT '',"
         " deadline_at BIGINT NOT NULL,"
         " remind_at BIGINT NOT NULL,"
         " state TEXT NOT NULL,"
         " created_at TEXT NOT NULL,"
         " collected_at TEXT NOT NULL DEFAULT '',"
         " reminded_at TEXT NOT NULL DEFAULT '',"
         " claimed_by TEXT NOT NULL DEFAULT '',"
         " claimed_until BIGINT NOT NULL DEFAULT 0)",
         // Codes are unique among open pickups only: a collected or expired pickup's code may be drawn again.
         "CREATE UNIQUE INDEX pickups_open_code ON pickups (code) WHERE state = 'open'",
         "CREATE INDEX pickups_by_applicant ON pickups (applicant_id, service, state)",
         "CREATE INDEX pickups_by_code ON pickups (code, created_at)",
         "CREATE INDEX pickups_due ON pickups (state, remind_at)",
         "CREATE INDEX pickups_deadline ON pickups (state, deadline_at)",
         "CREATE TABLE notifications ("
         " notification_id TEXT PRIMARY KEY,"
         " msisdn TEXT NOT NULL,"
         " text TEXT NOT NULL,"
         " kind TEXT NOT NULL,"
         " pickup_id TEXT NOT NULL DEFAULT '',"
         " attempt INTEGER NOT NULL DEFAULT 0,"
         " status TEXT NOT NULL,"
         " gateway_msg_id TEXT NOT NULL DEFAULT '',"
         " segments INTEGER NOT NULL DEFAULT 0,"
         " error TEXT NOT NULL DEFAULT '',"
         " created_at TEXT NOT NULL,"
         " updated_at TEXT NOT NULL)",
         "CREATE INDEX notifications_by_gateway_msg_id ON notifications (gateway_msg_id)",
         "CREATE INDEX notifications_by_status ON notifications (status, created_at)",
         // SPEC 3.2: at most one payment that is not failed per batch, whatever its idempotency key, so that two
         // requests with different keys can never both charge for one batch. Fails on a database that already holds
         // two such payments for one batch (resolve them by hand first).
         "CREATE UNIQUE INDEX payments_live_per_batch ON payments (batch_id) WHERE status <> 'failed'",
     }},
    {4,
     "one open pickup per person and service",
     {
         // SPEC 4.1: one open pickup per person and service. Two applications at the same instant (different phones,
         // two engines) could each have made one before this index; the older of such twins is expired first.
         "UPDATE pickups SET state = 'expired' WHERE state = 'open' AND EXISTS (SELECT 1 FROM pickups q"
         " WHERE q.state = 'open' AND q.applicant_id = pickups.applicant_id AND q.service = pickups.service"
         " AND (q.created_at > pickups.created_at OR (q.created_at = pickups.created_at"
         " AND q.pickup_id > pickups.pickup_id)))",
         "CREATE UNIQUE INDEX pickups_open_per_applicant ON pickups (applicant_id, service) WHERE state = 'open'",
     }},
    {5,
     "payments: idempotency keys per creditor, the provider's key, the card's hash, the charging request's lease",
     {
         // Issue 9. A key is the creditor's own: unique per (creditor, key), no longer across the ledger, so one
         // creditor's key never finds (or names) another's payment. SQLite cannot drop a column's UNIQUE, so the table
         // is rebuilt (portable to PostgreSQL). provider_key is what the provider sees: the payment id for new
         // payments (two creditors' equal keys are two charges), the client's key for the payments made before.
         // lease_owner/lease_until (unix ms): the one request (or recovering engine) talking to the provider about a
         // pending payment; another may take over only after the lease ended.
         "CREATE TABLE payments_v5 ("
         " payment_id TEXT PRIMARY KEY,"
         " idempotency_key TEXT NOT NULL,"
         " batch_id TEXT NOT NULL,"
         " creditor_id TEXT NOT NULL,"
         " amount BIGINT NOT NULL,"
         " method TEXT NOT NULL DEFAULT '',"
         " card TEXT NOT NULL DEFAULT '',"
         " provider_txn_id TEXT NOT NULL DEFAULT '',"
         " status TEXT NOT NULL,"
         " error TEXT NOT NULL DEFAULT '',"
         " created_at TEXT NOT NULL,"
         " updated_at TEXT NOT NULL,"
         " published INTEGER NOT NULL DEFAULT 0,"
         " provider_key TEXT NOT NULL,"
         " card_hash TEXT NOT NULL DEFAULT '',"
         " lease_owner TEXT NOT NULL DEFAULT '',"
         " lease_until BIGINT NOT NULL DEFAULT 0)",
         "INSERT INTO payments_v5 (payment_id, idempotency_key, batch_id, creditor_id, amount, method, card,"
         " provider_txn_id, status, error, created_at, updated_at, published, provider_key)"
         " SELECT payment_id, idempotency_key, batch_id, creditor_id, amount, method, card, provider_txn_id, status,"
         " error, created_at, updated_at, published, idempotency_key FROM payments",
         "DROP TABLE payments",
         "ALTER TABLE payments_v5 RENAME TO payments",
         "CREATE UNIQUE INDEX payments_key_per_creditor ON payments (creditor_id, idempotency_key)",
         "CREATE UNIQUE INDEX payments_by_provider_key ON payments (provider_key)",
         "CREATE INDEX payments_by_batch ON payments (batch_id, status)",
         "CREATE INDEX payments_by_status ON payments (status, created_at)",
         "CREATE INDEX payments_outbox ON payments (published, created_at)",
         "CREATE UNIQUE INDEX payments_live_per_batch ON payments (batch_id) WHERE status <> 'failed'",
     }},
    {6,
     "API tokens: a public id, an optional expiry, revocation",
     {
         // Issue 9 finding 20. token_id names a token in `taxdesk token list|revoke` without showing it: the first 12
         // hex digits of its SHA-256 (jobs::auth::tokenIdOf); a stored value that is not a SHA-256 keeps itself.
         // expires_at and revoked_at are ISO 8601 UTC text, '' for never / not revoked.
         "ALTER TABLE api_tokens ADD COLUMN token_id TEXT NOT NULL DEFAULT ''",
         "ALTER TABLE api_tokens ADD COLUMN expires_at TEXT NOT NULL DEFAULT ''",
         "ALTER TABLE api_tokens ADD COLUMN revoked_at TEXT NOT NULL DEFAULT ''",
         "UPDATE api_tokens SET token_id = CASE WHEN length(token_hash) = 64 THEN substr(token_hash, 1, 12)"
         " ELSE token_hash END",
         "CREATE UNIQUE INDEX api_tokens_by_id ON api_tokens (token_id)",
     }},
    {7,
     "payments: a late charge for a batch paid under another key is refund_due; 'not charged' is checked again",
     {
         // Issue 9. A payment recovery concluded "not charged" may still be charged by a provider that answered late.
         // recheck_until (unix ms): until then the dispatcher asks the provider again. A charge it finds for a batch
         // that is paid by another payment meanwhile is recorded as refund_due: in the ledger (the ledger equals what
         // was charged), not live (the batch keeps its one live payment), and reported for a refund.
         "ALTER TABLE payments ADD COLUMN recheck_until BIGINT NOT NULL DEFAULT 0",
         // When it is next asked about (unix ms): each check pushes it on, so that every such payment gets its turn.
         "ALTER TABLE payments ADD COLUMN recheck_next BIGINT NOT NULL DEFAULT 0",
         "DROP INDEX payments_live_per_batch",
         "CREATE UNIQUE INDEX payments_live_per_batch ON payments (batch_id) WHERE status NOT IN ('failed',"
         " 'refund_due')",
         "CREATE INDEX payments_to_recheck ON payments (status, recheck_next)",
     }},
    {8,
     "the SMS inbox: every inbound SMS stored before the gateway is answered 202",
     {
         // Issue 9 finding 13. The broker keeps messages in memory only; the store is the record of work (SPEC 6). One
         // row per gateway message (a repeat is no second row): `message` is the JSON produced to sms.inbound (msisdn,
         // text, gateway_msg_id, received_at: no more personal data than that message carries). received_at is when
         // the API stored it, updated_at when it was last produced or finished (ISO 8601 UTC); state queued until the
         // SMS stage recorded its outcome, then done; attempts counts produces (the API's is the first).
         "CREATE TABLE sms_inbox ("
         " gateway_msg_id TEXT PRIMARY KEY,"
         " message TEXT NOT NULL,"
         " received_at TEXT NOT NULL,"
         " state TEXT NOT NULL,"
         " attempts INTEGER NOT NULL DEFAULT 0,"
         " updated_at TEXT NOT NULL)",
         "CREATE INDEX sms_inbox_by_state ON sms_inbox (state, updated_at)",
     }},
    {9,
     "results signatures: the digest and Ed25519 signature of each results download issued",
     {
         // Issue 13 (tamper-evident results). One row per (batch, format, SHA-256 of the exact bytes served): signed at
         // the first download of a completed batch's results in that form; a batch whose results changed (a retry of
         // its error rows) gets another row, and the digests issued before stay issued. signature is the base64 of the
         // Ed25519 signature of jobs::inquiry::signedMessage(); key_id names the key; issued_at ISO 8601 UTC.
         "CREATE TABLE result_signatures ("
         " batch_id TEXT NOT NULL,"
         " format TEXT NOT NULL,"
         " sha256 TEXT NOT NULL,"
         " key_id TEXT NOT NULL,"
         " signature TEXT NOT NULL,"
         " bytes BIGINT NOT NULL,"
         " issued_at TEXT NOT NULL,"
         " PRIMARY KEY (batch_id, format, sha256))",
     }},
    {10,
     "the audit trail: records hash-chained per day, each day's head, checkpoints of pruned days",
     {
         // Issue 13. Version 10: 9 is the results signatures' (p13-sign, merged into main first). One record per
         // committed chunk of results of one batch (its rows packed in `entries`, see jobs/audit) or per download.
         // (day, seq) orders a day's chain; audit_heads holds each day's last seq and hash, and its row's lock orders
         // the appends of several engines. Append-only: only `taxdesk audit prune` deletes, whole days, after writing
         // the day's signed checkpoint.
         "CREATE TABLE audit_log ("
         " day TEXT NOT NULL,"
         " seq INTEGER NOT NULL,"
         " recorded_at TEXT NOT NULL,"
         " kind TEXT NOT NULL,"
         " creditor_id TEXT NOT NULL DEFAULT '',"
         " batch_id TEXT NOT NULL DEFAULT '',"
         " request_id TEXT NOT NULL DEFAULT '',"
         " format TEXT NOT NULL DEFAULT '',"
         " row_count INTEGER NOT NULL DEFAULT 0,"
         " entries TEXT NOT NULL DEFAULT '',"
         " prev_hash TEXT NOT NULL,"
         " hash TEXT NOT NULL,"
         " PRIMARY KEY (day, seq))",
         "CREATE INDEX audit_log_by_creditor ON audit_log (creditor_id, day, seq)",
         "CREATE TABLE audit_heads ("
         " day TEXT PRIMARY KEY,"
         " seq INTEGER NOT NULL,"
         " head_hash TEXT NOT NULL)",
         "CREATE TABLE audit_checkpoints ("
         " day TEXT PRIMARY KEY,"
         " last_seq INTEGER NOT NULL,"
         " last_hash TEXT NOT NULL,"
         " signature TEXT NOT NULL,"
         " records INTEGER NOT NULL,"
         " pruned_at TEXT NOT NULL)",
     }},
    {11,
     "batch notifications: a webhook and/or an SMS number per creditor token",
     {
         // Issue 13 "Done means told". One row per creditor token (token_id: jobs::auth::tokenIdOf). url "" = no
         // webhook, sms "" = no SMS. The secret is the HMAC key the engine signs the webhook body with, so it is
         // stored as given (the API shows it masked). The notifications themselves are rows of `notifications`
         // (kind batch_done), their id a function of (batch, event, channel): the completion's outbox.
         "CREATE TABLE webhooks ("
         " token_id TEXT PRIMARY KEY,"
         " creditor_id TEXT NOT NULL,"
         " url TEXT NOT NULL DEFAULT '',"
         " secret TEXT NOT NULL DEFAULT '',"
         " sms TEXT NOT NULL DEFAULT '',"
         " updated_at TEXT NOT NULL)",
         "CREATE INDEX webhooks_by_creditor ON webhooks (creditor_id)",
     }},
};

std::set<int> appliedVersions(Poco::Data::Session& session) {
    std::vector<int> versions;
    session << "SELECT version FROM schema_migrations", into(versions), now;
    return {versions.begin(), versions.end()};
}

void createMigrationTable(Poco::Data::Session& session) {
    constexpr const char* kCreate =
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)";
    try {
        session << kCreate, now;
    } catch (const Poco::Exception&) {
        // PostgreSQL's IF NOT EXISTS is not atomic: a process creating the table at the same moment makes ours fail
        // on pg_type's unique index. By now that table exists; a real failure repeats.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        session << kCreate, now;
    }
}

}  // namespace

const std::vector<Migration>& migrations() {
    return kMigrations;
}

int latestSchemaVersion() {
    return kMigrations.back().version;
}

std::string placeholders(SqlBackend backend, std::string_view sql) {
    if (backend != SqlBackend::postgresql) return std::string(sql);
    std::string out;
    out.reserve(sql.size() + 16);
    int next = 1;
    char quote = '\0';  // inside '…' or "…" when set; a doubled quote inside just toggles twice, which is right
    for (const char c : sql) {
        if (quote != '\0') {
            if (c == quote) quote = '\0';
            out += c;
        } else if (c == '\'' || c == '"') {
            quote = c;
            out += c;
        } else if (c == '?') {
            out += '$';
            out += std::to_string(next++);
        } else {
            out += c;
        }
    }
    return out;
}

void applyMigrations(Poco::Data::Session& session, SqlBackend backend) {
    createMigrationTable(session);
    const std::string record =
        placeholders(backend, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)");
    std::set<int> applied = appliedVersions(session);
    for (const Migration& migration : kMigrations) {
        if (applied.count(migration.version) != 0) continue;
        Poco::Data::Transaction transaction(session);  // rolls back unless committed
        try {
            // The record goes first: it takes the write lock, so a concurrent opener waits here and then fails on
            // the primary key instead of failing half-way through the DDL.
            session << record, bind(migration.version), bind(utcNow()), now;
        } catch (const Poco::Exception&) {
            transaction.rollback();
            applied = appliedVersions(session);
            if (applied.count(migration.version) != 0) continue;  // another process applied it meanwhile
            throw;
        }
        for (const std::string_view statement : migration.statements) session << std::string(statement), now;
        transaction.commit();
        applied.insert(migration.version);
    }
}

int appliedSchemaVersion(Poco::Data::Session& session) {
    int version = 0;
    session << "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", into(version), now;
    return version;
}

std::string utcNow() {
    return Poco::DateTimeFormatter::format(Poco::Timestamp(), "%Y-%m-%dT%H:%M:%S.%iZ");
}

}  // namespace taxdesk::connectors::detail
