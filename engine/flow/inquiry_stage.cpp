#include "engine/flow/inquiry_stage.hpp"

#include <Poco/Logger.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <string_view>
#include <utility>

#include "engine/flow/batch_lookup.hpp"
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
      cacheWriter_(redis_ ? std::make_unique<connectors::RedisClient>(redis_->settings()) : nullptr),
      metrics_(metrics),
      inquiryMetrics_(std::move(inquiryMetrics)),
      pool_(settings_.concurrency) {
    connectorRetryHooks_.onRetry = [this](const connectors::ConnectorError&, int, std::chrono::milliseconds) {
        metrics_.connectorRetries.Increment();
    };
}

std::vector<std::optional<std::string>> InquiryStage::cacheGet(std::span<const std::string_view> keys) {
    if (redis_ && !keys.empty()) {
        try {
            auto values = redis_->mgetViews(keys);
            cacheReadsFailing_ = false;
            showCacheState();
            return values;
        } catch (const connectors::RedisError& error) {
            // Redis is a cache: without it, look-ups go straight to the connectors.
            cacheReadsFailing_ = true;
            showCacheState();
            Poco::Logger::get("pipeline.inquiry").warning("cache bypassed: %s", std::string(error.what()));
        }
    }
    return std::vector<std::optional<std::string>>(keys.size());
}

void InquiryStage::cachePut(std::span<const std::pair<std::string_view, std::string_view>> fresh,
                            std::span<const std::pair<std::string_view, std::string_view>> kept) {
    if (!cacheWriter_ || (fresh.empty() && kept.empty())) return;
    const bool wereFailing = cacheWritesFailing_;
    std::string why;
    try {
        // The answers to the previous writes are read before these are sent: their errors are known now.
        cacheWriter_->setAndReplaceManyDeferredViews(fresh, settings_.cacheTtlSeconds, kept);
        const std::size_t errors = cacheWriter_->deferredErrors();
        cacheWritesFailing_ = errors != cacheWriteErrorsSeen_;
        if (cacheWritesFailing_)
            why = std::to_string(errors - cacheWriteErrorsSeen_) + " of the previous batch's writes were refused";
        cacheWriteErrorsSeen_ = errors;
    } catch (const connectors::RedisError& error) {
        cacheWritesFailing_ = true;
        why = error.what();
    }
    showCacheState();
    // Logged when the writes start and stop failing, not each batch: the gauge shows the state meanwhile.
    if (cacheWritesFailing_ && !wereFailing)
        Poco::Logger::get("pipeline.inquiry").warning("cache not written (look-ups go on): %s", why);
    if (!cacheWritesFailing_ && wereFailing) Poco::Logger::get("pipeline.inquiry").information("cache written again");
}

void InquiryStage::showCacheState() {
    metrics_.cacheDegraded.Set(cacheReadsFailing_ || cacheWritesFailing_ ? 1 : 0);
}

template <typename Answer, typename Query, typename LookupMany>
std::vector<Answer> InquiryStage::callConnector(std::span<const Query> queries, bool answersSetsAtOnce,
                                                const LookupMany& lookupMany, prometheus::Histogram* timing) {
    // One batch call: timed as one call, its failed answers counted one each.
    auto call = [&](std::span<const Query> slice) {
        const auto started = std::chrono::steady_clock::now();
        std::vector<Answer> answers;
        try {
            answers = lookupMany(slice);
        } catch (...) {
            // Only std::bad_alloc is allowed out of lookupMany; it fails the slice, not the engine.
            answers.assign(slice.size(), Answer{});
            for (auto& answer : answers) answer.error = std::current_exception();
        }
        if (timing) timing->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        std::size_t failed = 0;
        for (const auto& answer : answers) failed += answer.ok() ? 0 : 1;
        if (failed > 0) metrics_.connectorErrors.Increment(static_cast<double>(failed));
        return answers;
    };
    // A connector that answers a set at once (the stubs) gets it whole, on this thread: no hand-off, no locks. The
    // others (one network request per look-up) get slices on the worker pool: settings_.concurrency calls in flight.
    if (answersSetsAtOnce || queries.size() <= 1 || settings_.concurrency <= 1) return call(queries);
    const std::size_t slices = std::min<std::size_t>(static_cast<std::size_t>(settings_.concurrency), queries.size());
    const std::size_t perSlice = (queries.size() + slices - 1) / slices;
    std::vector<Answer> answers(queries.size());
    pool_.parallelFor(slices, [&](std::size_t slice) {
        const std::size_t begin = slice * perSlice;
        if (begin >= queries.size()) return;
        const std::size_t size = std::min(perSlice, queries.size() - begin);
        auto part = call(queries.subspan(begin, size));
        for (std::size_t i = 0; i < size; ++i) {
            if (i < part.size()) {
                answers[begin + i] = std::move(part[i]);
            } else {
                answers[begin + i].error = std::make_exception_ptr(connectors::PermanentError(
                    "connector answered " + std::to_string(part.size()) + " of " + std::to_string(size) + " requests"));
            }
        }
    });
    return answers;
}

template <typename Answer, typename Query, typename Value, typename MakeQuery, typename LookupMany>
void InquiryStage::lookUpMisses(const std::vector<std::size_t>& misses, const MakeQuery& query, bool answersSetsAtOnce,
                                const LookupMany& lookupMany, prometheus::Histogram* timing,
                                std::vector<std::optional<Value>>& answers, std::vector<std::string>& errors,
                                std::vector<char>& fresh) {
    auto found = lookUpEach<Value>(
        misses.size(), settings_.connectorRetry, connectorRetryHooks_, [&](const std::vector<std::size_t>& which) {
            std::vector<Query> queries;
            queries.reserve(which.size());
            for (const std::size_t m : which) queries.push_back(query(misses[m]));
            return callConnector<Answer, Query>(queries, answersSetsAtOnce, lookupMany, timing);
        });
    for (std::size_t m = 0; m < misses.size(); ++m) {
        const std::size_t k = misses[m];
        if (found.values[m]) {
            fresh[k] = 1;
            answers[k] = std::move(found.values[m]);
        } else {
            errors[k] = std::move(found.errors[m]);
        }
    }
}

namespace {

/// Positions of distinct views, by open addressing in one array (issue 11: no hash node a key). Sized for at most
/// `capacity` distinct views: the table has at least twice as many slots, so a probe always ends at an empty one.
class ViewIndex {
  public:
    explicit ViewIndex(std::size_t capacity) {
        std::size_t slots = 16;
        while (slots < 2 * capacity) slots <<= 1;
        slots_.assign(slots, 0);
        mask_ = slots - 1;
    }
    /// The position of `key` among the views added so far (`viewOf(position)` gives each), or `next` when it is new:
    /// then it is added at `next`. The second member says whether it was added.
    template <typename ViewOf>
    std::pair<std::size_t, bool> findOrAdd(std::string_view key, std::size_t next, const ViewOf& viewOf) {
        for (std::size_t slot = std::hash<std::string_view>{}(key)&mask_;; slot = (slot + 1) & mask_) {
            const std::size_t stored = slots_[slot];
            if (stored == 0) {
                slots_[slot] = next + 1;
                return {next, true};
            }
            if (viewOf(stored - 1) == key) return {stored - 1, false};
        }
    }

  private:
    std::vector<std::size_t> slots_;  // position + 1; 0 = empty
    std::size_t mask_ = 0;
};

/// The unique cache keys of one look-up step, each with a request that needs it, written one after another into one
/// buffer (no string a key).
struct KeySet {
    explicit KeySet(std::size_t capacity) : index(capacity) {
        text.reserve(capacity * 32);
        spans.reserve(capacity);
        representative.reserve(capacity);
    }
    /// `append(text)` writes the key at the end of the buffer; a key seen before is taken back off.
    template <typename Append>
    std::size_t add(const Append& append, std::size_t request) {
        const std::size_t start = text.size();
        append(text);
        const std::string_view key(text.data() + start, text.size() - start);
        const auto [position, added] = index.findOrAdd(key, spans.size(), [&](std::size_t k) { return view(k); });
        if (!added) {
            text.resize(start);
            return position;
        }
        spans.emplace_back(start, key.size());
        representative.push_back(request);
        return position;
    }
    /// Valid until the next add().
    [[nodiscard]] std::string_view view(std::size_t k) const { return {text.data() + spans[k].first, spans[k].second}; }
    [[nodiscard]] std::size_t size() const { return spans.size(); }
    std::string text;
    std::vector<std::pair<std::size_t, std::size_t>> spans;  // position → (offset, length) in text
    ViewIndex index;
    std::vector<std::size_t> representative;  // position → a request that needs it
};

/// The unique IDs of a batch (the registry is asked once an ID), as views of the requests' own strings.
struct IdSet {
    explicit IdSet(std::size_t capacity) : index(capacity) {
        ids.reserve(capacity);
        representative.reserve(capacity);
    }
    std::size_t add(std::string_view id, std::size_t request) {
        const auto [position, added] = index.findOrAdd(id, ids.size(), [&](std::size_t j) { return ids[j]; });
        if (added) {
            ids.push_back(id);
            representative.push_back(request);
        }
        return position;
    }
    [[nodiscard]] std::size_t size() const { return representative.size(); }
    std::vector<std::string_view> ids;  // position → ID
    ViewIndex index;
    std::vector<std::size_t> representative;  // position → a request about it
};

struct PreparedInquiry : PreparedBatch {
    std::vector<connectors::StoredResult> rows;
    std::vector<std::string> requestIds;  // per message: the request_id header it came with
    std::vector<std::string> titleRefs;   // per message: the title_ref its request carried ('' when none or unread)
    std::vector<std::size_t> messageOf;   // rows[k] answers batch message messageOf[k]
    std::vector<jobs::inquiry::ResultStatus> statuses;
    // The audit trail's share of storing `rows` (issue 13: each row's ID HMAC and packed entry, the batches' creditors
    // and title references), prepared here and not on the committer; auditPrepared false when that failed (commit()
    // prepares it then).
    connectors::PreparedAudit audit;
    bool auditPrepared = false;
    // Rows of requests that could not be read (dead-lettered), with the message each came in.
    std::vector<std::pair<jobs::inquiry::RowRef, std::size_t>> unreadable;
};

/// Per prepared row, its message's entry of `perMessage` (prepared.requestIds or prepared.titleRefs), viewed.
std::vector<std::string_view> ofEachRow(const PreparedInquiry& prepared, const std::vector<std::string>& perMessage) {
    std::vector<std::string_view> views(prepared.rows.size());
    for (std::size_t k = 0; k < prepared.rows.size(); ++k) views[k] = perMessage[prepared.messageOf[k]];
    return views;
}

/// The audit trail's share of storing the prepared rows, with each row's request id and carried title.
connectors::PreparedAudit prepareAuditOf(connectors::ResultStore& results, const PreparedInquiry& prepared) {
    return results.prepareAudit(prepared.rows, ofEachRow(prepared, prepared.requestIds),
                                ofEachRow(prepared, prepared.titleRefs));
}

/// ResultStatus has this many values (found … error), for counting by status.
constexpr std::size_t kStatuses = static_cast<std::size_t>(jobs::inquiry::ResultStatus::error) + 1;

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
    prepared->titleRefs.resize(n);

    for (std::size_t i = 0; i < n; ++i) {
        try {
            requests[i] = jobs::inquiry::decodeRequest(batch[i].value());
            prepared->titleRefs[i] = std::move(requests[i]->titleRef);  // the audit trail's; nothing else reads it
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

    // One cache entry a question (ID, scope, years: lookup_cache.hpp), all read in one MGET: it holds the registry's
    // answer for the ID and, when it was needed, the tax data's for the question. The registry is asked once an ID,
    // the tax data once a question.
    KeySet entries(n);
    IdSet ids(n);
    std::vector<std::size_t> entryPos(n);
    std::vector<std::size_t> idPos(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (!requests[i]) continue;
        const auto& r = *requests[i];
        idPos[i] = ids.add(r.debtorId, i);
        entryPos[i] = entries.add(
            [&](std::string& text) {
                cache::appendEntryKey(text, r.debtorId, r.wantsIncome(), r.wantsProperty(), r.incomeYears);
            },
            i);
    }
    const std::size_t entryCount = entries.size();
    std::vector<std::size_t> idOfEntry(entryCount);
    std::vector<std::size_t> rowsOfEntry(entryCount, 0);  // rows asking the entry's question, for moving its answer
    for (std::size_t i = 0; i < n; ++i) {
        if (!requests[i]) continue;
        idOfEntry[entryPos[i]] = idPos[i];
        ++rowsOfEntry[entryPos[i]];
    }
    std::vector<std::string_view> keys(entryCount);
    for (std::size_t k = 0; k < entryCount; ++k) keys[k] = entries.view(k);
    std::vector<cache::Entry> cached(entryCount);
    {
        auto values = cacheGet(keys);
        for (std::size_t k = 0; k < entryCount; ++k)
            if (values[k]) cached[k] = cache::decodeEntry(*values[k]);
    }

    // Step 1: the household registry.
    using RegistryAnswer = std::optional<connectors::RegistryRecord>;
    std::vector<std::optional<RegistryAnswer>> registryAnswers(ids.size());
    std::vector<std::string> registryErrors(ids.size());
    std::vector<char> registryFresh(ids.size(), 0);
    for (std::size_t k = 0; k < entryCount; ++k) {
        auto& answer = registryAnswers[idOfEntry[k]];
        if (!answer && cached[k].registry) answer = *cached[k].registry;
    }
    std::vector<std::size_t> misses;
    for (std::size_t j = 0; j < ids.size(); ++j)
        if (!registryAnswers[j]) misses.push_back(j);
    metrics_.cacheHits.Increment(static_cast<double>(ids.size() - misses.size()));
    metrics_.cacheMisses.Increment(static_cast<double>(misses.size()));
    if (!misses.empty()) {
        lookUpMisses<connectors::RegistryAnswer, std::string>(
            misses, [&](std::size_t j) { return requests[ids.representative[j]]->debtorId; },
            connectors_.registry->answersSetsAtOnce(),
            [&](std::span<const std::string> slice) { return connectors_.registry->lookupMany(slice); },
            inquiryMetrics_.registryCalls, registryAnswers, registryErrors, registryFresh);
    }

    // Step 2: tax data, for the rows the registry did not settle.
    std::vector<std::optional<connectors::TaxRecords>> taxAnswers(entryCount);
    std::vector<std::string> taxErrors(entryCount);
    std::vector<char> taxFresh(entryCount, 0);
    std::vector<char> taxNeeded(entryCount, 0);
    std::vector<char> rowNeedsTax(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
        if (!requests[i]) continue;
        const std::size_t j = idPos[i];
        if (!registryAnswers[j]) {
            noteConnectorFailure(registryErrors[j]);
            results[i] = jobs::inquiry::errorResult(*requests[i], "registry_unavailable");
            continue;
        }
        results[i] = jobs::inquiry::decideFromRegistry(*requests[i], *registryAnswers[j]);
        if (!results[i]) {
            rowNeedsTax[i] = 1;
            taxNeeded[entryPos[i]] = 1;
        }
    }
    misses.clear();
    std::size_t taxHits = 0;
    for (std::size_t k = 0; k < entryCount; ++k) {
        if (!taxNeeded[k]) continue;
        if (cached[k].tax) {
            taxAnswers[k] = std::move(cached[k].tax);
            ++taxHits;
        } else {
            misses.push_back(k);
        }
    }
    metrics_.cacheHits.Increment(static_cast<double>(taxHits));
    metrics_.cacheMisses.Increment(static_cast<double>(misses.size()));
    if (!misses.empty()) {
        lookUpMisses<connectors::TaxAnswer, connectors::TaxQuery>(
            misses,
            [&](std::size_t k) {
                const auto& r = *requests[entries.representative[k]];
                return connectors::TaxQuery{r.debtorId, r.incomeYears, r.wantsIncome(), r.wantsProperty()};
            },
            connectors_.taxData->answersSetsAtOnce(),
            [&](std::span<const connectors::TaxQuery> slice) { return connectors_.taxData->lookupMany(slice); },
            inquiryMetrics_.taxDataCalls, taxAnswers, taxErrors, taxFresh);
    }

    // One SET an entry that learnt something (pipelined, not waited for), written whole with every answer known for
    // it. A registry answer never lives in the cache longer than one TTL from when the registry gave it:
    // - the registry was asked in this batch: the entry is written with a full TTL (no entry of the ID was cached);
    // - the entry held the registry answer and only its tax data is fresh: replaced in place, keeping its expiry;
    // - the registry answer came from another entry of the ID (another scope or other years): not written, since a
    //   full TTL would carry that answer past its own expiry (the question's tax data is asked again next time).
    {
        // The values one after another in one buffer (no string a value); the views are taken once it is complete.
        std::string values;
        values.reserve(entryCount * 160);
        struct Written {
            std::size_t entry, offset, length;
            bool keep;
        };
        std::vector<Written> written;
        written.reserve(entryCount);
        for (std::size_t k = 0; k < entryCount; ++k) {
            const std::size_t j = idOfEntry[k];
            const auto& registryAnswer = registryAnswers[j];
            if (!registryAnswer) continue;
            const bool keep = !registryFresh[j];
            if (keep && !(cached[k].registry && taxFresh[k])) continue;
            const std::size_t offset = values.size();
            cache::appendEntry(values, *registryAnswer, taxAnswers[k] ? &*taxAnswers[k] : nullptr);
            written.push_back({k, offset, values.size() - offset, keep});
        }
        std::vector<std::pair<std::string_view, std::string_view>> fresh;
        std::vector<std::pair<std::string_view, std::string_view>> kept;
        fresh.reserve(written.size());
        for (const Written& w : written)
            (w.keep ? kept : fresh).emplace_back(keys[w.entry], std::string_view(values).substr(w.offset, w.length));
        cachePut(fresh, kept);
    }

    for (std::size_t i = 0; i < n; ++i) {
        if (!rowNeedsTax[i]) continue;
        const std::size_t k = entryPos[i];
        if (!taxAnswers[k]) {
            noteConnectorFailure(taxErrors[k]);
            results[i] = jobs::inquiry::errorResult(*requests[i], "tax_data_unavailable");
        } else if (--rowsOfEntry[k] == 0) {
            // The last row of this question takes the answer; the others copy it.
            results[i] = jobs::inquiry::decideFromTaxData(*requests[i], std::move(*taxAnswers[k]));
        } else {
            results[i] = jobs::inquiry::decideFromTaxData(*requests[i], *taxAnswers[k]);
        }
    }

    if (connectorFailures > 0)
        Poco::Logger::get("pipeline.inquiry")
            .warning("%z rows get status error: a connector kept failing (%s)", connectorFailures, firstFailure);

    // The results, to be made durable by commit().
    prepared->rows.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (!results[i]) continue;
        auto& result = *results[i];
        // Encoded once; the stored row takes the result's strings (it is not used again) and commit() hands the same
        // payload on to the producer.
        std::string payload = jobs::inquiry::encodeResult(result);
        prepared->rows.push_back({std::move(result.batchId), result.row, std::move(result.debtorId),
                                  jobs::inquiry::toString(result.status), std::move(result.reason),
                                  std::move(payload)});
        prepared->messageOf.push_back(i);
        prepared->statuses.push_back(result.status);
    }
    // The audit trail's per-row work, here (the consumer thread, pipelined with the commit) so that the committer only
    // copies prepared lines. A store error here is not the batch's: commit() prepares it again on its own thread.
    try {
        prepared->audit = prepareAuditOf(results_, *prepared);
        prepared->auditPrepared = true;
    } catch (const std::exception& error) {
        Poco::Logger::get("pipeline.inquiry")
            .warning("the audit trail's entries could not be prepared ahead (prepared at the commit): %s",
                     std::string(error.what()));
    }
    return prepared;
}

void InquiryStage::commit(PreparedBatch& batch) {
    auto& prepared = static_cast<PreparedInquiry&>(batch);
    // Durable in one transaction before anything is produced; the audit trail records the new ones in it, with the
    // request id each came with, from the lines prepare() made.
    if (!prepared.auditPrepared) {
        prepared.audit = prepareAuditOf(results_, prepared);
        prepared.auditPrepared = true;
    }
    results_.upsertResultsWithAudit(prepared.rows, prepared.audit);
    for (const auto& [row, message] : prepared.unreadable)
        if (auto result = failRow(row, prepared.requestIds[message]))
            prepared.out[message].push_back(std::move(*result));
    // (request id, batch id) → rows, for the log: views of strings that live until the rows are handed out below.
    auto& log = Poco::Logger::get("pipeline.inquiry");
    if (log.information()) {
        std::map<std::pair<std::string_view, std::string_view>, int> done;
        for (std::size_t k = 0; k < prepared.rows.size(); ++k)
            ++done[{prepared.requestIds[prepared.messageOf[k]], prepared.rows[k].batchId}];
        for (const auto& [key, rows] : done)
            log.information("request_id=%s batch=%s results=%d",
                            key.first.empty() ? std::string("-") : std::string(key.first), std::string(key.second),
                            rows);
    }
    std::array<std::size_t, kStatuses> byStatus{};
    for (std::size_t k = 0; k < prepared.rows.size(); ++k) {
        auto& row = prepared.rows[k];
        const std::size_t message = prepared.messageOf[k];
        std::string& requestId = prepared.requestIds[message];
        // The stored row is done with: its batch id becomes the key and its payload the value, moved, not copied. The
        // request id is moved too by the message's last row (rows are in message order; nothing reads it after).
        const bool lastOfMessage = k + 1 == prepared.rows.size() || prepared.messageOf[k + 1] != message;
        prepared.out[message].push_back({settings_.resultsTopic,
                                         std::move(row.batchId),
                                         std::move(row.payload),
                                         {{"request_id", lastOfMessage ? std::move(requestId) : requestId}}});
        ++byStatus[static_cast<std::size_t>(prepared.statuses[k])];
    }
    // One increment a status a batch, not a map look-up a row.
    for (std::size_t status = 0; status < kStatuses; ++status) {
        if (byStatus[status] == 0) continue;
        if (const auto it = inquiryMetrics_.resultsByStatus.find(
                jobs::inquiry::toString(static_cast<jobs::inquiry::ResultStatus>(status)));
            it != inquiryMetrics_.resultsByStatus.end())
            it->second->Increment(static_cast<double>(byStatus[status]));
    }
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
