// The SMS stage's wiring (engine/flow/sms_stage.cpp) over in-memory fakes of the store's SMS areas, the counters and
// the registry and NHI card connectors: what it records for a decision, a message seen before, and the two retries of
// recording an alert (the applicant's pickup made meanwhile; a code taken). No Redis, Kafka or SQL.
#include <Poco/Exception.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "connectors/api/errors.hpp"
#include "engine/flow/sms_ports.hpp"
#include "engine/flow/sms_stage.hpp"
#include "engine/runtime/metrics.hpp"
#include "jobs/sms/pickup_rules.hpp"

namespace taxdesk::engine {
namespace {

using connectors::InboundRecord;
using connectors::NotificationRecord;
using connectors::PickupRecord;

class MemoryPickups : public connectors::PickupStore {
  public:
    std::map<std::string, InboundRecord> inbound;
    std::vector<PickupRecord> pickups;
    std::map<std::string, NotificationRecord>* notifications = nullptr;
    bool hiddenUntilExpire = false;  ///< openPickupFor finds nothing until expireDue() ran
    int codeCollisionTimes = 0;      ///< recordSmsOutcome throws CodeCollision this often first
    std::vector<std::string> codesTried;
    int expireCalls = 0;

    std::optional<InboundRecord> findInbound(const std::string& gatewayMsgId) override {
        const auto found = inbound.find(gatewayMsgId);
        if (found == inbound.end()) return std::nullopt;
        return found->second;
    }
    connectors::SmsOutcomeResult recordSmsOutcome(const InboundRecord& in, const std::optional<PickupRecord>& pickup,
                                                  const NotificationRecord& reply) override {
        if (pickup) {
            codesTried.push_back(pickup->code);
            for (const auto& open : pickups)
                if (open.applicantId == pickup->applicantId && open.service == pickup->service)
                    throw connectors::OpenPickupExists("the applicant already has an open pickup for this service");
            if (codeCollisionTimes > 0) {
                --codeCollisionTimes;
                throw connectors::CodeCollision("taken");
            }
            pickups.push_back(*pickup);
        }
        inbound[in.gatewayMsgId] = in;
        (*notifications)[reply.notificationId] = reply;
        return {in, reply, pickup, true};
    }
    std::optional<PickupRecord> openPickupFor(const std::string& applicantId, int service, long long) override {
        if (hiddenUntilExpire) return std::nullopt;
        for (const auto& pickup : pickups)
            if (pickup.applicantId == applicantId && pickup.service == service) return pickup;
        return std::nullopt;
    }
    connectors::CollectResult collectPickup(const std::string&, const std::string&, long long) override { return {}; }
    std::vector<PickupRecord> claimDueReminders(long long, const std::string&, int, int) override { return {}; }
    void markReminded(const std::string&, const std::string&) override {}
    int expireDue(long long) override {
        ++expireCalls;
        hiddenUntilExpire = false;
        return 0;
    }
};

class MemoryNotifications : public connectors::NotificationStore {
  public:
    std::map<std::string, NotificationRecord> rows;

    void insertNotification(const NotificationRecord& n) override { rows.emplace(n.notificationId, n); }
    void markNotificationSent(const std::string&, const std::string&, int) override {}
    void markNotificationStatus(const std::string&, const std::string&, const std::string&) override {}
    void failAndRetryNotification(const std::string&, const std::string&, const NotificationRecord&) override {}
    std::vector<NotificationRecord> claimStaleQueued(const std::string&, const std::string&, int) override {
        return {};
    }
    std::optional<NotificationRecord> findNotification(const std::string& id) override {
        const auto found = rows.find(id);
        if (found == rows.end()) return std::nullopt;
        return found->second;
    }
    std::optional<NotificationRecord> findNotificationByGatewayMsgId(const std::string&) override {
        return std::nullopt;
    }
    std::vector<NotificationRecord> notificationsWithStatus(const std::string&, int) override { return {}; }
    std::vector<NotificationRecord> deadNotifications(int) override { return {}; }
};

class MemoryInbox : public connectors::SmsInbox {
  public:
    std::vector<std::string> done;

    std::vector<connectors::InboxRecord> enqueueInbox(const std::vector<connectors::InboxRecord>& m) override {
        return m;
    }
    void markInboxDone(const std::string& gatewayMsgId) override { done.push_back(gatewayMsgId); }
    std::optional<connectors::InboxRecord> findInbox(const std::string&) override { return std::nullopt; }
    std::vector<connectors::InboxRecord> claimStaleInbox(const std::string&, const std::string&, int, int) override {
        return {};
    }
    void returnInboxAttempts(const std::vector<std::string>&) override {}
    int pruneInbox(const std::string&, int) override { return 0; }
};

class OpenCounters : public jobs::sms::CounterPort {
  public:
    std::vector<std::string> uncounted;
    std::optional<long long> lockSecondsLeft(const std::string&, const std::string&) override { return std::nullopt; }
    long long countApplication(const std::string&, const std::string&, const std::string&) override { return 1; }
    void uncountApplication(const std::string& msisdn, const std::string& day, const std::string& id) override {
        uncounted.push_back(msisdn + "/" + day + "/" + id);
    }
    int recordFailedCheck(const std::string&, const std::string&, const std::string&, std::int64_t) override {
        return 0;
    }
};

class KnownPerson : public connectors::Registry {
  public:
    std::optional<connectors::RegistryRecord> lookup(const std::string& id) override {
        connectors::RegistryRecord record;
        record.id = id;
        record.district = "信義區";
        return record;
    }
};

class AnyCard : public connectors::NhiCard {
  public:
    bool transient = false;
    bool verifyLast4(const std::string&, const std::string&) override {
        if (transient) throw connectors::TransientError("nhi: timed out");
        return true;
    }
};

class SmsStageUnitTest : public ::testing::Test {
  protected:
    SmsStageUnitTest() {
        pickups_.notifications = &notifications_.rows;
        connectors_.registry = std::make_shared<KnownPerson>();
        connectors_.nhi = nhi_;
    }

    std::unique_ptr<SmsStage> stage() {
        SmsSettings settings;
        settings.outboundTopic = "notifications.outbound";
        std::istringstream offices("信義區 = 信義分局\ndefault = 總局\n");
        settings.offices = std::make_shared<const jobs::sms::OfficeTable>(jobs::sms::OfficeTable::load(offices));
        auto counters = std::make_unique<OpenCounters>();
        counters_ = counters.get();
        return std::make_unique<SmsStage>(settings, connectors_, connectors::SmsAreas{pickups_, notifications_, inbox_},
                                          std::move(counters), metrics_.pipeline("sms"));
    }

    static std::string message(const std::string& text, const std::string& id = "g-1") {
        return R"({"msisdn":"+886912345678","text":")" + text + R"(","gateway_msg_id":")" + id + R"("})";
    }

    MemoryPickups pickups_;
    MemoryNotifications notifications_;
    MemoryInbox inbox_;
    OpenCounters* counters_ = nullptr;
    std::shared_ptr<AnyCard> nhi_ = std::make_shared<AnyCard>();
    connectors::ConnectorSet connectors_;
    Metrics metrics_;
};

TEST_F(SmsStageUnitTest, AShortReasonIsRecordedWithItsIdsAndKind) {
    std::string reason;
    const auto reply = stage()->handle(message("0"), reason);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->notificationId, "n-g-1");
    EXPECT_EQ(reply->msisdn, "0912345678");
    EXPECT_EQ(reply->kind, "reply");
    EXPECT_EQ(reply->pickupId, "");
    EXPECT_EQ(reply->status, "queued");
    EXPECT_EQ(pickups_.inbound.at("g-1").outcome, "help");
    EXPECT_EQ(pickups_.inbound.at("g-1").replyNotificationId, "n-g-1");
}

TEST_F(SmsStageUnitTest, AnAlertIsRecordedWithItsPickup) {
    std::string reason;
    const auto reply = stage()->handle(message("1 A123456789 1234"), reason);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->kind, "pickup_alert");
    EXPECT_EQ(reply->pickupId, "p-g-1");
    EXPECT_EQ(pickups_.inbound.at("g-1").outcome, "alert");
    ASSERT_EQ(pickups_.pickups.size(), 1U);
    const PickupRecord& pickup = pickups_.pickups[0];
    EXPECT_EQ(pickup.pickupId, "p-g-1");
    EXPECT_EQ(pickup.applicantId, "A123456789");
    EXPECT_EQ(pickup.service, 1);
    EXPECT_EQ(pickup.office, "信義分局");
    EXPECT_EQ(pickup.state, "open");
    EXPECT_EQ(pickup.code.size(), 6U);
    EXPECT_NE(reply->text.find("取件碼" + pickup.code), std::string::npos) << reply->text;
    EXPECT_EQ(pickup.deadlineAt - pickup.remindAt, 9 * 3600);  // 09:00 and 18:00 of the deadline day
}

TEST_F(SmsStageUnitTest, AMessageSeenBeforeGetsItsReplyAgainAndItsInboxRowDone) {
    auto sms = stage();
    std::string reason;
    const auto first = sms->handle(message("0"), reason);
    const auto again = sms->handle(message("1 A123456789 1234"), reason);  // same gateway_msg_id, other text
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(*again, *first);
    EXPECT_EQ(pickups_.inbound.at("g-1").outcome, "help");
    EXPECT_EQ(inbox_.done, std::vector<std::string>{"g-1"});
}

TEST_F(SmsStageUnitTest, APickupMadeMeanwhileIsSentAgainInstead) {
    // Another engine's pickup for the applicant, committed after this decision looked (hidden until expireDue, which
    // the stage runs when the store refuses a second open pickup).
    PickupRecord existing;
    existing.pickupId = "p-g-0";
    existing.code = "135790";
    existing.applicantId = "A123456789";
    existing.service = 1;
    existing.office = "大安分局";
    existing.deadlineAt = 1796032800;  // 2026-11-30 18:00 Taipei
    existing.state = "open";
    pickups_.pickups.push_back(existing);
    pickups_.hiddenUntilExpire = true;
    std::string reason;
    const auto reply = stage()->handle(message("1 A123456789 1234"), reason);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(pickups_.expireCalls, 1);
    EXPECT_EQ(reply->kind, "pickup_alert");
    EXPECT_EQ(reply->pickupId, "p-g-0");
    EXPECT_EQ(reply->text,
              "【臺北國稅局】您申請的財產所得資料已備妥，請於11/30 18:00前持身分證至大安分局快速取件櫃台領取，"
              "取件碼135790");
    EXPECT_EQ(pickups_.inbound.at("g-1").outcome, "resent");
    EXPECT_EQ(pickups_.pickups.size(), 1U);  // nothing new
}

TEST_F(SmsStageUnitTest, ATakenCodeIsDrawnAgain) {
    pickups_.codeCollisionTimes = 2;
    std::string reason;
    const auto reply = stage()->handle(message("1 A123456789 1234"), reason);
    ASSERT_TRUE(reply.has_value());
    ASSERT_EQ(pickups_.codesTried.size(), 3U);
    ASSERT_EQ(pickups_.pickups.size(), 1U);
    EXPECT_EQ(pickups_.pickups[0].code, pickups_.codesTried[2]);
    EXPECT_NE(reply->text.find("取件碼" + pickups_.codesTried[2]), std::string::npos) << reply->text;
    EXPECT_EQ(pickups_.inbound.at("g-1").outcome, "alert");
}

TEST_F(SmsStageUnitTest, AConnectorAwayIsAnsweredTryLaterAndUncounted) {
    nhi_->transient = true;
    auto sms = stage();  // owns the counters
    std::string reason;
    const auto reply = sms->handle(message("1 A123456789 1234"), reason);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(pickups_.inbound.at("g-1").outcome, "unavailable");
    ASSERT_EQ(counters_->uncounted.size(), 1U);
    EXPECT_EQ(counters_->uncounted[0].substr(0, 11), "0912345678/");
    EXPECT_EQ(counters_->uncounted[0].substr(19), "/g-1");  // 0912345678/YYYYMMDD/g-1
}

TEST_F(SmsStageUnitTest, NoMsisdnIsADeadLetter) {
    std::string reason;
    EXPECT_FALSE(stage()->handle(R"({"msisdn":"02-1234","text":"0","gateway_msg_id":"g-1"})", reason));
    EXPECT_EQ(reason, "msisdn is not 09xxxxxxxx or +8869xxxxxxxx");
    EXPECT_TRUE(pickups_.inbound.empty());
}

// Issue 11: the stage reads its topics' messages without a JSON DOM when they are as the engine writes them, and
// anything else as before (Poco::JSON), so that nothing reads differently.
TEST(SmsMessagesTest, InboundFieldsAreReadTheSameWithOrWithoutTheDom) {
    const auto flat = readInbound(
        R"({"msisdn":"0912345678","text":"1 A123456789 \u0031234","gateway_msg_id":"g-1","received_at":"2026-12-01"})");
    EXPECT_EQ(flat.msisdn, "0912345678");
    EXPECT_EQ(flat.text, "1 A123456789 1234");
    EXPECT_EQ(flat.gatewayMsgId, "g-1");
    EXPECT_EQ(flat.receivedAt, "2026-12-01");
    const auto missing = readInbound(R"({"gateway_msg_id":"g-2","other":[1,2]})");
    EXPECT_EQ(missing.gatewayMsgId, "g-2");
    EXPECT_EQ(missing.msisdn, "");
    EXPECT_EQ(missing.text, "");
    // Not flat strings: the DOM reader's answer (a number read as its digits, a nested object ignored).
    const auto number = readInbound(R"({"msisdn":912345678,"gateway_msg_id":"g-3","x":{"y":1}})");
    EXPECT_EQ(number.msisdn, "912345678");
    EXPECT_EQ(number.gatewayMsgId, "g-3");
    EXPECT_THROW(readInbound("not json"), Poco::Exception);
    EXPECT_THROW(readInbound("[1]"), Poco::Exception);
}

TEST(SmsMessagesTest, ANotificationIsReadBackAsWrittenAndARefusalNamesItsField) {
    NotificationRecord written;
    written.notificationId = "n-g-1";
    written.msisdn = "0912345678";
    written.text = "取件碼 \"482913\"\n";
    written.kind = "pickup_alert";
    written.attempt = 2;  // two sends before: this one is the third
    const auto read = readNotification(notificationJson(written));
    EXPECT_EQ(read.notificationId, "n-g-1");
    EXPECT_EQ(read.msisdn, "0912345678");
    EXPECT_EQ(read.text, "取件碼 \"482913\"\n");
    EXPECT_EQ(read.kind, "pickup_alert");
    EXPECT_EQ(read.attempt, 2);

    const auto defaults = readNotification(R"({"notification_id":"n","msisdn":"09","text":"t"})");
    EXPECT_EQ(defaults.kind, "reply");
    EXPECT_EQ(defaults.attempt, 0);
    EXPECT_EQ(readNotification(R"({"notification_id":"n","msisdn":"09","text":"t","attempt":0})").attempt, 0);
    EXPECT_EQ(readNotification(R"({"notification_id":"n","msisdn":"09","text":"t","attempt":"3"})").attempt, 2)
        << "a string attempt, as the DOM reader converts it";
    EXPECT_THROW(readNotification(R"({"msisdn":"09","text":"t"})"), Poco::Exception) << "no notification_id";
    EXPECT_THROW(readNotification("{"), Poco::Exception);
}

// The open pickup the stage finds among a batch's prefetched ones is the one the store's openPickupFor returns.
TEST(PrefetchedPickupsTest, TheNewestOpenPickupOfThatApplicantAndServiceWhoseDeadlineHasNotPassed) {
    const auto pickup = [](std::string id, std::string applicant, int service, long long deadline, std::string state,
                           std::string created) {
        PickupRecord record;
        record.pickupId = std::move(id);
        record.code = "123456";
        record.applicantId = std::move(applicant);
        record.service = service;
        record.deadlineAt = deadline;
        record.state = std::move(state);
        record.createdAt = std::move(created);
        return record;
    };
    const std::vector<PickupRecord> open{
        pickup("p1", "A1", 1, 1000, "open", "2026-12-01T10:00:00.000Z"),
        pickup("p2", "A1", 1, 2000, "open", "2026-12-01T11:00:00.000Z"),
        pickup("p3", "A1", 2, 3000, "open", "2026-12-01T12:00:00.000Z"),
        pickup("p4", "A2", 1, 9000, "collected", "2026-12-01T13:00:00.000Z"),
    };
    EXPECT_EQ(newestOpenPickup(open, "A1", 1, 500)->pickupId, "p2") << "the newer of two";
    EXPECT_EQ(newestOpenPickup(open, "A1", 1, 2000)->pickupId, "p2") << "on its deadline still";
    EXPECT_EQ(newestOpenPickup(open, "A1", 1, 2001), nullptr) << "both past their deadline";
    EXPECT_EQ(newestOpenPickup(open, "A1", 2, 0)->pickupId, "p3");
    EXPECT_EQ(newestOpenPickup(open, "A1", 3, 0), nullptr) << "another service";
    EXPECT_EQ(newestOpenPickup(open, "A2", 1, 0), nullptr) << "collected";

    MemoryPickups store;
    store.pickups.push_back(pickup("p9", "B1", 1, 5000, "open", "2026-12-01T09:00:00.000Z"));
    const std::unordered_set<std::string> prefetched{"A1", "A2"};
    PrefetchedPickups pickups(store, prefetched, open);
    EXPECT_EQ(pickups.openPickupFor("A1", 2, 100)->pickupId, "p3");
    EXPECT_EQ(pickups.openPickupFor("A2", 1, 100), std::nullopt) << "read: none open, the store is not asked";
    ASSERT_TRUE(pickups.openPickupFor("B1", 1, 100)) << "not read: the store is asked";
    EXPECT_EQ(pickups.openPickupFor("B1", 1, 100)->pickupId, "p9");
    EXPECT_EQ(pickups.drawCode().size(), 6U);
}

TEST(SmsStatesTest, EachStateHasOneStoredNameReadBackTheSame) {
    using connectors::NotificationKind;
    using connectors::NotificationStatus;
    using connectors::PickupState;
    EXPECT_STREQ(connectors::toString(PickupState::open), "open");
    EXPECT_STREQ(connectors::toString(PickupState::collected), "collected");
    EXPECT_STREQ(connectors::toString(PickupState::expired), "expired");
    EXPECT_STREQ(connectors::toString(NotificationStatus::queued), "queued");
    EXPECT_STREQ(connectors::toString(NotificationStatus::sent), "sent");
    EXPECT_STREQ(connectors::toString(NotificationStatus::delivered), "delivered");
    EXPECT_STREQ(connectors::toString(NotificationStatus::failed), "failed");
    EXPECT_STREQ(connectors::toString(NotificationStatus::dead), "dead");
    EXPECT_STREQ(connectors::toString(NotificationKind::pickupAlert), "pickup_alert");
    EXPECT_STREQ(connectors::toString(NotificationKind::reminder), "reminder");
    EXPECT_STREQ(connectors::toString(NotificationKind::reply), "reply");
    for (const auto state : connectors::kPickupStates)
        EXPECT_EQ(connectors::parsePickupState(connectors::toString(state)), state);
    for (const auto status : connectors::kNotificationStatuses)
        EXPECT_EQ(connectors::parseNotificationStatus(connectors::toString(status)), status);
    for (const auto kind : connectors::kNotificationKinds)
        EXPECT_EQ(connectors::parseNotificationKind(connectors::toString(kind)), kind);
    EXPECT_FALSE(connectors::parsePickupState("Open"));
    EXPECT_FALSE(connectors::parseNotificationStatus(""));
    EXPECT_FALSE(connectors::parseNotificationKind("alert"));
}

}  // namespace
}  // namespace taxdesk::engine
