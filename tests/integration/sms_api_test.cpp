// The SMS application over real HTTP (SPEC 4.1, 4.2, 5): replies, locks, limits, open pickups, backlogs and the
// holiday table's horizon (sms_api_fixture.hpp). Deliveries, collection, reminders and the inbox: sms_delivery_test.
#include "sms_api_fixture.hpp"

namespace {

TEST_F(SmsApiTest, AValidApplicationGetsOneAlertWithCodeOfficeAndDeadline) {
    const auto from = msisdn();
    const auto id = person(1);
    const auto accepted = send(from, "1 " + id + " " + last4(id), "valid-" + from);
    ASSERT_EQ(accepted.status, 202) << accepted.body;
    const auto sent = waitSent(from, 1);
    ASSERT_EQ(sent.size(), 1u);
    const std::string& text = sent[0].text;
    EXPECT_EQ(text.rfind("【臺北國稅局】您申請的財產所得資料已備妥，請於", 0), 0u) << text;
    EXPECT_TRUE(std::regex_search(
        text, std::regex("請於[0-9]{1,2}/[0-9]{1,2} 18:00前持身分證至.+(分局|稽徵所|總局)快速取件櫃台領取")))
        << text;
    EXPECT_EQ(codeIn(text).size(), 6u) << text;
    EXPECT_EQ(text.find(id), std::string::npos) << "never a whole ID";
    std::this_thread::sleep_for(std::chrono::seconds(1));
    EXPECT_EQ(sentTo(from).size(), 1u) << "exactly one reply";
}

TEST_F(SmsApiTest, EveryMistakeGetsItsReason) {
    const auto id = person(2);
    struct Case {
        std::string text;
        std::string says;
    };
    std::string badId = id;
    badId[9] = static_cast<char>('0' + (badId[9] - '0' + 1) % 10);
    const std::vector<Case> cases{
        {"1 " + badId + " 1234", "身分證字號有誤"},
        {"1 " + id + " " + (last4(id) == "0000" ? "0001" : "0000"), "身分驗證未通過"},
        {"9 " + id + " " + last4(id), "查無此服務代碼"},
        {"1 " + id, "格式"},
        {"說明", "服務"},
        {"？", "服務"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        const auto from = msisdn();
        ASSERT_EQ(send(from, c.text, "mistake-" + from).status, 202);
        const auto sent = waitSent(from, 1);
        ASSERT_EQ(sent.size(), 1u);
        EXPECT_NE(sent[0].text.find(c.says), std::string::npos) << sent[0].text;
        EXPECT_EQ(sent[0].text.find(id), std::string::npos);
        EXPECT_EQ(sent[0].text.find(badId), std::string::npos);
    }
}

TEST_F(SmsApiTest, TheSameGatewayMessageTwiceGetsOneReply) {
    const auto from = msisdn();
    const auto id = person(3);
    ASSERT_EQ(send(from, "2 " + id + " " + last4(id), "twice-" + from).status, 202);
    ASSERT_EQ(send(from, "2 " + id + " " + last4(id), "twice-" + from).status, 202);
    waitSent(from, 1);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_EQ(sentTo(from).size(), 1u);
}

TEST_F(SmsApiTest, ApplyingAgainForAnOpenPickupResendsTheSameCode) {
    const auto from = msisdn();
    const auto id = person(4);
    ASSERT_EQ(send(from, "3 " + id + " " + last4(id), "first-" + from).status, 202);
    ASSERT_EQ(send(from, "稅籍資料 " + id + " " + last4(id), "second-" + from).status, 202);
    const auto sent = waitSent(from, 2);
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_FALSE(codeIn(sent[0].text).empty());
    EXPECT_EQ(codeIn(sent[0].text), codeIn(sent[1].text));
}

TEST_F(SmsApiTest, AnOpenPickupPastItsDeadlineMakesWayForANewOne) {
    const auto from = msisdn();
    const auto id = person(12);
    ASSERT_EQ(send(from, "3 " + id + " " + last4(id), "late-1-" + from).status, 202);
    const auto old = codeIn(waitSent(from, 1).at(0).text);
    // Past its deadline, but the scheduler has not marked it expired yet: a new application gets a new pickup.
    setPickup(old, "deadline_at = 1, remind_at = 4000000000");
    ASSERT_EQ(send(from, "3 " + id + " " + last4(id), "late-2-" + from).status, 202);
    const auto sent = waitSent(from, 2);
    ASSERT_EQ(sent.size(), 2u);
    const auto renewed = codeIn(sent[1].text);
    EXPECT_EQ(renewed.size(), 6u) << sent[1].text;
    EXPECT_NE(renewed, old);
}

TEST_F(SmsApiTest, ThreeFailedChecksLockTheIdAndTheMsisdn) {
    const auto from = msisdn();
    const auto id = person(5);
    const std::string wrong = last4(id) == "0000" ? "0001" : "0000";
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(send(from, "1 " + id + " " + wrong, "fail-" + std::to_string(i) + "-" + from).status, 202);
    waitSent(from, 3);
    ASSERT_EQ(send(from, "1 " + id + " " + last4(id), "right-" + from).status, 202);
    const auto sent = waitSent(from, 4);
    ASSERT_EQ(sent.size(), 4u);
    EXPECT_NE(sent[3].text.find("次數過多"), std::string::npos)
        << "locked even with the right digits: " << sent[3].text;
    EXPECT_NE(sent[3].text.find("10分鐘"), std::string::npos) << "a first lock: 10 minutes left: " << sent[3].text;
    // The ID is locked from another phone too.
    const auto other = msisdn();
    ASSERT_EQ(send(other, "1 " + id + " " + last4(id), "other-" + other).status, 202);
    EXPECT_NE(waitSent(other, 1).at(0).text.find("次數過多"), std::string::npos);
}

TEST_F(SmsApiTest, TheDailyLimitHolds) {
    const auto from = msisdn();
    for (int i = 0; i < 6; ++i) {
        const auto id = person(100 + static_cast<std::uint64_t>(i));
        ASSERT_EQ(send(from, "1 " + id + " " + last4(id), "daily-" + std::to_string(i) + "-" + from).status, 202);
    }
    const auto sent = waitSent(from, 6);
    ASSERT_EQ(sent.size(), 6u);
    for (int i = 0; i < 5; ++i) EXPECT_FALSE(codeIn(sent[i].text).empty()) << sent[i].text;
    EXPECT_NE(sent[5].text.find("上限"), std::string::npos) << sent[5].text;
}

TEST_F(SmsApiTest, ABacklogFromYesterdayKeepsYesterdaysDeadlineAndDailyCount) {
    using namespace taxdesk::jobs::sms;
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    const LocalDate yesterday = addDays(taipeiDate(now), -1);
    // The last second of yesterday in Taipei: less than 24 hours ago, so the engine believes it.
    const std::string lastSecond = toString(yesterday) + "T23:59:59+08:00";
    std::ifstream holidays(std::string(TAXDESK_SOURCE_DIR) + "/config/holidays.txt");
    const BusinessCalendar calendar = loadHolidays(holidays);
    const LocalDate due = pickupDeadline(calendar, yesterday, 3).date;
    const std::string dueText = std::to_string(due.month) + "/" + std::to_string(due.day) + " 18:00前";

    // Five applications received yesterday fill yesterday's count, not today's.
    const auto from = msisdn();
    for (int i = 0; i < 5; ++i) {
        const auto id = person(200 + static_cast<std::uint64_t>(i));
        ASSERT_EQ(
            send(from, "1 " + id + " " + last4(id), "backlog-" + std::to_string(i) + "-" + from, lastSecond).status,
            202);
    }
    const auto sent = waitSent(from, 5);
    ASSERT_EQ(sent.size(), 5u);
    EXPECT_NE(sent[0].text.find(dueText), std::string::npos)
        << "due as counted from " << toString(yesterday) << ": " << sent[0].text;
    // A sixth, received now: today's first, so not refused.
    const auto id = person(205);
    ASSERT_EQ(send(from, "1 " + id + " " + last4(id), "backlog-today-" + from, "").status, 202);
    const auto all = waitSent(from, 6);
    ASSERT_EQ(all.size(), 6u);
    EXPECT_FALSE(codeIn(all[5].text).empty()) << all[5].text;
}

TEST(SmsReadyzTest, WarnsWhileReadyWhenTheHolidayTableEndsBeforeTodaysDeadlines) {
    const std::string dir = taxdesk::testing::tempDir("holidays");
    {
        std::ofstream(dir + "/old.txt") << "2025-12-25\n";
        std::ofstream(dir + "/long.txt") << "2999-12-24\n";
    }
    {
        ServeProcess old({"sms.holidays_file=" + dir + "/old.txt"});
        const auto ready = old.request("GET", "/readyz");
        EXPECT_EQ(ready.status, 200) << "a warning leaves readiness as it is: " << ready.body;
        EXPECT_NE(ready.body.find(R"("status":"ready")"), std::string::npos) << ready.body;
        EXPECT_NE(ready.body.find(R"("warnings":["sms.holidays_file: the holiday table ends with 2025)"),
                  std::string::npos)
            << ready.body;
        std::ifstream log(old.logFile());
        const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
        EXPECT_NE(text.find("the holiday table ends with 2025"), std::string::npos) << "logged at start-up";
    }
    ServeProcess longTable({"sms.holidays_file=" + dir + "/long.txt"});
    const auto ready = longTable.request("GET", "/readyz");
    EXPECT_EQ(ready.status, 200);
    EXPECT_NE(ready.body.find(R"("warnings":[])"), std::string::npos) << ready.body;
}

}  // namespace
