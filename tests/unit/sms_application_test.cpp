// SPEC 4.1, 4.2: what an SMS application comes to (jobs/sms/application.hpp), over in-memory fakes of its ports: every
// outcome and reply kind, what each port is asked, and the one homes of the closing hour, msisdn masking and the ROC
// year. No Redis, Kafka or SQL.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "jobs/common/roc_year.hpp"
#include "jobs/sms/application.hpp"
#include "jobs/sms/inbound.hpp"
#include "jobs/sms/pickup_rules.hpp"

namespace taxdesk::jobs::sms {
namespace {

// 2026-11-26 09:15:00 Taipei (a Thursday) as Unix seconds, and 00:10 the same day.
constexpr std::int64_t kThursdayMorning = 1795655700;
constexpr std::int64_t kThursdayJustAfterMidnight = 1795623000;
// 2026-11-24 19:00 Taipei (a Tuesday), after the counters closed.
constexpr std::int64_t kTuesdayEvening = 1795518000;

class FakeIdentity : public IdentityPort {
  public:
    Result result{Result::Status::verified, "信義區"};
    std::vector<std::string> asked;  ///< "id/last4"

    Result check(const std::string& id, const std::string& nhiLast4) override {
        asked.push_back(id + "/" + nhiLast4);
        return result;
    }
};

class FakeCounters : public CounterPort {
  public:
    std::optional<long long> lockLeft;  ///< nullopt: not locked
    long long count = 1;                ///< what countApplication returns
    int lockOnFailure = 0;              ///< what recordFailedCheck returns
    bool away = false;                  ///< every call throws CountersUnavailable
    bool awayForStrikes = false;        ///< recordFailedCheck throws CountersUnavailable
    std::vector<std::string> counted;   ///< "msisdn/day/gatewayMsgId"
    std::vector<std::string> uncounted;
    std::vector<std::string> strikes;  ///< "id/msisdn/gatewayMsgId/nowMs"

    std::optional<long long> lockSecondsLeft(const std::string&, const std::string&) override {
        if (away) throw CountersUnavailable("connection refused");
        return lockLeft;
    }
    long long countApplication(const std::string& msisdn, const std::string& day,
                               const std::string& gatewayMsgId) override {
        if (away) throw CountersUnavailable("connection refused");
        counted.push_back(msisdn + "/" + day + "/" + gatewayMsgId);
        return count;
    }
    void uncountApplication(const std::string& msisdn, const std::string& day,
                            const std::string& gatewayMsgId) override {
        if (away) throw CountersUnavailable("connection refused");
        uncounted.push_back(msisdn + "/" + day + "/" + gatewayMsgId);
    }
    int recordFailedCheck(const std::string& id, const std::string& msisdn, const std::string& gatewayMsgId,
                          std::int64_t nowMs) override {
        if (away || awayForStrikes) throw CountersUnavailable("connection refused");
        strikes.push_back(id + "/" + msisdn + "/" + gatewayMsgId + "/" + std::to_string(nowMs));
        return lockOnFailure;
    }
};

class FakePickups : public PickupPort {
  public:
    std::optional<OpenPickup> open;
    std::vector<std::string> codes{"482913", "000777"};
    std::vector<std::string> asked;  ///< "applicant/service/now"
    int drawn = 0;

    std::optional<OpenPickup> openPickupFor(const std::string& applicantId, int service,
                                            std::int64_t nowUnix) override {
        asked.push_back(applicantId + "/" + std::to_string(service) + "/" + std::to_string(nowUnix));
        return open;
    }
    std::string drawCode() override { return codes.at(static_cast<std::size_t>(drawn++)); }
};

class ApplicationTest : public ::testing::Test {
  protected:
    ApplicationTest() {
        std::istringstream table("信義區 = 信義分局\n大安區 = 大安分局\ndefault = 總局\n");
        offices_ = std::make_unique<OfficeTable>(OfficeTable::load(table));
        rules_.dailyLimit = 5;
        rules_.pickupBusinessDays = 3;
        rules_.lockSeconds = 600;
        rules_.calendar = &calendar_;
        rules_.offices = offices_.get();
    }

    Decision decide(const std::string& text, std::int64_t nowSeconds = kThursdayMorning,
                    const std::string& receivedAt = "2026-11-26T09:15:00+08:00") {
        return decideApplication({"0912345678", text, "g-1", receivedAt}, nowSeconds * 1000 + 250, rules_,
                                 {identity_, counters_, pickups_});
    }

    BusinessCalendar calendar_;
    std::unique_ptr<OfficeTable> offices_;
    ApplicationRules rules_;
    FakeIdentity identity_;
    FakeCounters counters_;
    FakePickups pickups_;
};

void expectShortReason(const Decision& decision, Outcome outcome, const std::string& text) {
    EXPECT_STREQ(toString(decision.outcome), toString(outcome));
    EXPECT_EQ(decision.kind, ReplyKind::reply);
    EXPECT_EQ(decision.text, text);
    EXPECT_EQ(decision.pickupId, "");
    EXPECT_FALSE(decision.created.has_value());
}

// ---- texts that are no application: their reason, and no counter, registry or pickup is asked -------------------

TEST_F(ApplicationTest, HelpIsAnsweredWithTheServices) {
    expectShortReason(decide("0"), Outcome::help,
                      "【臺北國稅局】請回傳：服務代碼 身分證字號 健保卡末4碼。1財產所得資料 2綜所稅納稅證明 "
                      "3綜所稅稅籍資料 4違章欠稅查復表 5儲蓄免扣證");
    EXPECT_TRUE(counters_.counted.empty());
    EXPECT_TRUE(identity_.asked.empty());
    EXPECT_TRUE(pickups_.asked.empty());
}

TEST_F(ApplicationTest, AnUnknownServiceIsAnsweredWithTheHelpWord) {
    expectShortReason(decide("9 A123456789 1234"), Outcome::unknownService,
                      "【臺北國稅局】查無此服務代碼，請傳送0或「說明」查詢服務項目及格式");
    EXPECT_TRUE(counters_.counted.empty());
}

TEST_F(ApplicationTest, TwoWordsAreMalformed) {
    expectShortReason(decide("1 A123456789"), Outcome::malformed,
                      "【臺北國稅局】格式有誤，請以空白隔開傳送：服務代碼 身分證字號 健保卡末4碼，傳送0可查服務代碼");
    EXPECT_TRUE(counters_.counted.empty());
}

TEST_F(ApplicationTest, AWrongCheckDigitIsAnInvalidId) {
    expectShortReason(decide("1 A123456788 1234"), Outcome::invalidId,
                      "【臺北國稅局】身分證字號有誤，請查明後依「服務代碼 身分證字號 健保卡末4碼」重新傳送");
    EXPECT_TRUE(counters_.counted.empty());
    EXPECT_TRUE(identity_.asked.empty());
}

// ---- locks and the daily limit --------------------------------------------------------------------------------

TEST_F(ApplicationTest, ALockedIdSaysTheMinutesLeftRoundedUp) {
    counters_.lockLeft = 125;  // 2 min 5 s: 3 minutes
    expectShortReason(decide("1 A123456789 1234"), Outcome::locked, "【臺北國稅局】驗證失敗次數過多，請於3分鐘後再試");
    EXPECT_TRUE(counters_.counted.empty());  // a locked application is not counted
    EXPECT_TRUE(identity_.asked.empty());
}

TEST_F(ApplicationTest, ALockOfUnknownLengthSaysTheConfiguredMinutes) {
    counters_.lockLeft = -1;  // the key has no expiry (TTL -1)
    expectShortReason(decide("1 A123456789 1234"), Outcome::locked, "【臺北國稅局】驗證失敗次數過多，請於10分鐘後再試");
}

TEST_F(ApplicationTest, TheSixthApplicationOfTheDayIsOverTheLimit) {
    counters_.count = 6;
    expectShortReason(decide("1 A123456789 1234"), Outcome::limit, "【臺北國稅局】今日申請已達5次上限，請明日再試");
    EXPECT_EQ(counters_.counted, std::vector<std::string>{"0912345678/20261126/g-1"});
    EXPECT_TRUE(identity_.asked.empty());
}

TEST_F(ApplicationTest, TheFifthApplicationOfTheDayIsServed) {
    counters_.count = 5;
    EXPECT_EQ(decide("1 A123456789 1234").outcome, Outcome::alert);
}

TEST_F(ApplicationTest, TheDayCountedIsTheDayTheGatewayReceivedIt) {
    // Received 23:59 on Wednesday, handled 11 minutes later on Thursday: Wednesday's count.
    decide("1 A123456789 1234", kThursdayJustAfterMidnight, "2026-11-25T23:59:00+08:00");
    EXPECT_EQ(counters_.counted, std::vector<std::string>{"0912345678/20261125/g-1"});
}

TEST_F(ApplicationTest, CountersAwayRefuseTheApplication) {
    counters_.away = true;
    const Decision decision = decide("1 A123456789 1234");
    expectShortReason(decision, Outcome::unavailable, "【臺北國稅局】系統忙碌，暫時無法受理，請稍後再試");
    EXPECT_TRUE(identity_.asked.empty());
    ASSERT_EQ(decision.notes.size(), 1U);
    EXPECT_TRUE(decision.notes[0].warning);
    EXPECT_EQ(decision.notes[0].text, "Redis unavailable, application refused: connection refused");
}

// ---- identity ------------------------------------------------------------------------------------------------

TEST_F(ApplicationTest, IdentityUnavailableAnswersTryLaterAndTakesTheCountBack) {
    identity_.result = {IdentityPort::Result::Status::unavailable, ""};
    const Decision decision = decide("1 a123456789 1234");
    expectShortReason(decision, Outcome::unavailable, "【臺北國稅局】系統忙碌，暫時無法受理，請稍後再試");
    EXPECT_EQ(identity_.asked, std::vector<std::string>{"A123456789/1234"});
    EXPECT_EQ(counters_.uncounted, std::vector<std::string>{"0912345678/20261126/g-1"});
    ASSERT_EQ(decision.notes.size(), 1U);
    EXPECT_EQ(decision.notes[0].text, "identity check for A12****789 unavailable, replied try later");
}

TEST_F(ApplicationTest, IdentityUnavailableWithTheCountersGoneToo) {
    identity_.result = {IdentityPort::Result::Status::unavailable, ""};
    counters_.count = 1;
    // The counters answer the lock and count, then go away before the count is taken back.
    class GoneAfterCount : public FakeCounters {
      public:
        void uncountApplication(const std::string&, const std::string&, const std::string&) override {
            throw CountersUnavailable("gone");
        }
    } counters;
    const Decision decision = decideApplication({"0912345678", "1 A123456789 1234", "g-1", ""}, kThursdayMorning * 1000,
                                                rules_, {identity_, counters, pickups_});
    EXPECT_EQ(decision.outcome, Outcome::unavailable);
}

TEST_F(ApplicationTest, AFailedCheckIsRecordedAndAnswered) {
    identity_.result = {IdentityPort::Result::Status::failed, ""};
    const Decision decision = decide("1 A123456789 1234");
    expectShortReason(decision, Outcome::identityFailed,
                      "【臺北國稅局】身分驗證未通過，請確認身分證字號及健保卡末4碼後重新傳送");
    // Timed by the engine's clock, in milliseconds.
    EXPECT_EQ(counters_.strikes, std::vector<std::string>{"A123456789/0912345678/g-1/1795655700250"});
    EXPECT_TRUE(decision.notes.empty());
    EXPECT_TRUE(pickups_.asked.empty());
}

TEST_F(ApplicationTest, TheFailureThatLocksIsNotedMasked) {
    identity_.result = {IdentityPort::Result::Status::failed, ""};
    counters_.lockOnFailure = 600;
    const Decision decision = decide("1 A123456789 1234");
    EXPECT_EQ(decision.outcome, Outcome::identityFailed);
    ASSERT_EQ(decision.notes.size(), 1U);
    EXPECT_FALSE(decision.notes[0].warning);
    EXPECT_EQ(decision.notes[0].text, "locked A12****789 and 0912***678 for 600 s after failed identity checks");
}

TEST_F(ApplicationTest, AFailedCheckIsAnsweredWhenItsStrikeCannotBeCounted) {
    identity_.result = {IdentityPort::Result::Status::failed, ""};
    counters_.awayForStrikes = true;
    EXPECT_EQ(decide("1 A123456789 1234").outcome, Outcome::identityFailed);
}

// ---- the pickup ------------------------------------------------------------------------------------------------

TEST_F(ApplicationTest, AVerifiedApplicationPreparesAPickup) {
    const Decision decision = decide("財產所得 A123456789 1234");
    EXPECT_EQ(decision.outcome, Outcome::alert);
    EXPECT_EQ(decision.kind, ReplyKind::pickupAlert);
    EXPECT_EQ(decision.pickupId, "p-g-1");
    // Thursday 26 November + 3 business days: Friday, Monday, Tuesday 1 December, 18:00.
    EXPECT_EQ(decision.text,
              "【臺北國稅局】您申請的財產所得資料已備妥，請於12/1 18:00前持身分證至信義分局快速取件櫃台領取，"
              "取件碼482913");
    ASSERT_TRUE(decision.created.has_value());
    const NewPickup& created = *decision.created;
    EXPECT_EQ(created.pickupId, "p-g-1");
    EXPECT_EQ(created.code, "482913");
    EXPECT_EQ(created.applicantId, "A123456789");
    EXPECT_EQ(created.msisdn, "0912345678");
    EXPECT_EQ(created.service, Service::propertyIncome);
    EXPECT_EQ(created.office, "信義分局");
    EXPECT_EQ(created.deadline, (PickupDeadline{{2026, 12, 1}, 18}));
    EXPECT_EQ(created.deadlineAt, 1796119200);  // 2026-12-01 18:00 Taipei
    EXPECT_EQ(created.remindAt, 1796086800);    // 2026-12-01 09:00 Taipei
    EXPECT_EQ(pickups_.asked, std::vector<std::string>{"A123456789/1/1795655700"});
}

TEST_F(ApplicationTest, ADistrictNotListedGoesToTheDefaultOffice) {
    identity_.result = {IdentityPort::Result::Status::verified, "板橋區"};
    const Decision decision = decide("2 A123456789 1234");
    ASSERT_TRUE(decision.created.has_value());
    EXPECT_EQ(decision.created->office, "總局");
    EXPECT_EQ(decision.created->service, Service::taxPaymentCertificate);
}

TEST_F(ApplicationTest, AnApplicationHandledAfterItsDeadlineClosedCountsFromTheDayHandled) {
    rules_.pickupBusinessDays = 1;
    // Received Monday 23 November 20:00, handled Tuesday 19:00: Tuesday 18:00 has passed, so Wednesday 18:00.
    const Decision decision = decide("1 A123456789 1234", kTuesdayEvening, "2026-11-23T20:00:00+08:00");
    ASSERT_TRUE(decision.created.has_value());
    EXPECT_EQ(decision.created->deadline, (PickupDeadline{{2026, 11, 25}, 18}));
    EXPECT_NE(decision.text.find("11/25 18:00"), std::string::npos) << decision.text;
    // The day counted stays the day received.
    EXPECT_EQ(counters_.counted, std::vector<std::string>{"0912345678/20261123/g-1"});
}

TEST_F(ApplicationTest, AnOpenPickupIsSentAgain) {
    pickups_.open = OpenPickup{"p-g-0", "135790", 1, "大安分局", 1796032800};  // Monday 30 November 18:00
    const Decision decision = decide("1 A123456789 1234");
    EXPECT_EQ(decision.outcome, Outcome::resent);
    EXPECT_EQ(decision.kind, ReplyKind::pickupAlert);
    EXPECT_EQ(decision.pickupId, "p-g-0");
    EXPECT_EQ(decision.text,
              "【臺北國稅局】您申請的財產所得資料已備妥，請於11/30 18:00前持身分證至大安分局快速取件櫃台領取，"
              "取件碼135790");
    EXPECT_FALSE(decision.created.has_value());
    EXPECT_EQ(pickups_.drawn, 0);
}

TEST_F(ApplicationTest, ACodeTakenIsDrawnAgainInTheText) {
    Decision decision = decide("1 A123456789 1234");
    redrawCode(decision, "000777");
    EXPECT_EQ(decision.created->code, "000777");
    EXPECT_EQ(decision.text,
              "【臺北國稅局】您申請的財產所得資料已備妥，請於12/1 18:00前持身分證至信義分局快速取件櫃台領取，"
              "取件碼000777");
    EXPECT_EQ(decision.outcome, Outcome::alert);
}

TEST_F(ApplicationTest, ARedrawWithoutAPickupIsAMistake) {
    Decision decision = decide("0");
    EXPECT_THROW(redrawCode(decision, "000777"), std::logic_error);
}

TEST_F(ApplicationTest, AReceivedAtNotUsedIsNotedWithoutTheText) {
    const Decision decision = decide("0", kThursdayMorning, "yesterday");
    ASSERT_EQ(decision.notes.size(), 1U);
    EXPECT_EQ(decision.notes[0].text, "received_at not used (unparsable): counting from now");
}

TEST_F(ApplicationTest, RulesWithoutTablesAreRefused) {
    rules_.offices = nullptr;
    EXPECT_THROW(decide("0"), std::invalid_argument);
}

TEST(ApplicationNamesTest, OutcomesAndKindsHaveTheirStoredNames) {
    EXPECT_STREQ(toString(Outcome::alert), "alert");
    EXPECT_STREQ(toString(Outcome::resent), "resent");
    EXPECT_STREQ(toString(Outcome::help), "help");
    EXPECT_STREQ(toString(Outcome::unknownService), "unknown_service");
    EXPECT_STREQ(toString(Outcome::malformed), "malformed");
    EXPECT_STREQ(toString(Outcome::invalidId), "invalid_id");
    EXPECT_STREQ(toString(Outcome::locked), "locked");
    EXPECT_STREQ(toString(Outcome::limit), "limit");
    EXPECT_STREQ(toString(Outcome::identityFailed), "identity_failed");
    EXPECT_STREQ(toString(Outcome::unavailable), "unavailable");
    EXPECT_STREQ(toString(ReplyKind::reply), "reply");
    EXPECT_STREQ(toString(ReplyKind::pickupAlert), "pickup_alert");
}

// ---- the one homes ---------------------------------------------------------------------------------------------

TEST(OneHomeTest, AStoredDeadlineIsItsDayAtTheClosingHour) {
    EXPECT_EQ(kClosingHour, 18);
    EXPECT_EQ(deadlineOf(1796119200), (PickupDeadline{{2026, 12, 1}, 18}));
    EXPECT_EQ(expiresAt(deadlineOf(1796119200)), 1796119200);
}

TEST(OneHomeTest, AnMsisdnIsMasked) {
    EXPECT_EQ(maskMsisdn("0912345678"), "0912***678");
    EXPECT_EQ(maskMsisdn("0912"), "0912***");
    EXPECT_EQ(maskMsisdn(""), "***");
}

TEST(OneHomeTest, RocYears) {
    EXPECT_EQ(kRocYearOffset, 1911);
    EXPECT_EQ(gregorianYear(115), 2026);
    EXPECT_EQ(gregorianYear(1), 1912);
    EXPECT_EQ(gregorianYear(1911), 1911);
    EXPECT_EQ(gregorianYear(2025), 2025);
    EXPECT_EQ(rocYear(2026), 115);
}

}  // namespace
}  // namespace taxdesk::jobs::sms
