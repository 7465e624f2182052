#pragma once
// Internal to connectors/store: raw libpq on a pooled PostgreSQL session, for what Poco 1.11's connector cannot do
// (COPY). The PGresult of every call is owned by a unique_ptr; a failure throws Poco's PostgreSQLException carrying
// libpq's message (its SQLSTATE included: the pool's sessions ask for verbose errors), so Database::withSession turns
// it into a StoreError like any other statement's, retryable or not by the same rule (isPermanentStoreFailure).
// libpq-fe.h stays in the .cpp: only the connection's opaque type is named here. Not for use outside this folder.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;
struct pg_result;

namespace Poco::Data {
class Session;
}

namespace taxdesk::connectors::detail::pg {

/// Frees a PGresult (PQclear).
struct ResultDeleter {
    void operator()(pg_result* result) const noexcept;
};
using ResultPtr = std::unique_ptr<pg_result, ResultDeleter>;

/// The libpq connection of a pooled PostgreSQL session. It stays the session's: use it only while the session is
/// leased, on the thread that holds it, and leave it as found (no open COPY, no pending result). Throws
/// std::logic_error for a session of another backend.
pg_conn* connectionOf(Poco::Data::Session& session);

/// Runs `statement` with text parameters (none: an empty vector); returns its result when it is a command's
/// (PGRES_COMMAND_OK) or a query's (PGRES_TUPLES_OK). Throws Poco::Data::PostgreSQL::StatementException otherwise.
ResultPtr exec(pg_conn* connection, const std::string& statement, const std::vector<std::string>& parameters = {});

/// The text of column `column` of row `row` of a query's result.
std::string_view value(const ResultPtr& result, int row, int column);
/// The rows a command's result says it changed (PQcmdTuples), 0 when it says none.
long long affectedRows(const ResultPtr& result);
/// The rows of a query's result.
int rowCount(const ResultPtr& result);

/// The body of a `COPY … FROM STDIN (FORMAT binary)`: the header, then tuples of fields, then the trailer. Binary,
/// not text: the bytes go as they are (no escaping of tabs, line breaks or backslashes, nothing for the server to
/// unescape), and each field is one length and one memcpy.
class BinaryCopy {
  public:
    explicit BinaryCopy(std::size_t reserveBytes = 0);
    /// Starts a tuple of `fields` fields.
    void tuple(std::int16_t fields);
    /// A TEXT (or VARCHAR) field: its bytes, which must be valid in the connection's encoding.
    void text(std::string_view value);
    /// An INTEGER field.
    void int4(std::int32_t value);
    /// A BIGINT field.
    void int8(std::int64_t value);
    /// The whole body, trailer included; the object is spent.
    std::string finish();

  private:
    void put16(std::int16_t value);
    void put32(std::int32_t value);
    std::string body_;
};

/// Runs `copyStatement` (a `COPY … FROM STDIN`) and sends `body` as its data (in pieces of 1 GiB at most). Throws
/// Poco::Data::PostgreSQL::StatementException when the server refuses either; the connection is left out of COPY mode
/// whatever happened (the transaction, if one is open, is then aborted and must be rolled back).
void copyIn(pg_conn* connection, const std::string& copyStatement, std::string_view body);

}  // namespace taxdesk::connectors::detail::pg
