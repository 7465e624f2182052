#pragma once
// The creditor inquiry pipeline's stage: a batch of `inquiry.requests` → registry → tax data → results stored by
// (batch_id, row) → `inquiry.results`. Connector answers are cached in Redis, one entry a question (both steps'
// answers under one key, engine/runtime/lookup_cache.hpp): one MGET of the whole batch and one pipelined SET of the
// entries that learnt something. Misses go to the connectors as batch calls (lookupMany):
// the whole set in one call to a connector that answers sets at once (the stubs), else in slices on a bounded worker
// pool; a failed request is retried alone (engine/flow/batch_lookup.hpp).
#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/api/connector_set.hpp"
#include "connectors/redis/redis_client.hpp"
#include "connectors/retry/retry.hpp"
#include "connectors/store/batch_store.hpp"
#include "connectors/store/result_store.hpp"
#include "engine/runtime/metrics.hpp"
#include "engine/runtime/pipeline.hpp"
#include "engine/runtime/worker_pool.hpp"
#include "jobs/inquiry/codec.hpp"

namespace taxdesk::engine {

struct InquiryStageSettings {
    std::string resultsTopic;
    std::string deadLetterTopic;
    int cacheTtlSeconds = 3600;
    /// Tries of each registry and tax-data call (pipeline.connector_attempts, pipeline.connector_backoff_ms, …);
    /// attempts 1 when the connectors retry themselves (see Service).
    connectors::RetryPolicy connectorRetry{3, std::chrono::milliseconds(20), std::chrono::milliseconds(1000)};
    int concurrency = 32;
};

class InquiryStage : public BatchStage {
  public:
    /// `redis` may be null: then every look-up goes to the connectors. The stage writes the cache through a second
    /// connection with the same settings (see cacheWriter_).
    InquiryStage(InquiryStageSettings settings, connectors::ConnectorSet connectors, connectors::ResultStore& results,
                 connectors::BatchStore& batches, std::unique_ptr<connectors::RedisClient> redis,
                 PipelineMetrics metrics, InquiryMetrics inquiryMetrics = {});

    /// Decodes, looks up (cache, then connectors) and decides every row.
    std::unique_ptr<PreparedBatch> prepare(const std::vector<connectors::kafka::Message>& batch) override;
    /// Stores the results in one transaction, then hands them out for inquiry.results.
    void commit(PreparedBatch& prepared) override;
    /// A request that failed for good: its row, if still without a result, gets `error` with the reason code
    /// processing_failed (so that its batch completes, and the row can be retried), never overwriting a result; that
    /// result is returned for inquiry.results.
    std::vector<OutMessage> deadLettered(const connectors::kafka::Message& message, const std::string& error) override;

  private:
    /// Stores the `error` result (reason processing_failed) of this row if it still lacks one; returns it for
    /// inquiry.results when it did.
    std::optional<OutMessage> failRow(const jobs::inquiry::RowRef& row, const std::string& requestId);
    /// One batch call of a connector over `queries` (its lookupMany): whole on this thread when the connector answers
    /// sets at once, else in slices on the worker pool (settings_.concurrency in flight). Times each call in `timing`
    /// and counts each failed answer in connectorErrors. One answer per query, in order; never throws for a failure.
    template <typename Answer, typename Query, typename LookupMany>
    std::vector<Answer> callConnector(std::span<const Query> queries, bool answersSetsAtOnce,
                                      const LookupMany& lookupMany, prometheus::Histogram* timing);
    /// One step's cache misses (`misses`: positions of its questions) asked of its connector with per-request retries
    /// (lookUpEach over callConnector; `query(k)` is the question at position k): each answer goes to answers[k] (and
    /// fresh[k] is set), the text of each failure to errors[k].
    template <typename Answer, typename Query, typename Value, typename MakeQuery, typename LookupMany>
    void lookUpMisses(const std::vector<std::size_t>& misses, const MakeQuery& query, bool answersSetsAtOnce,
                      const LookupMany& lookupMany, prometheus::Histogram* timing,
                      std::vector<std::optional<Value>>& answers, std::vector<std::string>& errors,
                      std::vector<char>& fresh);
    std::vector<std::optional<std::string>> cacheGet(std::span<const std::string_view> keys);
    /// Writes cache entries in one pipeline, not waited for: `fresh` with the stage's TTL, `kept` only over entries
    /// that still exist, keeping their expiry.
    void cachePut(std::span<const std::pair<std::string_view, std::string_view>> fresh,
                  std::span<const std::pair<std::string_view, std::string_view>> kept);
    /// metrics_.cacheDegraded: 1 while the cache's reads or its writes fail.
    void showCacheState();

    InquiryStageSettings settings_;
    connectors::ConnectorSet connectors_;
    connectors::ResultStore& results_;
    connectors::BatchStore& batches_;
    std::unique_ptr<connectors::RedisClient> redis_;
    /// The cache's writes go through a connection of their own, unanswered until the next write (issue 11): Redis
    /// serves its connections in turn, so the next batch's MGET is answered between them instead of after every SET
    /// of the batch before (they were 2,000 SETs … EX queued ahead of it on one connection, ~6 ms of Redis's time).
    /// A write may then land after a later read of its key: that read finds the entry as it was before (missing, or
    /// without the newer tax data) and the connectors are asked again, which a cache allows. Null when redis_ is.
    std::unique_ptr<connectors::RedisClient> cacheWriter_;
    bool cacheReadsFailing_ = false;        ///< the last MGET failed
    bool cacheWritesFailing_ = false;       ///< the last writes failed, or answers to the ones before were errors
    std::size_t cacheWriteErrorsSeen_ = 0;  ///< cacheWriter_->deferredErrors() at the last write
    PipelineMetrics metrics_;
    InquiryMetrics inquiryMetrics_;
    WorkerPool pool_;
    connectors::RetryHooks connectorRetryHooks_;  ///< counts retries in metrics_
};

}  // namespace taxdesk::engine
