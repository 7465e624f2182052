#pragma once
// The SMS application's ports (jobs/sms/application.hpp) over the engine's connectors: the registry and NHI card
// connectors, the Redis counters and locks, and the pickups in the store. Wiring only: what they decide is in jobs/sms.
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "connectors/api/connector_set.hpp"
#include "connectors/redis/redis_client.hpp"
#include "connectors/store/pickup_store.hpp"
#include "jobs/sms/application.hpp"
#include "jobs/sms/batch_counters.hpp"

namespace taxdesk::engine {

/// The registry knows a living person (no company) and the NHI card connector confirms the last four digits. A
/// transient ConnectorError (after the connector's own retries) is `unavailable`; a permanent one propagates.
class ConnectorIdentity final : public jobs::sms::IdentityPort {
  public:
    explicit ConnectorIdentity(const connectors::ConnectorSet& connectors) : connectors_(connectors) {}
    Result check(const std::string& id, const std::string& nhiLast4) override;

  private:
    const connectors::ConnectorSet& connectors_;
};

/// The SMS counters in Redis, under the keys engine/flow/redis_keys.hpp names (the locks, the daily limit with its
/// per-message marker, the failed checks' window and the lock history). RedisError becomes CountersUnavailable.
class RedisCounters final : public jobs::sms::CounterPort, public jobs::sms::CounterBatchPort {
  public:
    struct Policy {
        int lockFailures = 3;        ///< sms.lock_failures
        int lockSeconds = 600;       ///< sms.lock_seconds
        int lockMaxSeconds = 14400;  ///< sms.lock_max_seconds
    };
    RedisCounters(std::unique_ptr<connectors::RedisClient> redis, Policy policy)
        : redis_(std::move(redis)), policy_(policy) {}

    std::optional<long long> lockSecondsLeft(const std::string& id, const std::string& msisdn) override;
    long long countApplication(const std::string& msisdn, const std::string& day,
                               const std::string& gatewayMsgId) override;
    void uncountApplication(const std::string& msisdn, const std::string& day,
                            const std::string& gatewayMsgId) override;
    int recordFailedCheck(const std::string& id, const std::string& msisdn, const std::string& gatewayMsgId,
                          std::int64_t nowMs) override;
    /// lockSecondsLeft and countApplication of every ask, in order, in two round trips for the batch
    /// (RedisClient::lockedCounts).
    std::vector<jobs::sms::CounterAnswer> checkAndCount(const std::vector<jobs::sms::CounterAsk>& asks) override;

  private:
    std::unique_ptr<connectors::RedisClient> redis_;
    Policy policy_;
};

/// The applicant's open pickup from the store, and codes drawn at random.
class StorePickups final : public jobs::sms::PickupPort {
  public:
    explicit StorePickups(connectors::PickupStore& store) : store_(store) {}
    std::optional<jobs::sms::OpenPickup> openPickupFor(const std::string& applicantId, int service,
                                                       std::int64_t nowUnix) override;
    std::string drawCode() override;

  private:
    connectors::PickupStore& store_;
};

/// Of `open` (pickups read as open), the one SqlPickupStore::openPickupFor answers for (applicant, service) at
/// `nowUnix`: open, deadline not passed, the newest by (createdAt, pickupId). Null when none.
const connectors::PickupRecord* newestOpenPickup(const std::vector<connectors::PickupRecord>& open,
                                                 const std::string& applicantId, int service, std::int64_t nowUnix);

/// StorePickups over the open pickups of some applicants read before (issue 11: a poll batch's, in one query): for
/// those applicants it answers from them, for any other it asks the store. Codes are drawn as StorePickups draws them.
class PrefetchedPickups final : public jobs::sms::PickupPort {
  public:
    PrefetchedPickups(connectors::PickupStore& store, const std::unordered_set<std::string>& applicants,
                      const std::vector<connectors::PickupRecord>& open)
        : store_(store), applicants_(applicants), open_(open) {}
    std::optional<jobs::sms::OpenPickup> openPickupFor(const std::string& applicantId, int service,
                                                       std::int64_t nowUnix) override;
    std::string drawCode() override { return store_.drawCode(); }

  private:
    StorePickups store_;
    const std::unordered_set<std::string>& applicants_;
    const std::vector<connectors::PickupRecord>& open_;
};

/// A stored pickup as the application's rules see it.
jobs::sms::OpenPickup openPickupOf(const connectors::PickupRecord& record);

}  // namespace taxdesk::engine
