// The creditor's path over real HTTP (SPEC 3, 5): `taxdesk serve` as a process against the broker and redis-server
// that scripts/test started; upload → look-ups through Kafka → results, receipts, tokens, and every refusal. The
// payment's own tests are in creditor_payments_test.cpp.
#include "creditor_fixture.hpp"

using taxdesk::testing::HttpResult;
using taxdesk::testing::ServeProcess;
using namespace taxdesk::testing::creditor;

namespace {

TEST_F(CreditorApiTest, TenThousandRowsGoFromUploadToIdenticalDownloads) {
    const auto file = generate(10000, 0.05);
    std::size_t rejected = 0;
    for (const auto& [reason, count] : file.report.rejected) rejected += count;

    const auto uploaded = upload(file.bytes);
    ASSERT_EQ(uploaded.status, 201) << uploaded.body;
    const auto batch = json(uploaded);
    const std::string id = batch->getValue<std::string>("batch_id");
    EXPECT_EQ(batch->getValue<std::string>("state"), "awaiting_payment");
    EXPECT_EQ(batch->getValue<int>("rows_total"), 10000);
    EXPECT_EQ(batch->getValue<std::size_t>("rows_accepted"), file.report.good);
    EXPECT_EQ(batch->getValue<std::size_t>("rows_rejected"), rejected);
    const auto errors = batch->getArray("errors");
    EXPECT_EQ(errors->size(), 100u) << "the first 100 row errors";
    std::set<std::string> reasons;
    for (std::size_t i = 0; i < errors->size(); ++i)
        reasons.insert(errors->getObject(i)->getValue<std::string>("reason"));
    EXPECT_EQ(reasons,
              (std::set<std::string>{"invalid_id", "missing_field", "bad_scope", "bad_year", "too_long", "duplicate"}));
    const long long fee = batch->getValue<long long>("fee_total");
    EXPECT_GT(fee, static_cast<long long>(file.report.good) * 250 - 1);

    // Nothing is looked up before payment.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const auto before = json(engine_->request("GET", "/api/v1/batches/" + id, creditor_));
    EXPECT_EQ(before->getValue<int>("rows_done"), static_cast<int>(rejected)) << "only the rejected rows are done";

    const auto paid = pay(id, "key-" + id);
    ASSERT_EQ(paid.status, 201) << paid.body;
    const auto payment = json(paid);
    EXPECT_EQ(payment->getValue<std::string>("status"), "succeeded");
    EXPECT_EQ(payment->getValue<long long>("amount"), fee);
    EXPECT_EQ(payment->getValue<std::string>("card"), "***0001");

    const auto done = waitCompleted(id);
    EXPECT_EQ(done->getValue<int>("rows_done"), 10000);
    EXPECT_TRUE(done->getValue<bool>("paid"));

    const auto first = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=json", creditor_);
    ASSERT_EQ(first.status, 200);
    const auto results = Poco::JSON::Parser().parse(first.body).extract<Poco::JSON::Array::Ptr>();
    ASSERT_EQ(results->size(), 10000u);
    std::map<std::string, std::size_t> statuses;
    for (std::size_t i = 0; i < results->size(); ++i) {
        const auto result = results->getObject(i);
        ASSERT_EQ(result->getValue<int>("row"), static_cast<int>(i + 1)) << "row order";
        statuses[result->getValue<std::string>("status")]++;
    }
    EXPECT_EQ(statuses["rejected"], rejected);
    EXPECT_GT(statuses["found"], 0u);
    EXPECT_EQ(statuses["not_registered"], file.report.notRegistered);
    EXPECT_EQ(statuses["deceased"], file.report.deceased);
    EXPECT_EQ(statuses["name_mismatch"], file.report.nameMismatches);
    EXPECT_EQ(statuses["error"], 0u);

    const auto again = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=json", creditor_);
    EXPECT_EQ(again.body, first.body) << "two downloads, byte for byte";
    const auto csv = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=csv", creditor_);
    ASSERT_EQ(csv.status, 200);
    EXPECT_EQ(csv.body.rfind("\xEF\xBB\xBFrow,debtor_id,status,reason,", 0), 0u) << "UTF-8 with BOM, a header";
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id + "/results?format=csv", creditor_).body, csv.body);
    std::set<std::string> rowsInCsv;
    std::istringstream lines(csv.body);
    std::string line;
    std::getline(lines, line);
    while (std::getline(lines, line)) rowsInCsv.insert(line.substr(0, line.find(',')));
    EXPECT_EQ(rowsInCsv.size(), 10000u) << "every row has at least one line";
}

TEST_F(CreditorApiTest, ErrorRowsAreRetriedOnceWithoutAChargeByTheirCreditorOrOps) {
    const auto file = generate(40, 0.0, "utf-8", 777);
    const auto uploaded = upload(file.bytes);
    ASSERT_EQ(uploaded.status, 201) << uploaded.body;
    const std::string id = json(uploaded)->getValue<std::string>("batch_id");
    const long long fee = json(uploaded)->getValue<long long>("fee_total");
    auto retry = [&](const std::string& token) {
        return engine_->request("POST", "/api/v1/batches/" + id + "/retry", token);
    };
    const auto unpaid = retry(creditor_);
    EXPECT_EQ(unpaid.status, 409) << unpaid.body;
    EXPECT_NE(unpaid.body.find("not_completed"), std::string::npos) << unpaid.body;

    const std::string key = "key-" + id;
    ASSERT_EQ(pay(id, key).status, 201);
    waitCompleted(id);
    const auto clean = retry(creditor_);
    EXPECT_EQ(clean.status, 409) << clean.body;
    EXPECT_NE(clean.body.find("no_error_rows"), std::string::npos) << clean.body;
    const auto original = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=json", creditor_).body;

    // Rows 3, 7 and 11 as a connector that kept failing leaves them (written into the engine's store behind its back).
    taxdesk::connectors::StoreSettings storeSettings;
    storeSettings.sqlitePath = engine_->varDir() + "/taxdesk.db";
    taxdesk::connectors::Store store(storeSettings);
    auto breakRows = [&](const std::vector<int>& rows) {
        std::vector<taxdesk::connectors::StoredResult> broken;
        for (const int row : rows) {
            auto result = store.results().findResult(id, row).value();
            result.status = "error";
            result.reason = "registry_unavailable";
            result.payload = R"({"batch_id":")" + id + R"(","row":)" + std::to_string(row) + R"(,"debtor_id":")" +
                             result.debtorId +
                             R"(","status":"error","reason":"registry_unavailable","income":[],"property":[]})";
            broken.push_back(result);
        }
        store.results().upsertResults(broken);
    };
    breakRows({3, 7, 11});

    EXPECT_EQ(retry(other_).status, 404) << "another creditor's batch does not exist for them";
    EXPECT_EQ(retry(gateway_).status, 403);
    const auto accepted = retry(creditor_);
    ASSERT_EQ(accepted.status, 202) << accepted.body;
    EXPECT_EQ(json(accepted)->getValue<std::string>("batch_id"), id);
    EXPECT_EQ(json(accepted)->getValue<int>("rows_retried"), 3);
    // Asked again at once: the batch is processing (409 not_completed) or already done again (409 no_error_rows).
    const auto twice = retry(creditor_);
    EXPECT_EQ(twice.status, 409) << twice.body;

    const auto done = waitCompleted(id);
    EXPECT_EQ(done->getValue<int>("rows_done"), 40) << "every row counted once";
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id + "/results?format=json", creditor_).body, original)
        << "the retried rows have their real results again";
    EXPECT_EQ(store.payments().paidTotal(id), fee) << "nothing charged again";
    EXPECT_EQ(pay(id, key).status, 200) << "the one payment, as it was";

    // Operations staff may retry any creditor's batch.
    const std::string ops = engine_->createToken("ops");
    breakRows({40});
    const auto byOps = retry(ops);
    ASSERT_EQ(byOps.status, 202) << byOps.body;
    EXPECT_EQ(json(byOps)->getValue<int>("rows_retried"), 1);
    waitCompleted(id);
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id + "/results?format=json", creditor_).body, original);
    EXPECT_EQ(store.payments().paidTotal(id), fee);
}

TEST_F(CreditorApiTest, Big5FilesDeclaredOrNotAreRead) {
    const auto file = generate(1000, 0.02, "big5", 7);
    const auto declared = engine_->request("POST", "/api/v1/batches?charset=big5", creditor_,
                                           multipart(file.bytes, "XyZ"), "multipart/form-data; boundary=XyZ");
    ASSERT_EQ(declared.status, 201) << declared.body;
    EXPECT_EQ(json(declared)->getValue<std::size_t>("rows_accepted"), file.report.good);
    const auto undeclared = upload(file.bytes);
    ASSERT_EQ(undeclared.status, 201) << undeclared.body;
    EXPECT_EQ(json(undeclared)->getValue<std::size_t>("rows_accepted"), file.report.good);

    const std::string id = json(declared)->getValue<std::string>("batch_id");
    ASSERT_EQ(pay(id, "big5-" + id).status, 201);
    waitCompleted(id);
    const auto results = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=json", creditor_);
    EXPECT_EQ(Poco::JSON::Parser().parse(results.body).extract<Poco::JSON::Array::Ptr>()->size(), 1000u);
}

TEST_F(CreditorApiTest, ABig5RowThatCannotBeReadIsRefusedAloneAndNotCharged) {
    // 0xA3C0 is a Big5 pair that no table knows (CP950, HKSCS, the user-defined areas).
    const std::string bytes = toBig5(
                                  "debtor_id,debtor_name,title_ref,scope,income_years\n"
                                  "A123456789,王小明,臺灣臺北地方法院112年度司執字第12345號,both,112\n"
                                  "A223456781,李") +
                              "\xA3\xC0" +
                              toBig5(
                                  "華,T,income,112;113\n"
                                  "22099131,台灣測試股份有限公司,T,property,\n");
    for (const std::string query : {"?charset=big5", ""}) {
        SCOPED_TRACE(query.empty() ? "detected" : "declared");
        const auto uploaded = upload(bytes, query);
        ASSERT_EQ(uploaded.status, 201) << uploaded.body;
        const auto batch = json(uploaded);
        EXPECT_EQ(batch->getValue<int>("rows_total"), 3);
        EXPECT_EQ(batch->getValue<int>("rows_accepted"), 2);
        EXPECT_EQ(batch->getValue<int>("rows_rejected"), 1);
        EXPECT_EQ(batch->getValue<long long>("fee_total"), 500 + 250) << "both + one year, and property: not row 2";
        const auto errors = batch->getArray("errors");
        ASSERT_EQ(errors->size(), 1u);
        EXPECT_EQ(errors->getObject(0)->getValue<int>("row"), 2);
        EXPECT_EQ(errors->getObject(0)->getValue<std::string>("column"), "debtor_name");
        EXPECT_EQ(errors->getObject(0)->getValue<std::string>("reason"), "bad_charset");
    }
}

TEST_F(CreditorApiTest, ABig5NameWithAHongKongCharacterIsAccepted) {
    // 堃 is 0xFB69 in HKSCS (`printf 堃 | iconv -t BIG5-HKSCS | xxd`); CP950 does not have it.
    const std::string bytes = toBig5(
                                  "debtor_id,debtor_name,title_ref,scope,income_years\n"
                                  "A123456789,陳") +
                              "\xFB\x69" + toBig5(",T,income,113\n");
    const auto uploaded = upload(bytes, "?charset=big5");
    ASSERT_EQ(uploaded.status, 201) << uploaded.body;
    const auto batch = json(uploaded);
    EXPECT_EQ(batch->getValue<int>("rows_accepted"), 1);
    EXPECT_EQ(batch->getValue<int>("rows_rejected"), 0);
    EXPECT_EQ(batch->getValue<long long>("fee_total"), 250);
    EXPECT_EQ(batch->getArray("errors")->size(), 0u);
}

TEST_F(CreditorApiTest, WholeFileErrorsStoreAndChargeNothing) {
    const auto countBatches = [] {
        return json(engine_->request("GET", "/api/v1/batches?limit=100", creditor_))->getArray("batches")->size();
    };
    const auto before = countBatches();
    struct Case {
        std::string name;
        std::string body;
        std::string query;
        int status;
        std::string code;
        std::string says;
    };
    std::string tooMany = generate(20001, 0).bytes;
    const std::vector<Case> cases{
        {"empty file", "", "", 400, "missing_header", ""},
        {"missing column", "debtor_id,debtor_name\nA123456789,王小明\n", "", 400, "missing_column", "title_ref"},
        {"no data rows", "debtor_id,debtor_name,title_ref\n", "", 400, "no_rows", ""},
        // Most rows unreadable: the file is not in its charset (one such row alone is refused by itself, below).
        {"undecodable", "debtor_id,debtor_name,title_ref\nA123456789,x,t\nA123456789,\xff\xfe\xfd,t\nA1,\xff,t\n",
         "?charset=utf-8", 400, "undecodable", "line 3 is not valid UTF-8"},
        {"undecodable header", "debtor_id,debtor_name,title_ref,\x80\nA123456789,x,t,\n", "?charset=big5", 400,
         "undecodable", "save the file as CSV UTF-8"},
        {"utf-16",
         std::string("\xff\xfe"
                     "d\0e\0b\0",
                     8),
         "", 400, "undecodable", "UTF-16"},
        {"too many rows", tooMany, "", 413, "too_many_rows", ""},
        {"too many bytes", std::string(5 * 1024 * 1024, 'a'), "", 413, "too_large", ""},
        {"unknown charset", "debtor_id,debtor_name,title_ref\n", "?charset=latin1", 400, "bad_charset", ""},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const auto result = upload(c.body, c.query);
        EXPECT_EQ(result.status, c.status) << result.body;
        const auto error = json(result)->getObject("error");
        EXPECT_EQ(error->getValue<std::string>("code"), c.code) << result.body;
        if (!c.says.empty()) {
            EXPECT_NE(error->getValue<std::string>("message").find(c.says), std::string::npos);
        }
    }
    const auto wrongType = engine_->request("POST", "/api/v1/batches", creditor_, "x", "application/pdf");
    EXPECT_EQ(wrongType.status, 415);
    EXPECT_EQ(countBatches(), before) << "nothing stored";
}

TEST_F(CreditorApiTest, SubmitUploadsPaysWaitsAndDownloads) {
    const auto file = generate(300, 0.1, "utf-8", 17);
    const std::string dir = taxdesk::testing::tempDir("submit");
    std::ofstream(dir + "/batch.csv", std::ios::binary) << file.bytes;
    std::string out;
    const int code = engine_->runTool(
        {"submit", dir + "/batch.csv", "--token", creditor_, "--url",
         "http://127.0.0.1:" + std::to_string(engine_->port()), "--pay", "EC-7777", "--out", dir + "/results.csv"},
        &out);
    ASSERT_EQ(code, 0);
    std::ifstream in(dir + "/results.csv", std::ios::binary);
    const std::string csv((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(csv.rfind("\xEF\xBB\xBFrow,", 0), 0u);
    EXPECT_NE(csv.find(",rejected,"), std::string::npos);
    EXPECT_GE(std::count(csv.begin(), csv.end(), '\n'), 301);
}

TEST_F(CreditorApiTest, TokensAndCreditorsAreKeptApart) {
    const auto id = json(upload(generate(5, 0, "utf-8", 14).bytes))->getValue<std::string>("batch_id");
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id).status, 401);
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id, "tdk_not_a_token").status, 401);
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id, gateway_).status, 403);
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id, other_).status, 404) << "another creditor's batch";
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id + "/results?format=json", other_).status, 404);
    const auto list = json(engine_->request("GET", "/api/v1/batches", other_));
    for (std::size_t i = 0; i < list->getArray("batches")->size(); ++i)
        EXPECT_NE(list->getArray("batches")->getObject(i)->getValue<std::string>("batch_id"), id);
    const auto mine = json(engine_->request("GET", "/api/v1/batches?limit=1", creditor_));
    EXPECT_EQ(mine->getArray("batches")->getObject(0)->getValue<std::string>("batch_id"), id) << "newest first";
}

/// The public id of a token, by SPEC 5's rule for `taxdesk token list`: the first 12 hex digits of its SHA-256.
std::string tokenIdOf(const std::string& token) {
    Poco::SHA2Engine sha(Poco::SHA2Engine::SHA_256);
    sha.update(token);
    return Poco::DigestEngine::digestToHex(sha.digest()).substr(0, 12);
}

/// The tab-separated fields of the line of `taxdesk token list` output for token id `id` (empty: no such line).
std::vector<std::string> listedFields(const std::string& listed, const std::string& id) {
    std::istringstream lines(listed);
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> fields;
        std::istringstream cells(line);
        for (std::string cell; std::getline(cells, cell, '\t');) fields.push_back(cell);
        if (!fields.empty() && fields[0] == id) return fields;
    }
    return {};
}

TEST_F(CreditorApiTest, ARevokedTokenIs401TokenRevokedFromTheNextRequestWhileOthersWork) {
    const std::string token = engine_->createToken("creditor", "C1");
    const std::string keeps = engine_->createToken("creditor", "C1");
    const std::string id = tokenIdOf(token);
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches", token).status, 200);

    std::string listed;
    ASSERT_EQ(engine_->runTool({"token", "list"}, &listed), 0);
    EXPECT_NE(listed.find("id\trole\tcreditor\tcreated\texpires\trevoked\n"), std::string::npos) << listed;
    const auto fields = listedFields(listed, id);
    ASSERT_EQ(fields.size(), 6U) << listed;
    EXPECT_EQ(fields, (std::vector<std::string>{id, "creditor", "C1", fields[3], "-", "-"}))
        << "no expiry, not revoked: " << listed;
    for (const std::string& secret : {token, keeps, token.substr(4)})
        EXPECT_EQ(listed.find(secret), std::string::npos) << "a token in the list";

    // The engine runs on; the CLI revokes in its store.
    ASSERT_EQ(engine_->runTool({"token", "revoke", id}), 0);
    const auto refused = engine_->request("GET", "/api/v1/batches", token);
    EXPECT_EQ(refused.status, 401) << refused.body;
    EXPECT_EQ(errorCode(refused), "token_revoked") << refused.body;
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches", keeps).status, 200) << "only the token named";
    EXPECT_EQ(engine_->runTool({"token", "revoke", id}), 0) << "revoking twice is fine";
    EXPECT_EQ(errorCode(engine_->request("GET", "/api/v1/batches", token)), "token_revoked");
    EXPECT_EQ(engine_->runTool({"token", "revoke", "000000000000"}), 1) << "an unknown id";
    EXPECT_EQ(engine_->runTool({"token", "revoke"}), 2) << "no id";
    ASSERT_EQ(engine_->runTool({"token", "list"}, &listed), 0);
    const auto revoked = listedFields(listed, id);
    ASSERT_EQ(revoked.size(), 6U) << listed;
    EXPECT_EQ(revoked[5].size(), 24U) << "the revocation time is listed: " << listed;
}

TEST_F(CreditorApiTest, AnExpiredTokenIs401TokenExpiredWhileOneThatExpiresLaterWorks) {
    std::string later;
    ASSERT_EQ(
        engine_->runTool({"token", "create", "--role", "creditor", "--creditor", "C1", "--expires-in", "1"}, &later),
        0);
    later.erase(later.find_last_not_of("\r\n") + 1);
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches", later).status, 200);
    std::string listed;
    ASSERT_EQ(engine_->runTool({"token", "list"}, &listed), 0);
    const auto fields = listedFields(listed, tokenIdOf(later));
    ASSERT_EQ(fields.size(), 6U) << listed;
    EXPECT_GT(fields[4], fields[3]) << "it expires after it was created: " << listed;
    EXPECT_EQ(fields[4].size(), 24U) << listed;
    EXPECT_EQ(fields[5], "-") << listed;
    EXPECT_EQ(engine_->runTool({"token", "create", "--role", "creditor", "--creditor", "C1", "--expires-in", "0"}), 2);
    EXPECT_EQ(engine_->runTool({"token", "create", "--role", "ops", "--expires", "2001-02-03"}), 2) << "in the past";

    // A token that has expired cannot be made by the CLI: write it into the engine's store as the CLI would.
    taxdesk::connectors::StoreSettings settings;
    settings.sqlitePath = engine_->varDir() + "/taxdesk.db";
    taxdesk::connectors::Store store(settings);
    const std::string expired = "tdk_" + taxdesk::testing::uniqueName("expired");
    Poco::SHA2Engine sha(Poco::SHA2Engine::SHA_256);
    sha.update(expired);
    store.tokens().insertToken({Poco::DigestEngine::digestToHex(sha.digest()), "creditor", "C1",
                                "2026-01-01T00:00:00.000Z", tokenIdOf(expired), "2026-01-02T00:00:00.000Z", ""});
    const auto refused = engine_->request("GET", "/api/v1/batches", expired);
    EXPECT_EQ(refused.status, 401) << refused.body;
    EXPECT_EQ(errorCode(refused), "token_expired") << refused.body;
    EXPECT_EQ(errorCode(engine_->request("GET", "/api/v1/batches", "tdk_not_a_token")), "unauthorized");
}

TEST_F(CreditorApiTest, TheReceiptsQrCodeDecodesToThePublicPage) {
    const auto uploaded = json(upload(generate(5, 0, "utf-8", 15).bytes));
    const auto id = uploaded->getValue<std::string>("batch_id");
    const auto publicUrl = uploaded->getValue<std::string>("public_url");
    const auto page = engine_->request("GET", "/api/v1/batches/" + id + "/receipt", creditor_);
    ASSERT_EQ(page.status, 200);
    EXPECT_NE(page.body.find(publicUrl), std::string::npos) << "the URL written out";
    const std::string marker = "data:image/png;base64,";
    const auto start = page.body.find(marker);
    ASSERT_NE(start, std::string::npos);
    const auto end = page.body.find('"', start);
    std::istringstream encoded(page.body.substr(start + marker.size(), end - start - marker.size()));
    Poco::Base64Decoder decoder(encoded);
    std::string png((std::istreambuf_iterator<char>(decoder)), std::istreambuf_iterator<char>());
    const std::string path = taxdesk::testing::tempDir("qr") + "/receipt.png";
    std::ofstream(path, std::ios::binary) << png;
    const std::string command = "zbarimg --quiet --raw " + path + " 2>/dev/null";
    FILE* pipe = popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char buffer[512] = {};
    const std::string decoded(buffer, fread(buffer, 1, sizeof buffer - 1, pipe));
    ASSERT_EQ(pclose(pipe), 0) << "zbarimg (zbar-tools) could not read the code";
    EXPECT_EQ(decoded.substr(0, decoded.find_last_not_of("\r\n") + 1), publicUrl);

    const auto path2 = publicUrl.substr(publicUrl.find("/r/"));
    const auto publicPage = engine_->request("GET", path2);
    ASSERT_EQ(publicPage.status, 200) << "no token needed";
    EXPECT_NE(publicPage.body.find("Awaiting payment"), std::string::npos);
    EXPECT_EQ(publicPage.body.find("C1"), std::string::npos) << "no creditor";
    EXPECT_EQ(engine_->request("GET", "/r/not-a-token").status, 404);
}

TEST_F(CreditorApiTest, ACsvCellThatASpreadsheetWouldRunIsDownloadedAsText) {
    // SPEC 3.3 (OWASP CSV injection): a rejected row keeps what the creditor wrote, formula and all.
    const std::string file =
        "debtor_id,debtor_name,title_ref\n"
        "=1+1,王小明,臺灣臺北地方法院112年度司執字第1號\n"
        "@SUM(A1),王小明,臺灣臺北地方法院112年度司執字第2號\n";
    const auto uploaded = upload(file);
    ASSERT_EQ(uploaded.status, 201) << uploaded.body;
    const auto id = json(uploaded)->getValue<std::string>("batch_id");
    const auto csv = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=csv", creditor_);
    ASSERT_EQ(csv.status, 200) << csv.body;
    EXPECT_NE(csv.body.find("\r\n1,\"'=1+1\",rejected,invalid_id,"), std::string::npos) << csv.body;
    EXPECT_NE(csv.body.find("\r\n2,\"'@SUM(A1)\",rejected,invalid_id,"), std::string::npos) << csv.body;
}

// ---- issue 9, money: the ledger equals what the card was charged, whatever the race ----

}  // namespace
