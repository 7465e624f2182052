#pragma once
// The audit trail for operations staff (issue 13): GET /api/v1/ops/audit (ops role). A debtor_id is HMACed with the
// audit key before the search and appears in no answer and no log line (the router logs no query strings).
#include <string>

#include "connectors/store/sql_audit_store.hpp"
#include "connectors/store/token_store.hpp"
#include "engine/http/http_server.hpp"

namespace taxdesk::engine::api {

/// Most hits a page; the default is 100.
inline constexpr int kAuditMaxPage = 1000;

/// The CSV header line of audit hits (with its line break).
std::string auditCsvHeader();
/// One hit as a CSV line (cells quoted as needed; a cell a spreadsheet would read as a formula made text).
void appendAuditCsv(std::string& out, const connectors::AuditHit& hit);
/// One hit as a JSON object.
void appendAuditJson(std::string& out, const connectors::AuditHit& hit);

class AuditApi {
  public:
    AuditApi(connectors::SqlAuditStore& audit, connectors::TokenStore& tokens) : audit_(audit), tokens_(tokens) {}
    [[nodiscard]] std::vector<Route> routes();

  private:
    /// GET /api/v1/ops/audit?debtor_id=…|creditor=…|from=…&to=…[&cursor=…][&limit=…][&format=csv|json]: one page of
    /// hits, JSON {entries, next_cursor} or CSV (Accept: text/csv or format=csv; the next cursor in X-Next-Cursor).
    HttpReply search(HttpRequest& request);

    connectors::SqlAuditStore& audit_;
    connectors::TokenStore& tokens_;
};

}  // namespace taxdesk::engine::api
