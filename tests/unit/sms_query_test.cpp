// Issue 13: the progress query by SMS (`查`/`Q` <ID> <NHI last 4>): its grammar (jobs/sms/inbound.hpp), its reply texts
// (jobs/sms/query.hpp) and its decision (jobs/sms/application.hpp) over in-memory fakes: the same locks and identity
// checks as an application, no daily count, one reply listing the open pickups. Expected texts are written out by hand.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "jobs/sms/application.hpp"
#include "jobs/sms/inbound.hpp"
#include "jobs/sms/pickup_rules.hpp"
#include "jobs/sms/query.hpp"
#include "jobs/sms/replies.hpp"
#include "jobs/sms/segments.hpp"

namespace taxdesk::jobs::sms {
namespace {

using Kind = ParsedSms::Kind;

// 18:00 Taipei on these days of 2026, as Unix seconds (what a stored pickup's deadline_at holds).
constexpr std::int64_t kNov30 = 1796032800;
constexpr std::int64_t kDec1 = 1796119200;
constexpr std::int64_t kDec2 = 1796205600;
constexpr std::int64_t kDec3 = 1796292000;
constexpr std::int64_t kDec31 = 1798711200;
// 2026-11-26 09:15:00 Taipei (a Thursday).
constexpr std::int64_t kThursdayMorning = 1795655700;

// ---- grammar ----------------------------------------------------------------------------------------------------

struct QueryCase {
    const char* label;
    std::string text;
    Kind kind;
    bool isQuery;
    std::string id = "";
    std::string nhiLast4 = "";
};

void PrintTo(const QueryCase& c, std::ostream* os) {
    *os << c.label;
}

class QueryParseTest : public ::testing::TestWithParam<QueryCase> {};

TEST_P(QueryParseTest, Parses) {
    const QueryCase& c = GetParam();
    const ParsedSms parsed = parseSmsText(c.text, 2026);
    EXPECT_EQ(std::string(toString(parsed.kind)), toString(c.kind));
    EXPECT_EQ(parsed.isQuery, c.isQuery);
    EXPECT_FALSE(parsed.service.has_value()) << "a query names no service";
    EXPECT_EQ(parsed.id, c.id);
    EXPECT_EQ(parsed.nhiLast4, c.nhiLast4);
}

INSTANTIATE_TEST_SUITE_P(
    Queries, QueryParseTest,
    ::testing::Values(QueryCase{"cha", "查 A123456789 1234", Kind::query, true, "A123456789", "1234"},
                      QueryCase{"Q", "Q A123456789 1234", Kind::query, true, "A123456789", "1234"},
                      QueryCase{"q_lower_case", "q a123456789 0000", Kind::query, true, "A123456789", "0000"},
                      QueryCase{"full_width_Q", "Ｑ\u3000Ａ１２３４５６７８９\u3000１２３４", Kind::query, true,
                                "A123456789", "1234"},
                      QueryCase{"full_width_q", "ｑ A223456781 9876", Kind::query, true, "A223456781", "9876"},
                      QueryCase{"tabs_and_ends", " \t查\tA800000014\r\n5678 ", Kind::query, true, "A800000014", "5678"},
                      QueryCase{"cha_alone", "查", Kind::malformed, true},
                      QueryCase{"missing_last4", "Q A123456789", Kind::malformed, true},
                      QueryCase{"extra_word", "查 A123456789 1234 1", Kind::malformed, true},
                      QueryCase{"last4_three_digits", "查 A123456789 123", Kind::malformed, true},
                      QueryCase{"bad_checksum", "查 A123456788 1234", Kind::invalidId, true, "A123456788", "1234"},
                      QueryCase{"business_number", "q 22099131 1234", Kind::invalidId, true, "22099131", "1234"},
                      QueryCase{"cha_xun_is_no_command", "查詢 A123456789 1234", Kind::unknownService, false},
                      QueryCase{"QQ_is_no_command", "QQ A123456789 1234", Kind::unknownService, false},
                      QueryCase{"run_together", "查A123456789 1234", Kind::unknownService, false}));

TEST(QueryParseNamesTest, TheKindAndTheOutcomeAreNamedQuery) {
    EXPECT_STREQ(toString(Kind::query), "query");
    EXPECT_STREQ(toString(Outcome::query), "query");
    EXPECT_THROW((void)replyForParse(Kind::query), std::invalid_argument);
}

// ---- reply texts ------------------------------------------------------------------------------------------------

OpenPickup pickup(int service, const std::string& office, std::int64_t deadlineAt, const std::string& code) {
    return {"p-" + code, code, service, office, deadlineAt};
}

TEST(QueryRepliesTest, NoOpenPickup) {
    const std::string none = "【臺北國稅局】目前查無待領取的文件（已領取或已逾期者不列入）";
    EXPECT_EQ(noOpenPickupsText(), none);
    EXPECT_EQ(openPickupsText({}), none);
    EXPECT_EQ(countSegments(none), 1);
}

TEST(QueryRepliesTest, OnePickup) {
    const std::string text = openPickupsText({pickup(1, "信義分局", kNov30, "482913")});
    EXPECT_EQ(text, "【臺北國稅局】您有1件文件待領取：財產所得資料，信義分局，11/30 18:00前，取件碼482913");
    EXPECT_EQ(countSegments(text), 1);
}

TEST(QueryRepliesTest, SeveralAreListedDueFirst) {
    const std::string text =
        openPickupsText({pickup(2, "總局", kDec1, "123456"), pickup(1, "信義分局", kNov30, "482913")});
    EXPECT_EQ(text,
              "【臺北國稅局】您有2件文件待領取：財產所得資料，信義分局，11/30 18:00前，取件碼482913；"
              "綜所稅納稅證明，總局，12/1 18:00前，取件碼123456");
    EXPECT_EQ(countSegments(text), 2);  // 84 characters
}

TEST(QueryRepliesTest, OneDeadlineIsOrderedByServiceThenCode) {
    const std::string text =
        openPickupsText({pickup(5, "大安分局", kDec2, "000002"), pickup(3, "大安分局", kDec2, "000009"),
                         pickup(5, "大安分局", kDec2, "000001")});
    EXPECT_EQ(text,
              "【臺北國稅局】您有3件文件待領取：綜所稅稅籍資料，大安分局，12/2 18:00前，取件碼000009；"
              "儲蓄免扣證，大安分局，12/2 18:00前，取件碼000001；儲蓄免扣證，大安分局，12/2 18:00前，取件碼000002");
}

TEST(QueryRepliesTest, FiveOpenPickupsAtTheLongestShippedOfficeFitTheBound) {
    // Every service open, all at 北投稽徵所 (the longest office of config/offices.properties), two-digit dates:
    // 17 + 35 + 36 + 36 + 36 + 34 + 4 separators = 198 characters, within 3 × 67.
    std::vector<OpenPickup> open;
    for (int service = 1; service <= 5; ++service)
        open.push_back(pickup(service, "北投稽徵所", kDec31, "10000" + std::to_string(service)));
    const std::string text = openPickupsText(open);
    EXPECT_EQ(text,
              "【臺北國稅局】您有5件文件待領取：財產所得資料，北投稽徵所，12/31 18:00前，取件碼100001；"
              "綜所稅納稅證明，北投稽徵所，12/31 18:00前，取件碼100002；"
              "綜所稅稅籍資料，北投稽徵所，12/31 18:00前，取件碼100003；"
              "違章欠稅查復表，北投稽徵所，12/31 18:00前，取件碼100004；"
              "儲蓄免扣證，北投稽徵所，12/31 18:00前，取件碼100005");
    EXPECT_EQ(countSegments(text), kQueryReplyMaxSegments);
}

TEST(QueryRepliesTest, OverTheBoundNamesTheFirstDueAndCountsTheRest) {
    // A configured office of 15 characters: each entry is 45 characters, so four and the count (208) are over 201.
    const std::string office = "臺北市政府聯合服務中心駐點櫃台";
    const std::string text = openPickupsText({pickup(4, office, kDec3, "100004"), pickup(5, office, kDec31, "100005"),
                                              pickup(2, office, kDec1, "100002"), pickup(1, office, kNov30, "100001"),
                                              pickup(3, office, kDec2, "100003")});
    EXPECT_EQ(
        text,
        "【臺北國稅局】您有5件文件待領取：財產所得資料，臺北市政府聯合服務中心駐點櫃台，11/30 18:00前，取件碼100001；"
        "綜所稅納稅證明，臺北市政府聯合服務中心駐點櫃台，12/1 18:00前，取件碼100002；"
        "綜所稅稅籍資料，臺北市政府聯合服務中心駐點櫃台，12/2 18:00前，取件碼100003；另有2件未列出");
    EXPECT_LE(countSegments(text), kQueryReplyMaxSegments);
}

TEST(QueryRepliesTest, ABoundOfOneSegmentKeepsWhatFits) {
    // Both: 84 characters; the first and the count: 59.
    EXPECT_EQ(openPickupsText({pickup(2, "總局", kDec1, "123456"), pickup(1, "信義分局", kNov30, "482913")}, 1),
              "【臺北國稅局】您有2件文件待領取：財產所得資料，信義分局，11/30 18:00前，取件碼482913；另有1件未列出");
}

TEST(QueryRepliesTest, WhenNoneFitsTheCountIsSaid) {
    const std::string office(210, 'x');  // no entry fits one UCS-2 segment (70 units)
    EXPECT_EQ(openPickupsText({pickup(1, office, kNov30, "482913")}, 1),
              "【臺北國稅局】您有1件文件待領取，請持身分證至快速取件櫃台查詢");
}

TEST(QueryRepliesTest, BadInputIsRefused) {
    EXPECT_THROW((void)openPickupsText({pickup(6, "總局", kNov30, "482913")}), std::invalid_argument);
    EXPECT_THROW((void)openPickupsText({pickup(1, "總局", kNov30, "482913")}, 0), std::invalid_argument);
}

TEST(QueryRepliesTest, MalformedAndInvalidQueriesShowTheQueryFormat) {
    EXPECT_EQ(queryMalformedText(),
              "【臺北國稅局】格式有誤，查詢待領取文件請以空白隔開傳送：查 身分證字號 健保卡末4碼");
    EXPECT_EQ(queryInvalidIdText(), "【臺北國稅局】身分證字號有誤，請查明後依「查 身分證字號 健保卡末4碼」重新傳送");
    EXPECT_EQ(countSegments(queryMalformedText()), 1);
    EXPECT_EQ(countSegments(queryInvalidIdText()), 1);
}

// ---- the decision -----------------------------------------------------------------------------------------------

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
    std::optional<long long> lockLeft;
    long long count = 1;
    int lockOnFailure = 0;
    bool away = false;
    std::vector<std::string> counted;
    std::vector<std::string> uncounted;
    std::vector<std::string> strikes;  ///< "id/msisdn/gatewayMsgId"
    std::optional<long long> lockSecondsLeft(const std::string&, const std::string&) override {
        if (away) throw CountersUnavailable("connection refused");
        return lockLeft;
    }
    long long countApplication(const std::string& msisdn, const std::string& day, const std::string& id) override {
        counted.push_back(msisdn + "/" + day + "/" + id);
        return count;
    }
    void uncountApplication(const std::string& msisdn, const std::string& day, const std::string& id) override {
        uncounted.push_back(msisdn + "/" + day + "/" + id);
    }
    int recordFailedCheck(const std::string& id, const std::string& msisdn, const std::string& gatewayMsgId,
                          std::int64_t) override {
        strikes.push_back(id + "/" + msisdn + "/" + gatewayMsgId);
        return lockOnFailure;
    }
};

/// Open pickups by service; openPickupsOf is PickupPort's default (one openPickupFor a service).
class FakePickups : public PickupPort {
  public:
    std::map<int, OpenPickup> open;
    std::vector<std::string> asked;  ///< "applicant/service/now"
    std::optional<OpenPickup> openPickupFor(const std::string& applicantId, int service,
                                            std::int64_t nowUnix) override {
        asked.push_back(applicantId + "/" + std::to_string(service) + "/" + std::to_string(nowUnix));
        const auto found = open.find(service);
        if (found == open.end()) return std::nullopt;
        return found->second;
    }
    std::string drawCode() override {
        ADD_FAILURE() << "a query draws no code";
        return "000000";
    }
};

class QueryDecisionTest : public ::testing::Test {
  protected:
    QueryDecisionTest() {
        std::istringstream table("信義區 = 信義分局\ndefault = 總局\n");
        offices_ = std::make_unique<OfficeTable>(OfficeTable::load(table));
        rules_.calendar = &calendar_;
        rules_.offices = offices_.get();
    }

    Decision decide(const std::string& text) {
        return decideApplication({"0912345678", text, "g-1", "2026-11-26T09:15:00+08:00"},
                                 kThursdayMorning * 1000 + 250, rules_, {identity_, counters_, pickups_});
    }

    static void expectReply(const Decision& decision, Outcome outcome, const std::string& text) {
        EXPECT_STREQ(toString(decision.outcome), toString(outcome));
        EXPECT_EQ(decision.kind, ReplyKind::reply);
        EXPECT_EQ(decision.text, text);
        EXPECT_EQ(decision.pickupId, "");
        EXPECT_FALSE(decision.created.has_value());
    }

    BusinessCalendar calendar_;
    std::unique_ptr<OfficeTable> offices_;
    ApplicationRules rules_;
    FakeIdentity identity_;
    FakeCounters counters_;
    FakePickups pickups_;
};

TEST_F(QueryDecisionTest, AVerifiedQueryListsEveryOpenPickupAndCountsNothing) {
    pickups_.open[1] = pickup(1, "信義分局", kNov30, "482913");
    pickups_.open[2] = pickup(2, "總局", kDec1, "123456");
    const Decision decision = decide("查 A123456789 1234");
    expectReply(decision, Outcome::query,
                "【臺北國稅局】您有2件文件待領取：財產所得資料，信義分局，11/30 18:00前，取件碼482913；"
                "綜所稅納稅證明，總局，12/1 18:00前，取件碼123456");
    EXPECT_EQ(identity_.asked, std::vector<std::string>{"A123456789/1234"});
    EXPECT_TRUE(counters_.counted.empty()) << "a query is no application: the daily limit does not count it";
    // PickupPort's default: each service asked at the engine's instant.
    const std::string now = std::to_string(kThursdayMorning);
    EXPECT_EQ(pickups_.asked,
              (std::vector<std::string>{"A123456789/1/" + now, "A123456789/2/" + now, "A123456789/3/" + now,
                                        "A123456789/4/" + now, "A123456789/5/" + now}));
}

TEST_F(QueryDecisionTest, NoOpenPickupIsSaid) {
    expectReply(decide("q a123456789 1234"), Outcome::query,
                "【臺北國稅局】目前查無待領取的文件（已領取或已逾期者不列入）");
}

TEST_F(QueryDecisionTest, AMsisdnOverItsDailyLimitMayStillQuery) {
    counters_.count = 99;  // what countApplication would answer: were it asked, the reply would be the limit's
    EXPECT_EQ(decide("Q A123456789 1234").outcome, Outcome::query);
    EXPECT_TRUE(counters_.counted.empty());
}

TEST_F(QueryDecisionTest, ALockedIdOrMsisdnIsRefusedWithoutAnyCheck) {
    counters_.lockLeft = 301;
    expectReply(decide("查 A123456789 1234"), Outcome::locked, "【臺北國稅局】驗證失敗次數過多，請於6分鐘後再試");
    EXPECT_TRUE(identity_.asked.empty());
    EXPECT_TRUE(pickups_.asked.empty());
}

TEST_F(QueryDecisionTest, AFailedCheckCountsTowardsTheLockAndListsNothing) {
    identity_.result = {IdentityPort::Result::Status::failed, ""};
    counters_.lockOnFailure = 600;  // this failure was the third
    const Decision decision = decide("查 A123456789 1235");
    expectReply(decision, Outcome::identityFailed,
                "【臺北國稅局】身分驗證未通過，請確認身分證字號及健保卡末4碼後重新傳送");
    EXPECT_EQ(counters_.strikes, std::vector<std::string>{"A123456789/0912345678/g-1"});
    EXPECT_TRUE(pickups_.asked.empty());
    ASSERT_EQ(decision.notes.size(), 1U);
    EXPECT_EQ(decision.notes[0].text, "locked A12****789 and 0912***678 for 600 s after failed identity checks");
}

TEST_F(QueryDecisionTest, IdentityUnavailableTakesNoCountBack) {
    identity_.result = {IdentityPort::Result::Status::unavailable, ""};
    expectReply(decide("查 A123456789 1234"), Outcome::unavailable, "【臺北國稅局】系統忙碌，暫時無法受理，請稍後再試");
    EXPECT_TRUE(counters_.counted.empty());
    EXPECT_TRUE(counters_.uncounted.empty()) << "nothing was counted";
}

TEST_F(QueryDecisionTest, CountersAwayRefuseTheQuery) {
    counters_.away = true;
    EXPECT_EQ(decide("查 A123456789 1234").outcome, Outcome::unavailable);
    EXPECT_TRUE(identity_.asked.empty());
}

TEST_F(QueryDecisionTest, MalformedAndInvalidQueriesGetTheQueryFormat) {
    expectReply(decide("查 A123456789"), Outcome::malformed, queryMalformedText());
    expectReply(decide("Q A123456788 1234"), Outcome::invalidId, queryInvalidIdText());
    EXPECT_TRUE(identity_.asked.empty());
    EXPECT_TRUE(counters_.strikes.empty()) << "a malformed text is no failed identity check";
}

TEST_F(QueryDecisionTest, TheNoteIsMaskedAndNoTextHoldsTheId) {
    pickups_.open[3] = pickup(3, "信義分局", kNov30, "482913");
    const Decision decision = decide("查 A123456789 1234");
    ASSERT_EQ(decision.notes.size(), 1U);
    EXPECT_EQ(decision.notes[0].text, "query for A12****789: 1 open pickup(s) listed");
    const std::regex anyId("[A-Za-z][0-9]{9}");
    EXPECT_FALSE(std::regex_search(decision.text, anyId)) << decision.text;
}

}  // namespace
}  // namespace taxdesk::jobs::sms
