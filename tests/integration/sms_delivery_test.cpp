// After the reply, over real HTTP (SPEC 4.2, 5): delivery reports, retries and dead letters, counter collection,
// reminders, request ids, bad requests, the inbox and a store or Redis away (sms_api_fixture.hpp).
#include "sms_api_fixture.hpp"

namespace {

TEST_F(SmsApiTest, AFailedDeliveryIsRetriedThenDeadLettered) {
    const auto from = msisdn();
    const auto id = person(6);
    ASSERT_EQ(send(from, "5 " + id + " " + last4(id), "dlr-" + from).status, 202);
    auto sent = waitSent(from, 1);
    ASSERT_EQ(sent.size(), 1u);
    for (std::size_t attempt = 1; attempt <= 3; ++attempt) {
        const auto report = engine_->request(
            "POST", "/api/v1/sms/dlr", gateway_,
            R"({"gateway_msg_id":")" + sent.back().gatewayMsgId + R"(","status":"failed","error":"handset off"})",
            "application/json");
        ASSERT_EQ(report.status, 200) << report.body;
        if (attempt < 3) {
            EXPECT_EQ(json(report.body)->getValue<std::string>("outcome"), "retried");
            sent = waitSent(from, attempt + 1);
            ASSERT_EQ(sent.size(), attempt + 1) << "a new send after a failed delivery";
            EXPECT_EQ(sent.back().text, sent.front().text);
        } else {
            EXPECT_EQ(json(report.body)->getValue<std::string>("outcome"), "dead_letter");
        }
    }
    const auto dead =
        taxdesk::testing::readRecords(engine_->prefix() + "notifications.outbound.dlq", 1, std::chrono::seconds(15));
    ASSERT_GE(dead.size(), 1u);
    EXPECT_NE(dead.back().value.find("handset off"), std::string::npos) << dead.back().value;
    const auto delivered = engine_->request("POST", "/api/v1/sms/dlr", gateway_,
                                            R"({"gateway_msg_id":"nope","status":"delivered"})", "application/json");
    EXPECT_EQ(delivered.status, 404);

    // Operations staff see the dead letter and replay it: one more send, however often they ask.
    const auto base = sent.front().notificationId;
    EXPECT_EQ(engine_->request("GET", "/api/v1/ops/dead-letters", gateway_).status, 403);
    const auto listed = engine_->request("GET", "/api/v1/ops/dead-letters", ops_);
    ASSERT_EQ(listed.status, 200);
    const std::string deadId = base + "~3";
    EXPECT_NE(listed.body.find("\"id\":\"" + deadId + "\""), std::string::npos) << listed.body;
    EXPECT_EQ(listed.body.find("\"msisdn\":\"" + from + "\""), std::string::npos) << "no whole phone number";
    const auto replayed = engine_->request("POST", "/api/v1/ops/dead-letters/" + deadId + "/replay", ops_);
    ASSERT_EQ(replayed.status, 202) << replayed.body;
    EXPECT_EQ(waitSent(from, 4).size(), 4u) << "the replay is sent";
    ASSERT_EQ(engine_->request("POST", "/api/v1/ops/dead-letters/" + deadId + "/replay", ops_).status, 202);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_EQ(sentTo(from).size(), 4u) << "a second replay sends nothing more";
    EXPECT_EQ(engine_->request("POST", "/api/v1/ops/dead-letters/nope/replay", ops_).status, 404);
}

// Issue 9, finding 8: the gateway sending the same failed report again (after a 503, a timeout) is told "retried" and
// causes no second retry.
TEST_F(SmsApiTest, AFailedReportSentTwiceRetriesOnce) {
    const auto from = msisdn();
    const auto id = person(7);
    ASSERT_EQ(send(from, "4 " + id + " " + last4(id), "dlr2-" + from).status, 202);
    const auto sent = waitSent(from, 1);
    ASSERT_EQ(sent.size(), 1u);
    const std::string report =
        R"({"gateway_msg_id":")" + sent.back().gatewayMsgId + R"(","status":"failed","error":"handset off"})";
    for (int time = 1; time <= 2; ++time) {
        const auto answer = engine_->request("POST", "/api/v1/sms/dlr", gateway_, report, "application/json");
        ASSERT_EQ(answer.status, 200) << answer.body;
        EXPECT_EQ(json(answer.body)->getValue<std::string>("outcome"), "retried") << "report " << time;
    }
    EXPECT_EQ(waitSent(from, 2).size(), 2u) << "the retry is sent";
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_EQ(sentTo(from).size(), 2u) << "once";
}

TEST_F(SmsApiTest, CounterCollectionInEachOfItsOutcomes) {
    const auto from = msisdn();
    const auto id = person(7);
    ASSERT_EQ(send(from, "4 " + id + " " + last4(id), "collect-" + from).status, 202);
    const auto code = codeIn(waitSent(from, 1).at(0).text);
    ASSERT_EQ(code.size(), 6u);
    auto collect = [&](const std::string& who, const std::string& token) {
        return engine_->request("POST", "/api/v1/pickups/" + code + "/collect", token,
                                R"({"debtor_id":")" + who + "\"}", "application/json");
    };
    EXPECT_EQ(collect(id, gateway_).status, 403) << "the counter's role only";
    EXPECT_EQ(collect(person(8), counter_).status, 409) << "another person's ID";
    const auto ok = collect(id, counter_);
    EXPECT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(json(ok.body)->getValue<std::string>("state"), "collected");
    EXPECT_EQ(collect(id, counter_).status, 409) << "already collected";
    EXPECT_EQ(engine_
                  ->request("POST", "/api/v1/pickups/000000x/collect", counter_, R"({"debtor_id":")" + id + "\"}",
                            "application/json")
                  .status,
              404);

    // Another pickup, past its deadline.
    const auto from2 = msisdn();
    const auto id2 = person(9);
    ASSERT_EQ(send(from2, "1 " + id2 + " " + last4(id2), "expire-" + from2).status, 202);
    const auto code2 = codeIn(waitSent(from2, 1).at(0).text);
    setPickup(code2, "deadline_at = 1");
    const auto late = engine_->request("POST", "/api/v1/pickups/" + code2 + "/collect", counter_,
                                       R"({"debtor_id":")" + id2 + "\"}", "application/json");
    EXPECT_EQ(late.status, 410) << late.body;
}

TEST_F(SmsApiTest, TheReminderGoesOutOnTheDeadlineDay) {
    const auto from = msisdn();
    const auto id = person(10);
    ASSERT_EQ(send(from, "2 " + id + " " + last4(id), "remind-" + from).status, 202);
    const auto code = codeIn(waitSent(from, 1).at(0).text);
    setPickup(code, "remind_at = 1");  // as if it were 09:00 on the deadline day
    const auto sent = waitSent(from, 2);
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_EQ(sent[1].notificationId.rfind("r-", 0), 0u);
    EXPECT_EQ(codeIn(sent[1].text), code);
    std::this_thread::sleep_for(std::chrono::seconds(3));
    EXPECT_EQ(sentTo(from).size(), 2u) << "one reminder";
}

TEST_F(SmsApiTest, TheRequestIdIsCarriedFromHttpThroughKafkaIntoTheJobsLogLines) {
    const auto from = msisdn();
    const auto id = person(11);
    const std::string requestId = "trace-" + from;
    const auto accepted = engine_->request("POST", "/api/v1/sms/inbound", gateway_,
                                           R"({"msisdn":")" + from + R"(","text":"1 )" + id + " " + last4(id) +
                                               R"(","gateway_msg_id":"trace-)" + from + "\"}",
                                           "application/json", requestId);
    ASSERT_EQ(accepted.status, 202);
    waitSent(from, 1);
    // The sender logs after the gateway has the message: wait for its line, bounded.
    const std::set<std::string> expected{"http", "sms", "sender"};
    std::set<std::string> sources;
    std::vector<std::string> lines;
    taxdesk::testing::eventually([&] {
        sources.clear();
        lines.clear();
        std::ifstream in(engine_->logFile());
        for (std::string line; std::getline(in, line);) {
            if (line.find("request_id=" + requestId) == std::string::npos) continue;
            const auto at = line.find("source=");
            sources.insert(line.substr(at + 7, line.find(' ', at) - at - 7));
            lines.push_back(line);
        }
        return std::includes(sources.begin(), sources.end(), expected.begin(), expected.end());
    });
    for (const auto& line : lines) EXPECT_EQ(line.find(id), std::string::npos) << "no whole ID in a log line";
    EXPECT_EQ(sources, (std::set<std::string>{"http", "sms", "sender"}))
        << "HTTP → sms.inbound → notifications.outbound";
}

TEST_F(SmsApiTest, BadInboundRequestsNameWhatIsWrong) {
    EXPECT_EQ(send("12345", "1 A123456789 1234", "bad-msisdn").status, 400);
    EXPECT_EQ(send("0912345678", "1 A123456789 1234", "").status, 400);
    EXPECT_EQ(engine_->request("POST", "/api/v1/sms/inbound", gateway_, "not json", "application/json").status, 400);
    EXPECT_EQ(engine_->request("POST", "/api/v1/sms/inbound", counter_, "{}", "application/json").status, 403);
    EXPECT_EQ(engine_->request("POST", "/api/v1/sms/inbound", "", "{}", "application/json").status, 401);
    const auto plus = send("+886912000111", "?", "plus-form");
    EXPECT_EQ(plus.status, 202) << "+8869… is stored in the 09… form";
    EXPECT_EQ(waitSent("0912000111", 1).size(), 1u);
}

// ---- issue 9, finding 13: an inbound SMS is stored (the inbox) before the 202, and a sweeper re-drives it ----

TEST_F(SmsApiTest, AnAcceptedMessageIsInTheInboxUntilDoneAndARepeatIsOneRow) {
    const auto from = msisdn();
    const std::string gmid = "inbox-" + from;
    ASSERT_EQ(send(from, "?", gmid).status, 202);
    EXPECT_EQ(inboxRow(gmid).rows, 1) << "stored before the 202";
    ASSERT_EQ(waitSent(from, 1).size(), 1u);
    EXPECT_TRUE(taxdesk::testing::eventually([&] { return inboxRow(gmid).state == "done"; }))
        << "done with its outcome: " << inboxRow(gmid).state;
    EXPECT_EQ(inboxRow(gmid).attempts, 1) << "the API's produce only";

    // The gateway sends it again, alone and within a batch: one row, still done, still one reply.
    ASSERT_EQ(send(from, "?", gmid).status, 202);
    const std::string batch = R"({"messages":[{"msisdn":")" + from + R"(","text":"?","gateway_msg_id":")" + gmid +
                              R"("},{"msisdn":")" + from + R"(","text":"?","gateway_msg_id":")" + gmid + R"("}]})";
    const auto both = engine_->request("POST", "/api/v1/sms/inbound", gateway_, batch, "application/json");
    ASSERT_EQ(both.status, 202) << both.body;
    const auto row = inboxRow(gmid);
    EXPECT_EQ(row.rows, 1);
    EXPECT_EQ(row.state, "done");
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_EQ(sentTo(from).size(), 1u);
}

// Review of issue 11: the sender stores a poll batch's notifications before it sends any of them, so two copies of one
// notification in one batch (a replay beside its original: same key, same partition, adjacent) must still be sent
// once and counted as one attempt (the attempt count decides the delivery retries of SPEC 4.2).
TEST_F(SmsApiTest, CopiesOfOneNotificationInOneBatchAreSentAndCountedOnce) {
    const auto from = msisdn();
    const std::string id = "copies-" + from;
    const std::string value =
        R"({"notification_id":")" + id + R"(","msisdn":")" + from + R"(","text":"copies","kind":"reply","attempt":1})";
    // One produce call, one flush: the copies travel in one broker request and are read in one poll batch.
    taxdesk::testing::produceAll(engine_->prefix() + "notifications.outbound",
                                 {{from, value}, {from, value}, {from, value}});
    ASSERT_EQ(waitSent(from, 1).size(), 1u);
    taxdesk::connectors::StoreSettings settings;
    settings.sqlitePath = engine_->varDir() + "/taxdesk.db";
    taxdesk::connectors::Store store(settings);
    ASSERT_TRUE(taxdesk::testing::eventually([&] {
        const auto row = store.notifications().findNotification(id);
        return row && row->status == "sent";
    }));
    std::this_thread::sleep_for(std::chrono::seconds(2));  // every copy has been read by now
    EXPECT_EQ(sentTo(from).size(), 1u) << "one send";
    EXPECT_EQ(store.notifications().findNotification(id)->attempt, 1) << "one attempt, not one a copy";
}

TEST_F(SmsApiTest, AMessageWhoseProduceWasLostGetsItsOneReplyFromTheInboxSweep) {
    const auto from = msisdn();
    const auto id = person(7);
    const std::string gmid = "lost-" + from;
    // Stored as the API stores it, and never produced (the broker lost it, or the engine died before producing):
    // last touched long ago, so the next sweep (every second here) finds it.
    taxdesk::connectors::StoreSettings settings;
    settings.sqlitePath = engine_->varDir() + "/taxdesk.db";
    taxdesk::connectors::Store store(settings);
    taxdesk::connectors::InboxRecord row;
    row.gatewayMsgId = gmid;
    row.message = R"({"msisdn":")" + from + R"(","text":"1 )" + id + " " + last4(id) + R"(","gateway_msg_id":")" +
                  gmid + R"(","received_at":")" + receivedNow() + R"("})";
    row.attempts = 1;
    row.receivedAt = row.updatedAt = "2020-01-01T00:00:00.000Z";
    const double before = metric("taxdesk_sms_inbox_redrives_total");
    ASSERT_EQ(store.inbox().enqueueInbox({row}).at(0).state, "queued");

    const auto sent = waitSent(from, 1);
    ASSERT_EQ(sent.size(), 1u) << "the sweep produced it and it was answered";
    EXPECT_EQ(codeIn(sent[0].text).size(), 6u) << sent[0].text;
    EXPECT_TRUE(taxdesk::testing::eventually([&] { return store.inbox().findInbox(gmid)->state == "done"; }));
    EXPECT_GE(store.inbox().findInbox(gmid)->attempts, 2) << "the lost produce and the sweep's";
    // Counted once the broker acknowledged the re-drive: by now, but on the scheduler's thread.
    EXPECT_TRUE(taxdesk::testing::eventually([&] { return metric("taxdesk_sms_inbox_redrives_total") >= before + 1; }))
        << metric("taxdesk_sms_inbox_redrives_total") << " re-drives, " << before << " before";
    // Done: not re-driven again (the sweep runs every second), and the one reply stays one.
    const int attempts = store.inbox().findInbox(gmid)->attempts;
    std::this_thread::sleep_for(std::chrono::seconds(3));
    EXPECT_EQ(sentTo(from).size(), 1u) << "exactly one reply";
    EXPECT_EQ(store.inbox().findInbox(gmid)->attempts, attempts) << "a done row is not re-driven";
}

TEST_F(SmsApiTest, AStoreThatCannotWriteIsAnswered503WithRetryAfterAndTheRetryIsAnsweredOnce) {
    const auto from = msisdn();
    const std::string gmid = "refused-" + from;
    // The store refuses this message's inbox row (as a full disk or a lost database would refuse every write).
    const std::string trigger = "refuse_" + std::to_string(::getpid());
    execute("CREATE TRIGGER " + trigger + " BEFORE INSERT ON sms_inbox WHEN NEW.gateway_msg_id = '" + gmid +
            "' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
    const auto refused = send(from, "?", gmid);
    execute("DROP TRIGGER " + trigger);
    EXPECT_EQ(refused.status, 503) << refused.body;
    EXPECT_EQ(refused.retryAfter, "5");
    EXPECT_NE(refused.body.find("not_stored"), std::string::npos) << refused.body;
    EXPECT_EQ(inboxRow(gmid).rows, 0);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    EXPECT_TRUE(sentTo(from).empty()) << "not stored, not produced: nothing answered";

    // The gateway tries again once the store writes: accepted and answered once.
    ASSERT_EQ(send(from, "?", gmid).status, 202);
    EXPECT_EQ(waitSent(from, 1).size(), 1u);
    EXPECT_EQ(inboxRow(gmid).rows, 1);
}

}  // namespace

// Issue 9, finding 12: with Redis away the engine used to exit at the first application (an outcome the store did
// not know stopped the pipeline). Now every application gets "try later" and the engine stays up.
TEST(SmsWithoutRedisTest, ApplicationsGetTryLaterAndTheEngineStaysUp) {
    ServeProcess engine({"redis.port=1"}, false);  // nobody listens on port 1
    const std::string gateway = engine.createToken("gateway");
    const auto id = taxdesk::demo_data::Population(kSeed).nationalIdAt(500000 + 6);
    const auto last4 = taxdesk::demo_data::Population(kSeed).nhiCardNumber(id).substr(8);
    const std::string from = "0987" + std::to_string(100000 + ::getpid() % 900000);
    for (int i = 1; i <= 2; ++i) {
        const std::string body = R"({"msisdn":")" + from + R"(","text":"1 )" + id + " " + last4 +
                                 R"(","gateway_msg_id":"noredis-)" + engine.prefix() + std::to_string(i) + R"("})";
        ASSERT_EQ(engine.request("POST", "/api/v1/sms/inbound", gateway, body, "application/json").status, 202);
    }
    std::vector<std::string> texts;
    taxdesk::testing::eventually(
        [&] {
            texts.clear();
            std::ifstream in(engine.varDir() + "/sms-sent.jsonl");
            for (std::string line; std::getline(in, line);) {
                const auto object = json(line);
                if (object->getValue<std::string>("msisdn") == from)
                    texts.push_back(object->getValue<std::string>("text"));
            }
            return texts.size() >= 2;
        },
        std::chrono::seconds(30));
    ASSERT_EQ(texts.size(), 2u) << "one reply for each application";
    for (const auto& text : texts)
        EXPECT_NE(text.find("系統忙碌，暫時無法受理，請稍後再試"), std::string::npos) << text;
    EXPECT_EQ(engine.request("GET", "/healthz").status, 200) << "the engine is still up";
    const auto ready = engine.request("GET", "/readyz");
    EXPECT_EQ(ready.body.find("pipeline stopped"), std::string::npos) << ready.body;
}
