#include "connectors/stubs/stub_connectors.hpp"

#include <Poco/Exception.h>
#include <Poco/File.h>
#include <Poco/Path.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
#include <thread>
#include <utility>

#include "jobs/common/json.hpp"
#include "jobs/sms/segments.hpp"

namespace taxdesk::connectors {
namespace {

/// One generator per thread: no lock on the hot path, and no shared state between stubs or tests.
std::mt19937_64& threadRng() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return rng;
}

std::string randomHex16() {
    char text[17];
    std::snprintf(text, sizeof text, "%016llX", static_cast<unsigned long long>(threadRng()()));
    return text;
}

std::string utcNowIso() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    const std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
    char fraction[8];
    std::snprintf(fraction, sizeof fraction, ".%03dZ", static_cast<int>(millis));
    return std::string(text, length) + fraction;
}

bool isMsisdn(const std::string& msisdn) {
    if (msisdn.size() != 10 || msisdn[0] != '0' || msisdn[1] != '9') return false;
    for (char c : msisdn) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

bool isFourDigits(const std::string& text) {
    if (text.size() != 4) return false;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

}  // namespace

StubFaults::StubFaults(int latencyMs, int jitterMs, double failureRate, double timeoutRate, int timeoutMs)
    : latencyMs_(latencyMs > 0 ? latencyMs : 0),
      jitterMs_(jitterMs > 0 ? jitterMs : 0),
      failureRate_(failureRate > 0.0 ? failureRate : 0.0),
      timeoutRate_(timeoutRate > 0.0 ? timeoutRate : 0.0),
      timeoutMs_(timeoutMs > 0 ? timeoutMs : 0) {}

void StubFaults::delay() const {
    int total = latencyMs_;
    if (jitterMs_ > 0) total += std::uniform_int_distribution<int>(0, jitterMs_)(threadRng());
    if (total > 0) std::this_thread::sleep_for(std::chrono::milliseconds(total));
}

bool StubFaults::shouldFail() const {
    if (failureRate_ <= 0.0) return false;
    return std::uniform_real_distribution<double>(0.0, 1.0)(threadRng()) < failureRate_;
}

StubFaults::Fault StubFaults::draw() const {
    if (failureRate_ <= 0.0 && timeoutRate_ <= 0.0) return Fault::none;
    const double x = std::uniform_real_distribution<double>(0.0, 1.0)(threadRng());
    if (x < failureRate_) return Fault::failure;
    if (x < failureRate_ + timeoutRate_) return Fault::timeout;
    return Fault::none;
}

void StubFaults::hang() const {
    if (timeoutMs_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(timeoutMs_));
}

void StubFaults::apply(const char* connector) const {
    delay();
    switch (draw()) {
        case Fault::none:
            return;
        case Fault::failure:
            throw TransientError(std::string("stub ") + connector + ": injected failure");
        case Fault::timeout:
            hang();
            throw TransientError(std::string("stub ") + connector + ": injected timeout (no answer for " +
                                 std::to_string(timeoutMs_) + " ms)");
    }
}

std::vector<StubFaults::Fault> StubFaults::applyToSet(std::size_t count) const {
    std::vector<Fault> faults(count, Fault::none);
    int longest = 0;
    for (std::size_t i = 0; i < count; ++i) {
        int wait = latencyMs_;
        if (jitterMs_ > 0) wait += std::uniform_int_distribution<int>(0, jitterMs_)(threadRng());
        faults[i] = draw();
        if (faults[i] == Fault::timeout) wait += timeoutMs_;
        longest = std::max(longest, wait);
    }
    if (longest > 0) std::this_thread::sleep_for(std::chrono::milliseconds(longest));
    return faults;
}

std::exception_ptr StubFaults::errorOf(Fault fault, const char* connector) const {
    if (fault == Fault::timeout)
        return std::make_exception_ptr(TransientError(std::string("stub ") + connector +
                                                      ": injected timeout (no answer for " +
                                                      std::to_string(timeoutMs_) + " ms)"));
    return std::make_exception_ptr(TransientError(std::string("stub ") + connector + ": injected failure"));
}

StubRegistry::StubRegistry(std::shared_ptr<const demo_data::Population> population, StubFaults faults)
    : population_(std::move(population)), faults_(faults) {}

std::optional<RegistryRecord> StubRegistry::lookup(const std::string& id) {
    faults_.apply("registry");
    return population_->registryRecord(id);
}

std::vector<RegistryAnswer> StubRegistry::lookupMany(std::span<const std::string> ids) {
    const auto faults = faults_.applyToSet(ids.size());
    std::vector<RegistryAnswer> answers(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (faults[i] == StubFaults::Fault::none)
            answers[i].value.emplace(population_->registryRecord(ids[i]));
        else
            answers[i].error = faults_.errorOf(faults[i], "registry");
    }
    return answers;
}

StubNhiCard::StubNhiCard(std::shared_ptr<const demo_data::Population> population, StubFaults faults)
    : population_(std::move(population)), faults_(faults) {}

bool StubNhiCard::verifyLast4(const std::string& id, const std::string& last4) {
    faults_.apply("nhi");
    if (!isFourDigits(last4)) return false;
    const auto record = population_->registryRecord(id);
    if (!record || record->company || record->deceased) return false;
    const std::string number = population_->nhiCardNumber(id);
    return number.size() >= 4 && number.compare(number.size() - 4, 4, last4) == 0;
}

StubTaxData::StubTaxData(std::shared_ptr<const demo_data::Population> population, StubFaults faults)
    : population_(std::move(population)), faults_(faults) {}

TaxRecords StubTaxData::lookup(const std::string& id, const std::vector<int>& years, bool income, bool property) {
    faults_.apply("taxdata");
    return population_->taxRecords(id, years, income, property);
}

std::vector<TaxAnswer> StubTaxData::lookupMany(std::span<const TaxQuery> queries) {
    const auto faults = faults_.applyToSet(queries.size());
    std::vector<TaxAnswer> answers(queries.size());
    for (std::size_t i = 0; i < queries.size(); ++i) {
        const TaxQuery& query = queries[i];
        if (faults[i] == StubFaults::Fault::none)
            answers[i].value.emplace(population_->taxRecords(query.id, query.years, query.income, query.property));
        else
            answers[i].error = faults_.errorOf(faults[i], "taxdata");
    }
    return answers;
}

namespace {

/// Throws the TransientError of an injected failure at once, or of an injected timeout after hanging.
[[noreturn]] void injectFault(StubFaults::Fault fault, const StubFaults& faults, const std::string& who,
                              const std::string& when = "") {
    if (fault == StubFaults::Fault::timeout) {
        faults.hang();
        throw TransientError(who + ": injected timeout" + when + " (no answer for " +
                             std::to_string(faults.timeoutMs()) + " ms)");
    }
    throw TransientError(who + ": injected failure" + when);
}

/// Opens `path` for appending JSON lines, creating its folder. `who` names the stub in errors.
void openJournal(std::ofstream& file, const std::string& path, const std::string& who) {
    if (path.empty()) return;
    try {
        const Poco::Path parent = Poco::Path(path).parent();
        if (!parent.toString().empty()) Poco::File(parent).createDirectories();
    } catch (const Poco::Exception& error) {
        throw PermanentError(who + ": cannot create the folder of " + path + ": " + error.displayText());
    }
    file.open(path, std::ios::out | std::ios::app | std::ios::binary);
    if (!file) throw PermanentError(who + ": cannot open " + path + " for appending");
}

}  // namespace

StubPayment::StubPayment(long long initialBalance, StubFaults faults, const std::string& chargesPath)
    : initialBalance_(initialBalance), faults_(faults) {
    openJournal(file_, chargesPath, "stub payment");
}

ChargeResult StubPayment::charge(const std::string& cardId, long long amount, const std::string& idempotencyKey) {
    faults_.delay();
    const auto fault = faults_.draw();
    // Decided up front so that a lost answer (failure or hang after the charge) is as likely as a refused call.
    const bool faultAfterCharge =
        fault != StubFaults::Fault::none && std::uniform_int_distribution<int>(0, 1)(threadRng()) == 1;
    if (fault != StubFaults::Fault::none && !faultAfterCharge) injectFault(fault, faults_, "stub payment");

    if (cardId.empty()) throw PermanentError("stub payment: empty card id");
    if (idempotencyKey.empty()) throw PermanentError("stub payment: empty idempotency key");
    if (amount <= 0) throw PermanentError("stub payment: amount must be positive, got " + std::to_string(amount));

    ChargeResult result;
    {
        std::lock_guard lock(mutex_);
        if (auto found = charges_.find(idempotencyKey); found != charges_.end()) {
            if (found->second.cardId != cardId || found->second.amount != amount) {
                throw PermanentError("stub payment: idempotency key reused with another card or amount");
            }
            result = found->second.result;
        } else {
            const auto balance = balances_.try_emplace(cardId, initialBalance_).first;
            if (balance->second < amount) {
                throw InsufficientBalance("stub payment: balance " + std::to_string(balance->second) +
                                          " does not cover " + std::to_string(amount));
            }
            result.providerTxnId = "EC-" + randomHex16();
            result.amount = amount;
            result.balanceAfter = balance->second - amount;
            if (file_.is_open()) {
                std::string line;
                jobs::json::ObjectWriter(line)
                    .field("idempotency_key", idempotencyKey)
                    .field("card_id", cardId)
                    .field("amount", amount)
                    .field("provider_txn_id", result.providerTxnId)
                    .close();
                file_ << line << '\n';
                file_.flush();
                if (!file_) {
                    file_.clear();
                    throw TransientError("stub payment: cannot write to the charges file");  // nothing charged
                }
            }
            balance->second -= amount;
            charges_.emplace(idempotencyKey, Charge{cardId, amount, result});
        }
    }
    if (faultAfterCharge) injectFault(fault, faults_, "stub payment", " after the charge");
    return result;
}

std::optional<ChargeResult> StubPayment::findCharge(const std::string& idempotencyKey) {
    faults_.delay();
    if (const auto fault = faults_.draw(); fault != StubFaults::Fault::none)
        injectFault(fault, faults_, "stub payment");
    std::lock_guard lock(mutex_);
    const auto found = charges_.find(idempotencyKey);
    if (found == charges_.end()) return std::nullopt;
    return found->second.result;
}

long long StubPayment::balance(const std::string& cardId) const {
    std::lock_guard lock(mutex_);
    const auto found = balances_.find(cardId);
    return found == balances_.end() ? initialBalance_ : found->second;
}

StubSmsGateway::StubSmsGateway(const std::string& sentPath, StubFaults faults) : faults_(faults) {
    openJournal(file_, sentPath, "stub sms");
}

SendReceipt StubSmsGateway::send(const OutboundSms& sms) {
    faults_.delay();
    const auto fault = faults_.draw();
    const bool faultAfterSend =
        fault != StubFaults::Fault::none && std::uniform_int_distribution<int>(0, 1)(threadRng()) == 1;
    if (fault != StubFaults::Fault::none && !faultAfterSend) injectFault(fault, faults_, "stub sms");

    if (sms.notificationId.empty()) throw PermanentError("stub sms: empty notification id");
    if (!isMsisdn(sms.msisdn)) throw PermanentError("stub sms: msisdn is not of the form 09xxxxxxxx");
    if (sms.text.empty()) throw PermanentError("stub sms: empty text");

    SendReceipt receipt;
    SentSms record;
    std::function<void(const SentSms&)> listener;
    bool isNew = false;
    {
        std::lock_guard lock(mutex_);
        if (auto found = receipts_.find(sms.notificationId); found != receipts_.end()) {
            receipt = found->second;
        } else {
            isNew = true;
            receipt.gatewayMsgId = "gw-" + randomHex16();
            receipt.segments = jobs::sms::countSegments(sms.text);
            record =
                SentSms{sms.notificationId, sms.msisdn, sms.text, receipt.segments, receipt.gatewayMsgId, utcNowIso()};
            if (file_.is_open()) {
                std::string line;
                jobs::json::ObjectWriter(line)
                    .field("notification_id", record.notificationId)
                    .field("msisdn", record.msisdn)
                    .field("text", record.text)
                    .field("segments", record.segments)
                    .field("sent_at", record.sentAt)
                    .field("gateway_msg_id", record.gatewayMsgId)
                    .close();
                file_ << line << '\n';
                file_.flush();
                if (!file_) {
                    // Not recorded as sent, so a retry writes the line again (a torn line may remain).
                    file_.clear();
                    throw TransientError("stub sms: cannot write to the sent file");
                }
            }
            receipts_.emplace(sms.notificationId, receipt);
            sent_.push_back(record);
            listener = listener_;
        }
    }
    if (isNew && listener) listener(record);
    if (faultAfterSend) injectFault(fault, faults_, "stub sms", " after the send");
    return receipt;
}

std::vector<SentSms> StubSmsGateway::sent() const {
    std::lock_guard lock(mutex_);
    return sent_;
}

void StubSmsGateway::setListener(std::function<void(const SentSms&)> listener) {
    std::lock_guard lock(mutex_);
    listener_ = std::move(listener);
}

ConnectorSet makeStubConnectors(const StubSettings& settings) {
    const auto population = std::make_shared<const demo_data::Population>(settings.seed);
    const StubFaults faults(settings.latencyMs, settings.jitterMs, settings.failureRate, settings.timeoutRate,
                            settings.timeoutMs);
    ConnectorSet set;
    set.registry = std::make_shared<StubRegistry>(population, faults);
    set.nhi = std::make_shared<StubNhiCard>(population, faults);
    set.taxData = std::make_shared<StubTaxData>(population, faults);
    set.payment = std::make_shared<StubPayment>(settings.paymentBalance, faults, settings.paymentChargesPath);
    set.sms = std::make_shared<StubSmsGateway>(settings.smsSentPath, faults);
    return set;
}

}  // namespace taxdesk::connectors
