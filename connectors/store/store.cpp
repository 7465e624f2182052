#include "connectors/store/store.hpp"

#include <Poco/Data/DataException.h>
#include <Poco/Data/PostgreSQL/Connector.h>
#include <Poco/Data/PostgreSQL/SessionImpl.h>
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/SQLiteException.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>
#include <Poco/Data/Transaction.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "connectors/store/migrations.hpp"
#include "connectors/store/store_internal.hpp"

namespace taxdesk::connectors {
namespace {

using namespace Poco::Data::Keywords;
using detail::kSessionWait;
using detail::oneLine;
using detail::PermitRelease;
using detail::requireField;
using detail::select;
using detail::sessionsBusy;
using detail::SqlBackend;

/// Column-wise copies of results: Poco binds one vector per placeholder and executes the statement once per element.
struct ResultColumns {
    std::vector<std::string> batchIds;
    std::vector<int> rows;
    std::vector<std::string> debtorIds;
    std::vector<std::string> statuses;
    std::vector<std::string> reasons;
    std::vector<std::string> payloads;

    [[nodiscard]] std::vector<StoredResult> toResults() const {
        std::vector<StoredResult> results;
        results.reserve(batchIds.size());
        for (size_t i = 0; i < batchIds.size(); ++i) {
            results.push_back({batchIds[i], rows[i], debtorIds[i], statuses[i], reasons[i], payloads[i]});
        }
        return results;
    }
};

/// The statement that stores results idempotently, by (batch_id, row).
constexpr const char* kUpsertResult =
    "INSERT INTO inquiry_results (batch_id, row_no, debtor_id, status, reason, payload, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (batch_id, row_no) DO UPDATE SET debtor_id = excluded.debtor_id, status = excluded.status,"
    " reason = excluded.reason, payload = excluded.payload, updated_at = excluded.updated_at";

constexpr const char* kRejected = "rejected";
constexpr const char* kPending = "pending";
constexpr const char* kSucceeded = "succeeded";
constexpr const char* kFailed = "failed";
constexpr const char* kRefundDue = "refund_due";

bool isBatchState(const std::string& state) {
    return state == "awaiting_payment" || state == "queued" || state == "processing" || state == "completed" ||
           state == "failed";
}

/// A JSON string literal, escaped as jobs/common/json does (the store links no JSON library).
void appendJsonString(std::string& out, const std::string& text) {
    out += '"';
    for (const char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buffer[8];
            std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
            out += buffer;
        } else {
            out += c;
        }
    }
    out += '"';
}

/// A rejected row's result as it travels on inquiry.results (SPEC 3.3): no records, a reason.
std::string rejectedPayload(const std::string& batchId, int row, const std::string& debtorId,
                            const std::string& reason) {
    std::string out = "{\"batch_id\":";
    appendJsonString(out, batchId);
    out += ",\"row\":" + std::to_string(row) + ",\"debtor_id\":";
    appendJsonString(out, debtorId);
    out += ",\"status\":\"rejected\",\"reason\":";
    appendJsonString(out, reason);
    out += ",\"income\":[],\"property\":[]}";
    return out;
}

constexpr const char* kBatchColumns =
    "batch_id, creditor_id, state, failure_reason, filename, charset, rows_total, rows_accepted, rows_rejected,"
    " rows_done, fee_total, paid, receipt_token, created_at, queued_at, completed_at";

/// Column-wise batch records, in kBatchColumns' order.
struct BatchColumns {
    std::vector<std::string> batchIds;
    std::vector<std::string> creditorIds;
    std::vector<std::string> states;
    std::vector<std::string> failureReasons;
    std::vector<std::string> filenames;
    std::vector<std::string> charsets;
    std::vector<int> rowsTotal;
    std::vector<int> rowsAccepted;
    std::vector<int> rowsRejected;
    std::vector<int> rowsDone;
    std::vector<Poco::Int64> feeTotals;
    std::vector<int> paid;
    std::vector<std::string> receiptTokens;
    std::vector<std::string> createdAts;
    std::vector<std::string> queuedAts;
    std::vector<std::string> completedAts;

    void into(Poco::Data::Statement& select) {
        using Poco::Data::Keywords::into;
        select, into(batchIds), into(creditorIds), into(states), into(failureReasons), into(filenames), into(charsets),
            into(rowsTotal), into(rowsAccepted), into(rowsRejected), into(rowsDone), into(feeTotals), into(paid),
            into(receiptTokens), into(createdAts), into(queuedAts), into(completedAts);
    }

    [[nodiscard]] std::vector<BatchRecord> toRecords() const {
        std::vector<BatchRecord> records;
        records.reserve(batchIds.size());
        for (size_t i = 0; i < batchIds.size(); ++i) {
            records.push_back({batchIds[i], creditorIds[i], states[i], failureReasons[i], filenames[i], charsets[i],
                               rowsTotal[i], rowsAccepted[i], rowsRejected[i], rowsDone[i],
                               static_cast<long long>(feeTotals[i]), paid[i] != 0, receiptTokens[i], createdAts[i],
                               queuedAts[i], completedAts[i]});
        }
        return records;
    }
};

constexpr const char* kRowColumns =
    "batch_id, row_no, debtor_id, debtor_name, title_ref, scope, income_years, accepted, reason, column_name, fee";

/// Column-wise batch rows, in kRowColumns' order.
struct RowColumns {
    std::vector<std::string> batchIds;
    std::vector<int> rows;
    std::vector<std::string> debtorIds;
    std::vector<std::string> debtorNames;
    std::vector<std::string> titleRefs;
    std::vector<std::string> scopes;
    std::vector<std::string> incomeYears;
    std::vector<int> accepted;
    std::vector<std::string> reasons;
    std::vector<std::string> columns;
    std::vector<Poco::Int64> fees;

    void push(const BatchRowRecord& row, const std::string& batchId) {
        batchIds.push_back(batchId);
        rows.push_back(row.row);
        debtorIds.push_back(row.debtorId);
        debtorNames.push_back(row.debtorName);
        titleRefs.push_back(row.titleRef);
        scopes.push_back(row.scope);
        incomeYears.push_back(row.incomeYears);
        accepted.push_back(row.accepted ? 1 : 0);
        reasons.push_back(row.reason);
        columns.push_back(row.column);
        fees.push_back(static_cast<Poco::Int64>(row.fee));
    }

    void use(Poco::Data::Statement& insert) {
        using Poco::Data::Keywords::use;
        insert, use(batchIds), use(rows), use(debtorIds), use(debtorNames), use(titleRefs), use(scopes),
            use(incomeYears), use(accepted), use(reasons), use(columns), use(fees);
    }

    void into(Poco::Data::Statement& select) {
        using Poco::Data::Keywords::into;
        select, into(batchIds), into(rows), into(debtorIds), into(debtorNames), into(titleRefs), into(scopes),
            into(incomeYears), into(accepted), into(reasons), into(columns), into(fees);
    }

    [[nodiscard]] std::vector<BatchRowRecord> toRecords() const {
        std::vector<BatchRowRecord> records;
        records.reserve(batchIds.size());
        for (size_t i = 0; i < batchIds.size(); ++i) {
            records.push_back({batchIds[i], rows[i], debtorIds[i], debtorNames[i], titleRefs[i], scopes[i],
                               incomeYears[i], accepted[i] != 0, reasons[i], columns[i],
                               static_cast<long long>(fees[i])});
        }
        return records;
    }
};

constexpr const char* kPaymentColumns =
    "payment_id, idempotency_key, batch_id, creditor_id, amount, method, card, provider_txn_id, status, error,"
    " created_at, updated_at, published, provider_key, card_hash, lease_owner, lease_until";

/// Column-wise payments, in kPaymentColumns' order.
struct PaymentColumns {
    std::vector<std::string> paymentIds;
    std::vector<std::string> keys;
    std::vector<std::string> batchIds;
    std::vector<std::string> creditorIds;
    std::vector<Poco::Int64> amounts;
    std::vector<std::string> methods;
    std::vector<std::string> cards;
    std::vector<std::string> providerTxnIds;
    std::vector<std::string> statuses;
    std::vector<std::string> errors;
    std::vector<std::string> createdAts;
    std::vector<std::string> updatedAts;
    std::vector<int> published;
    std::vector<std::string> providerKeys;
    std::vector<std::string> cardHashes;
    std::vector<std::string> leaseOwners;
    std::vector<Poco::Int64> leaseUntils;

    void into(Poco::Data::Statement& select) {
        using Poco::Data::Keywords::into;
        select, into(paymentIds), into(keys), into(batchIds), into(creditorIds), into(amounts), into(methods),
            into(cards), into(providerTxnIds), into(statuses), into(errors), into(createdAts), into(updatedAts),
            into(published), into(providerKeys), into(cardHashes), into(leaseOwners), into(leaseUntils);
    }

    [[nodiscard]] std::vector<PaymentRecord> toRecords() const {
        std::vector<PaymentRecord> records;
        records.reserve(paymentIds.size());
        for (size_t i = 0; i < paymentIds.size(); ++i) {
            records.push_back({paymentIds[i], keys[i], batchIds[i], creditorIds[i], static_cast<long long>(amounts[i]),
                               methods[i], cards[i], providerTxnIds[i], statuses[i], errors[i], createdAts[i],
                               updatedAts[i], published[i] != 0, providerKeys[i], cardHashes[i], leaseOwners[i],
                               static_cast<long long>(leaseUntils[i])});
        }
        return records;
    }
};

}  // namespace

/// A BatchWriter's session, transaction and progress. The session and its permit are held from beginBatch until
/// commit, a failure or destruction, whichever comes first; whatever was not committed is rolled back then.
struct BatchWriter::State {
    enum class Phase { open, committed, failed };

    /// The permit is declared first so that it is released last, after the session went back to the pool.
    struct Lease {
        Lease(std::counting_semaphore<>& permits, Poco::Data::SessionPool& pool)
            : permit(permits), session(pool.get()) {}
        PermitRelease permit;
        Poco::Data::Session session;
    };

    State() = default;
    ~State() { release(); }
    State(const State&) = delete;
    State& operator=(const State&) = delete;

    [[nodiscard]] Poco::Data::Session& session() { return lease->session; }

    /// Rolls back what was not committed and gives the session and its permit back.
    void release() noexcept {
        if (!lease) return;
        if (phase != Phase::committed) {
            try {
                if (lease->session.isTransaction()) lease->session.rollback();
            } catch (...) {  // NOLINT(bugprone-empty-catch): a lost connection rolls back on its own
            }
        }
        lease.reset();
    }

    /// Runs one step of the writer, turning Poco's exceptions into StoreError; any failure rolls back and makes the
    /// writer unusable.
    template <typename Work>
    void run(const char* purpose, Work&& work) {
        if (phase != Phase::open) {
            throw std::logic_error("store: batch " + batch.batchId + ": the writer was " +
                                   (phase == Phase::committed ? "committed" : "failed") + " already");
        }
        try {
            work();
        } catch (const Poco::Exception& error) {
            phase = Phase::failed;
            release();
            const std::string text = oneLine(error.displayText());
            throw StoreError(backend + ": " + purpose + " " + batch.batchId + ": " + text,
                             !isPermanentStoreFailure(text));
        } catch (...) {
            phase = Phase::failed;
            release();
            throw;
        }
    }

    std::unique_ptr<Lease> lease;
    std::string backend;
    BatchRecord batch;
    std::string insertRows;                  ///< into the staging table (SQLite) or batch_rows (PostgreSQL)
    std::string insertResults;               ///< likewise for the rejected rows' results
    std::vector<std::string> publishStaged;  ///< SQLite: copies the staged rows and results, then empties staging
    std::string insertBatch;
    int rowsAdded = 0;
    int rowsAccepted = 0;
    int rowsRejected = 0;
    Phase phase = Phase::open;
};

Store::Store(const StoreSettings& settings) : db_(settings) {}

Store::~Store() = default;

void Store::upsertResults(const std::vector<StoredResult>& results) {
    if (results.empty()) return;  // Poco refuses to bind empty vectors
    ResultColumns columns;
    for (const StoredResult& result : results) {
        columns.batchIds.push_back(result.batchId);
        columns.rows.push_back(result.row);
        columns.debtorIds.push_back(result.debtorId);
        columns.statuses.push_back(result.status);
        columns.reasons.push_back(result.reason);
        columns.payloads.push_back(result.payload);
    }
    const std::string stamp = detail::utcNow();
    std::vector<std::string> updatedAts(results.size(), stamp);
    // Sorted: batch rows are locked in one order by every caller, so two upserts cannot deadlock on them.
    std::vector<std::string> batchIds = columns.batchIds;
    std::sort(batchIds.begin(), batchIds.end());
    batchIds.erase(std::unique(batchIds.begin(), batchIds.end()), batchIds.end());
    std::vector<std::string> completedAts(batchIds.size(), stamp);

    const std::string upsertStatement = sql(kUpsertResult);
    // PostgreSQL (read committed): the batch row is locked before counting, so the count, a later statement, sees
    // every result committed by an upsert that held the lock before; a count taken first could miss them.
    const std::string lockStatement = sql("UPDATE batches SET rows_done = rows_done WHERE batch_id = ?");
    const std::string countStatement =
        sql("UPDATE batches SET rows_done = (SELECT COUNT(*) FROM inquiry_results WHERE batch_id = ?)"
            " WHERE batch_id = ?");
    const std::string advanceStatement =
        sql("UPDATE batches SET state = CASE WHEN rows_done >= rows_total THEN 'completed' ELSE 'processing' END,"
            " completed_at = CASE WHEN rows_done >= rows_total AND completed_at = '' THEN ? ELSE completed_at END"
            " WHERE batch_id = ? AND state IN ('queued', 'processing')");

    withSession("upserting results", [&](Poco::Data::Session& session) {
        Poco::Data::Transaction transaction(session);  // rolls back unless committed
        session << lockStatement, use(batchIds), now;
        // One prepared statement, executed once per vector element: the statement is parsed and planned once.
        Poco::Data::Statement upsert(session);
        upsert << upsertStatement, use(columns.batchIds), use(columns.rows), use(columns.debtorIds),
            use(columns.statuses), use(columns.reasons), use(columns.payloads), use(updatedAts);
        upsert.execute();
        session << countStatement, use(batchIds), use(batchIds), now;
        session << advanceStatement, use(completedAts), use(batchIds), now;
        transaction.commit();
    });
}

int Store::insertMissingResults(const std::vector<StoredResult>& results) {
    if (results.empty()) return 0;
    std::vector<std::string> batchIds;
    for (const StoredResult& result : results) batchIds.push_back(result.batchId);
    std::sort(batchIds.begin(), batchIds.end());  // locked in one order, as upsertResults() does
    batchIds.erase(std::unique(batchIds.begin(), batchIds.end()), batchIds.end());
    const std::string stamp = detail::utcNow();
    std::vector<std::string> completedAts(batchIds.size(), stamp);
    const std::string lockStatement = sql("UPDATE batches SET rows_done = rows_done WHERE batch_id = ?");
    const std::string wantedStatement =
        sql("SELECT CAST(COUNT(*) AS INTEGER) FROM batch_rows b WHERE b.batch_id = ? AND b.row_no = ?"
            " AND b.accepted = 1 AND NOT EXISTS"
            " (SELECT 1 FROM inquiry_results r WHERE r.batch_id = b.batch_id AND r.row_no = b.row_no)");
    const std::string insertStatement =
        sql("INSERT INTO inquiry_results (batch_id, row_no, debtor_id, status, reason, payload, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)");
    const std::string countStatement =
        sql("UPDATE batches SET rows_done = (SELECT COUNT(*) FROM inquiry_results WHERE batch_id = ?)"
            " WHERE batch_id = ?");
    const std::string advanceStatement =
        sql("UPDATE batches SET state = CASE WHEN rows_done >= rows_total THEN 'completed' ELSE 'processing' END,"
            " completed_at = CASE WHEN rows_done >= rows_total AND completed_at = '' THEN ? ELSE completed_at END"
            " WHERE batch_id = ? AND state IN ('queued', 'processing')");
    return withSession("inserting missing results", [&](Poco::Data::Session& session) {
        Poco::Data::Transaction transaction(session);
        session << lockStatement, use(batchIds), now;
        int stored = 0;
        for (const StoredResult& result : results) {
            int wanted = 0;
            session << wantedStatement, into(wanted), bind(result.batchId), bind(result.row), now;
            if (wanted == 0) continue;
            session << insertStatement, bind(result.batchId), bind(result.row), bind(result.debtorId),
                bind(result.status), bind(result.reason), bind(result.payload), bind(stamp), now;
            ++stored;
        }
        if (stored > 0) {
            session << countStatement, use(batchIds), use(batchIds), now;
            session << advanceStatement, use(completedAts), use(batchIds), now;
        }
        transaction.commit();
        return stored;
    });
}

int Store::countResultsWithStatus(const std::string& batchId, const std::string& status) {
    const std::string statement =
        sql("SELECT CAST(COUNT(*) AS INTEGER) FROM inquiry_results WHERE batch_id = ? AND status = ?");
    return withSession("counting a batch's results by status", [&](Poco::Data::Session& session) {
        int count = 0;
        session << statement, into(count), bind(batchId), bind(status), now;
        return count;
    });
}

int Store::retryErrorRows(const std::string& batchId) {
    // The conditional update comes first: it takes the batch row's lock (PostgreSQL) or the write lock (SQLite), so
    // a concurrent retry waits and then finds the batch processing, and no upsert can count rows meanwhile.
    const std::string claimStatement =
        sql("UPDATE batches SET state = 'processing', completed_at = '' WHERE batch_id = ? AND state = 'completed'"
            " AND EXISTS (SELECT 1 FROM inquiry_results WHERE batch_id = ? AND status = 'error')");
    const std::string countStatement =
        sql("SELECT CAST(COUNT(*) AS INTEGER) FROM inquiry_results WHERE batch_id = ? AND status = 'error'");
    const std::string deleteStatement = sql("DELETE FROM inquiry_results WHERE batch_id = ? AND status = 'error'");
    const std::string recountStatement =
        sql("UPDATE batches SET rows_done = (SELECT COUNT(*) FROM inquiry_results WHERE batch_id = ?)"
            " WHERE batch_id = ?");
    return withSession("retrying a batch's error rows", [&](Poco::Data::Session& session) {
        Poco::Data::Transaction transaction(session);
        Poco::Data::Statement claim(session);
        claim << claimStatement, bind(batchId), bind(batchId);
        if (claim.execute() == 0) return 0;  // rolled back: nothing changed
        int rows = 0;
        session << countStatement, into(rows), bind(batchId), now;
        session << deleteStatement, bind(batchId), now;
        session << recountStatement, bind(batchId), bind(batchId), now;
        transaction.commit();
        return rows;
    });
}

std::optional<StoredResult> Store::findResult(const std::string& batchId, int row) {
    const std::string statement =
        sql("SELECT batch_id, row_no, debtor_id, status, reason, payload FROM inquiry_results"
            " WHERE batch_id = ? AND row_no = ?");
    return withSession("finding a result", [&](Poco::Data::Session& session) -> std::optional<StoredResult> {
        ResultColumns columns;
        session << statement, into(columns.batchIds), into(columns.rows), into(columns.debtorIds),
            into(columns.statuses), into(columns.reasons), into(columns.payloads), bind(batchId), bind(row), now;
        if (columns.batchIds.empty()) return std::nullopt;
        return columns.toResults().front();
    });
}

std::vector<StoredResult> Store::resultsOfBatch(const std::string& batchId) {
    const std::string statement =
        sql("SELECT batch_id, row_no, debtor_id, status, reason, payload FROM inquiry_results"
            " WHERE batch_id = ? ORDER BY row_no");
    return withSession("reading a batch's results", [&](Poco::Data::Session& session) {
        ResultColumns columns;
        session << statement, into(columns.batchIds), into(columns.rows), into(columns.debtorIds),
            into(columns.statuses), into(columns.reasons), into(columns.payloads), bind(batchId), now;
        return columns.toResults();
    });
}

std::vector<StoredResult> Store::resultsPage(const std::string& batchId, int afterRow, int limit) {
    if (limit <= 0) return {};
    const std::string statement =
        sql("SELECT batch_id, row_no, debtor_id, status, reason, payload FROM inquiry_results"
            " WHERE batch_id = ? AND row_no > ? ORDER BY row_no LIMIT ?");
    return withSession("reading a page of a batch's results", [&](Poco::Data::Session& session) {
        ResultColumns columns;
        session << statement, into(columns.batchIds), into(columns.rows), into(columns.debtorIds),
            into(columns.statuses), into(columns.reasons), into(columns.payloads), bind(batchId), bind(afterRow),
            bind(limit), now;
        return columns.toResults();
    });
}

void Store::insertToken(const TokenRecord& token) {
    const std::string statement =
        sql("INSERT INTO api_tokens (token_hash, role, creditor_id, created_at, token_id, expires_at, revoked_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)");
    const std::string createdAt = token.createdAt.empty() ? detail::utcNow() : token.createdAt;
    const std::string tokenId = token.tokenId.empty() ? token.tokenHash : token.tokenId;
    withSession("inserting a token", [&](Poco::Data::Session& session) {
        session << statement, bind(token.tokenHash), bind(token.role), bind(token.creditorId), bind(createdAt),
            bind(tokenId), bind(token.expiresAt), bind(token.revokedAt), now;
    });
}

namespace {

constexpr const char* kTokenColumns = "token_hash, role, creditor_id, created_at, token_id, expires_at, revoked_at";

struct TokenColumns {
    std::vector<std::string> hashes;
    std::vector<std::string> roles;
    std::vector<std::string> creditorIds;
    std::vector<std::string> createdAts;
    std::vector<std::string> tokenIds;
    std::vector<std::string> expiresAts;
    std::vector<std::string> revokedAts;

    [[nodiscard]] std::vector<TokenRecord> toRecords() const {
        std::vector<TokenRecord> records;
        records.reserve(hashes.size());
        for (size_t i = 0; i < hashes.size(); ++i)
            records.push_back(
                {hashes[i], roles[i], creditorIds[i], createdAts[i], tokenIds[i], expiresAts[i], revokedAts[i]});
        return records;
    }
};

}  // namespace

std::optional<TokenRecord> Store::findToken(const std::string& tokenHash) {
    const std::string statement = sql("SELECT " + std::string(kTokenColumns) + " FROM api_tokens WHERE token_hash = ?");
    return withSession("finding a token", [&](Poco::Data::Session& session) -> std::optional<TokenRecord> {
        TokenColumns columns;
        session << statement, into(columns.hashes), into(columns.roles), into(columns.creditorIds),
            into(columns.createdAts), into(columns.tokenIds), into(columns.expiresAts), into(columns.revokedAts),
            bind(tokenHash), now;
        auto records = columns.toRecords();
        if (records.empty()) return std::nullopt;
        return records.front();
    });
}

std::vector<TokenRecord> Store::listTokens() {
    const std::string statement =
        sql("SELECT " + std::string(kTokenColumns) + " FROM api_tokens ORDER BY created_at, token_id");
    return withSession("listing tokens", [&](Poco::Data::Session& session) {
        TokenColumns columns;
        session << statement, into(columns.hashes), into(columns.roles), into(columns.creditorIds),
            into(columns.createdAts), into(columns.tokenIds), into(columns.expiresAts), into(columns.revokedAts), now;
        return columns.toRecords();
    });
}

RevokeOutcome Store::revokeToken(const std::string& tokenId, const std::string& revokedAt) {
    const std::string updateStatement =
        sql("UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at = ''");
    const std::string findStatement = sql("SELECT token_id FROM api_tokens WHERE token_id = ?");
    const std::string at = revokedAt.empty() ? detail::utcNow() : revokedAt;
    return withSession("revoking a token", [&](Poco::Data::Session& session) {
        std::string id = tokenId;
        std::string stamp = at;
        Poco::Data::Statement update(session);
        update << updateStatement, bind(stamp), bind(id);
        if (update.execute() > 0) return RevokeOutcome::revoked;
        std::vector<std::string> found;
        session << findStatement, into(found), bind(id), now;
        return found.empty() ? RevokeOutcome::unknown : RevokeOutcome::alreadyRevoked;
    });
}

// --- batches ---

BatchWriter::BatchWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}

BatchWriter::~BatchWriter() = default;

const std::string& BatchWriter::batchId() const {
    return state_->batch.batchId;
}

void BatchWriter::addRows(const std::vector<BatchRowRecord>& rows) {
    State& state = *state_;
    const std::string& batchId = state.batch.batchId;
    for (const BatchRowRecord& row : rows) {
        if (!row.batchId.empty() && row.batchId != batchId) {
            throw std::invalid_argument("store: adding rows to batch " + batchId + ": row " + std::to_string(row.row) +
                                        " is of batch " + row.batchId);
        }
    }
    state.run("adding rows to batch", [&] {
        if (rows.empty()) return;  // Poco refuses to bind empty vectors
        RowColumns columns;
        ResultColumns rejected;
        for (const BatchRowRecord& row : rows) {
            columns.push(row, batchId);
            if (row.accepted) continue;
            rejected.batchIds.push_back(batchId);
            rejected.rows.push_back(row.row);
            rejected.debtorIds.push_back(row.debtorId);
            rejected.statuses.emplace_back(kRejected);
            rejected.reasons.push_back(row.reason);
            rejected.payloads.push_back(rejectedPayload(batchId, row.row, row.debtorId, row.reason));
        }
        Poco::Data::Statement insertRows(state.session());
        insertRows << state.insertRows;
        columns.use(insertRows);
        insertRows.execute();
        if (!rejected.batchIds.empty()) {
            std::vector<std::string> updatedAts(rejected.batchIds.size(), detail::utcNow());
            Poco::Data::Statement insertResults(state.session());
            insertResults << state.insertResults, use(rejected.batchIds), use(rejected.rows), use(rejected.debtorIds),
                use(rejected.statuses), use(rejected.reasons), use(rejected.payloads), use(updatedAts);
            insertResults.execute();
        }
        state.rowsAdded += static_cast<int>(rows.size());
        state.rowsRejected += static_cast<int>(rejected.batchIds.size());
        state.rowsAccepted += static_cast<int>(rows.size() - rejected.batchIds.size());
    });
}

void BatchWriter::commit(int rowsTotal, int rowsAccepted, int rowsRejected, long long feeTotal) {
    State& state = *state_;
    if (state.phase == State::Phase::open &&
        (rowsTotal != state.rowsAdded || rowsAccepted != state.rowsAccepted || rowsRejected != state.rowsRejected)) {
        throw std::invalid_argument("store: committing batch " + state.batch.batchId + ": totals " +
                                    std::to_string(rowsTotal) + "/" + std::to_string(rowsAccepted) + "/" +
                                    std::to_string(rowsRejected) + " (total/accepted/rejected) but " +
                                    std::to_string(state.rowsAdded) + "/" + std::to_string(state.rowsAccepted) + "/" +
                                    std::to_string(state.rowsRejected) + " rows were added");
    }
    state.run("committing batch", [&] {
        const BatchRecord& batch = state.batch;
        const std::string stamp = detail::utcNow();
        const std::string createdAt = batch.createdAt.empty() ? stamp : batch.createdAt;
        const std::string queuedAt = batch.queuedAt.empty() && batch.state == "queued" ? stamp : batch.queuedAt;
        const std::string completedAt =
            batch.completedAt.empty() && batch.state == "completed" ? stamp : batch.completedAt;
        const Poco::Int64 fee = feeTotal;
        const int paid = batch.paid ? 1 : 0;
        for (const std::string& statement : state.publishStaged) state.session() << statement, now;
        state.session() << state.insertBatch, bind(batch.batchId), bind(batch.creditorId), bind(batch.state),
            bind(batch.failureReason), bind(batch.filename), bind(batch.charset), bind(rowsTotal), bind(rowsAccepted),
            bind(rowsRejected), bind(batch.batchId), bind(fee), bind(paid), bind(batch.receiptToken), bind(createdAt),
            bind(queuedAt), bind(completedAt), now;
        state.session().commit();
        state.phase = State::Phase::committed;
        state.release();
    });
}

std::unique_ptr<BatchWriter> Store::beginBatch(const BatchRecord& batch) {
    constexpr const char* kCall = "beginBatch";
    requireField(batch.batchId, "batchId", kCall);
    requireField(batch.creditorId, "creditorId", kCall);
    requireField(batch.receiptToken, "receiptToken", kCall);
    if (!isBatchState(batch.state)) {
        throw std::invalid_argument("store: beginBatch: unknown state '" + batch.state + "'");
    }

    const bool sqlite = db_.isSqlite();
    // SQLite has one write lock for the whole database: rows are staged in temporary tables (private to the session,
    // outside the database file), so that the lock is taken only by commit(), not while the upload streams in.
    const std::vector<std::string> prepareStaging = {
        "CREATE TEMP TABLE IF NOT EXISTS staged_batch_rows (batch_id TEXT NOT NULL, row_no INTEGER NOT NULL,"
        " debtor_id TEXT NOT NULL, debtor_name TEXT NOT NULL, title_ref TEXT NOT NULL, scope TEXT NOT NULL,"
        " income_years TEXT NOT NULL, accepted INTEGER NOT NULL, reason TEXT NOT NULL, column_name TEXT NOT NULL,"
        " fee INTEGER NOT NULL, PRIMARY KEY (batch_id, row_no))",
        "CREATE TEMP TABLE IF NOT EXISTS staged_results (batch_id TEXT NOT NULL, row_no INTEGER NOT NULL,"
        " debtor_id TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, payload TEXT NOT NULL,"
        " updated_at TEXT NOT NULL, PRIMARY KEY (batch_id, row_no))",
        "DELETE FROM temp.staged_batch_rows",  // left by a writer whose rollback failed, if ever
        "DELETE FROM temp.staged_results",
    };
    const std::string rowColumns = kRowColumns;
    const std::string rowValues = " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

    for (int attempt = 1;; ++attempt) {
        auto state = std::make_unique<BatchWriter::State>();
        if (!db_.permits().try_acquire_for(kSessionWait)) {
            throw StoreError(sessionsBusy(db_.backend(), "starting a batch", db_.poolSize()));
        }
        try {
            state->lease =
                std::make_unique<BatchWriter::State::Lease>(db_.permits(), db_.pool());  // releases if it throws
            state->session().begin();
            if (sqlite) {
                for (const std::string& statement : prepareStaging) state->session() << statement, now;
            }
        } catch (const Poco::Exception& error) {
            // As in withSession: a pooled connection the server dropped is replaced once.
            if (attempt == 1 && state->lease && !state->session().isConnected()) continue;
            const std::string text = oneLine(error.displayText());
            throw StoreError(db_.backend() + ": starting batch " + batch.batchId + ": " + text,
                             !isPermanentStoreFailure(text));
        }
        state->backend = db_.backend();
        state->batch = batch;
        if (sqlite) {
            state->insertRows = "INSERT INTO temp.staged_batch_rows (" + rowColumns + ")" + rowValues;
            state->insertResults =
                "INSERT INTO temp.staged_results (batch_id, row_no, debtor_id, status, reason, payload, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)";
            // `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
            state->publishStaged = {
                "INSERT INTO batch_rows (" + rowColumns + ") SELECT " + rowColumns + " FROM temp.staged_batch_rows",
                "INSERT INTO inquiry_results (batch_id, row_no, debtor_id, status, reason, payload, updated_at)"
                " SELECT batch_id, row_no, debtor_id, status, reason, payload, updated_at FROM temp.staged_results"
                " WHERE true ON CONFLICT (batch_id, row_no) DO UPDATE SET debtor_id = excluded.debtor_id,"
                " status = excluded.status, reason = excluded.reason, payload = excluded.payload,"
                " updated_at = excluded.updated_at",
                "DELETE FROM temp.staged_batch_rows",
                "DELETE FROM temp.staged_results",
            };
        } else {
            state->insertRows = sql("INSERT INTO batch_rows (" + rowColumns + ")" + rowValues);
            state->insertResults = sql(kUpsertResult);
        }
        state->insertBatch =
            sql("INSERT INTO batches (" + std::string(kBatchColumns) +
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT COUNT(*) FROM inquiry_results WHERE batch_id = ?),"
                " ?, ?, ?, ?, ?, ?)");
        return std::unique_ptr<BatchWriter>(new BatchWriter(std::move(state)));
    }
}

std::optional<BatchRecord> Store::findBatch(const std::string& batchId) {
    const std::string statement = sql("SELECT " + std::string(kBatchColumns) + " FROM batches WHERE batch_id = ?");
    return withSession("finding a batch", [&](Poco::Data::Session& session) -> std::optional<BatchRecord> {
        auto records = select<BatchColumns>(session, statement, batchId);
        if (records.empty()) return std::nullopt;
        return std::move(records.front());
    });
}

std::optional<BatchRecord> Store::findBatchByReceiptToken(const std::string& receiptToken) {
    const std::string statement = sql("SELECT " + std::string(kBatchColumns) + " FROM batches WHERE receipt_token = ?");
    return withSession("finding a batch by receipt token",
                       [&](Poco::Data::Session& session) -> std::optional<BatchRecord> {
                           auto records = select<BatchColumns>(session, statement, receiptToken);
                           if (records.empty()) return std::nullopt;
                           return std::move(records.front());
                       });
}

std::vector<BatchRecord> Store::listBatches(const std::string& creditorId, int limit, int offset) {
    if (limit <= 0) return {};
    const int skip = std::max(offset, 0);
    const std::string statement =
        sql("SELECT " + std::string(kBatchColumns) +
            " FROM batches WHERE creditor_id = ? ORDER BY created_at DESC, batch_id DESC LIMIT ? OFFSET ?");
    return withSession("listing batches", [&](Poco::Data::Session& session) {
        return select<BatchColumns>(session, statement, creditorId, limit, skip);
    });
}

std::vector<BatchRecord> Store::activeBatches(int limit) {
    const std::string statement =
        sql("SELECT " + std::string(kBatchColumns) +
            " FROM batches WHERE state IN ('queued', 'processing') ORDER BY queued_at, batch_id LIMIT ?");
    return withSession("listing active batches",
                       [&](Poco::Data::Session& session) { return select<BatchColumns>(session, statement, limit); });
}

std::map<std::string, int> Store::countBatchesByState() {
    const std::string statement = sql("SELECT state, CAST(COUNT(*) AS INTEGER) FROM batches GROUP BY state");
    return withSession("counting batches by state", [&](Poco::Data::Session& session) {
        std::vector<std::string> states;
        std::vector<int> counts;
        session << statement, into(states), into(counts), now;
        std::map<std::string, int> result;
        for (std::size_t i = 0; i < states.size(); ++i) result[states[i]] = counts[i];
        return result;
    });
}

std::vector<BatchRowRecord> Store::pendingRows(const std::string& batchId, int afterRow, int limit) {
    if (limit <= 0) return {};
    const std::string statement =
        sql("SELECT b.batch_id, b.row_no, b.debtor_id, b.debtor_name, b.title_ref, b.scope, b.income_years,"
            " b.accepted, b.reason, b.column_name, b.fee FROM batch_rows b"
            " WHERE b.batch_id = ? AND b.row_no > ? AND b.accepted = 1 AND NOT EXISTS"
            " (SELECT 1 FROM inquiry_results r WHERE r.batch_id = b.batch_id AND r.row_no = b.row_no)"
            " ORDER BY b.row_no LIMIT ?");
    return withSession("reading a batch's pending rows", [&](Poco::Data::Session& session) {
        return select<RowColumns>(session, statement, batchId, afterRow, limit);
    });
}

bool Store::setBatchState(const std::string& batchId, const std::string& from, const std::string& to,
                          const std::string& reason) {
    if (!isBatchState(from) || !isBatchState(to)) {
        throw std::invalid_argument("store: setBatchState: unknown state '" + (isBatchState(from) ? to : from) + "'");
    }
    const std::string stamp = detail::utcNow();
    const std::string queuedAt = to == "queued" ? stamp : "";
    const std::string completedAt = to == "completed" ? stamp : "";
    const std::string statement =
        sql("UPDATE batches SET state = ?, failure_reason = ?,"
            " queued_at = CASE WHEN queued_at = '' THEN ? ELSE queued_at END,"
            " completed_at = CASE WHEN completed_at = '' THEN ? ELSE completed_at END"
            " WHERE batch_id = ? AND state = ?");
    return withSession("setting a batch's state", [&](Poco::Data::Session& session) {
        Poco::Data::Statement update(session);
        update << statement, bind(to), bind(reason), bind(queuedAt), bind(completedAt), bind(batchId), bind(from);
        return update.execute() > 0;
    });
}

// --- payments ---

PaymentIntent Store::beginPayment(const PaymentRecord& pending) {
    constexpr const char* kCall = "beginPayment";
    requireField(pending.paymentId, "paymentId", kCall);
    requireField(pending.idempotencyKey, "idempotencyKey", kCall);
    requireField(pending.batchId, "batchId", kCall);
    requireField(pending.creditorId, "creditorId", kCall);
    const std::string stamp = detail::utcNow();
    const std::string createdAt = pending.createdAt.empty() ? stamp : pending.createdAt;
    const std::string updatedAt = pending.updatedAt.empty() ? createdAt : pending.updatedAt;
    const std::string providerKey = pending.providerKey.empty() ? pending.paymentId : pending.providerKey;
    const Poco::Int64 amount = pending.amount;
    const Poco::Int64 leaseUntil = pending.leaseUntilMs;
    // No conflict target: a conflict on the creditor's key, the provider key or payments_live_per_batch (a live
    // payment of this batch under another key, migration 3) all insert nothing instead of failing, and PostgreSQL
    // waits for a concurrent insert of any of them to commit or roll back first.
    const std::string insertStatement =
        sql("INSERT INTO payments (" + std::string(kPaymentColumns) +
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, 0, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
    const std::string selectStatement =
        sql("SELECT " + std::string(kPaymentColumns) + " FROM payments WHERE creditor_id = ? AND idempotency_key = ?");
    const std::string liveStatement = sql("SELECT " + std::string(kPaymentColumns) +
                                          " FROM payments WHERE batch_id = ? AND status NOT IN ('failed', 'refund_due')"
                                          " ORDER BY created_at, payment_id LIMIT 1");

    // Inserting first takes the write lock (SQLite) or waits for a concurrent insert of the same key to commit
    // (PostgreSQL), so the select after it always finds the one record.
    struct Outcome {
        std::optional<PaymentIntent> intent;  ///< the key's record
        std::optional<PaymentRecord> live;    ///< else the batch's live payment under another key
    };
    for (int attempt = 1;; ++attempt) {
        Outcome outcome = withSession("beginning a payment", [&](Poco::Data::Session& session) {
            Poco::Data::Transaction transaction(session);
            Poco::Data::Statement insert(session);
            insert << insertStatement, bind(pending.paymentId), bind(pending.idempotencyKey), bind(pending.batchId),
                bind(pending.creditorId), bind(amount), bind(pending.method), bind(pending.card),
                bind(pending.providerTxnId), bind(pending.error), bind(createdAt), bind(updatedAt), bind(providerKey),
                bind(pending.cardHash), bind(pending.leaseOwner), bind(leaseUntil);
            const bool created = insert.execute() > 0;
            Outcome found;
            auto records = select<PaymentColumns>(session, selectStatement, pending.creditorId, pending.idempotencyKey);
            if (!records.empty()) {
                found.intent = PaymentIntent{std::move(records.front()), created};
            } else {
                auto live = select<PaymentColumns>(session, liveStatement, pending.batchId);
                if (!live.empty()) found.live = std::move(live.front());
            }
            transaction.commit();
            return found;
        });
        // Only the caller's own data in the messages: the batch is the caller's (the API checked), and so is the key.
        if (outcome.live) {
            const PaymentRecord& live = *outcome.live;
            throw IdempotencyConflict("batch " + pending.batchId + " already has a payment (" + live.status +
                                      ") under another idempotency key; idempotency key " + pending.idempotencyKey +
                                      " was not used");
        }
        if (!outcome.intent) {
            // The live payment that blocked the insert failed meanwhile (try again), or the payment id is taken.
            if (attempt < 3) continue;
            throw StoreError(db_.backend() + ": beginning a payment: the payment with idempotency key " +
                             pending.idempotencyKey + " was neither inserted nor found (payment id " +
                             pending.paymentId + " taken?)");
        }
        PaymentIntent intent = std::move(*outcome.intent);
        const PaymentRecord& stored = intent.payment;
        const bool otherCard =
            !stored.cardHash.empty() && !pending.cardHash.empty() && stored.cardHash != pending.cardHash;
        if (stored.batchId != pending.batchId || stored.amount != pending.amount || otherCard) {
            throw IdempotencyConflict("idempotency key " + pending.idempotencyKey + " was used for batch " +
                                      stored.batchId + ", NT$" + std::to_string(stored.amount) +
                                      (otherCard ? " with another card" : "") + ", not for batch " + pending.batchId +
                                      ", NT$" + std::to_string(pending.amount) + (otherCard ? " with this card" : ""));
        }
        return intent;
    }
}

bool Store::claimPayment(const std::string& paymentId, const std::string& owner, long long nowMs, long long leaseMs) {
    requireField(owner, "owner", "claimPayment");
    if (leaseMs < 1) throw std::invalid_argument("store: claimPayment: leaseMs must be at least 1");
    const std::string statement =
        sql("UPDATE payments SET lease_owner = ?, lease_until = CASE WHEN lease_until > ? THEN lease_until ELSE ? END"
            " WHERE payment_id = ? AND status = 'pending' AND (lease_owner = '' OR lease_until < ?)");
    // A released payment's lease keeps its end (see releasePayment): a new holder's lease never shortens it.
    const Poco::Int64 until = nowMs + leaseMs;
    const Poco::Int64 now = nowMs;
    return withSession("claiming a payment", [&](Poco::Data::Session& session) {
        Poco::Data::Statement update(session);
        update << statement, bind(owner), bind(until), bind(until), bind(paymentId), bind(now);
        return update.execute() > 0;
    });
}

void Store::releasePayment(const std::string& paymentId, const std::string& owner) {
    const std::string statement =
        sql("UPDATE payments SET lease_owner = '' WHERE payment_id = ? AND lease_owner = ? AND status = 'pending'");
    withSession("releasing a payment", [&](Poco::Data::Session& session) {
        Poco::Data::Statement update(session);
        update << statement, bind(paymentId), bind(owner);
        update.execute();
    });
}

PaymentChange Store::completePayment(const std::string& paymentId, const std::string& status,
                                     const std::string& providerTxnId, const std::string& error,
                                     long long recheckUntilMs) {
    if (status != kSucceeded && status != kFailed) {
        throw std::invalid_argument("store: completePayment: status '" + status + "' is neither succeeded nor failed");
    }
    const std::string stamp = detail::utcNow();
    // A failure only ever replaces pending; a success also replaces a failure (the charge happened, the ledger must
    // say so), never another success. A success for a batch that another payment paid meanwhile is refund_due.
    const std::string updateStatement =
        sql("UPDATE payments SET status = ?, provider_txn_id = ?, error = ?, updated_at = ?, lease_owner = '',"
            " lease_until = 0, recheck_until = ?, recheck_next = 0, published = 0"
            " WHERE payment_id = ? AND (status = 'pending' OR (status = 'failed' AND ? = 'succeeded'))");
    const std::string countStatement = sql("SELECT COUNT(*) FROM payments WHERE payment_id = ?");
    const std::string othersLiveStatement =
        sql("SELECT COUNT(*) FROM payments p JOIN payments q ON q.batch_id = p.batch_id"
            " WHERE p.payment_id = ? AND q.payment_id <> p.payment_id AND q.status NOT IN ('failed', 'refund_due')");
    // SET expressions all see the row as it was, so both CASEs test the old state.
    const std::string paidStatement =
        sql("UPDATE batches SET paid = 1,"
            " queued_at = CASE WHEN state = 'awaiting_payment' THEN ? ELSE queued_at END,"
            " state = CASE WHEN state = 'awaiting_payment' THEN 'queued' ELSE state END"
            " WHERE batch_id = (SELECT batch_id FROM payments WHERE payment_id = ?)");

    struct Outcome {
        bool known = false;
        PaymentChange change;
    };
    const Outcome outcome = withSession("completing a payment", [&](Poco::Data::Session& session) {
        Poco::Data::Transaction transaction(session);
        std::string recorded = status;
        if (status == kSucceeded) {
            // Another live payment exists only when this one had failed (a pending one is the batch's live payment).
            // The unique index payments_live_per_batch would refuse a second success: the charge is kept, as owed.
            int othersLive = 0;
            session << othersLiveStatement, into(othersLive), bind(paymentId), now;
            if (othersLive > 0) recorded = kRefundDue;
        }
        Poco::Data::Statement update(session);
        const Poco::Int64 recheckUntil = recorded == kFailed ? recheckUntilMs : 0;
        update << updateStatement, bind(recorded), bind(providerTxnId), bind(error), bind(stamp), bind(recheckUntil),
            bind(paymentId), bind(status);
        if (update.execute() == 0) {  // no longer pending, or unknown
            int count = 0;
            session << countStatement, into(count), bind(paymentId), now;
            return Outcome{count > 0, {}};
        }
        if (recorded == kSucceeded) session << paidStatement, bind(stamp), bind(paymentId), now;
        transaction.commit();
        return Outcome{true, PaymentChange{true, recorded == kRefundDue}};
    });
    if (!outcome.known) throw PermanentError("store: completePayment: no payment " + paymentId);
    return outcome.change;
}

std::vector<PaymentRecord> Store::paymentsToRecheck(long long nowMs, int limit, long long nextCheckMs) {
    if (limit <= 0) return {};
    const std::string selectStatement =
        sql("SELECT " + std::string(kPaymentColumns) +
            " FROM payments WHERE status = ? AND recheck_until > ? AND recheck_next <= ?"
            " ORDER BY recheck_next, created_at, payment_id LIMIT ?");
    const std::string pushOn = sql("UPDATE payments SET recheck_next = ? WHERE payment_id = ? AND status = ?");
    const Poco::Int64 now = nowMs;
    const Poco::Int64 next = nextCheckMs;
    return withSession("reading payments to check again", [&](Poco::Data::Session& session) {
        Poco::Data::Transaction transaction(session);
        auto due = select<PaymentColumns>(session, selectStatement, std::string(kFailed), now, now, limit);
        for (const auto& payment : due) {
            Poco::Data::Statement update(session);
            update << pushOn, bind(next), bind(payment.paymentId), bind(std::string(kFailed));
            update.execute();
        }
        transaction.commit();
        return due;
    });
}

std::vector<PaymentRecord> Store::pendingPayments() {
    const std::string statement = sql("SELECT " + std::string(kPaymentColumns) +
                                      " FROM payments WHERE status = ? ORDER BY created_at, payment_id");
    return withSession("reading pending payments", [&](Poco::Data::Session& session) {
        return select<PaymentColumns>(session, statement, std::string(kPending));
    });
}

std::vector<PaymentRecord> Store::abandonedPayments(long long nowMs) {
    const std::string statement =
        sql("SELECT " + std::string(kPaymentColumns) +
            " FROM payments WHERE status = ? AND lease_until < ? ORDER BY created_at, payment_id");
    const Poco::Int64 now = nowMs;
    return withSession("reading abandoned payments", [&](Poco::Data::Session& session) {
        return select<PaymentColumns>(session, statement, std::string(kPending), now);
    });
}

std::vector<PaymentRecord> Store::unpublishedPayments(int limit) {
    if (limit <= 0) return {};
    const std::string statement =
        sql("SELECT " + std::string(kPaymentColumns) +
            " FROM payments WHERE published = 0 AND status <> 'pending' ORDER BY created_at, payment_id LIMIT ?");
    return withSession("reading unpublished payments",
                       [&](Poco::Data::Session& session) { return select<PaymentColumns>(session, statement, limit); });
}

void Store::markPublished(const std::vector<std::string>& paymentIds) {
    if (paymentIds.empty()) return;  // Poco refuses to bind empty vectors
    const std::string statement = sql("UPDATE payments SET published = 1 WHERE payment_id = ?");
    std::vector<std::string> ids = paymentIds;  // Poco binds mutable vectors only
    withSession("marking payments published", [&](Poco::Data::Session& session) {
        Poco::Data::Transaction transaction(session);
        Poco::Data::Statement update(session);
        update << statement, use(ids);
        update.execute();
        transaction.commit();
    });
}

long long Store::paidTotal(const std::string& batchId) {
    const std::string statement =
        sql("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM payments WHERE batch_id = ? AND status IN (?, ?)");
    return withSession("summing a batch's payments", [&](Poco::Data::Session& session) {
        Poco::Int64 total = 0;
        session << statement, into(total), bind(batchId), bind(std::string(kSucceeded)), bind(std::string(kRefundDue)),
            now;
        return static_cast<long long>(total);
    });
}

std::optional<PaymentRecord> Store::findPaymentByKey(const std::string& creditorId, const std::string& idempotencyKey) {
    const std::string statement =
        sql("SELECT " + std::string(kPaymentColumns) + " FROM payments WHERE creditor_id = ? AND idempotency_key = ?");
    return withSession("finding a payment", [&](Poco::Data::Session& session) -> std::optional<PaymentRecord> {
        auto records = select<PaymentColumns>(session, statement, creditorId, idempotencyKey);
        if (records.empty()) return std::nullopt;
        return std::move(records.front());
    });
}

}  // namespace taxdesk::connectors
