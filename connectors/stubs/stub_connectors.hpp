#pragma once
// SPEC 7: the in-process stubs of the outside systems. makeStubConnectors() (connectors/api/connector_set.hpp)
// builds the usual set; the classes are public so that `taxdesk stubs` and tests can reach what only a stub has
// (balances, the record of sent messages).
#include <exception>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "connectors/api/connector_set.hpp"
#include "connectors/stubs/demo_data/population.hpp"

namespace taxdesk::connectors {

/// The latency, failures and timeouts every stub call suffers (StubSettings::latencyMs, jitterMs, failureRate,
/// timeoutRate, timeoutMs). Randomness comes from a thread-local generator, so calls from many threads do not contend.
/// Thread-safe.
class StubFaults {
  public:
    /// What one call suffers: nothing, a fast failure, or a hang of timeoutMs (longer than a client waits).
    enum class Fault { none, failure, timeout };

    /// Rates below 0 count as 0; failureRate + timeoutRate above 1 leaves no call unharmed.
    StubFaults(int latencyMs, int jitterMs, double failureRate, double timeoutRate = 0.0, int timeoutMs = 5000);

    /// Sleeps latencyMs plus a uniform 0..jitterMs.
    void delay() const;
    /// True with probability failureRate.
    [[nodiscard]] bool shouldFail() const;
    /// One draw: failure with probability failureRate, timeout with probability timeoutRate, else none.
    [[nodiscard]] Fault draw() const;
    /// Sleeps timeoutMs: the call hangs as a provider that stopped answering does.
    void hang() const;
    /// delay(), then with probability failureRate throws TransientError naming `connector` at once, and with
    /// probability timeoutRate hangs for timeoutMs and then throws TransientError ("timed out").
    void apply(const char* connector) const;
    /// What each of `count` requests of one batch call suffers, drawn per request as draw() does; then one sleep for
    /// the set: the longest of the requests' own waits (latencyMs plus its own 0..jitterMs, plus timeoutMs for a
    /// request that times out). One timer for the set, however many requests it holds.
    [[nodiscard]] std::vector<Fault> applyToSet(std::size_t count) const;
    /// The TransientError that apply() throws for `fault` (failure or timeout), naming `connector`.
    [[nodiscard]] std::exception_ptr errorOf(Fault fault, const char* connector) const;
    [[nodiscard]] int timeoutMs() const noexcept { return timeoutMs_; }

  private:
    int latencyMs_;
    int jitterMs_;
    double failureRate_;
    double timeoutRate_;
    int timeoutMs_;
};

/// Household registry over the population. An invalid ID is reported as unknown (nullopt). Thread-safe.
class StubRegistry final : public Registry {
  public:
    StubRegistry(std::shared_ptr<const demo_data::Population> population, StubFaults faults);
    std::optional<RegistryRecord> lookup(const std::string& id) override;
    /// The whole set after one latency (StubFaults::applyToSet); failures drawn per ID.
    std::vector<RegistryAnswer> lookupMany(std::span<const std::string> ids) override;
    [[nodiscard]] bool answersSetsAtOnce() const noexcept override { return true; }

  private:
    std::shared_ptr<const demo_data::Population> population_;
    StubFaults faults_;
};

/// NHI card over the population. False for unknown IDs, companies, deceased persons (whose card is void) and
/// anything that is not four digits. Thread-safe.
class StubNhiCard final : public NhiCard {
  public:
    StubNhiCard(std::shared_ptr<const demo_data::Population> population, StubFaults faults);
    bool verifyLast4(const std::string& id, const std::string& last4) override;

  private:
    std::shared_ptr<const demo_data::Population> population_;
    StubFaults faults_;
};

/// Tax data over the population. Empty records for unknown IDs. Thread-safe.
class StubTaxData final : public TaxData {
  public:
    StubTaxData(std::shared_ptr<const demo_data::Population> population, StubFaults faults);
    TaxRecords lookup(const std::string& id, const std::vector<int>& years, bool income, bool property) override;
    /// The whole set after one latency (StubFaults::applyToSet); failures drawn per query.
    std::vector<TaxAnswer> lookupMany(std::span<const TaxQuery> queries) override;
    [[nodiscard]] bool answersSetsAtOnce() const noexcept override { return true; }

  private:
    std::shared_ptr<const demo_data::Population> population_;
    StubFaults faults_;
};

/// EasyCard payment. Every card starts with the configured balance. Half of the injected failures and timeouts happen
/// after the charge has been made (the answer is lost on the way back, or never comes), as with a real provider, so
/// that callers must retry with the same idempotency key. Each new charge is appended as one JSON line
/// {idempotency_key, card_id, amount, provider_txn_id} to the charges file, when one is given: the provider's own
/// record of what it charged, which the fault tests compare with the engine's ledger. Thread-safe.
class StubPayment final : public Payment {
  public:
    /// Opens (appends to) `chargesPath` when not empty, creating its folder. Throws PermanentError when it cannot.
    StubPayment(long long initialBalance, StubFaults faults, const std::string& chargesPath = "");
    /// Throws PermanentError for an empty card or key, an amount ≤ 0, or a key reused with another card or
    /// amount; InsufficientBalance (nothing charged, nothing remembered); TransientError (injected failure, or after
    /// an injected hang).
    ChargeResult charge(const std::string& cardId, long long amount, const std::string& idempotencyKey) override;
    /// The charge remembered for the key (charges live as long as this stub). Throws TransientError (injected).
    std::optional<ChargeResult> findCharge(const std::string& idempotencyKey) override;
    /// The card's balance now (the initial balance for a card never charged).
    [[nodiscard]] long long balance(const std::string& cardId) const;

  private:
    struct Charge {
        std::string cardId;
        long long amount = 0;
        ChargeResult result;
    };
    long long initialBalance_;
    StubFaults faults_;
    mutable std::mutex mutex_;
    std::map<std::string, long long> balances_;
    std::map<std::string, Charge> charges_;  // by idempotency key
    std::ofstream file_;
};

/// One message the SMS stub sent.
struct SentSms {
    std::string notificationId;
    std::string msisdn;
    std::string text;
    int segments = 0;
    std::string gatewayMsgId;
    std::string sentAt;  ///< ISO-8601 UTC, e.g. 2026-11-26T01:15:00.123Z
};

/// SMS gateway. Idempotent by notificationId; segments per SPEC 4.2 (jobs::sms::countSegments). Each new send is
/// appended as one JSON line {notification_id, msisdn, text, segments, sent_at} to the sent file, when one is
/// given, and flushed at once. Half of the injected failures and timeouts happen after the send was recorded.
/// Thread-safe.
class StubSmsGateway final : public SmsGateway {
  public:
    /// Opens (appends to) `sentPath` when not empty, creating its folder. Throws PermanentError when it cannot.
    StubSmsGateway(const std::string& sentPath, StubFaults faults);
    /// Throws PermanentError for an empty notificationId or text or an msisdn not of the form 09xxxxxxxx;
    /// TransientError (injected).
    SendReceipt send(const OutboundSms& sms) override;
    /// Everything sent so far, in order.
    [[nodiscard]] std::vector<SentSms> sent() const;
    /// Called (outside the lock, on the sending thread) after each new send, e.g. to post a delivery report.
    void setListener(std::function<void(const SentSms&)> listener);

  private:
    StubFaults faults_;
    mutable std::mutex mutex_;
    std::ofstream file_;
    std::map<std::string, SendReceipt> receipts_;  // by notification id
    std::vector<SentSms> sent_;
    std::function<void(const SentSms&)> listener_;
};

}  // namespace taxdesk::connectors
