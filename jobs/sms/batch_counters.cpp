#include "jobs/sms/batch_counters.hpp"

#include <stdexcept>

namespace taxdesk::jobs::sms {

PrefetchedCounters::PrefetchedCounters(CounterPort& live, std::vector<std::optional<CounterAsk>> asks,
                                       std::vector<std::optional<CounterAnswer>> answers)
    : live_(live) {
    if (asks.size() != answers.size())
        throw std::invalid_argument("PrefetchedCounters: " + std::to_string(asks.size()) + " asks, " +
                                    std::to_string(answers.size()) + " answers");
    entries_.resize(asks.size());
    for (std::size_t i = 0; i < asks.size(); ++i) {
        entries_[i].ask = std::move(asks[i]);
        if (entries_[i].ask) entries_[i].answer = std::move(answers[i]);
    }
}

void PrefetchedCounters::startMessage(std::size_t index) {
    // An early count no decision used (the message took another way, or failed) is taken back, and the messages after
    // it of its msisdn, whose counts included it, ask again.
    for (; settled_ < index && settled_ < entries_.size(); ++settled_) {
        const Entry& entry = entries_[settled_];
        if (entry.answer && !entry.consumed && entry.answer->fresh) drop(settled_);
    }
    current_ = index;
}

void PrefetchedCounters::drop(std::size_t index) {
    Entry& entry = entries_[index];
    if (!entry.answer) return;
    const bool undo = entry.answer->fresh && !entry.consumed;
    entry.answer.reset();
    if (!undo) return;
    live_.uncountApplication(entry.ask->msisdn, entry.ask->day, entry.ask->gatewayMsgId);
    // The counts of the later messages of this msisdn included this one.
    for (std::size_t later = index + 1; later < entries_.size(); ++later)
        if (entries_[later].answer && entries_[later].ask->msisdn == entry.ask->msisdn) drop(later);
}

void PrefetchedCounters::changed(const std::string& id, const std::string& msisdn) {
    for (std::size_t later = current_ + 1; later < entries_.size(); ++later) {
        const Entry& entry = entries_[later];
        if (entry.answer && ((!id.empty() && entry.ask->id == id) || entry.ask->msisdn == msisdn)) drop(later);
    }
}

std::optional<long long> PrefetchedCounters::lockSecondsLeft(const std::string& id, const std::string& msisdn) {
    if (current_ < entries_.size()) {
        const Entry& entry = entries_[current_];
        if (entry.answer && entry.ask->id == id && entry.ask->msisdn == msisdn) return entry.answer->lockedSecondsLeft;
        if (entry.answer) drop(current_);
    }
    return live_.lockSecondsLeft(id, msisdn);
}

long long PrefetchedCounters::countApplication(const std::string& msisdn, const std::string& day,
                                               const std::string& gatewayMsgId) {
    if (current_ < entries_.size()) {
        Entry& entry = entries_[current_];
        if (entry.answer && !entry.answer->lockedSecondsLeft && entry.ask->msisdn == msisdn && entry.ask->day == day &&
            entry.ask->gatewayMsgId == gatewayMsgId) {
            entry.consumed = true;
            ++used_;
            return entry.answer->count;
        }
        if (entry.answer) drop(current_);
    }
    return live_.countApplication(msisdn, day, gatewayMsgId);
}

void PrefetchedCounters::uncountApplication(const std::string& msisdn, const std::string& day,
                                            const std::string& gatewayMsgId) {
    live_.uncountApplication(msisdn, day, gatewayMsgId);
    changed("", msisdn);
}

int PrefetchedCounters::recordFailedCheck(const std::string& id, const std::string& msisdn,
                                          const std::string& gatewayMsgId, std::int64_t nowMs) {
    const int locked = live_.recordFailedCheck(id, msisdn, gatewayMsgId, nowMs);
    if (locked > 0) changed(id, msisdn);  // a strike that locks nothing changes no later answer
    return locked;
}

}  // namespace taxdesk::jobs::sms
