#pragma once
// The static pages: the creditor portal (GET /) and the operations dashboard (GET /dashboard). Both are single
// self-contained HTML files (engine/pages/portal.html, dashboard.html) embedded in the binary at build time; they
// call the API from the browser, so serving them needs no state and no authentication.
#include <vector>

#include "engine/http/http_server.hpp"

namespace taxdesk::engine {

/// GET / (the portal) and GET /dashboard (the dashboard), as text/html; charset=utf-8.
std::vector<Route> staticPageRoutes();

}  // namespace taxdesk::engine
