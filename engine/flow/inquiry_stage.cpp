#include "engine/flow/inquiry_stage.hpp"

#include <Poco/Logger.h>

#include <chrono>
#include <map>
#include <unordered_map>

#include "engine/runtime/dead_letter.hpp"
#include "engine/runtime/lookup_cache.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/inquiry/codec.hpp"

namespace taxdesk::engine {

using jobs::inquiry::InquiryRequest;
using jobs::inquiry::InquiryResult;

InquiryStage::InquiryStage(InquiryStageSettings settings, connectors::ConnectorSet connectors,
                           connectors::ResultStore& results, connectors::BatchStore& batches,
                           std::unique_ptr<connectors::RedisClient> redis, PipelineMetrics metrics,
                           InquiryMetrics inquiryMetrics)
    : settings_(std::move(settings)),
      connectors_(std::move(connectors)),
      results_(results),
      batches_(batches),
      redis_(std::move(redis)),
      metrics_(metrics),
      inquiryMetrics_(std::move(inquiryMetrics)),
      pool_(settings_.concurrency) {
    connectorRetryHooks_.onRetry = [this](const connectors::ConnectorError&, int, std::chrono::milliseconds) {
        metrics_.connectorRetries.Increment();
    };
}

template <typename Result, typename Call>
bool InquiryStage::callWithRetry(Call&& call, Result& result, std::string& error, prometheus::Histogram* timing) {
    try {
        result = connectors::retry(settings_.connectorRetry, connectorRetryHooks_, [&] {
            const auto started = std::chrono::steady_clock::now();
            auto observe = [&] {
                if (timing)
                    timing->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
            };
            try {
                auto answer = call();
                observe();
                return answer;
            } catch (const connectors::ConnectorError&) {
                observe();
                metrics_.connectorErrors.Increment();
                throw;
            } catch (const std::exception&) {
                metrics_.connectorErrors.Increment();
                throw;
            }
        });
        return true;
    } catch (const std::exception& failure) {
        error = failure.what();
        return false;
    }
}

std::vector<std::optional<std::string>> InquiryStage::cacheGet(const std::vector<std::string>& keys) {
    if (redis_ && !keys.empty()) {
        try {
            auto values = redis_->mget(keys);
            metrics_.cacheDegraded.Set(0);
            return values;
        } catch (const connectors::RedisError& error) {
            // Redis is a cache: without it, look-ups go straight to the connectors.
            metrics_.cacheDegraded.Set(1);
            Poco::Logger::get("pipeline.inquiry").warning("cache bypassed: %s", std::string(error.what()));
        }
    }
    return std::vector<std::optional<std::string>>(keys.size());
}

void InquiryStage::cachePut(const std::vector<std::pair<std::string, std::string>>& pairs) {
    if (!redis_ || pairs.empty()) return;
    try {
        redis_->setManyDeferred(pairs, settings_.cacheTtlSeconds);
    } catch (const connectors::RedisError&) {
        metrics_.cacheDegraded.Set(1);
    }
}

namespace {

/// One look-up step over a batch: unique keys, cached answers, and connector calls for the misses.
template <typename AnswerType>
struct Step {
    using Answer = AnswerType;
    std::vector<std::string> keys;                       // unique cache keys
    std::unordered_map<std::string, std::size_t> index;  // key → position in keys
    std::vector<std::size_t> representative;             // position → a request that needs it
    std::vector<std::optional<Answer>> answers;          // position → answer, when known
    std::vector<std::string> errors;                     // position → error text, when the call failed

    std::size_t add(const std::string& key, std::size_t request) {
        const auto [it, inserted] = index.emplace(key, keys.size());
        if (inserted) {
            keys.push_back(key);
            representative.push_back(request);
        }
        return it->second;
    }
};

}  // namespace

template <typename LookUpStep, typename Decode, typename Encode, typename Call>
void InquiryStage::lookUp(LookUpStep& step, const Decode& decode, const Encode& encode, const Call& call,
                          prometheus::Histogram* timing) {
    step.answers.resize(step.keys.size());
    step.errors.resize(step.keys.size());
    const auto cached = cacheGet(step.keys);
    std::vector<std::size_t> misses;
    for (std::size_t k = 0; k < cached.size(); ++k) {
        if (cached[k]) step.answers[k] = decode(*cached[k]);
        if (!step.answers[k]) misses.push_back(k);
    }
    metrics_.cacheHits.Increment(static_cast<double>(step.keys.size() - misses.size()));
    metrics_.cacheMisses.Increment(static_cast<double>(misses.size()));
    pool_.parallelFor(misses.size(), [&](std::size_t m) {
        const std::size_t k = misses[m];
        typename LookUpStep::Answer answer;
        if (callWithRetry([&] { return call(step.representative[k]); }, answer, step.errors[k], timing))
            step.answers[k] = std::move(answer);
    });
    std::vector<std::pair<std::string, std::string>> fresh;
    for (const std::size_t k : misses)
        if (step.answers[k]) fresh.emplace_back(step.keys[k], encode(*step.answers[k]));
    cachePut(fresh);
}

namespace {

struct PreparedInquiry : PreparedBatch {
    std::vector<connectors::StoredResult> rows;
    std::vector<std::string> requestIds;  // per message: the request_id header it came with
    std::vector<std::size_t> messageOf;   // rows[k] answers batch message messageOf[k]
    std::vector<jobs::inquiry::ResultStatus> statuses;
    // Rows of requests that could not be read (dead-lettered), with the message each came in.
    std::vector<std::pair<jobs::inquiry::RowRef, std::size_t>> unreadable;
};

/// The reason code of a row whose request failed for good (it went to the dead-letter topic).
constexpr const char* kProcessingFailed = "processing_failed";

}  // namespace

std::unique_ptr<PreparedBatch> InquiryStage::prepare(const std::vector<connectors::kafka::Message>& batch) {
    const std::size_t n = batch.size();
    auto prepared = std::make_unique<PreparedInquiry>();
    auto& out = prepared->out;
    out.resize(n);
    prepared->requestIds.reserve(n);
    for (const auto& message : batch) prepared->requestIds.push_back(message.header("request_id"));
    std::vector<std::optional<InquiryRequest>> requests(n);
    std::vector<std::optional<InquiryResult>> results(n);

    for (std::size_t i = 0; i < n; ++i) {
        try {
            requests[i] = jobs::inquiry::decodeRequest(batch[i].value());
        } catch (const jobs::inquiry::DecodeError& error) {
            out[i].push_back({settings_.deadLetterTopic, std::string(batch[i].key()),
                              deadLetterValue(batch[i].value(), error.what(), 1)});
            metrics_.messagesFailed.Increment();
            // Its row, when it names one, must not stay without a result (its batch would never complete).
            if (auto row = jobs::inquiry::rowOfRequest(batch[i].value()))
                prepared->unreadable.emplace_back(std::move(*row), i);
        }
    }

    // A row whose connector kept failing gets a reason code (SPEC 3.3: never an internal address); the cause goes to
    // the log once a batch, its IDs masked.
    std::size_t connectorFailures = 0;
    std::string firstFailure;
    auto noteConnectorFailure = [&](const std::string& error) {
        if (connectorFailures++ == 0) firstFailure = jobs::identity::maskIdsIn(error);
    };

    // Step 1: the household registry.
    using RegistryAnswer = std::optional<connectors::RegistryRecord>;
    Step<RegistryAnswer> registry;
    std::vector<std::size_t> registryPos(n);
    for (std::size_t i = 0; i < n; ++i)
        if (requests[i]) registryPos[i] = registry.add(cache::registryKey(requests[i]->debtorId), i);
    lookUp(
        registry, [](const std::string& cached) { return cache::decodeRegistry(cached); },
        [](const RegistryAnswer& answer) { return cache::encodeRegistry(answer); },
        [&](std::size_t request) { return connectors_.registry->lookup(requests[request]->debtorId); },
        inquiryMetrics_.registryCalls);

    // Step 2: tax data, for the rows the registry did not settle.
    Step<connectors::TaxRecords> tax;
    std::vector<std::optional<std::size_t>> taxPos(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (!requests[i]) continue;
        const std::size_t k = registryPos[i];
        if (!registry.answers[k]) {
            noteConnectorFailure(registry.errors[k]);
            results[i] = jobs::inquiry::errorResult(*requests[i], "registry_unavailable");
            continue;
        }
        results[i] = jobs::inquiry::decideFromRegistry(*requests[i], *registry.answers[k]);
        if (!results[i]) {
            const auto& r = *requests[i];
            taxPos[i] = tax.add(cache::taxKey(r.debtorId, r.wantsIncome(), r.wantsProperty(), r.incomeYears), i);
        }
    }
    lookUp(
        tax, [](const std::string& cached) { return cache::decodeTax(cached); },
        [](const connectors::TaxRecords& answer) { return cache::encodeTax(answer); },
        [&](std::size_t request) {
            const auto& r = *requests[request];
            return connectors_.taxData->lookup(r.debtorId, r.incomeYears, r.wantsIncome(), r.wantsProperty());
        },
        inquiryMetrics_.taxDataCalls);
    for (std::size_t i = 0; i < n; ++i) {
        if (!taxPos[i]) continue;
        const std::size_t k = *taxPos[i];
        if (!tax.answers[k]) noteConnectorFailure(tax.errors[k]);
        results[i] = tax.answers[k] ? jobs::inquiry::decideFromTaxData(*requests[i], *tax.answers[k])
                                    : jobs::inquiry::errorResult(*requests[i], "tax_data_unavailable");
    }

    if (connectorFailures > 0)
        Poco::Logger::get("pipeline.inquiry")
            .warning("%z rows get status error: a connector kept failing (%s)", connectorFailures, firstFailure);

    // The results, to be made durable by commit().
    prepared->rows.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (!results[i]) continue;
        const auto& result = *results[i];
        prepared->rows.push_back({result.batchId, result.row, result.debtorId, jobs::inquiry::toString(result.status),
                                  result.reason, jobs::inquiry::encodeResult(result)});
        prepared->messageOf.push_back(i);
        prepared->statuses.push_back(result.status);
    }
    return prepared;
}

void InquiryStage::commit(PreparedBatch& batch) {
    auto& prepared = static_cast<PreparedInquiry&>(batch);
    // Durable in one transaction before anything is produced.
    results_.upsertResults(prepared.rows);
    for (const auto& [row, message] : prepared.unreadable)
        if (auto result = failRow(row, prepared.requestIds[message]))
            prepared.out[message].push_back(std::move(*result));
    std::map<std::pair<std::string, std::string>, int> done;  // (request id, batch id) → rows, for the log
    for (std::size_t k = 0; k < prepared.rows.size(); ++k) {
        auto& row = prepared.rows[k];
        const std::string& requestId = prepared.requestIds[prepared.messageOf[k]];
        ++done[{requestId, row.batchId}];
        prepared.out[prepared.messageOf[k]].push_back(
            {settings_.resultsTopic, row.batchId, std::move(row.payload), {{"request_id", requestId}}});
        if (const auto it = inquiryMetrics_.resultsByStatus.find(jobs::inquiry::toString(prepared.statuses[k]));
            it != inquiryMetrics_.resultsByStatus.end())
            it->second->Increment();
    }
    auto& log = Poco::Logger::get("pipeline.inquiry");
    if (log.information())
        for (const auto& [key, rows] : done)
            log.information("request_id=%s batch=%s results=%d", key.first.empty() ? std::string("-") : key.first,
                            key.second, rows);
}

std::optional<OutMessage> InquiryStage::failRow(const jobs::inquiry::RowRef& ref, const std::string& requestId) {
    // The stored row, not the message, says who the debtor is: the message may be what was wrong. A row that has a
    // result already (or that no batch has) is left alone.
    const auto pending = batches_.pendingRows(ref.batchId, ref.row - 1, 1);
    if (pending.empty() || pending.front().row != ref.row) {
        // Stored by an earlier try whose output was never committed (a crash between the two): produced again, or
        // inquiry.results would never carry it. A real result is the normal path's to produce.
        const auto stored = results_.findResult(ref.batchId, ref.row);
        if (!stored || stored->reason != kProcessingFailed) return std::nullopt;
        return OutMessage{settings_.resultsTopic, stored->batchId, stored->payload, {{"request_id", requestId}}};
    }
    const auto& row = pending.front();
    InquiryRequest request;
    request.batchId = row.batchId;
    request.row = row.row;
    request.debtorId = row.debtorId;
    request.debtorName = row.debtorName;
    const auto result = jobs::inquiry::errorResult(request, kProcessingFailed);
    connectors::StoredResult stored{result.batchId,  result.row,
                                    result.debtorId, jobs::inquiry::toString(result.status),
                                    result.reason,   jobs::inquiry::encodeResult(result)};
    if (results_.insertMissingResults({stored}) == 0) return std::nullopt;  // a result got there first
    if (const auto it = inquiryMetrics_.resultsByStatus.find("error"); it != inquiryMetrics_.resultsByStatus.end())
        it->second->Increment();
    Poco::Logger::get("pipeline.inquiry")
        .warning("batch %s row %d gets status error (%s): its request failed for good", stored.batchId, stored.row,
                 std::string(kProcessingFailed));
    return OutMessage{settings_.resultsTopic, stored.batchId, std::move(stored.payload), {{"request_id", requestId}}};
}

std::vector<OutMessage> InquiryStage::deadLettered(const connectors::kafka::Message& message,
                                                   const std::string& /*error*/) {
    std::vector<OutMessage> out;
    if (const auto row = jobs::inquiry::rowOfRequest(message.value()))
        if (auto result = failRow(*row, message.header("request_id"))) out.push_back(std::move(*result));
    return out;
}

}  // namespace taxdesk::engine
