// Result upserts at speed (issue 11): rows/s of ResultStore::upsertResults on SQLite and PostgreSQL against a ceiling
// measured in the same run: a raw insert of the same bytes (SQLite: one prepared INSERT reused; PostgreSQL: COPY) into
// a table with the same columns and primary key but no conflict handling and no batch counters.
//
//   build/bench/taxdesk_bench_store_upserts [--rows 200000] [--chunk 2000] [--runs 3] [--backend
//   sqlite|postgresql|both]
//       [--postgresql "host=… port=… dbname=… user=…"] [--dir /tmp/…] [--sqlite-threading serialized|multi]
//       [--audit on|off]
//
// PostgreSQL comes from --postgresql, else TAXDESK_TEST_POSTGRES_URL or TAXDESK_TEST_POSTGRESQL (what scripts/test
// exports; scripts/lib/postgres.sh's pg_start prints one). Each run writes one batch of `rows` results (a batch row
// with rows_total = rows, queued, as a paid batch is) in chunks of `chunk`, as the inquiry stage does, then replays the
// same results (every row a conflict) and reports both. Each chunk of the store's is followed by the same chunk into
// the ceiling's table (a fresh one for each phase), and each side's time is summed over its chunks: both meet the
// same load on a shared machine, where a ceiling measured before or after drifted with it (ratios 0.6–1.1 for one
// build). Figures: value, ceiling, ratio, process CPU µs per row (the
// PostgreSQL server's CPU is another process's), peak RSS. The SQLite ceiling's connection has the store's settings
// (WAL, synchronous=NORMAL, the 64 MiB memory map): without the map it read back by system calls every page the store's
// commit had made its cache drop, and came out slower than the upserts it bounds.
// --sqlite-threading: the store runs SQLite in multi-thread mode without memory statistics (the default here, `multi`:
// the Database configures it before the first connection opens); `serialized` initialises SQLite in the library's
// default mode first, so the Database's configuration is refused and every connection keeps its mutex: the before.
#include <Poco/Data/PostgreSQL/Connector.h>
#include <Poco/Data/PostgreSQL/SessionImpl.h>
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/Utility.h>
#include <Poco/Data/Session.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "connectors/store/sql_audit_store.hpp"
#include "connectors/store/store.hpp"

namespace {

using namespace taxdesk::connectors;
using namespace Poco::Data::Keywords;
using Clock = std::chrono::steady_clock;

struct Options {
    int rows = 200000;
    int chunk = 2000;
    int runs = 3;
    std::string backend = "both";
    std::string postgresql;
    std::string dir = "/tmp/taxdesk-bench-store";
    std::string sqliteThreading = "multi";
    bool audit = true;  ///< --audit on|off: the audit trail (issue 13) records the new results in their transaction
};

double cpuSeconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double peakRssMiB() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

/// A result of about 400 bytes, shaped like the stage's (SPEC 3.3).
StoredResult makeResult(const std::string& batchId, int row) {
    std::string id = "A1" + std::to_string(20000000 + row % 80000000);
    std::string payload = R"({"batch_id":")" + batchId + R"(","row":)" + std::to_string(row) + R"(,"debtor_id":")" +
                          id +
                          R"(","status":"found","income":[{"year":2023,"payer_id":"22099131","payer_name":"臺北)"
                          R"(市某某股份有限公司","income_type":"salary","amount":)" +
                          std::to_string(400000 + row % 1000) +
                          R"(}],"property":[{"kind":"land","description":"信義區某段123地號","location":"臺北市)"
                          R"(信義區","value":)" +
                          std::to_string(1000000 + row) + R"(},{"kind":"vehicle","description":"ABC-)" +
                          std::to_string(row % 10000) + R"(","location":"","value":350000}]})";
    return {batchId, row, std::move(id), "found", "", std::move(payload)};
}

struct Figure {
    double seconds = 0;
    double cpu = 0;
};

struct RunFigures {
    Figure upsert, ceiling;        ///< new rows, and the ceiling's chunks written between theirs
    Figure replay, replayCeiling;  ///< the same results again, and a fresh ceiling's chunks between theirs
};

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

std::string uniqueId(const char* stem) {
    return std::string(stem) + "-" + std::to_string(getpid()) + "-" +
           std::to_string(Clock::now().time_since_epoch().count());
}

void addBatch(Poco::Data::Session& session, bool postgresql, const std::string& batchId, int rows) {
    const std::string text = std::string(
                                 "INSERT INTO batches (batch_id, creditor_id, state, rows_total, rows_accepted,"
                                 " receipt_token, created_at, queued_at, paid) VALUES ") +
                             (postgresql ? "($1, 'bench', 'queued', $2, $3, $4, '2026-12-01T00:00:00Z', "
                                           "'2026-12-01T00:00:00Z', 1)"
                                         : "(?, 'bench', 'queued', ?, ?, ?, '2026-12-01T00:00:00Z', "
                                           "'2026-12-01T00:00:00Z', 1)");
    const std::string token = batchId + "-receipt";
    session << text, bind(batchId), bind(rows), bind(rows), bind(token), now;
}

template <typename Work>
Figure timed(Work&& work) {
    const double cpu0 = cpuSeconds();
    const auto start = Clock::now();
    work();
    return {std::chrono::duration<double>(Clock::now() - start).count(), cpuSeconds() - cpu0};
}

void checkCompleted(Store& store, const std::string& batchId, int rows) {
    const auto batch = store.batches().findBatch(batchId);
    if (!batch || batch->rowsDone != rows ||
        taxdesk::jobs::inquiry::toString(batch->state) != std::string("completed")) {
        throw std::runtime_error("batch " + batchId + " is not completed with rows_done " + std::to_string(rows));
    }
}

/// A raw insert of the same rows into a table of the same columns and key, created fresh and dropped at the end:
/// the ceiling, written chunk by chunk between the store's chunks, so that both meet the same load.
class Ceiling {
  public:
    virtual ~Ceiling() = default;
    /// Writes results [at, end) as one transaction.
    virtual void write(const std::vector<StoredResult>& results, size_t at, size_t end) = 0;
};

std::string ceilingTable() {
    return "ceiling_" + std::to_string(getpid()) + "_" +
           std::to_string(Clock::now().time_since_epoch().count() % 1000000000);
}

constexpr const char* kCeilingColumns =
    " (batch_id TEXT NOT NULL, row_no INTEGER NOT NULL, debtor_id TEXT NOT NULL, status TEXT NOT NULL,"
    " reason TEXT NOT NULL DEFAULT '', payload TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (batch_id, "
    "row_no))";

/// SQLite ceiling: one prepared INSERT reused, a transaction per chunk, WAL and synchronous=NORMAL as the store has.
class SqliteCeiling final : public Ceiling {
  public:
    explicit SqliteCeiling(const std::string& path) : session_("SQLite", path), table_(ceilingTable()) {
        session_ << "PRAGMA busy_timeout=5000", now;
        session_ << "PRAGMA journal_mode=WAL", now;
        session_ << "PRAGMA synchronous=NORMAL", now;
        session_ << "PRAGMA mmap_size=67108864", now;
        session_ << "CREATE TABLE " + table_ + kCeilingColumns, now;
        db_ = Poco::Data::SQLite::Utility::dbHandle(session_);
        const std::string text = "INSERT INTO " + table_ + " VALUES (?, ?, ?, ?, ?, ?, ?)";
        if (sqlite3_prepare_v2(db_, text.c_str(), -1, &insert_, nullptr) != SQLITE_OK) {
            throw std::runtime_error("prepare");
        }
    }
    ~SqliteCeiling() override {
        sqlite3_finalize(insert_);
        try {
            session_ << "DROP TABLE " + table_, now;
        } catch (...) {  // NOLINT(bugprone-empty-catch): a bench's clean-up
        }
    }
    SqliteCeiling(const SqliteCeiling&) = delete;
    SqliteCeiling& operator=(const SqliteCeiling&) = delete;

    void write(const std::vector<StoredResult>& results, size_t at, size_t end) override {
        const std::string stamp = "2026-12-01T00:00:00Z";
        sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
        for (size_t i = at; i < end; ++i) {
            const StoredResult& r = results[i];
            sqlite3_bind_text(insert_, 1, r.batchId.data(), static_cast<int>(r.batchId.size()), SQLITE_STATIC);
            sqlite3_bind_int(insert_, 2, r.row);
            sqlite3_bind_text(insert_, 3, r.debtorId.data(), static_cast<int>(r.debtorId.size()), SQLITE_STATIC);
            sqlite3_bind_text(insert_, 4, r.status.data(), static_cast<int>(r.status.size()), SQLITE_STATIC);
            sqlite3_bind_text(insert_, 5, r.reason.data(), static_cast<int>(r.reason.size()), SQLITE_STATIC);
            sqlite3_bind_text(insert_, 6, r.payload.data(), static_cast<int>(r.payload.size()), SQLITE_STATIC);
            sqlite3_bind_text(insert_, 7, stamp.data(), static_cast<int>(stamp.size()), SQLITE_STATIC);
            if (sqlite3_step(insert_) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db_));
            sqlite3_reset(insert_);
        }
        if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
            throw std::runtime_error(sqlite3_errmsg(db_));
        }
    }

  private:
    Poco::Data::Session session_;
    std::string table_;
    sqlite3* db_ = nullptr;
    sqlite3_stmt* insert_ = nullptr;
};

void appendCopyField(std::string& out, const std::string& value) {
    for (const char c : value) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                out += c;
        }
    }
}

void pqCheck(PGconn* conn, PGresult* result, ExecStatusType wanted) {
    const bool ok = PQresultStatus(result) == wanted;
    PQclear(result);
    if (!ok) throw std::runtime_error(PQerrorMessage(conn));
}

/// PostgreSQL ceiling: a text COPY of the same rows, a transaction per chunk, into a table with the same key.
class PostgresqlCeiling final : public Ceiling {
  public:
    explicit PostgresqlCeiling(const std::string& connection)
        : conn_(PQconnectdb(connection.c_str())), table_(ceilingTable()) {
        if (PQstatus(conn_) != CONNECTION_OK) {
            const std::string error = PQerrorMessage(conn_);
            PQfinish(conn_);
            throw std::runtime_error(error);
        }
        pqCheck(conn_, PQexec(conn_, ("CREATE TABLE " + table_ + kCeilingColumns).c_str()), PGRES_COMMAND_OK);
        copy_ = "COPY " + table_ + " FROM STDIN";
    }
    ~PostgresqlCeiling() override {
        PQclear(PQexec(conn_, ("DROP TABLE " + table_).c_str()));
        PQfinish(conn_);
    }
    PostgresqlCeiling(const PostgresqlCeiling&) = delete;
    PostgresqlCeiling& operator=(const PostgresqlCeiling&) = delete;

    void write(const std::vector<StoredResult>& results, size_t at, size_t end) override {
        pqCheck(conn_, PQexec(conn_, "BEGIN"), PGRES_COMMAND_OK);
        pqCheck(conn_, PQexec(conn_, copy_.c_str()), PGRES_COPY_IN);
        buffer_.clear();
        for (size_t i = at; i < end; ++i) {
            const StoredResult& r = results[i];
            appendCopyField(buffer_, r.batchId);
            buffer_ += '\t';
            buffer_ += std::to_string(r.row);
            buffer_ += '\t';
            appendCopyField(buffer_, r.debtorId);
            buffer_ += '\t';
            appendCopyField(buffer_, r.status);
            buffer_ += '\t';
            appendCopyField(buffer_, r.reason);
            buffer_ += '\t';
            appendCopyField(buffer_, r.payload);
            buffer_ += "\t2026-12-01T00:00:00Z\n";
        }
        if (PQputCopyData(conn_, buffer_.data(), static_cast<int>(buffer_.size())) != 1 ||
            PQputCopyEnd(conn_, nullptr) != 1) {
            throw std::runtime_error(PQerrorMessage(conn_));
        }
        pqCheck(conn_, PQgetResult(conn_), PGRES_COMMAND_OK);
        while (PGresult* rest = PQgetResult(conn_)) PQclear(rest);
        pqCheck(conn_, PQexec(conn_, "COMMIT"), PGRES_COMMAND_OK);
    }

  private:
    PGconn* conn_;
    std::string table_;
    std::string copy_;
    std::string buffer_;
};

std::unique_ptr<Ceiling> makeCeiling(const std::string& backend, const StoreSettings& settings) {
    if (backend == "sqlite") return std::make_unique<SqliteCeiling>(settings.sqlitePath);
    return std::make_unique<PostgresqlCeiling>(settings.postgresql);
}

/// Every result through the store in chunks, each chunk followed by the same chunk into a fresh ceiling table: the
/// store's time and the ceiling's, each summed over the chunks.
std::pair<Figure, Figure> upsertBesideCeiling(Store& store, Ceiling& ceiling, const std::vector<StoredResult>& results,
                                              int chunk) {
    Figure upsert, raw;
    for (size_t at = 0; at < results.size(); at += static_cast<size_t>(chunk)) {
        const auto end = std::min(results.size(), at + static_cast<size_t>(chunk));
        const std::vector<StoredResult> part(results.begin() + static_cast<long>(at),
                                             results.begin() + static_cast<long>(end));
        // The audit trail's share is prepared outside the timed commit, as the inquiry stage prepares it on its
        // consumer thread (nothing when the trail is off).
        const auto audit = store.results().prepareAudit(part, {}, {});
        const Figure one = timed([&] { store.results().upsertResultsWithAudit(part, audit); });
        const Figure two = timed([&] { ceiling.write(results, at, end); });
        upsert.seconds += one.seconds;
        upsert.cpu += one.cpu;
        raw.seconds += two.seconds;
        raw.cpu += two.cpu;
    }
    return {upsert, raw};
}

RunFigures runOnce(const std::string& backend, const Options& options) {
    StoreSettings settings;
    settings.backend = backend;
    settings.poolSize = 4;
    if (backend == "sqlite") {
        std::filesystem::create_directories(options.dir);
        settings.sqlitePath = options.dir + "/" + uniqueId("upserts") + ".db";
    } else {
        settings.postgresql = options.postgresql;
    }
    RunFigures figures;
    {
        Store store(settings);
        store.audit().configure({options.audit, "bench-audit-key-0123456789abcdef0123456789abcdef"});
        const std::string batchId = uniqueId("bench-batch");
        {
            Poco::Data::Session session(backend == "sqlite" ? "SQLite" : "PostgreSQL",
                                        backend == "sqlite" ? settings.sqlitePath : settings.postgresql);
            addBatch(session, backend != "sqlite", batchId, options.rows);
        }
        std::vector<StoredResult> results;
        results.reserve(static_cast<size_t>(options.rows));
        for (int row = 1; row <= options.rows; ++row) results.push_back(makeResult(batchId, row));

        {
            const auto ceiling = makeCeiling(backend, settings);
            std::tie(figures.upsert, figures.ceiling) = upsertBesideCeiling(store, *ceiling, results, options.chunk);
        }
        checkCompleted(store, batchId, options.rows);
        {
            const auto ceiling = makeCeiling(backend, settings);
            std::tie(figures.replay, figures.replayCeiling) =
                upsertBesideCeiling(store, *ceiling, results, options.chunk);
        }
        checkCompleted(store, batchId, options.rows);
    }
    if (backend == "sqlite") {
        std::error_code ignored;
        for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(settings.sqlitePath + suffix, ignored);
    }
    return figures;
}

void report(const std::string& backend, const std::vector<RunFigures>& runs, const Options& options) {
    const double rows = options.rows;
    std::vector<double> upsert, replay, ceiling, replayCeiling, upsertRatio, replayRatio, upsertCpu, replayCpu;
    for (const RunFigures& run : runs) {
        upsert.push_back(rows / run.upsert.seconds);
        replay.push_back(rows / run.replay.seconds);
        ceiling.push_back(rows / run.ceiling.seconds);
        replayCeiling.push_back(rows / run.replayCeiling.seconds);
        upsertRatio.push_back(run.ceiling.seconds / run.upsert.seconds);
        replayRatio.push_back(run.replayCeiling.seconds / run.replay.seconds);
        upsertCpu.push_back(run.upsert.cpu * 1e6 / rows);
        replayCpu.push_back(run.replay.cpu * 1e6 / rows);
    }
    std::printf(
        "%s upserts (new rows): %.0f rows/s, ceiling %.0f rows/s, ratio %.2f, CPU %.1f us/row, peak RSS %.0f MiB\n",
        backend.c_str(), median(upsert), median(ceiling), median(upsertRatio), median(upsertCpu), peakRssMiB());
    std::printf(
        "%s upserts (replay):   %.0f rows/s, ceiling %.0f rows/s, ratio %.2f, CPU %.1f us/row, peak RSS %.0f MiB\n",
        backend.c_str(), median(replay), median(replayCeiling), median(replayRatio), median(replayCpu), peakRssMiB());
    std::fflush(stdout);
}

int usage() {
    std::cerr
        << "usage: taxdesk_bench_store_upserts [--rows N] [--chunk N] [--runs N] [--backend sqlite|postgresql|both]"
           " [--postgresql CONNINFO] [--dir FOLDER] [--sqlite-threading serialized|multi]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    for (const char* name : {"TAXDESK_TEST_POSTGRES_URL", "TAXDESK_TEST_POSTGRESQL"}) {
        if (const char* value = std::getenv(name); value != nullptr && options.postgresql.empty()) {
            options.postgresql = value;
        }
    }
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc) return usage();
        const std::string value = argv[++i];
        if (arg == "--rows")
            options.rows = std::stoi(value);
        else if (arg == "--chunk")
            options.chunk = std::stoi(value);
        else if (arg == "--runs")
            options.runs = std::stoi(value);
        else if (arg == "--backend")
            options.backend = value;
        else if (arg == "--postgresql")
            options.postgresql = value;
        else if (arg == "--dir")
            options.dir = value;
        else if (arg == "--sqlite-threading")
            options.sqliteThreading = value;
        else if (arg == "--audit" && (value == "on" || value == "off"))
            options.audit = value == "on";
        else
            return usage();
    }
    if (options.rows < 1 || options.chunk < 1 || options.runs < 1) return usage();
    if (options.sqliteThreading == "serialized") {
        // Before any connection opens (SQLite reads its configuration once, at initialisation).
        if (sqlite3_config(SQLITE_CONFIG_SERIALIZED) != SQLITE_OK || sqlite3_initialize() != SQLITE_OK) {
            std::cerr << "store_upserts: SQLite refused serialized mode\n";
            return 1;
        }
    } else if (options.sqliteThreading == "multi") {
        // As the Database does, here first because the ceiling's own connection may open before the store's.
        if (sqlite3_config(SQLITE_CONFIG_MULTITHREAD) != SQLITE_OK ||
            sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK) {
            std::cerr << "store_upserts: SQLite refused multi-thread mode\n";
            return 1;
        }
    } else {
        return usage();
    }
    std::vector<std::string> backends;
    if (options.backend == "sqlite" || options.backend == "both") backends.emplace_back("sqlite");
    if (options.backend == "postgresql" || options.backend == "both") {
        if (options.postgresql.empty()) {
            std::cerr << "no PostgreSQL: pass --postgresql or set TAXDESK_TEST_POSTGRES_URL\n";
            return 2;
        }
        backends.emplace_back("postgresql");
    }
    if (backends.empty()) return usage();
    try {
        for (const std::string& backend : backends) {
            std::vector<RunFigures> runs;
            for (int run = 0; run < options.runs; ++run) runs.push_back(runOnce(backend, options));
            report(backend, runs, options);
        }
    } catch (const std::exception& error) {
        std::cerr << "store_upserts: " << error.what() << "\n";
        return 1;
    }
    return 0;
}
