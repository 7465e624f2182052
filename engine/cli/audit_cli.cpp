#include "engine/cli/audit_cli.hpp"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Timespan.h>

#include <iostream>
#include <stdexcept>

#include "connectors/store/sql_audit_store.hpp"
#include "connectors/store/store.hpp"
#include "engine/api/audit_api.hpp"
#include "engine/cli/cli.hpp"
#include "jobs/audit/audit.hpp"
#include "jobs/identity/identifiers.hpp"

namespace taxdesk::engine {
namespace {

constexpr int kExitBroken = 1;

std::string dayOption(const ArgReader& reader, const std::string& name, const char* command) {
    const std::string day = reader.value(name).value_or("");
    if (!day.empty() && !jobs::audit::isDay(day))
        throw UsageError(std::string(command) + ": --" + name + " must be a date YYYY-MM-DD");
    return day;
}

void configure(connectors::Store& store, const Settings& settings) {
    store.audit().configure({settings.auditEnabled, auditKey(settings)});
}

int search(const Settings& settings, const std::vector<std::string>& args) {
    const ArgReader reader(args, {"debtor-id", "creditor", "from", "to", "limit", "cursor", "format"}, {});
    if (!reader.positional().empty()) throw UsageError("audit search: unexpected '" + reader.positional()[0] + "'");
    connectors::AuditQuery query;
    query.fromDay = dayOption(reader, "from", "audit search");
    query.toDay = dayOption(reader, "to", "audit search");
    query.creditorId = reader.value("creditor").value_or("");
    query.limit = static_cast<int>(reader.integer("limit", 100, 1, api::kAuditMaxPage));
    query.cursor = reader.value("cursor").value_or("");
    const std::string format = reader.value("format").value_or("csv");
    if (format != "csv" && format != "json") throw UsageError("audit search: --format must be csv or json");
    connectors::Store store(settings.store);
    configure(store, settings);
    if (const auto id = reader.value("debtor-id")) query.idHmac = store.audit().idHmac(jobs::identity::normalize(*id));
    if (query.fromDay.empty() && query.toDay.empty() && query.creditorId.empty() && query.idHmac.empty())
        throw UsageError("audit search: give --debtor-id, --creditor, or --from and --to");
    connectors::AuditPage page;
    try {
        page = store.audit().search(query);
    } catch (const std::invalid_argument&) {
        throw UsageError("audit search: --cursor is not one a search gave");
    }
    std::string text;
    if (format == "csv") {
        text = api::auditCsvHeader();
        for (const auto& hit : page.hits) api::appendAuditCsv(text, hit);
    } else {
        for (const auto& hit : page.hits) {
            api::appendAuditJson(text, hit);
            text += '\n';
        }
    }
    std::cout << text << std::flush;
    if (!page.next.empty()) std::cerr << "more: --cursor " << page.next << std::endl;
    return 0;
}

int verify(const Settings& settings, const std::vector<std::string>& args) {
    const ArgReader reader(args, {"from", "to"}, {});
    if (!reader.positional().empty()) throw UsageError("audit verify: unexpected '" + reader.positional()[0] + "'");
    const std::string from = dayOption(reader, "from", "audit verify");
    const std::string to = dayOption(reader, "to", "audit verify");
    connectors::Store store(settings.store);
    configure(store, settings);
    const connectors::AuditVerifyReport report = store.audit().verify(from, to);
    if (!report.ok) {
        std::cout << "audit verify: BROKEN at day " << report.brokenDay << " record " << report.brokenSeq << ": "
                  << report.reason << " (" << report.records << " records before it verified)" << std::endl;
        return kExitBroken;
    }
    std::cout << "audit verify: ok: " << report.days << " days, " << report.records << " records, " << report.entries
              << " results entries, " << report.checkpoints << " pruned days' checkpoints" << std::endl;
    return 0;
}

int prune(const Settings& settings, const std::vector<std::string>& args) {
    const ArgReader reader(args, {"retention-days"}, {});
    if (!reader.positional().empty()) throw UsageError("audit prune: unexpected '" + reader.positional()[0] + "'");
    const auto days = reader.integer("retention-days", settings.auditRetentionDays, 1, 36500);
    Poco::DateTime cutoff;
    cutoff -= Poco::Timespan(static_cast<int>(days), 0, 0, 0, 0);
    const std::string before = Poco::DateTimeFormatter::format(cutoff, "%Y-%m-%d");
    connectors::Store store(settings.store);
    configure(store, settings);
    const connectors::AuditPruneReport report = store.audit().prune(before);
    std::cout << "audit prune: " << report.days << " days before " << before << " removed (" << report.records
              << " records), each after its signed checkpoint" << std::endl;
    for (const auto& day : report.refused)
        std::cout << "audit prune: day " << day << " kept: its chain does not verify (taxdesk audit verify --from "
                  << day << " --to " << day << ")" << std::endl;
    return report.refused.empty() ? 0 : kExitBroken;
}

}  // namespace

int commandAudit(const Settings& settings, const std::vector<std::string>& args) {
    const std::string sub = args.empty() ? "" : args[0];
    const std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
    if (sub == "search") return search(settings, rest);
    if (sub == "verify") return verify(settings, rest);
    if (sub == "prune") return prune(settings, rest);
    throw UsageError("audit: expected 'audit search …', 'audit verify [--from D --to D]' or 'audit prune'");
}

}  // namespace taxdesk::engine
