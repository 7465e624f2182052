// Tamper-evident results over real HTTP (issue 13): a completed batch's downloads are signed, the public /v/ route
// says which digests the bureau issued, `taxdesk verify` checks a downloaded file offline, and the signing key is
// generated once and reused across restarts.
#include <Poco/File.h>
#include <Poco/Pipe.h>
#include <Poco/PipeStream.h>
#include <Poco/Process.h>
#include <Poco/StreamCopier.h>
#include <sys/stat.h>

#include "connectors/crypto/signer.hpp"
#include "creditor_fixture.hpp"

using taxdesk::testing::HttpResult;
using taxdesk::testing::ServeProcess;
using namespace taxdesk::testing::creditor;
namespace crypto = taxdesk::connectors::crypto;

namespace {

std::string header(const HttpResult& result, const std::string& name) {
    const auto it = result.headers.find(name);
    return it == result.headers.end() ? std::string() : it->second;
}

void writeFile(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

class ResultsSigningTest : public CreditorApiTest {
  protected:
    /// Uploads a small batch, pays it and waits until it is completed; returns its id.
    static std::string completedBatch(std::uint64_t seed) {
        const auto file = generate(120, 0.05, "utf-8", seed);
        const auto uploaded = upload(file.bytes);
        EXPECT_EQ(uploaded.status, 201) << uploaded.body;
        const std::string id = json(uploaded)->getValue<std::string>("batch_id");
        const auto paid = pay(id, "sign-" + id);
        EXPECT_EQ(paid.status, 201) << paid.body;
        waitCompleted(id);
        return id;
    }
    /// `taxdesk verify` with these arguments; its exit code.
    static int verify(const std::vector<std::string>& args) {
        std::vector<std::string> all{"verify"};
        all.insert(all.end(), args.begin(), args.end());
        return engine_->runTool(all);
    }
};

TEST_F(ResultsSigningTest, ACompletedBatchsDownloadIsSignedValidAtVAndVerifiedOffline) {
    const std::string id = completedBatch(4101);
    const auto csv = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=csv", creditor_);
    ASSERT_EQ(csv.status, 200);
    const std::string digest = header(csv, "X-Taxdesk-Digest");
    EXPECT_EQ(digest, crypto::sha256Hex(csv.body)) << "the digest is of the bytes served";
    EXPECT_EQ(header(csv, "Digest"), "sha-256=" + crypto::base64Encode(crypto::hexToBytes(digest)));
    const std::string signature = header(csv, "X-Taxdesk-Signature");
    EXPECT_EQ(signature.rfind("taxdesk-sig-v1 batch_id=" + id + " format=csv sha256=" + digest + " key_id=", 0), 0u)
        << signature;
    // Byte-stable: a second download is the same bytes under the same signature (signed once, not again).
    const auto again = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=csv", creditor_);
    EXPECT_EQ(again.body, csv.body);
    EXPECT_EQ(header(again, "X-Taxdesk-Signature"), signature);

    // The public check: no token, the digest issued for this batch is valid, anything else is not.
    const auto valid = engine_->request("GET", "/v/" + id + "/" + digest);
    ASSERT_EQ(valid.status, 200) << valid.body;
    const auto answer = json(valid);
    EXPECT_TRUE(answer->getValue<bool>("valid"));
    EXPECT_EQ(answer->getValue<std::string>("batch_id"), id);
    EXPECT_EQ(answer->getValue<std::string>("format"), "csv");
    EXPECT_FALSE(answer->getValue<std::string>("issued_at").empty());
    EXPECT_EQ(valid.body.find("C1"), std::string::npos) << "no creditor in the public answer: " << valid.body;
    std::string changed = digest;
    changed.back() = changed.back() == '0' ? '1' : '0';
    const auto notIssued = json(engine_->request("GET", "/v/" + id + "/" + changed));
    EXPECT_FALSE(notIssued->getValue<bool>("valid"));
    EXPECT_TRUE(notIssued->isNull("issued_at"));
    EXPECT_TRUE(notIssued->isNull("format"));
    EXPECT_FALSE(json(engine_->request("GET", "/v/B20990101-0000000000/" + digest))->getValue<bool>("valid"))
        << "the digest is valid for its own batch only";

    // The JSON download is signed too, under its own digest.
    const auto jsonDownload = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=json", creditor_);
    ASSERT_EQ(jsonDownload.status, 200);
    const std::string jsonDigest = header(jsonDownload, "X-Taxdesk-Digest");
    EXPECT_EQ(jsonDigest, crypto::sha256Hex(jsonDownload.body));
    EXPECT_NE(jsonDigest, digest);
    EXPECT_EQ(json(engine_->request("GET", "/v/" + id + "/" + jsonDigest))->getValue<std::string>("format"), "json");

    // The detached signature and the public key, as a creditor fetches them.
    const auto sig = engine_->request("GET", "/api/v1/batches/" + id + "/results.csv.sig", creditor_);
    ASSERT_EQ(sig.status, 200) << sig.body;
    EXPECT_EQ(sig.body, signature + "\n");
    EXPECT_EQ(engine_->request("GET", "/api/v1/batches/" + id + "/results.csv.sig", other_).status, 404)
        << "another creditor's batch";
    const auto key = engine_->request("GET", "/.well-known/taxdesk-results-key");
    ASSERT_EQ(key.status, 200);
    EXPECT_EQ(key.body.rfind("-----BEGIN PUBLIC KEY-----", 0), 0u) << key.body;
    EXPECT_EQ(header(key, "X-Taxdesk-Key-Id"), crypto::keyIdOfPem(key.body));
    EXPECT_NE(signature.find(" key_id=" + crypto::keyIdOfPem(key.body) + " "), std::string::npos);
    const auto keyJson = json(engine_->request("GET", "/.well-known/taxdesk-results-key?format=json"));
    EXPECT_EQ(keyJson->getValue<std::string>("public_key_pem"), key.body);
    EXPECT_EQ(keyJson->getValue<std::string>("algorithm"), "Ed25519");

    // Offline: the downloaded file verifies with the public key; one changed byte does not.
    const std::string dir = engine_->varDir() + "/verify-" + id;
    Poco::File(dir).createDirectories();
    const std::string file = dir + "/" + id + "-results.csv";
    writeFile(file, csv.body);
    writeFile(file + ".sig", sig.body);
    writeFile(dir + "/key.pem", key.body);
    EXPECT_EQ(verify({file, "--key", dir + "/key.pem"}), 0);
    EXPECT_EQ(verify({file, "--signature", signature, "--key", dir + "/key.pem"}), 0);
    EXPECT_EQ(verify({file}), 0) << "the configured key's public half by default";
    for (const std::size_t at : {std::size_t{0}, csv.body.size() / 2, csv.body.size() - 1}) {
        std::string tampered = csv.body;
        tampered[at] = static_cast<char>(tampered[at] ^ 0x01);
        writeFile(dir + "/tampered.csv", tampered);
        EXPECT_EQ(verify({dir + "/tampered.csv", "--sig-file", file + ".sig", "--key", dir + "/key.pem"}), 1)
            << "byte " << at;
    }
    std::string forged = signature;
    forged.replace(forged.find("format=csv"), 10, "format=json");
    EXPECT_EQ(verify({file, "--signature", forged, "--key", dir + "/key.pem"}), 1) << "the line altered";
    writeFile(dir + "/other.pem", crypto::Ed25519Signer::generate()->publicKeyPem());
    EXPECT_EQ(verify({file, "--key", dir + "/other.pem"}), 1) << "another key";
    EXPECT_EQ(verify({dir + "/absent.csv", "--key", dir + "/key.pem"}), 2);
    EXPECT_EQ(verify({dir + "/key.pem", "--key", dir + "/key.pem"}), 2) << "no key.pem.sig beside it";
    EXPECT_EQ(verify({file, "--signature", signature, "--sig-file", file + ".sig"}), 2);
    EXPECT_EQ(verify({}), 2);

    // The receipt carries the batch id and the digests, with their public check URLs (and a QR code of the first).
    const auto receipt = engine_->request("GET", "/api/v1/batches/" + id + "/receipt", creditor_);
    ASSERT_EQ(receipt.status, 200);
    EXPECT_NE(receipt.body.find(digest), std::string::npos);
    EXPECT_NE(receipt.body.find(jsonDigest), std::string::npos);
    EXPECT_NE(receipt.body.find("/v/" + id + "/" + digest), std::string::npos);
    // The second QR code decodes to the public check of the CSV's digest (zbarimg, as the receipt test does).
    const auto qr = receipt.body.find("id=\"verify-qr\"");
    ASSERT_NE(qr, std::string::npos);
    const std::string marker = "data:image/png;base64,";
    const auto start = receipt.body.find(marker, qr);
    ASSERT_NE(start, std::string::npos);
    const auto end = receipt.body.find('"', start);
    std::istringstream encoded(receipt.body.substr(start + marker.size(), end - start - marker.size()));
    Poco::Base64Decoder decoder(encoded);
    writeFile(dir + "/verify-qr.png",
              std::string((std::istreambuf_iterator<char>(decoder)), std::istreambuf_iterator<char>()));
    const std::string command = "zbarimg --quiet --raw " + dir + "/verify-qr.png 2>/dev/null";
    FILE* pipe = popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char buffer[512] = {};
    const std::string decoded(buffer, fread(buffer, 1, sizeof buffer - 1, pipe));
    ASSERT_EQ(pclose(pipe), 0) << "zbarimg could not read the verification code";
    const std::string url = decoded.substr(0, decoded.find_last_not_of("\r\n") + 1);
    EXPECT_EQ(url.substr(url.find("/v/")), "/v/" + id + "/" + digest);
}

TEST_F(ResultsSigningTest, MalformedVInputIs400NamingIt) {
    const std::string digest(64, 'a');
    auto code = [](const HttpResult& result) {
        return json(result)->getObject("error")->getValue<std::string>("code");
    };
    const auto shortDigest = engine_->request("GET", "/v/B20261202-0a1b2c3d4e/abc");
    EXPECT_EQ(shortDigest.status, 400);
    EXPECT_EQ(code(shortDigest), "bad_digest");
    EXPECT_EQ(code(engine_->request("GET", "/v/B1/" + std::string(64, 'A'))), "bad_digest") << "uppercase";
    EXPECT_EQ(code(engine_->request("GET", "/v/B1/" + std::string(65, 'a'))), "bad_digest");
    EXPECT_EQ(code(engine_->request("GET", "/v/B1/" + std::string(63, 'a') + "z")), "bad_digest");
    const auto badId = engine_->request("GET", "/v/B%3B1/" + digest);
    EXPECT_EQ(badId.status, 400);
    EXPECT_EQ(code(badId), "bad_batch_id");
    EXPECT_EQ(code(engine_->request("GET", "/v/" + std::string(65, 'B') + "/" + digest)), "bad_batch_id");
    // Well-formed but never issued: 200, not valid.
    EXPECT_FALSE(json(engine_->request("GET", "/v/B1/" + digest))->getValue<bool>("valid"));
}

TEST_F(ResultsSigningTest, ABatchNotCompletedIsNotSigned) {
    const auto uploaded = upload(generate(20, 0.0, "utf-8", 4102).bytes);
    ASSERT_EQ(uploaded.status, 201) << uploaded.body;
    const std::string id = json(uploaded)->getValue<std::string>("batch_id");
    const auto sig = engine_->request("GET", "/api/v1/batches/" + id + "/results.csv.sig", creditor_);
    EXPECT_EQ(sig.status, 409) << sig.body;
    const auto download = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=csv", creditor_);
    EXPECT_EQ(download.status, 200);
    EXPECT_EQ(header(download, "X-Taxdesk-Signature"), "");
}

TEST_F(ResultsSigningTest, TheDefaultKeyIsGeneratedOnceAndReusedAcrossRestarts) {
    const std::string path = engine_->varDir() + "/results-signing-key.pem";
    struct stat info {};
    ASSERT_EQ(::stat(path.c_str(), &info), 0) << path;
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    const auto before = engine_->request("GET", "/.well-known/taxdesk-results-key");
    const std::string id = completedBatch(4103);
    const auto csv = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=csv", creditor_);
    const std::string digest = header(csv, "X-Taxdesk-Digest");
    ASSERT_FALSE(digest.empty());

    engine_->killHard();
    engine_->start();
    const auto after = engine_->request("GET", "/.well-known/taxdesk-results-key");
    EXPECT_EQ(after.body, before.body) << "the same key after a restart";
    EXPECT_EQ(header(after, "X-Taxdesk-Key-Id"), header(before, "X-Taxdesk-Key-Id"));
    EXPECT_TRUE(json(engine_->request("GET", "/v/" + id + "/" + digest))->getValue<bool>("valid"));
    const auto again = engine_->request("GET", "/api/v1/batches/" + id + "/results?format=csv", creditor_);
    EXPECT_EQ(header(again, "X-Taxdesk-Signature"), header(csv, "X-Taxdesk-Signature"));
}

TEST_F(ResultsSigningTest, ABadKeyFileIsAStartUpErrorNamingIt) {
    const std::string dir = engine_->varDir() + "/badkey";
    Poco::File(dir).createDirectories();
    writeFile(dir + "/garbage.pem", "not a key\n");
    for (const std::string& key : {dir + "/garbage.pem", dir + "/absent.pem"}) {
        Poco::Pipe errPipe;
        auto handle =
            Poco::Process::launch(TAXDESK_BINARY,
                                  {"--set", "app.var_dir=" + dir + "/var", "--set", "kafka.bootstrap=127.0.0.1:1",
                                   "--set", "results.signing_key=" + key, "serve"},
                                  nullptr, nullptr, &errPipe);
        Poco::PipeInputStream stream(errPipe);
        std::string text;
        Poco::StreamCopier::copyToString(stream, text);
        EXPECT_NE(handle.wait(), 0);
        EXPECT_NE(text.find("results signing key " + key), std::string::npos) << text;
    }
    EXPECT_FALSE(Poco::File(dir + "/absent.pem").exists()) << "a configured key is never generated";
}

}  // namespace
