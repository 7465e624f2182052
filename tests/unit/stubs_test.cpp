// SPEC 7 and 4.2: the in-process stubs — payment idempotency and balances, injected latency and failures, SMS
// segment counting and the record of sent messages.
#include <Poco/File.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "connectors/stubs/demo_data/population.hpp"
#include "connectors/stubs/stub_connectors.hpp"
#include "fixtures/test_env.hpp"
#include "jobs/sms/segments.hpp"

namespace taxdesk::connectors {
namespace {

using demo_data::Population;

constexpr std::uint64_t kSeed = 20261126;

StubFaults noFaults() {
    return StubFaults(0, 0, 0.0);
}

std::string repeat(const std::string& unit, int times) {
    std::string out;
    for (int i = 0; i < times; ++i) out += unit;
    return out;
}

std::vector<std::string> readLines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// ---- payment ----------------------------------------------------------------------------------------------------

TEST(StubPayment, SameKeyReturnsTheSameChargeAndChargesOnce) {
    StubPayment payment(10'000, noFaults());
    const ChargeResult first = payment.charge("card-1", 750, "key-1");
    EXPECT_TRUE(std::regex_match(first.providerTxnId, std::regex("EC-[0-9A-F]{16}"))) << first.providerTxnId;
    EXPECT_EQ(first.amount, 750);
    EXPECT_EQ(first.balanceAfter, 9'250);

    const ChargeResult again = payment.charge("card-1", 750, "key-1");
    EXPECT_EQ(again.providerTxnId, first.providerTxnId);
    EXPECT_EQ(again.amount, first.amount);
    EXPECT_EQ(again.balanceAfter, first.balanceAfter);
    EXPECT_EQ(payment.balance("card-1"), 9'250);

    const ChargeResult other = payment.charge("card-1", 250, "key-2");
    EXPECT_NE(other.providerTxnId, first.providerTxnId);
    EXPECT_EQ(other.balanceAfter, 9'000);
    EXPECT_EQ(payment.balance("card-1"), 9'000);
    EXPECT_EQ(payment.balance("card-never-used"), 10'000);
}

TEST(StubPayment, KeyReusedWithAnotherAmountOrCardIsPermanent) {
    StubPayment payment(10'000, noFaults());
    payment.charge("card-1", 500, "key-1");
    try {
        payment.charge("card-1", 501, "key-1");
        FAIL() << "reuse with another amount was accepted";
    } catch (const InsufficientBalance&) {
        FAIL() << "reuse must not look like a balance problem";
    } catch (const PermanentError& error) {
        EXPECT_FALSE(error.isRetryable());
    }
    EXPECT_THROW(payment.charge("card-2", 500, "key-1"), PermanentError);
    EXPECT_EQ(payment.balance("card-1"), 9'500);
    EXPECT_EQ(payment.balance("card-2"), 10'000);
}

TEST(StubPayment, InsufficientBalanceChargesNothing) {
    StubPayment payment(1'000, noFaults());
    EXPECT_THROW(payment.charge("card-1", 1'001, "key-1"), InsufficientBalance);
    EXPECT_EQ(payment.balance("card-1"), 1'000);
    // The refused key is not remembered: a charge that fits may use it.
    EXPECT_EQ(payment.charge("card-1", 1'000, "key-1").balanceAfter, 0);
    EXPECT_THROW(payment.charge("card-1", 1, "key-2"), InsufficientBalance);
}

TEST(StubPayment, RejectsNonsense) {
    StubPayment payment(1'000, noFaults());
    EXPECT_THROW(payment.charge("card-1", 0, "key-1"), PermanentError);
    EXPECT_THROW(payment.charge("card-1", -5, "key-1"), PermanentError);
    EXPECT_THROW(payment.charge("", 5, "key-1"), PermanentError);
    EXPECT_THROW(payment.charge("card-1", 5, ""), PermanentError);
    EXPECT_EQ(payment.balance("card-1"), 1'000);
}

TEST(StubPayment, ConcurrentRetriesOfOneKeyChargeOnce) {
    StubPayment payment(100'000, noFaults());
    std::vector<std::string> txnIds(8);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < txnIds.size(); ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) txnIds[t] = payment.charge("card-1", 250, "same-key").providerTxnId;
        });
    }
    for (auto& thread : threads) thread.join();
    for (const auto& id : txnIds) EXPECT_EQ(id, txnIds[0]);
    EXPECT_EQ(payment.balance("card-1"), 100'000 - 250);
}

TEST(StubPayment, ConcurrentDistinctKeysAllCharge) {
    StubPayment payment(1'000'000, noFaults());
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 100; ++i)
                payment.charge("card-1", 10, "k-" + std::to_string(t) + "-" + std::to_string(i));
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(payment.balance("card-1"), 1'000'000 - 4 * 100 * 10);
}

TEST(StubPayment, InjectedFailuresNeverChargeTwice) {
    // Every call fails, some after charging: however often the caller retries with its key, one charge at most.
    StubPayment failing(10'000, StubFaults(0, 0, 1.0));
    for (int i = 0; i < 40; ++i) EXPECT_THROW(failing.charge("card-1", 300, "key-1"), TransientError);
    const long long balance = failing.balance("card-1");
    EXPECT_TRUE(balance == 10'000 || balance == 9'700) << balance;
}

TEST(StubPayment, RecordsEachNewChargeOnceInItsChargesFile) {
    // The provider's own record, which the fault suite compares with the engine's ledger: one line per charge,
    // however often a key is retried, and none for a refused charge.
    const std::string path = testing::tempDir("stubs") + "/nested/charges.jsonl";  // the folder is created
    StubPayment payment(1'000, noFaults(), path);
    const auto first = payment.charge("card-1", 250, "key-1");
    payment.charge("card-1", 250, "key-1");
    payment.charge("card-2", 500, "key-2");
    EXPECT_THROW(payment.charge("card-3", 5'000, "key-3"), InsufficientBalance);
    const auto lines = readLines(path);
    ASSERT_EQ(lines.size(), 2U);
    Poco::JSON::Parser parser;
    const auto line0 = parser.parse(lines[0]).extract<Poco::JSON::Object::Ptr>();
    EXPECT_EQ(line0->getValue<std::string>("idempotency_key"), "key-1");
    EXPECT_EQ(line0->getValue<std::string>("card_id"), "card-1");
    EXPECT_EQ(line0->getValue<long long>("amount"), 250);
    EXPECT_EQ(line0->getValue<std::string>("provider_txn_id"), first.providerTxnId);
    EXPECT_EQ(parser.parse(lines[1]).extract<Poco::JSON::Object::Ptr>()->getValue<long long>("amount"), 500);
    EXPECT_EQ(payment.balance("card-1"), 750);
    EXPECT_THROW(StubPayment(1'000, noFaults(), "/proc/no-such-dir/charges.jsonl"), PermanentError);
}

// ---- injected latency and failures ------------------------------------------------------------------------------

TEST(StubFaults, FailureRateOneAlwaysThrowsTransientError) {
    StubSettings settings;
    settings.failureRate = 1.0;
    const ConnectorSet set = makeStubConnectors(settings);
    const Population population(settings.seed);
    const std::string id = population.nationalIdAt(0);
    for (int i = 0; i < 20; ++i) {
        EXPECT_THROW(set.registry->lookup(id), TransientError);
        EXPECT_THROW(set.nhi->verifyLast4(id, "1234"), TransientError);
        EXPECT_THROW(set.taxData->lookup(id, {2024}, true, true), TransientError);
        EXPECT_THROW(set.payment->charge("card", 1, "k" + std::to_string(i)), TransientError);
        EXPECT_THROW(set.sms->send({"n" + std::to_string(i), "0912345678", "hi"}), TransientError);
    }
    try {
        set.registry->lookup(id);
    } catch (const ConnectorError& error) {
        EXPECT_TRUE(error.isRetryable());
    }
}

TEST(StubFaults, FailureRateZeroNeverThrows) {
    const ConnectorSet set = makeStubConnectors(StubSettings{});
    const Population population(StubSettings{}.seed);
    for (int i = 0; i < 500; ++i) {
        const std::string id = population.nationalIdAt(static_cast<std::uint64_t>(i));
        EXPECT_NO_THROW(set.registry->lookup(id));
        EXPECT_NO_THROW(set.nhi->verifyLast4(id, "0000"));
        EXPECT_NO_THROW(set.taxData->lookup(id, {2024}, true, true));
        EXPECT_NO_THROW(set.payment->charge("card", 1, "k" + std::to_string(i)));
        EXPECT_NO_THROW(set.sms->send({"n" + std::to_string(i), "0912345678", "hi"}));
    }
}

TEST(StubFaults, FailureRateHalfFailsAboutHalf) {
    const StubFaults faults(0, 0, 0.5);
    int failed = 0;
    for (int i = 0; i < 4000; ++i) failed += faults.shouldFail() ? 1 : 0;
    EXPECT_GT(failed, 1700);
    EXPECT_LT(failed, 2300);
}

TEST(StubFaults, LatencyAndJitterAreAdded) {
    const StubFaults faults(15, 10, 0.0);
    for (int i = 0; i < 5; ++i) {
        const auto start = std::chrono::steady_clock::now();
        faults.apply("test");
        const auto elapsed = std::chrono::steady_clock::now() - start;
        EXPECT_GE(elapsed, std::chrono::milliseconds(15));
        EXPECT_LT(elapsed, std::chrono::milliseconds(2000));  // bounded jitter; the margin is for a busy machine
    }
}

TEST(StubFaults, DrawSplitsFailuresTimeoutsAndHealthyCalls) {
    const StubFaults faults(0, 0, 0.2, 0.3, 0);
    int failures = 0;
    int timeouts = 0;
    for (int i = 0; i < 10000; ++i) {
        const auto fault = faults.draw();
        failures += fault == StubFaults::Fault::failure ? 1 : 0;
        timeouts += fault == StubFaults::Fault::timeout ? 1 : 0;
    }
    // 2,000 and 3,000 expected; ±300 is more than 7 standard deviations.
    EXPECT_GT(failures, 1700);
    EXPECT_LT(failures, 2300);
    EXPECT_GT(timeouts, 2700);
    EXPECT_LT(timeouts, 3300);
    const StubFaults none(0, 0, 0.0, 0.0, 1000);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(none.draw(), StubFaults::Fault::none);
}

TEST(StubFaults, TimeoutHangsForTimeoutMsThenThrowsTransientError) {
    const StubFaults faults(0, 0, 0.0, 1.0, 40);
    EXPECT_EQ(faults.timeoutMs(), 40);
    for (int i = 0; i < 3; ++i) {
        const auto start = std::chrono::steady_clock::now();
        try {
            faults.apply("registry");
            FAIL() << "a timeout rate of 1 let a call through";
        } catch (const TransientError& error) {
            EXPECT_TRUE(error.isRetryable());
            EXPECT_NE(std::string(error.what()).find("stub registry: injected timeout"), std::string::npos)
                << error.what();
        }
        // A lower bound only: the call hung at least as long as configured.
        EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(40));
    }
}

TEST(StubFaults, TimeoutRateOneTimesOutEveryConnector) {
    StubSettings settings;
    settings.timeoutRate = 1.0;
    settings.timeoutMs = 5;
    const ConnectorSet set = makeStubConnectors(settings);
    const Population population(settings.seed);
    const std::string id = population.nationalIdAt(0);
    for (int i = 0; i < 5; ++i) {
        EXPECT_THROW(set.registry->lookup(id), TransientError);
        EXPECT_THROW(set.nhi->verifyLast4(id, "1234"), TransientError);
        EXPECT_THROW(set.taxData->lookup(id, {2024}, true, true), TransientError);
        EXPECT_THROW(set.payment->findCharge("k"), TransientError);
        EXPECT_THROW(set.sms->send({"n" + std::to_string(i), "0912345678", "hi"}), TransientError);
    }
}

TEST(StubPayment, HalfTheTimeoutsHappenAfterTheCharge) {
    // Every call times out, but the provider may have charged before it stopped answering: the caller must ask again
    // with the same key. 60 keys: all charged or none charged has a probability of 2 x 2^-60.
    StubPayment payment(1'000'000, StubFaults(0, 0, 0.0, 1.0, 1));
    int timedOut = 0;
    for (int i = 0; i < 60; ++i) {
        try {
            payment.charge("card-1", 100, "key-" + std::to_string(i));
        } catch (const TransientError& error) {
            ++timedOut;
            EXPECT_NE(std::string(error.what()).find("injected timeout"), std::string::npos) << error.what();
        }
    }
    EXPECT_EQ(timedOut, 60);
    const long long charged = 1'000'000 - payment.balance("card-1");
    EXPECT_EQ(charged % 100, 0);
    EXPECT_GT(charged, 0);
    EXPECT_LT(charged, 6'000);
}

// ---- registry, NHI card, tax data -------------------------------------------------------------------------------

TEST(StubRegistryNhiTaxData, AnswerFromThePopulation) {
    StubSettings settings;
    const ConnectorSet set = makeStubConnectors(settings);
    const Population population(settings.seed);
    for (std::uint64_t i = 0; i < 50; ++i) {
        const std::string id = population.nationalIdAt(i);
        SCOPED_TRACE(id);
        EXPECT_EQ(set.registry->lookup(id), population.registryRecord(id));
        const std::string card = population.nhiCardNumber(id);
        ASSERT_EQ(card.size(), 12U);
        const std::string last4 = card.substr(8);
        EXPECT_TRUE(set.nhi->verifyLast4(id, last4));
        const std::string wrong = std::string(1, static_cast<char>('0' + (last4[0] - '0' + 1) % 10)) + last4.substr(1);
        EXPECT_FALSE(set.nhi->verifyLast4(id, wrong));
        EXPECT_FALSE(set.nhi->verifyLast4(id, card.substr(7)));  // five digits
        EXPECT_FALSE(set.nhi->verifyLast4(id, "12a4"));
        EXPECT_EQ(set.taxData->lookup(id, {2023, 2024}, true, true),
                  population.taxRecords(id, {2023, 2024}, true, true));
    }
    const std::string unknown = population.unregisteredIdAt(0);
    EXPECT_EQ(set.registry->lookup(unknown), std::nullopt);
    EXPECT_FALSE(set.nhi->verifyLast4(unknown, "1234"));
    EXPECT_EQ(set.taxData->lookup(unknown, {2024}, true, true), TaxRecords{});

    // A deceased person's card is void.
    const std::string deceased = population.deceasedIdAt(0);
    EXPECT_FALSE(set.nhi->verifyLast4(deceased, population.nhiCardNumber(deceased).substr(8)));
    // A company has no card.
    EXPECT_FALSE(set.nhi->verifyLast4(population.businessNumberAt(0), "0000"));
}

// ---- SMS segments (SPEC 4.2) ------------------------------------------------------------------------------------

TEST(SmsSegments, CountsPerSpec) {
    struct Case {
        const char* label;
        std::string text;
        int segments;
    };
    const Case cases[] = {
        {"empty", "", 1},
        {"gsm_1", "a", 1},
        {"gsm_160", repeat("a", 160), 1},
        {"gsm_161", repeat("a", 161), 2},
        {"gsm_306", repeat("a", 306), 2},
        {"gsm_307", repeat("a", 307), 3},
        {"gsm_greek_and_accents", repeat("Δé", 80), 1},
        {"gsm_extension_80", repeat("{", 80), 1},  // 160 septets
        {"gsm_extension_81", repeat("{", 81), 2},  // 162 septets
        {"gsm_euro_counts_two", repeat("€", 81), 2},
        {"ucs2_70", repeat("中", 70), 1},
        {"ucs2_71", repeat("中", 71), 2},
        {"ucs2_134", repeat("中", 134), 2},
        {"ucs2_135", repeat("中", 135), 3},
        {"ucs2_one_chinese_makes_all_ucs2", repeat("a", 69) + "中", 1},
        {"ucs2_one_chinese_of_71", repeat("a", 70) + "中", 2},
        {"ucs2_backtick_is_not_gsm", repeat("a", 70) + "`", 2},
        {"ucs2_full_width_is_not_gsm", repeat("a", 70) + "？", 2},
        {"ucs2_emoji_is_two_units", repeat("\U0001F600", 35), 1},
        {"ucs2_emoji_36", repeat("\U0001F600", 36), 2},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.label);
        EXPECT_EQ(jobs::sms::countSegments(c.text), c.segments);
    }
}

TEST(SmsSegments, SpecAlertExample) {
    const std::string alert =
        "【臺北國稅局】您申請的財產所得資料已備妥，請於11/30 18:00前持身分證至信義分局快速取件櫃台領取，取件碼482913";
    EXPECT_FALSE(jobs::sms::isGsm7(alert));
    // 62 characters, all in the BMP: one UCS-2 segment.
    EXPECT_EQ(jobs::sms::countSegments(alert), 1);
    EXPECT_TRUE(jobs::sms::isGsm7("Your code is 482913 @ office #3"));
    EXPECT_FALSE(jobs::sms::isGsm7(std::string("bad \xff byte")));
}

// ---- SMS gateway --------------------------------------------------------------------------------------------------

TEST(StubSmsGateway, IdempotentByNotificationIdAndRecordsEachSendOnce) {
    const std::string dir = testing::tempDir("stubs");
    const std::string path = dir + "/nested/sms-sent.jsonl";  // the folder is created
    StubSmsGateway gateway(path, noFaults());
    std::vector<SentSms> heard;
    gateway.setListener([&](const SentSms& sms) { heard.push_back(sms); });

    const std::string chinese = repeat("中", 71);
    const std::string tricky = "say \"hi\"\\\nbye\t";
    const SendReceipt first = gateway.send({"n-1", "0912345678", chinese});
    EXPECT_EQ(first.segments, 2);
    EXPECT_FALSE(first.gatewayMsgId.empty());
    const SendReceipt again = gateway.send({"n-1", "0912345678", chinese});
    EXPECT_EQ(again.gatewayMsgId, first.gatewayMsgId);
    EXPECT_EQ(again.segments, 2);
    const SendReceipt second = gateway.send({"n-2", "0987654321", tricky});
    EXPECT_EQ(second.segments, 1);  // the tab is not GSM-7: UCS-2, 14 units
    EXPECT_NE(second.gatewayMsgId, first.gatewayMsgId);

    ASSERT_EQ(gateway.sent().size(), 2U);
    ASSERT_EQ(heard.size(), 2U);
    EXPECT_EQ(heard[1].notificationId, "n-2");

    const std::vector<std::string> lines = readLines(path);
    ASSERT_EQ(lines.size(), 2U);
    Poco::JSON::Parser parser;
    const auto line0 = parser.parse(lines[0]).extract<Poco::JSON::Object::Ptr>();
    EXPECT_EQ(line0->getValue<std::string>("notification_id"), "n-1");
    EXPECT_EQ(line0->getValue<std::string>("msisdn"), "0912345678");
    EXPECT_EQ(line0->getValue<std::string>("text"), chinese);
    EXPECT_EQ(line0->getValue<int>("segments"), 2);
    EXPECT_TRUE(std::regex_match(line0->getValue<std::string>("sent_at"),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
        << line0->getValue<std::string>("sent_at");
    // The raw line keeps Chinese readable rather than \u-escaped.
    EXPECT_NE(lines[0].find("中中中"), std::string::npos);

    const auto line1 = parser.parse(lines[1]).extract<Poco::JSON::Object::Ptr>();
    EXPECT_EQ(line1->getValue<std::string>("text"), tricky);
    EXPECT_EQ(line1->getValue<int>("segments"), second.segments);

    // A second gateway on the same file appends.
    StubSmsGateway more(path, noFaults());
    more.send({"n-3", "0912345678", "hello"});
    EXPECT_EQ(readLines(path).size(), 3U);
    Poco::File(dir).remove(true);
}

TEST(StubSmsGateway, RejectsMalformedMessages) {
    StubSmsGateway gateway("", noFaults());
    EXPECT_THROW(gateway.send({"", "0912345678", "hi"}), PermanentError);
    EXPECT_THROW(gateway.send({"n", "+886912345678", "hi"}), PermanentError);
    EXPECT_THROW(gateway.send({"n", "091234567", "hi"}), PermanentError);
    EXPECT_THROW(gateway.send({"n", "0812345678", "hi"}), PermanentError);
    EXPECT_THROW(gateway.send({"n", "0912345678", ""}), PermanentError);
    EXPECT_TRUE(gateway.sent().empty());
}

TEST(StubSmsGateway, UnwritablePathFailsAtOnce) {
    EXPECT_THROW(StubSmsGateway("/proc/no-such-dir/sms.jsonl", noFaults()), PermanentError);
}

TEST(StubSmsGateway, InjectedFailuresNeverSendTwice) {
    StubSmsGateway gateway("", StubFaults(0, 0, 1.0));
    for (int i = 0; i < 40; ++i) EXPECT_THROW(gateway.send({"n-1", "0912345678", "hi"}), TransientError);
    EXPECT_LE(gateway.sent().size(), 1U);
}

TEST(StubSmsGateway, ConcurrentSendsOfOneIdSendOnce) {
    const std::string dir = testing::tempDir("stubs");
    const std::string path = dir + "/sms.jsonl";
    StubSmsGateway gateway(path, noFaults());
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                gateway.send({"shared", "0912345678", "same"});
                gateway.send({"own-" + std::to_string(t) + "-" + std::to_string(i), "0912345678", "x"});
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(gateway.sent().size(), 1U + 4 * 50);
    EXPECT_EQ(readLines(path).size(), 1U + 4 * 50);  // whole lines, none torn by concurrent writers
    Poco::File(dir).remove(true);
}

}  // namespace
}  // namespace taxdesk::connectors
