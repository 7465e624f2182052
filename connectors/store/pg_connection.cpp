#include "connectors/store/pg_connection.hpp"

#include <Poco/Data/PooledSessionImpl.h>
#include <Poco/Data/PostgreSQL/PostgreSQLException.h>
#include <Poco/Data/PostgreSQL/SessionImpl.h>
#include <Poco/Data/Session.h>
#include <libpq-fe.h>

#include <algorithm>
#include <stdexcept>

namespace taxdesk::connectors::detail::pg {
namespace {

/// libpq's message for a failed result, else the connection's (a result that never came).
[[noreturn]] void fail(PGconn* connection, const PGresult* result, const char* what) {
    const char* message = result != nullptr ? PQresultErrorMessage(result) : "";
    if (message == nullptr || *message == '\0') message = PQerrorMessage(connection);
    throw Poco::Data::PostgreSQL::StatementException(std::string(what) + ": " + message);
}

/// Reads the results that follow the one wanted until libpq has none left, so the connection takes the next command.
void drain(PGconn* connection) {
    while (PGresult* rest = PQgetResult(connection)) PQclear(rest);
}

/// The session a pooled session wraps. PooledSessionImpl::impl() is protected and Poco 1.11's PostgreSQL session
/// offers its handle by no property (SQLite's has "handle"): a pointer to the member, formed through a derived class as
/// the access rules allow, reaches it without a cast to a type the object is not.
struct PooledAccess : Poco::Data::PooledSessionImpl {
    static constexpr auto kImpl = &PooledAccess::impl;
};

}  // namespace

void ResultDeleter::operator()(pg_result* result) const noexcept {
    PQclear(result);
}

pg_conn* connectionOf(Poco::Data::Session& session) {
    Poco::Data::SessionImpl* wrapped = session.impl();
    if (const auto* pooled = dynamic_cast<const Poco::Data::PooledSessionImpl*>(wrapped)) {
        wrapped = (pooled->*PooledAccess::kImpl)();
    }
    auto* impl = dynamic_cast<Poco::Data::PostgreSQL::SessionImpl*>(wrapped);
    if (impl == nullptr)
        throw std::logic_error("store: a libpq connection asked of a session that is not PostgreSQL's");
    return static_cast<PGconn*>(impl->handle());
}

ResultPtr exec(pg_conn* connection, const std::string& statement, const std::vector<std::string>& parameters) {
    std::vector<const char*> values;
    values.reserve(parameters.size());
    for (const std::string& parameter : parameters) values.push_back(parameter.c_str());
    ResultPtr result(PQexecParams(connection, statement.c_str(), static_cast<int>(values.size()), nullptr,
                                  values.data(), nullptr, nullptr, 0));
    const ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(connection, result.get(), "executing");
    return result;
}

std::string_view value(const ResultPtr& result, int row, int column) {
    return {PQgetvalue(result.get(), row, column), static_cast<std::size_t>(PQgetlength(result.get(), row, column))};
}

long long affectedRows(const ResultPtr& result) {
    const char* tuples = PQcmdTuples(result.get());
    return tuples == nullptr || *tuples == '\0' ? 0 : std::stoll(tuples);
}

int rowCount(const ResultPtr& result) {
    return PQntuples(result.get());
}

BinaryCopy::BinaryCopy(std::size_t reserveBytes) {
    body_.reserve(reserveBytes + 21);
    // The signature, the flags (no OIDs) and the length of the header extension (none).
    body_.append("PGCOPY\n\377\r\n\0", 11);
    put32(0);
    put32(0);
}

void BinaryCopy::put16(std::int16_t value) {
    const auto bits = static_cast<std::uint16_t>(value);
    const char bytes[2] = {static_cast<char>(bits >> 8), static_cast<char>(bits)};
    body_.append(bytes, 2);
}

void BinaryCopy::put32(std::int32_t value) {
    const auto bits = static_cast<std::uint32_t>(value);
    const char bytes[4] = {static_cast<char>(bits >> 24), static_cast<char>(bits >> 16), static_cast<char>(bits >> 8),
                           static_cast<char>(bits)};
    body_.append(bytes, 4);
}

void BinaryCopy::tuple(std::int16_t fields) {
    put16(fields);
}

void BinaryCopy::text(std::string_view value) {
    put32(static_cast<std::int32_t>(value.size()));
    body_.append(value);
}

void BinaryCopy::int4(std::int32_t value) {
    put32(4);
    put32(value);
}

void BinaryCopy::int8(std::int64_t value) {
    const auto bits = static_cast<std::uint64_t>(value);
    put32(8);
    put32(static_cast<std::int32_t>(static_cast<std::uint32_t>(bits >> 32)));
    put32(static_cast<std::int32_t>(static_cast<std::uint32_t>(bits)));
}

std::string BinaryCopy::finish() {
    put16(-1);
    return std::move(body_);
}

void copyIn(pg_conn* connection, const std::string& copyStatement, std::string_view body) {
    {
        const ResultPtr start(PQexec(connection, copyStatement.c_str()));
        if (PQresultStatus(start.get()) != PGRES_COPY_IN) {
            drain(connection);
            fail(connection, start.get(), "starting a COPY");
        }
    }
    // In COPY mode from here: whatever happens, end it before leaving, or the connection takes no other command.
    // PQputCopyData takes at most INT_MAX bytes at once: send larger bodies in pieces.
    constexpr std::size_t kPiece = std::size_t{1} << 30;
    const char* sendError = nullptr;
    for (std::size_t at = 0; at < body.size() && sendError == nullptr; at += kPiece) {
        const std::size_t size = std::min(kPiece, body.size() - at);
        if (PQputCopyData(connection, body.data() + at, static_cast<int>(size)) != 1) sendError = "sending COPY data";
    }
    if (PQputCopyEnd(connection, sendError) != 1 && sendError == nullptr) sendError = "ending a COPY";
    const ResultPtr end(PQgetResult(connection));
    const bool done = PQresultStatus(end.get()) == PGRES_COMMAND_OK;
    drain(connection);
    if (sendError != nullptr) fail(connection, nullptr, sendError);
    if (!done) fail(connection, end.get(), "copying rows");
}

}  // namespace taxdesk::connectors::detail::pg
