#pragma once
// What operations staff see: the figures behind /dashboard (no personal data), refreshed gauges for /metrics.
#include <memory>
#include <vector>

#include "connectors/api/connector_set.hpp"
#include "connectors/store/batch_store.hpp"
#include "engine/http/http_server.hpp"
#include "engine/runtime/metrics.hpp"

namespace taxdesk::engine::api {

class DashboardApi {
  public:
    DashboardApi(Metrics& metrics, connectors::BatchStore& batches, connectors::ConnectorSet connectors);
    /// GET /dashboard/data (no token: figures only) and GET /metrics.
    [[nodiscard]] std::vector<Route> routes();
    /// Brings the gauges that are read rather than counted (breakers, batches by state) up to date.
    void refreshGauges();

  private:
    HttpReply dashboardData();

    Metrics& metrics_;
    connectors::BatchStore& batches_;
    connectors::ConnectorSet connectors_;
};

}  // namespace taxdesk::engine::api
