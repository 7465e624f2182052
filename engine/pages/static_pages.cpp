#include "engine/pages/static_pages.hpp"

#include <string>

namespace taxdesk::engine {
namespace pages::detail {
extern const char* const kPortalHtml;
extern const char* const kDashboardHtml;
}  // namespace pages::detail

namespace {

HttpReply htmlPage(const std::string& html) {
    HttpReply reply;
    reply.contentType = "text/html; charset=utf-8";
    reply.body = html;
    // The pages change with the binary: always ask again rather than run an old copy against a new API.
    reply.headers["Cache-Control"] = "no-cache";
    reply.headers["X-Content-Type-Options"] = "nosniff";
    reply.headers["Referrer-Policy"] = "no-referrer";
    // Everything the pages need is inline or on this origin (the receipt is shown from a blob: URL, its QR code is a
    // data: image); nothing else may load, and no other site may frame them.
    reply.headers["Content-Security-Policy"] =
        "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; frame-src 'self' blob:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'";
    return reply;
}

}  // namespace

std::vector<Route> staticPageRoutes() {
    // Copied once: the handlers run on the server's threads and only read.
    static const std::string portal = pages::detail::kPortalHtml;
    static const std::string dashboard = pages::detail::kDashboardHtml;
    return {
        {"GET", "/", [](HttpRequest&) { return htmlPage(portal); }},
        {"GET", "/dashboard", [](HttpRequest&) { return htmlPage(dashboard); }},
    };
}

}  // namespace taxdesk::engine
