#pragma once
// `taxdesk serve`: the engine process. Owns the store, the connectors, the pipelines and the HTTP server.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "engine/runtime/config.hpp"

namespace taxdesk::engine {

class HttpServer;
class Metrics;
class Pipeline;
class InquiryStage;

/// Readiness of each dependency: empty string when fine, else what is wrong.
struct Readiness {
    std::string kafka;
    std::string redis;
    std::string store;
    std::string pipeline;
    [[nodiscard]] bool ready() const { return kafka.empty() && redis.empty() && store.empty() && pipeline.empty(); }
};

class Service {
  public:
    /// Opens the store (applying migrations) and builds the parts. Throws on what cannot start.
    explicit Service(Settings settings);
    ~Service();
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

    /// Listens on http.port first (throws Poco::Net::NetException, with nothing else started, when it is taken), then
    /// starts the dispatcher, the scheduler and the pipelines. `onFatal` is called (from a pipeline thread) when a
    /// pipeline fails for good: the process should then stop, and a restart redelivers what was not committed.
    void start(std::function<void()> onFatal);
    /// Stops everything in order; returns false when a pipeline had failed.
    bool stop();

    [[nodiscard]] int httpPort() const;
    Readiness readiness();

  private:
    struct Parts;
    Settings settings_;
    std::unique_ptr<Parts> parts_;
};

}  // namespace taxdesk::engine
