#pragma once
// The store's schema as an ordered list of versioned migrations, and the small SQL dialect differences between the
// two backends. Internal to connectors/store; public only so that tests can name the latest version.
#include <string>
#include <string_view>
#include <vector>

namespace Poco::Data {
class Session;
}

namespace taxdesk::connectors::detail {

enum class SqlBackend { sqlite, postgresql };

/// One schema change. Its statements run in one transaction and must be valid on SQLite and PostgreSQL alike.
struct Migration {
    int version = 0;
    std::string_view description;
    std::vector<std::string_view> statements;
};

/// Every migration, oldest first, versions strictly increasing. Append only: never edit one that has shipped.
const std::vector<Migration>& migrations();

/// The version of the newest migration in migrations().
int latestSchemaVersion();

/// Statements are written with `?` placeholders (SQLite, ODBC style). Poco 1.11's PostgreSQL connector hands the text
/// to PQprepare unchanged and counts only `$n` markers, so for PostgreSQL every `?` outside a quoted literal or
/// identifier becomes `$1`, `$2`, … in order.
std::string placeholders(SqlBackend backend, std::string_view sql);

/// Creates schema_migrations when missing and applies every migration not recorded there, each in its own
/// transaction together with its record. Safe when several processes open the same database at once: the one that
/// loses the race for a version's record rolls back and skips it. Throws Poco::Exception.
void applyMigrations(Poco::Data::Session& session, SqlBackend backend);

/// The highest version recorded in schema_migrations (0 when none). Throws Poco::Exception.
int appliedSchemaVersion(Poco::Data::Session& session);

/// Now, UTC, ISO 8601 with milliseconds ("2024-05-01T08:30:00.123Z"): sorts as text on both backends.
std::string utcNow();

}  // namespace taxdesk::connectors::detail
