// Issue 11: batch look-ups. The connectors' lookupMany answers every request once, in order, each with its own fate
// (the stubs draw failures per request); lookUpEach retries each failed request alone, as retry() would.
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "connectors/api/batch.hpp"
#include "connectors/api/registry.hpp"
#include "connectors/stubs/demo_data/population.hpp"
#include "connectors/stubs/stub_connectors.hpp"
#include "engine/flow/batch_lookup.hpp"

namespace taxdesk {
namespace {

using connectors::BatchAnswer;
using connectors::PermanentError;
using connectors::TransientError;

constexpr std::uint64_t kSeed = 20261126;

bool isTransient(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const connectors::ConnectorError& e) {
        return e.isRetryable();
    } catch (...) {
        return false;
    }
}

std::vector<std::string> someIds(const demo_data::Population& population, int count) {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) {
        // Living, unknown and company IDs mixed, so that answers differ from request to request.
        if (i % 3 == 0) ids.push_back(population.nationalIdAt(static_cast<std::uint64_t>(i)));
        if (i % 3 == 1) ids.push_back(population.unregisteredIdAt(static_cast<std::uint64_t>(i)));
        if (i % 3 == 2) ids.push_back(population.businessNumberAt(static_cast<std::uint64_t>(i)));
    }
    return ids;
}

TEST(StubLookupMany, AnswersEveryRequestOnceInOrderAsSingleLookUpsDo) {
    const auto population = std::make_shared<const demo_data::Population>(kSeed);
    connectors::StubRegistry registry(population, connectors::StubFaults(0, 0, 0.0));
    connectors::StubTaxData taxData(population, connectors::StubFaults(0, 0, 0.0));
    EXPECT_TRUE(registry.answersSetsAtOnce());
    EXPECT_TRUE(taxData.answersSetsAtOnce());
    const auto ids = someIds(*population, 60);
    const auto answers = registry.lookupMany(ids);
    ASSERT_EQ(answers.size(), ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        ASSERT_TRUE(answers[i].ok()) << i;
        EXPECT_EQ(*answers[i].value, population->registryRecord(ids[i])) << i;
    }
    // Unknown IDs (every third from 1) are answered "not registered", not skipped.
    EXPECT_EQ(*answers[1].value, std::nullopt);

    const std::vector<int> years{2023, 2024};
    const std::vector<int> oneYear{2025};
    std::vector<connectors::TaxQuery> queries;
    for (std::size_t i = 0; i < ids.size(); ++i)
        queries.push_back({ids[i], i % 2 == 0 ? years : oneYear, i % 4 != 3, i % 4 != 1});
    const auto records = taxData.lookupMany(queries);
    ASSERT_EQ(records.size(), queries.size());
    for (std::size_t i = 0; i < queries.size(); ++i) {
        ASSERT_TRUE(records[i].ok()) << i;
        EXPECT_EQ(*records[i].value,
                  population->taxRecords(ids[i], queries[i].years, queries[i].income, queries[i].property))
            << i;
    }
    EXPECT_TRUE(registry.lookupMany({}).empty());
}

TEST(StubLookupMany, FailureRateIsDrawnPerRequest) {
    const auto population = std::make_shared<const demo_data::Population>(kSeed);
    const auto ids = someIds(*population, 30);
    // Rate 1: every request fails, each with a retryable error of its own.
    connectors::StubRegistry failing(population, connectors::StubFaults(0, 0, 1.0));
    for (const auto& answer : failing.lookupMany(ids)) {
        EXPECT_FALSE(answer.ok());
        EXPECT_FALSE(answer.value.has_value());
        EXPECT_TRUE(isTransient(answer.error));
    }
    // Rate 0.5 over 4,000 requests: about half fail, not all or none of a set (the standard deviation of the count
    // is about 32, so 1,700..2,300 is more than 9 of them from 2,000).
    std::vector<std::string> many;
    for (int round = 0; round < 40; ++round) many.insert(many.end(), ids.begin(), ids.end());
    many.resize(4000, ids.front());
    connectors::StubTaxData half(population, connectors::StubFaults(0, 0, 0.5));
    const std::vector<int> years{2024};
    std::vector<connectors::TaxQuery> queries;
    for (const auto& id : many) queries.push_back({id, years, true, true});
    const auto answers = half.lookupMany(queries);
    ASSERT_EQ(answers.size(), queries.size());
    std::size_t failed = 0;
    for (std::size_t i = 0; i < answers.size(); ++i) {
        if (!answers[i].ok()) {
            ++failed;
            EXPECT_TRUE(isTransient(answers[i].error));
        } else {
            EXPECT_EQ(*answers[i].value, population->taxRecords(many[i], years, true, true));
        }
    }
    EXPECT_GT(failed, 1700U);
    EXPECT_LT(failed, 2300U);
}

/// A registry with only lookup(): the interface's default lookupMany asks it request by request.
class ScriptedRegistry final : public connectors::Registry {
  public:
    std::optional<connectors::RegistryRecord> lookup(const std::string& id) override {
        asked.push_back(id);
        if (id == "down") throw TransientError("registry down");
        if (id == "bad") throw PermanentError("bad request");
        if (id == "unknown") return std::nullopt;
        connectors::RegistryRecord record;
        record.id = id;
        return record;
    }
    std::vector<std::string> asked;
};

TEST(DefaultLookupMany, AsksEachInOrderAndKeepsEachError) {
    ScriptedRegistry registry;
    EXPECT_FALSE(registry.answersSetsAtOnce());
    const std::vector<std::string> ids{"A", "down", "unknown", "bad", "B"};
    const auto answers = registry.lookupMany(ids);
    EXPECT_EQ(registry.asked, ids);
    ASSERT_EQ(answers.size(), 5U);
    EXPECT_EQ((*answers[0].value)->id, "A");
    EXPECT_TRUE(isTransient(answers[1].error));
    EXPECT_TRUE(answers[2].ok());
    EXPECT_EQ(*answers[2].value, std::nullopt);
    EXPECT_FALSE(answers[3].ok());
    EXPECT_FALSE(isTransient(answers[3].error));
    EXPECT_EQ((*answers[4].value)->id, "B");
}

/// Request i fails with a retryable error on its first failures[i] tries, then answers 100 + i.
struct FlakySet {
    std::vector<int> failures;
    std::map<std::size_t, int> tries;
    std::vector<std::vector<std::size_t>> rounds;

    std::vector<BatchAnswer<int>> operator()(const std::vector<std::size_t>& which) {
        rounds.push_back(which);
        std::vector<BatchAnswer<int>> answers(which.size());
        for (std::size_t j = 0; j < which.size(); ++j) {
            const std::size_t i = which[j];
            if (tries[i]++ < failures[i])
                answers[j].error = std::make_exception_ptr(TransientError("try " + std::to_string(tries[i])));
            else
                answers[j].value = 100 + static_cast<int>(i);
        }
        return answers;
    }
};

connectors::RetryHooks noSleep(std::vector<std::chrono::milliseconds>* pauses, int* retries) {
    connectors::RetryHooks hooks;
    hooks.sleep = [pauses](std::chrono::milliseconds pause) { pauses->push_back(pause); };
    hooks.onRetry = [retries](const connectors::ConnectorError&, int, std::chrono::milliseconds) { ++*retries; };
    return hooks;
}

TEST(LookUpEach, RetriesEachFailedRequestAloneUpToItsAttempts) {
    // Requests 0..5 fail 0, 1, 2, 3, 0, 5 times; 3 attempts each.
    FlakySet set{{0, 1, 2, 3, 0, 5}, {}, {}};
    std::vector<std::chrono::milliseconds> pauses;
    int retries = 0;
    const connectors::RetryPolicy policy{3, std::chrono::milliseconds(20), std::chrono::milliseconds(1000), false};
    const auto result = engine::lookUpEach<int>(6, policy, noSleep(&pauses, &retries), std::ref(set));

    // Round 1 asks everyone; round 2 the four that failed; round 3 the three that failed twice.
    ASSERT_EQ(set.rounds.size(), 3U);
    EXPECT_EQ(set.rounds[0], (std::vector<std::size_t>{0, 1, 2, 3, 4, 5}));
    EXPECT_EQ(set.rounds[1], (std::vector<std::size_t>{1, 2, 3, 5}));
    EXPECT_EQ(set.rounds[2], (std::vector<std::size_t>{2, 3, 5}));
    // Tries per request: min(failures + 1, 3).
    EXPECT_EQ(set.tries, (std::map<std::size_t, int>{{0, 1}, {1, 2}, {2, 3}, {3, 3}, {4, 1}, {5, 3}}));
    // One pause a round, as retry() would pause before retry 1 and 2 (no jitter: 20 ms, then 40 ms).
    EXPECT_EQ(pauses,
              (std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(20), std::chrono::milliseconds(40)}));
    EXPECT_EQ(retries, 4 + 3);  // one per request retried, per round
    // Values in request order; the two that never got through keep their last error.
    for (const std::size_t i : {0U, 1U, 2U, 4U}) {
        EXPECT_EQ(result.values[i], 100 + static_cast<int>(i));
        EXPECT_TRUE(result.errors[i].empty());
    }
    for (const std::size_t i : {3U, 5U}) {
        EXPECT_FALSE(result.values[i].has_value());
        EXPECT_EQ(result.errors[i], "try 3");
    }
}

TEST(LookUpEach, PermanentAndForeignErrorsAreNotRetried) {
    std::vector<std::size_t> asked;
    auto callSet = [&](const std::vector<std::size_t>& which) {
        std::vector<BatchAnswer<int>> answers(which.size());
        for (std::size_t j = 0; j < which.size(); ++j) {
            asked.push_back(which[j]);
            if (which[j] == 0) answers[j].error = std::make_exception_ptr(PermanentError("no such thing"));
            if (which[j] == 1) answers[j].error = std::make_exception_ptr(std::runtime_error("bug"));
            if (which[j] == 2) answers[j].value = 7;
        }
        return answers;
    };
    std::vector<std::chrono::milliseconds> pauses;
    int retries = 0;
    const auto result = engine::lookUpEach<int>(3, connectors::RetryPolicy{5}, noSleep(&pauses, &retries), callSet);
    EXPECT_EQ(asked, (std::vector<std::size_t>{0, 1, 2}));
    EXPECT_TRUE(pauses.empty());
    EXPECT_EQ(result.errors[0], "no such thing");
    EXPECT_EQ(result.errors[1], "bug");
    EXPECT_EQ(result.values[2], 7);
}

TEST(LookUpEach, AShortAnswerFailsTheRequestsAsked) {
    std::vector<std::chrono::milliseconds> pauses;
    int retries = 0;
    const auto result =
        engine::lookUpEach<int>(3, connectors::RetryPolicy{3}, noSleep(&pauses, &retries),
                                [](const std::vector<std::size_t>&) { return std::vector<BatchAnswer<int>>(2); });
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_FALSE(result.values[i].has_value());
        EXPECT_EQ(result.errors[i], "connector answered 2 of 3 requests");
    }
}

TEST(LookUpEach, StubFailuresAreRetriedPerRequestUntilEveryRequestIsAnswered) {
    // A stub failing half of all requests, 14 attempts: each request fails all 14 with probability 2^-14, so of 300
    // requests almost surely all are answered (two or more left over: about 1 in 6,000 runs), and every answer equals
    // the population's.
    const auto population = std::make_shared<const demo_data::Population>(kSeed);
    connectors::StubRegistry registry(population, connectors::StubFaults(0, 0, 0.5));
    const auto ids = someIds(*population, 300);
    std::vector<std::chrono::milliseconds> pauses;
    int retries = 0;
    int calls = 0;
    const connectors::RetryPolicy policy{14, std::chrono::milliseconds(1), std::chrono::milliseconds(1), false};
    const auto result = engine::lookUpEach<std::optional<connectors::RegistryRecord>>(
        ids.size(), policy, noSleep(&pauses, &retries), [&](const std::vector<std::size_t>& which) {
            ++calls;
            std::vector<std::string> asked;
            for (const std::size_t i : which) asked.push_back(ids[i]);
            return registry.lookupMany(asked);
        });
    std::size_t answered = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (!result.values[i]) continue;
        ++answered;
        EXPECT_EQ(*result.values[i], population->registryRecord(ids[i]));
    }
    EXPECT_GE(answered, ids.size() - 1);
    EXPECT_GT(retries, 100);  // about 300 in all (half of each round fails)
    EXPECT_GE(calls, 5);      // one batch call a round, not one a request
    EXPECT_LE(calls, 14);
}

}  // namespace
}  // namespace taxdesk
