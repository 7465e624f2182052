#include "engine/pages/pages.hpp"

#include <cstdio>

#include "engine/pages/qr.hpp"
#include "jobs/inquiry/batch_state.hpp"

namespace taxdesk::engine::pages {
namespace {

const char* kStyle = R"(<style>
body{font-family:system-ui,"Noto Sans TC","Microsoft JhengHei",sans-serif;margin:2rem auto;max-width:40rem;color:#1b1b1b}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}
.bar{background:#e6e6e6;border-radius:4px;height:1.2rem}.bar>div{background:#1d6f42;height:100%;border-radius:4px}
.url{font-family:monospace;word-break:break-all}.muted{color:#666;font-size:.9rem}
</style>)";

std::string stateLabel(jobs::inquiry::BatchState state) {
    switch (state) {
        case jobs::inquiry::BatchState::awaiting_payment:
            return "待繳費 Awaiting payment";
        case jobs::inquiry::BatchState::queued:
            return "排隊中 Queued";
        case jobs::inquiry::BatchState::processing:
            return "查調中 Processing";
        case jobs::inquiry::BatchState::completed:
            return "已完成 Completed";
        case jobs::inquiry::BatchState::failed:
            return "失敗 Failed";
    }
    return jobs::inquiry::toString(state);
}

std::string percent(const connectors::BatchRecord& batch) {
    const double value = batch.rowsTotal > 0 ? 100.0 * batch.rowsDone / batch.rowsTotal : 100.0;
    char text[16];
    std::snprintf(text, sizeof text, "%.1f", value);
    return text;
}

std::string progressBar(const connectors::BatchRecord& batch) {
    const std::string p = percent(batch);
    return "<div class=\"bar\" role=\"progressbar\" aria-valuemin=\"0\" aria-valuemax=\"100\" aria-valuenow=\"" + p +
           "\"><div style=\"width:" + p + "%\"></div></div><p>" + p + "% (" + std::to_string(batch.rowsDone) + " / " +
           std::to_string(batch.rowsTotal) + ")</p>";
}

}  // namespace

std::string escapeHtml(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out.push_back(c);
        }
    }
    return out;
}

std::string receiptPage(const connectors::BatchRecord& batch, const std::string& publicUrl,
                        const std::vector<ReceiptDigest>& digests) {
    const std::string id = escapeHtml(batch.batchId);
    const std::string url = escapeHtml(publicUrl);
    std::string html = "<!doctype html><html lang=\"zh-Hant\"><head><meta charset=\"utf-8\"><title>收據 Receipt " + id +
                       "</title>" + kStyle + "</head><body>";
    html += "<h1>債權人查調收據 Creditor inquiry receipt</h1><table>";
    auto row = [&](const std::string& label, const std::string& value) {
        html += "<tr><th>" + label + "</th><td>" + value + "</td></tr>";
    };
    row("批次 Batch", "<span id=\"batch-id\">" + id + "</span>");
    row("狀態 State", "<span id=\"state\">" + escapeHtml(stateLabel(batch.state)) + "</span>");
    row("筆數 Rows", std::to_string(batch.rowsTotal) + "（受理 accepted " + std::to_string(batch.rowsAccepted) +
                         "，退件 rejected " + std::to_string(batch.rowsRejected) + "）");
    row("規費 Fee", "NT$" + std::to_string(batch.feeTotal) + (batch.paid ? "（已繳 paid）" : "（未繳 unpaid）"));
    row("建立時間 Created", escapeHtml(batch.createdAt));
    html += "</table><h2>進度查詢 Progress</h2>" + progressBar(batch);
    html +=
        "<p>掃描 QR code 或開啟網址查詢進度（不含個人資料）<br>Scan the code or open the address to follow progress "
        "(no personal data):</p>";
    html += "<p class=\"url\"><a id=\"public-url\" href=\"" + url + "\">" + url + "</a></p>";
    html += "<img id=\"qr\" alt=\"QR code: " + url + "\" src=\"" + pngDataUrl(qrPng(publicUrl)) + "\">";
    if (!digests.empty()) {
        // Issue 13: the digests of the signed downloads; anyone can check one at its /v/ URL (no personal data).
        html += "<h2>結果檔核驗 Results verification</h2><table>";
        for (const auto& digest : digests) {
            const std::string verify = escapeHtml(digest.verifyUrl);
            html += "<tr><th>SHA-256 (" + escapeHtml(digest.format) + ")</th><td><code class=\"digest\" id=\"digest-" +
                    escapeHtml(digest.format) + "\">" + escapeHtml(digest.sha256) + "</code><br><a href=\"" + verify +
                    "\">" + verify + "</a></td></tr>";
        }
        html += "</table>";
        const std::string first = escapeHtml(digests.front().verifyUrl);
        html += "<img id=\"verify-qr\" alt=\"QR code: " + first + "\" src=\"" +
                pngDataUrl(qrPng(digests.front().verifyUrl)) + "\">";
    }
    html += "<p class=\"muted\">臺北國稅局 National Taxation Bureau of Taipei</p></body></html>";
    return html;
}

std::string publicProgressPage(const connectors::BatchRecord& batch) {
    const bool finished = jobs::inquiry::isFinished(batch.state);
    std::string html = "<!doctype html><html lang=\"zh-Hant\"><head><meta charset=\"utf-8\">";
    if (!finished) html += "<meta http-equiv=\"refresh\" content=\"5\">";
    html += "<title>查調進度 Inquiry progress</title>" + std::string(kStyle) + "</head><body>";
    html += "<h1>查調進度 Inquiry progress</h1>";
    html += "<p>狀態 State: <strong id=\"state\">" + escapeHtml(stateLabel(batch.state)) + "</strong></p>";
    html += progressBar(batch);
    if (!finished) html += "<p class=\"muted\">本頁每 5 秒更新 This page refreshes every 5 seconds.</p>";
    html += "</body></html>";
    return html;
}

}  // namespace taxdesk::engine::pages
