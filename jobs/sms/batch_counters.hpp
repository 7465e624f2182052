#pragma once
// The counters of a whole poll batch asked in one round trip (issue 11): before the batch's applications are
// decided, each one's lock check and daily count are made together, in batch order (CounterBatchPort), and the
// decisions then read them (PrefetchedCounters) instead of asking the counters twice a message. Answers stay those of
// asking one message at a time: an earlier message of the batch that changes the counters (a failed identity check's
// strike, a count taken back) makes every later message of its ID or msisdn ask the counters itself, its early count
// taken back first.
#include <cstddef>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "jobs/sms/application.hpp"

namespace taxdesk::jobs::sms {

/// One application of the batch, as decideApplication will ask for it.
struct CounterAsk {
    std::string id;            ///< the applicant's ID (the lock's)
    std::string msisdn;        ///< normalized
    std::string day;           ///< dayKey of the application's instant
    std::string gatewayMsgId;  ///< the count's marker
};

/// The counters' answer to one CounterAsk: locked (and for how long), else its count.
struct CounterAnswer {
    std::optional<long long> lockedSecondsLeft;  ///< set: locked (lockSecondsLeft's answer), nothing counted
    long long count = 0;                         ///< else countApplication's answer
    bool fresh = false;                          ///< counted by this call (false: counted before, or locked)
};

/// Counters that can answer a batch's lock checks and counts in one call: for each ask in order, lockSecondsLeft and,
/// when not locked, countApplication, each ask seeing the effects of the ones before it. Throws CountersUnavailable.
class CounterBatchPort {
  public:
    virtual ~CounterBatchPort() = default;
    virtual std::vector<CounterAnswer> checkAndCount(const std::vector<CounterAsk>& asks) = 0;
};

/// A CounterPort for deciding a batch's messages in order over answers asked before (asks[i] / answers[i] of
/// message i; nullopt: not asked, it asks `live`). Call startMessage(i) before deciding message i and finish() after
/// the last. Message i's lockSecondsLeft and countApplication are answered from its answer when they ask what it
/// asked; otherwise (another ID, msisdn or day, or the answer made stale, see below) they ask `live`, a count made
/// early being taken back first. Whatever message i changes (recordFailedCheck, uncountApplication) makes the answers
/// of every later message of the same ID or msisdn stale, and so does an early count that no decision used (taken back
/// when the next message starts): those later messages' early counts are taken back at once and they ask `live`, in
/// order.
class PrefetchedCounters final : public CounterPort {
  public:
    PrefetchedCounters(CounterPort& live, std::vector<std::optional<CounterAsk>> asks,
                       std::vector<std::optional<CounterAnswer>> answers);

    void startMessage(std::size_t index);
    void finish() { startMessage(entries_.size()); }

    std::optional<long long> lockSecondsLeft(const std::string& id, const std::string& msisdn) override;
    long long countApplication(const std::string& msisdn, const std::string& day,
                               const std::string& gatewayMsgId) override;
    void uncountApplication(const std::string& msisdn, const std::string& day,
                            const std::string& gatewayMsgId) override;
    int recordFailedCheck(const std::string& id, const std::string& msisdn, const std::string& gatewayMsgId,
                          std::int64_t nowMs) override;

    /// How many answers were used as asked (for tests and metrics).
    [[nodiscard]] std::size_t used() const { return used_; }

  private:
    struct Entry {
        std::optional<CounterAsk> ask;
        std::optional<CounterAnswer> answer;  ///< reset when stale
        bool consumed = false;                ///< its count was answered to a decision
    };
    /// Message `index`'s answer is no longer usable: its early count is taken back when no decision used it.
    void drop(std::size_t index);
    /// The messages after the current one of `id` or `msisdn` (and, in turn, of theirs) ask live from now on.
    void changed(const std::string& id, const std::string& msisdn);

    CounterPort& live_;
    std::vector<Entry> entries_;
    std::size_t current_ = 0;
    std::size_t settled_ = 0;  ///< messages before this one were settled by startMessage
    std::size_t used_ = 0;
};

}  // namespace taxdesk::jobs::sms
