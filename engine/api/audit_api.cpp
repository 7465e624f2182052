#include "engine/api/audit_api.hpp"

#include <memory>
#include <set>
#include <stdexcept>

#include "engine/api/auth.hpp"
#include "jobs/audit/audit.hpp"
#include "jobs/common/json.hpp"
#include "jobs/identity/identifiers.hpp"

namespace taxdesk::engine::api {
namespace {

void appendCell(std::string& out, const std::string& value) {
    std::string cell = value;
    if (!cell.empty() &&
        (cell[0] == '=' || cell[0] == '+' || cell[0] == '-' || cell[0] == '@' || cell[0] == '\t' || cell[0] == '\r'))
        cell.insert(cell.begin(), '\'');
    if (cell.find_first_of(",\"\r\n") == std::string::npos) {
        out += cell;
        return;
    }
    out += '"';
    for (const char c : cell) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
}

}  // namespace

std::string auditCsvHeader() {
    return "recorded_at,kind,creditor_id,batch_id,row,title_ref,debtor_id_hmac,status,request_id,format,row_count,"
           "record\r\n";
}

void appendAuditCsv(std::string& out, const connectors::AuditHit& hit) {
    appendCell(out, hit.recordedAt);
    out += ',';
    appendCell(out, hit.kind);
    out += ',';
    appendCell(out, hit.creditorId);
    out += ',';
    appendCell(out, hit.batchId);
    out += ',';
    out += hit.kind == "download" ? "" : std::to_string(hit.row);
    out += ',';
    appendCell(out, hit.titleRef);
    out += ',';
    appendCell(out, hit.idHmac);
    out += ',';
    appendCell(out, hit.status);
    out += ',';
    appendCell(out, hit.requestId);
    out += ',';
    appendCell(out, hit.format);
    out += ',';
    out += hit.kind == "download" ? std::to_string(hit.rowCount) : "";
    out += ',';
    out += hit.day + "/" + std::to_string(hit.seq);
    out += "\r\n";
}

void appendAuditJson(std::string& out, const connectors::AuditHit& hit) {
    jobs::json::ObjectWriter writer(out);
    writer.field("recorded_at", hit.recordedAt).field("kind", hit.kind).field("creditor_id", hit.creditorId);
    writer.field("batch_id", hit.batchId);
    if (hit.kind == "download") {
        writer.field("format", hit.format).field("row_count", hit.rowCount).field("request_id", hit.requestId);
    } else {
        writer.field("row", hit.row)
            .field("title_ref", hit.titleRef)
            .field("debtor_id_hmac", hit.idHmac)
            .field("status", hit.status)
            .field("request_id", hit.requestId);
    }
    writer.field("record", hit.day + "/" + std::to_string(hit.seq)).close();
}

std::vector<Route> AuditApi::routes() {
    return {{"GET", "/api/v1/ops/audit", [this](HttpRequest& r) { return search(r); }}};
}

HttpReply AuditApi::search(HttpRequest& request) {
    authenticate(request, tokens_, {"ops"});
    static const std::set<std::string> kKnown = {"debtor_id", "creditor", "from", "to", "cursor", "limit", "format"};
    for (const auto& [name, value] : request.query)
        if (kKnown.count(name) == 0) throw HttpError(400, "bad_parameter", "unknown parameter " + name);
    connectors::AuditQuery query;
    query.fromDay = request.queryValue("from");
    query.toDay = request.queryValue("to");
    if (!query.fromDay.empty() && !jobs::audit::isDay(query.fromDay))
        throw HttpError(400, "bad_parameter", "from must be a date YYYY-MM-DD");
    if (!query.toDay.empty() && !jobs::audit::isDay(query.toDay))
        throw HttpError(400, "bad_parameter", "to must be a date YYYY-MM-DD");
    if (!query.fromDay.empty() && !query.toDay.empty() && query.fromDay > query.toDay)
        throw HttpError(400, "bad_parameter", "from is after to");
    query.creditorId = request.queryValue("creditor");
    if (query.creditorId.size() > 200) throw HttpError(400, "bad_parameter", "creditor is longer than 200 characters");
    if (request.query.count("debtor_id") != 0) {
        // Never echoed: the message names the parameter only.
        const std::string id = jobs::identity::normalize(request.queryValue("debtor_id"));
        if (id.empty() || id.size() > 32) throw HttpError(400, "bad_parameter", "debtor_id is not an ID");
        query.idHmac = audit_.idHmac(id);
    }
    if (query.fromDay.empty() && query.toDay.empty() && query.creditorId.empty() && query.idHmac.empty())
        throw HttpError(400, "bad_parameter", "give debtor_id, creditor, or from and to");
    const std::string limit = request.queryValue("limit", "100");
    try {
        std::size_t used = 0;
        query.limit = std::stoi(limit, &used);
        if (used != limit.size() || query.limit < 1 || query.limit > kAuditMaxPage) throw std::invalid_argument("");
    } catch (const std::exception&) {
        throw HttpError(400, "bad_parameter", "limit must be 1 to " + std::to_string(kAuditMaxPage));
    }
    query.cursor = request.queryValue("cursor");
    std::string format = request.queryValue("format");
    if (format.empty()) format = request.header("Accept").find("text/csv") != std::string::npos ? "csv" : "json";
    if (format != "csv" && format != "json") throw HttpError(400, "bad_parameter", "format must be csv or json");

    connectors::AuditPage page;
    try {
        page = audit_.search(query);
    } catch (const std::invalid_argument&) {
        throw HttpError(400, "bad_parameter", "cursor is not one this server gave");
    }
    HttpReply reply;
    reply.status = 200;
    if (!page.next.empty()) reply.headers["X-Next-Cursor"] = page.next;
    auto hits = std::make_shared<connectors::AuditPage>(std::move(page));
    if (format == "csv") {
        reply.contentType = "text/csv; charset=utf-8";
        reply.stream = [hits](std::ostream& out) {
            std::string text = "\xEF\xBB\xBF" + auditCsvHeader();
            for (const auto& hit : hits->hits) {
                appendAuditCsv(text, hit);
                if (text.size() > 65536) {
                    out << text;
                    text.clear();
                }
            }
            out << text;
        };
    } else {
        reply.contentType = "application/json; charset=utf-8";
        reply.stream = [hits](std::ostream& out) {
            std::string text = "{\"entries\":[";
            bool first = true;
            for (const auto& hit : hits->hits) {
                if (!first) text += ',';
                first = false;
                appendAuditJson(text, hit);
                if (text.size() > 65536) {
                    out << text;
                    text.clear();
                }
            }
            text += "],\"next_cursor\":";
            if (hits->next.empty()) {
                text += "null";
            } else {
                text += '"';
                text += hits->next;
                text += '"';
            }
            text += "}\n";
            out << text;
        };
    }
    return reply;
}

}  // namespace taxdesk::engine::api
