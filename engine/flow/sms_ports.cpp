#include "engine/flow/sms_ports.hpp"

#include <cstdio>
#include <random>
#include <tuple>

#include "engine/flow/redis_keys.hpp"
#include "jobs/sms/lock_rules.hpp"

namespace taxdesk::engine {
namespace {

/// Two days of expiry: a message received yesterday (at most kMaxReceivedAtAgeSeconds ago) still finds its day.
constexpr int kCountTtlSeconds = 2 * 24 * 3600;

}  // namespace

ConnectorIdentity::Result ConnectorIdentity::check(const std::string& id, const std::string& nhiLast4) {
    try {
        const auto person = connectors_.registry->lookup(id);
        if (!person || person->deceased || person->company || !connectors_.nhi->verifyLast4(id, nhiLast4))
            return {Result::Status::failed, ""};
        return {Result::Status::verified, person->district};
    } catch (const connectors::ConnectorError& error) {
        if (!error.isRetryable()) throw;
        // Not the error's text for a log: an HTTP connector's names the request URL, whole ID included.
        return {Result::Status::unavailable, ""};
    }
}

std::optional<long long> RedisCounters::lockSecondsLeft(const std::string& id, const std::string& msisdn) {
    const std::string idLock = redis_keys::smsLock("id", id);
    const std::string msisdnLock = redis_keys::smsLock("msisdn", msisdn);
    try {
        const auto locks = redis_->mget({idLock, msisdnLock});
        if (!locks[0] && !locks[1]) return std::nullopt;
        long long left = 0;
        if (locks[0]) left = std::max(left, redis_->ttl(idLock));
        if (locks[1]) left = std::max(left, redis_->ttl(msisdnLock));
        return left;
    } catch (const connectors::RedisError& error) {
        throw jobs::sms::CountersUnavailable(error.what());
    }
}

long long RedisCounters::countApplication(const std::string& msisdn, const std::string& day,
                                          const std::string& gatewayMsgId) {
    try {
        return redis_->countOnce(redis_keys::smsDaily(msisdn, day), redis_keys::smsCounted(msisdn, day, gatewayMsgId),
                                 kCountTtlSeconds);
    } catch (const connectors::RedisError& error) {
        throw jobs::sms::CountersUnavailable(error.what());
    }
}

std::vector<jobs::sms::CounterAnswer> RedisCounters::checkAndCount(const std::vector<jobs::sms::CounterAsk>& asks) {
    std::vector<connectors::RedisClient::LockedCount> items(asks.size());
    for (std::size_t i = 0; i < asks.size(); ++i) {
        items[i].locks[0] = redis_keys::smsLock("id", asks[i].id);
        items[i].locks[1] = redis_keys::smsLock("msisdn", asks[i].msisdn);
        items[i].counterKey = redis_keys::smsDaily(asks[i].msisdn, asks[i].day);
        items[i].markerKey = redis_keys::smsCounted(asks[i].msisdn, asks[i].day, asks[i].gatewayMsgId);
    }
    std::vector<jobs::sms::CounterAnswer> answers(asks.size());
    try {
        const auto counted = redis_->lockedCounts(items, kCountTtlSeconds);
        for (std::size_t i = 0; i < asks.size(); ++i) {
            if (counted[i].locked) answers[i].lockedSecondsLeft = counted[i].lockSecondsLeft;
            answers[i].count = counted[i].count;
            answers[i].fresh = counted[i].fresh;
        }
    } catch (const connectors::RedisError& error) {
        throw jobs::sms::CountersUnavailable(error.what());
    }
    return answers;
}

void RedisCounters::uncountApplication(const std::string& msisdn, const std::string& day,
                                       const std::string& gatewayMsgId) {
    try {
        redis_->uncount(redis_keys::smsDaily(msisdn, day), redis_keys::smsCounted(msisdn, day, gatewayMsgId));
    } catch (const connectors::RedisError& error) {
        throw jobs::sms::CountersUnavailable(error.what());
    }
}

int RedisCounters::recordFailedCheck(const std::string& id, const std::string& msisdn, const std::string& gatewayMsgId,
                                     std::int64_t nowMs) {
    // A true sliding window, counted and locked in one atomic script; the member is the message, so a redelivered
    // message counts once.
    connectors::StrikePolicy strikes;
    strikes.windowMs = static_cast<long long>(policy_.lockSeconds) * 1000;
    strikes.limit = policy_.lockFailures;
    strikes.historyMs = static_cast<long long>(jobs::sms::kLockHistorySeconds) * 1000;
    strikes.lockSeconds = jobs::sms::lockLadder(policy_.lockSeconds, policy_.lockMaxSeconds);
    try {
        return redis_
            ->recordStrike({redis_keys::smsStrikes("id", id), redis_keys::smsStrikes("msisdn", msisdn)}, gatewayMsgId,
                           nowMs, strikes)
            .lockedSeconds;
    } catch (const connectors::RedisError& error) {
        throw jobs::sms::CountersUnavailable(error.what());
    }
}

jobs::sms::OpenPickup openPickupOf(const connectors::PickupRecord& record) {
    return {record.pickupId, record.code, record.service, record.office, record.deadlineAt};
}

std::optional<jobs::sms::OpenPickup> StorePickups::openPickupFor(const std::string& applicantId, int service,
                                                                 std::int64_t nowUnix) {
    const auto open = store_.openPickupFor(applicantId, service, nowUnix);
    if (!open) return std::nullopt;
    return openPickupOf(*open);
}

const connectors::PickupRecord* newestOpenPickup(const std::vector<connectors::PickupRecord>& open,
                                                 const std::string& applicantId, int service, std::int64_t nowUnix) {
    const std::int64_t notBefore = nowUnix > 0 ? nowUnix : 0;
    const connectors::PickupRecord* newest = nullptr;
    for (const auto& record : open) {
        if (record.applicantId != applicantId || record.service != service || record.state != "open" ||
            record.deadlineAt < notBefore)
            continue;
        // openPickupFor's ORDER BY created_at DESC, pickup_id DESC; moot while pickups_open_per_applicant allows one.
        if (newest == nullptr ||
            std::tie(record.createdAt, record.pickupId) > std::tie(newest->createdAt, newest->pickupId))
            newest = &record;
    }
    return newest;
}

std::optional<jobs::sms::OpenPickup> PrefetchedPickups::openPickupFor(const std::string& applicantId, int service,
                                                                      std::int64_t nowUnix) {
    if (!applicants_.contains(applicantId)) return store_.openPickupFor(applicantId, service, nowUnix);
    if (const auto* open = newestOpenPickup(open_, applicantId, service, nowUnix)) return openPickupOf(*open);
    return std::nullopt;
}

std::string StorePickups::drawCode() {
    static thread_local std::mt19937 generator{std::random_device{}()};
    char code[8];
    std::snprintf(code, sizeof code, "%06d", std::uniform_int_distribution<int>(0, 999999)(generator));
    return code;
}

}  // namespace taxdesk::engine
