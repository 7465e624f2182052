// Issue 11: a batch's lock checks and daily counts asked in one call (jobs/sms/batch_counters.hpp). Over an in-memory
// model of the Redis counters (locks, per-msisdn-and-day counts, one marker per gateway_msg_id), the answers the
// decisions get, and the counts left, are those of asking one message at a time. No Redis.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "jobs/sms/batch_counters.hpp"

namespace taxdesk::jobs::sms {
namespace {

/// The counters' rules as RedisCounters keeps them, in memory; counts every call made to it.
class ModelCounters : public CounterPort, public CounterBatchPort {
  public:
    std::set<std::string> locked;             ///< "id:…" / "msisdn:…"
    std::map<std::string, long long> counts;  ///< msisdn + "/" + day
    std::map<std::string, long long> marker;  ///< gateway_msg_id → the count it got
    int liveLockChecks = 0;
    int liveCounts = 0;
    int uncounts = 0;
    int batchCalls = 0;

    std::optional<long long> lockSecondsLeft(const std::string& id, const std::string& msisdn) override {
        ++liveLockChecks;
        return lockedNow(id, msisdn);
    }
    long long countApplication(const std::string& msisdn, const std::string& day, const std::string& gw) override {
        ++liveCounts;
        return countOnce(msisdn, day, gw).first;
    }
    void uncountApplication(const std::string& msisdn, const std::string& day, const std::string& gw) override {
        ++uncounts;
        if (marker.erase(gw) == 1) --counts[msisdn + "/" + day];
    }
    int recordFailedCheck(const std::string& id, const std::string& msisdn, const std::string&, std::int64_t) override {
        // Every failed check locks both here (the strike rules are not what is tested).
        locked.insert("id:" + id);
        locked.insert("msisdn:" + msisdn);
        return 600;
    }
    std::vector<CounterAnswer> checkAndCount(const std::vector<CounterAsk>& asks) override {
        ++batchCalls;
        std::vector<CounterAnswer> answers;
        for (const auto& ask : asks) {
            CounterAnswer answer;
            answer.lockedSecondsLeft = lockedNow(ask.id, ask.msisdn);
            if (!answer.lockedSecondsLeft)
                std::tie(answer.count, answer.fresh) = countOnce(ask.msisdn, ask.day, ask.gatewayMsgId);
            answers.push_back(answer);
        }
        return answers;
    }

  private:
    std::optional<long long> lockedNow(const std::string& id, const std::string& msisdn) const {
        if (locked.contains("id:" + id) || locked.contains("msisdn:" + msisdn)) return 600;
        return std::nullopt;
    }
    std::pair<long long, bool> countOnce(const std::string& msisdn, const std::string& day, const std::string& gw) {
        if (const auto seen = marker.find(gw); seen != marker.end()) return {seen->second, false};
        const long long n = ++counts[msisdn + "/" + day];
        marker[gw] = n;
        return {n, true};
    }
};

/// The batch's asks answered by the model in one call, as SmsStage::prefetchCounters does.
PrefetchedCounters prefetched(ModelCounters& model, const std::vector<CounterAsk>& asks) {
    std::vector<std::optional<CounterAsk>> byMessage(asks.begin(), asks.end());
    const auto answers = model.checkAndCount(asks);
    return PrefetchedCounters(model, byMessage,
                              std::vector<std::optional<CounterAnswer>>(answers.begin(), answers.end()));
}

const std::string kDay = "20261126";

TEST(SmsBatchCounters, AnswersEachMessageFromTheOneCall) {
    ModelCounters model;
    model.locked.insert("id:B123456789");
    auto counters = prefetched(model, {{"A123456789", "0912000001", kDay, "g1"},
                                       {"B123456789", "0912000002", kDay, "g2"},
                                       {"C123456789", "0912000001", kDay, "g3"}});
    counters.startMessage(0);
    EXPECT_EQ(counters.lockSecondsLeft("A123456789", "0912000001"), std::nullopt);
    EXPECT_EQ(counters.countApplication("0912000001", kDay, "g1"), 1);
    counters.startMessage(1);
    EXPECT_EQ(counters.lockSecondsLeft("B123456789", "0912000002"), 600);  // locked: not counted
    counters.startMessage(2);
    EXPECT_EQ(counters.lockSecondsLeft("C123456789", "0912000001"), std::nullopt);
    EXPECT_EQ(counters.countApplication("0912000001", kDay, "g3"), 2);  // the msisdn's second today
    counters.finish();
    EXPECT_EQ(model.batchCalls, 1);
    EXPECT_EQ(model.liveLockChecks + model.liveCounts + model.uncounts, 0);
    EXPECT_EQ(counters.used(), 2U);
    EXPECT_EQ(model.counts["0912000001/" + kDay], 2);
    EXPECT_EQ(model.counts.count("0912000002/" + kDay), 0U);
}

TEST(SmsBatchCounters, AStrikeThatLocksMakesLaterMessagesOfItsIdOrMsisdnAskAgain) {
    ModelCounters model;
    // g1 fails its identity check and locks A… and 0912000001; g2 (same ID, other msisdn) is then locked, so its early
    // count on 0912000002 is taken back; g3 (0912000002, other ID) is the msisdn's first count of the day, not its
    // second; g4 (other ID and msisdn) keeps its early answer.
    auto counters = prefetched(model, {{"A123456789", "0912000001", kDay, "g1"},
                                       {"A123456789", "0912000002", kDay, "g2"},
                                       {"C123456789", "0912000002", kDay, "g3"},
                                       {"D123456789", "0912000004", kDay, "g4"}});
    counters.startMessage(0);
    EXPECT_EQ(counters.lockSecondsLeft("A123456789", "0912000001"), std::nullopt);
    EXPECT_EQ(counters.countApplication("0912000001", kDay, "g1"), 1);
    EXPECT_EQ(counters.recordFailedCheck("A123456789", "0912000001", "g1", 0), 600);
    counters.startMessage(1);
    EXPECT_EQ(counters.lockSecondsLeft("A123456789", "0912000002"), 600);
    counters.startMessage(2);
    EXPECT_EQ(counters.lockSecondsLeft("C123456789", "0912000002"), std::nullopt);
    EXPECT_EQ(counters.countApplication("0912000002", kDay, "g3"), 1);
    counters.startMessage(3);
    EXPECT_EQ(counters.lockSecondsLeft("D123456789", "0912000004"), std::nullopt);
    EXPECT_EQ(counters.countApplication("0912000004", kDay, "g4"), 1);
    counters.finish();
    EXPECT_EQ(model.counts["0912000002/" + kDay], 1);
    EXPECT_FALSE(model.marker.contains("g2"));
    EXPECT_EQ(model.marker["g3"], 1);
    EXPECT_EQ(counters.used(), 2U);  // g1 and g4
}

TEST(SmsBatchCounters, ACountTakenBackMakesLaterCountsOfItsMsisdnAskAgain) {
    ModelCounters model;
    // g1's identity check was unavailable: its count is taken back, so g2 (same msisdn) is the day's first, not second.
    auto counters =
        prefetched(model, {{"A123456789", "0912000001", kDay, "g1"}, {"B123456789", "0912000001", kDay, "g2"}});
    counters.startMessage(0);
    EXPECT_EQ(counters.lockSecondsLeft("A123456789", "0912000001"), std::nullopt);
    EXPECT_EQ(counters.countApplication("0912000001", kDay, "g1"), 1);
    counters.uncountApplication("0912000001", kDay, "g1");
    counters.startMessage(1);
    EXPECT_EQ(counters.lockSecondsLeft("B123456789", "0912000001"), std::nullopt);
    EXPECT_EQ(counters.countApplication("0912000001", kDay, "g2"), 1);
    counters.finish();
    EXPECT_EQ(model.counts["0912000001/" + kDay], 1);
    EXPECT_EQ(model.marker["g2"], 1);
}

TEST(SmsBatchCounters, AnEarlyCountNoDecisionUsedIsTakenBack) {
    ModelCounters model;
    // g1 is decided without counting (it took another way); g2 of the same msisdn is then the day's first. g3's
    // decision asks another day than was asked early: its early count is taken back and it counts on that day.
    auto counters = prefetched(model, {{"A123456789", "0912000001", kDay, "g1"},
                                       {"B123456789", "0912000001", kDay, "g2"},
                                       {"C123456789", "0912000003", kDay, "g3"}});
    counters.startMessage(0);
    counters.startMessage(1);
    EXPECT_EQ(counters.lockSecondsLeft("B123456789", "0912000001"), std::nullopt);
    EXPECT_EQ(counters.countApplication("0912000001", kDay, "g2"), 1);
    counters.startMessage(2);
    EXPECT_EQ(counters.lockSecondsLeft("C123456789", "0912000003"), std::nullopt);
    EXPECT_EQ(counters.countApplication("0912000003", "20261127", "g3"), 1);
    counters.finish();
    EXPECT_EQ(model.counts["0912000001/" + kDay], 1);
    EXPECT_FALSE(model.marker.contains("g1"));
    EXPECT_EQ(model.counts["0912000003/" + kDay], 0);
    EXPECT_EQ(model.counts["0912000003/20261127"], 1);
}

TEST(SmsBatchCounters, AMessageCountedBeforeKeepsItsCountAndIsNotTakenBack) {
    ModelCounters model;
    // g1 was counted in an earlier attempt (count 3 of its day); a strike earlier in this batch locks its msisdn: it
    // is answered locked and its count stays (nothing of this batch counted it).
    model.counts["0912000001/" + kDay] = 3;
    model.marker["g1"] = 3;
    auto counters =
        prefetched(model, {{"Z123456789", "0912000001", kDay, "g0"}, {"A123456789", "0912000001", kDay, "g1"}});
    counters.startMessage(0);
    EXPECT_EQ(counters.lockSecondsLeft("Z123456789", "0912000001"), std::nullopt);
    EXPECT_EQ(counters.countApplication("0912000001", kDay, "g0"), 4);
    counters.recordFailedCheck("Z123456789", "0912000001", "g0", 0);
    counters.startMessage(1);
    EXPECT_EQ(counters.lockSecondsLeft("A123456789", "0912000001"), 600);
    counters.finish();
    EXPECT_EQ(model.marker["g1"], 3);
    EXPECT_EQ(model.counts["0912000001/" + kDay], 4);
    EXPECT_EQ(model.uncounts, 0);
}

TEST(SmsBatchCounters, RefusesAsksAndAnswersThatDoNotPair) {
    ModelCounters model;
    EXPECT_THROW(PrefetchedCounters(model, {CounterAsk{}}, {}), std::invalid_argument);
}

}  // namespace
}  // namespace taxdesk::jobs::sms
