// Tamper-evident results (issue 13): the Ed25519 signer (connectors/crypto) and what is signed and how `taxdesk
// verify` decides (jobs/inquiry/results_signature).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <variant>

#include "connectors/crypto/signer.hpp"
#include "jobs/inquiry/results_signature.hpp"

namespace crypto = taxdesk::connectors::crypto;
using namespace taxdesk::jobs::inquiry;

namespace {

// RFC 8032 section 7.1, TEST 1: the secret key, its public key and the signature of the empty message.
constexpr const char* kRfcSecretPem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";
constexpr const char* kRfcPublicHex = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr const char* kRfcSignatureHex =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe2465"
    "5"
    "141438e7a100b";

class TempDir {
  public:
    TempDir() {
        char pattern[] = "/tmp/taxdesk-sign-XXXXXX";
        path_ = ::mkdtemp(pattern);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

void writeFile(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

std::string toHex(const std::string& bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0x0F]);
    }
    return out;
}

}  // namespace

TEST(Sha256, KnownDigestsWholeAndInPieces) {
    // FIPS 180-2 examples.
    EXPECT_EQ(crypto::sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(crypto::sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    crypto::Sha256 pieces;
    pieces.update("a");
    pieces.update("");
    pieces.update("bc");
    EXPECT_EQ(pieces.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_THROW(pieces.update("x"), crypto::CryptoError);
}

TEST(Base64, EncodesAndDecodesWithPadding) {
    EXPECT_EQ(crypto::base64Encode("abc"), "YWJj");
    EXPECT_EQ(crypto::base64Encode("ab"), "YWI=");
    EXPECT_EQ(crypto::base64Encode("a"), "YQ==");
    EXPECT_EQ(crypto::base64Decode("YWJj"), "abc");
    EXPECT_EQ(crypto::base64Decode("YWI="), "ab");
    EXPECT_EQ(crypto::base64Decode("YQ=="), "a");
    EXPECT_THROW((void)crypto::base64Decode("YQ="), crypto::CryptoError);
    EXPECT_THROW((void)crypto::base64Decode("Y!=="), crypto::CryptoError);
    EXPECT_EQ(crypto::hexToBytes("00ff10"), std::string("\x00\xff\x10", 3));
    EXPECT_THROW((void)crypto::hexToBytes("0g"), crypto::CryptoError);
}

TEST(Ed25519Signer, SignsTheRfc8032TestVector) {
    TempDir dir;
    writeFile(dir.file("rfc.pem"), kRfcSecretPem);
    const auto signer = crypto::Ed25519Signer::loadOrCreate(dir.file("rfc.pem"), false);
    EXPECT_EQ(toHex(signer->sign("")), kRfcSignatureHex);
    // The key id: the first 16 hex digits of the SHA-256 of the raw public key (computed with sha256sum).
    EXPECT_EQ(signer->keyId(), "21fe31dfa154a261");
    EXPECT_EQ(crypto::keyIdOfPem(signer->publicKeyPem()), "21fe31dfa154a261");
    EXPECT_TRUE(crypto::verifyEd25519(signer->publicKeyPem(), "", crypto::hexToBytes(kRfcSignatureHex)));
    (void)kRfcPublicHex;
}

TEST(Ed25519Signer, OneChangedByteFailsTheCheck) {
    const auto signer = crypto::Ed25519Signer::generate();
    const std::string pem = signer->publicKeyPem();
    const std::string message = signedMessage("B20261202-0a1b2c3d4e", "csv", crypto::sha256Hex("row,debtor_id\n1,x\n"));
    const std::string signature = signer->sign(message);
    ASSERT_EQ(signature.size(), 64U);
    ASSERT_TRUE(crypto::verifyEd25519(pem, message, signature));
    for (std::size_t at : {std::size_t{0}, std::size_t{19}, message.size() / 2, message.size() - 1}) {
        std::string changed = message;
        changed[at] = static_cast<char>(changed[at] ^ 0x01);
        EXPECT_FALSE(crypto::verifyEd25519(pem, changed, signature)) << "message byte " << at;
    }
    for (std::size_t at : {std::size_t{0}, std::size_t{31}, std::size_t{32}, std::size_t{63}}) {
        std::string changed = signature;
        changed[at] = static_cast<char>(changed[at] ^ 0x80);
        EXPECT_FALSE(crypto::verifyEd25519(pem, message, changed)) << "signature byte " << at;
    }
    // Another key's public key does not verify it.
    EXPECT_FALSE(crypto::verifyEd25519(crypto::Ed25519Signer::generate()->publicKeyPem(), message, signature));
}

TEST(Ed25519Signer, DefaultKeyGeneratedOnceWithMode0600ThenReused) {
    TempDir dir;
    const std::string path = dir.file("results-signing-key.pem");
    const auto first = crypto::Ed25519Signer::loadOrCreate(path, true);
    struct stat info {};
    ASSERT_EQ(::stat(path.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600U);
    const auto second = crypto::Ed25519Signer::loadOrCreate(path, true);
    EXPECT_EQ(second->keyId(), first->keyId());
    EXPECT_EQ(second->publicKeyPem(), first->publicKeyPem());
    // What the first signs, the reloaded key's public half verifies.
    EXPECT_TRUE(crypto::verifyEd25519(second->publicKeyPem(), "x", first->sign("x")));
}

TEST(Ed25519Signer, BadOrMissingKeyFileIsAnErrorNamingIt) {
    TempDir dir;
    const std::string missing = dir.file("absent.pem");
    try {
        (void)crypto::Ed25519Signer::loadOrCreate(missing, false);
        FAIL() << "a missing configured key must not be generated";
    } catch (const crypto::CryptoError& error) {
        EXPECT_NE(std::string(error.what()).find(missing), std::string::npos) << error.what();
    }
    EXPECT_FALSE(std::filesystem::exists(missing));
    const std::string garbage = dir.file("garbage.pem");
    writeFile(garbage, "not a key\n");
    try {
        (void)crypto::Ed25519Signer::loadOrCreate(garbage, true);
        FAIL() << "garbage accepted as a key";
    } catch (const crypto::CryptoError& error) {
        EXPECT_NE(std::string(error.what()).find(garbage), std::string::npos) << error.what();
    }
    // A public key is not a signing key.
    const std::string publicOnly = dir.file("public.pem");
    writeFile(publicOnly, crypto::Ed25519Signer::generate()->publicKeyPem());
    EXPECT_THROW((void)crypto::Ed25519Signer::loadOrCreate(publicOnly, false), crypto::CryptoError);
    EXPECT_THROW((void)crypto::keyIdOfPem("nope"), crypto::CryptoError);
}

TEST(ResultsSignature, SignedMessageIsTheDocumentedText) {
    EXPECT_EQ(signedMessage("B1", "json", "ab"), "taxdesk-results-v1\nbatch_id=B1\nformat=json\nsha256=ab\n");
}

TEST(ResultsSignature, ShapesOfBatchIdAndDigest) {
    EXPECT_TRUE(isBatchIdShape("B20261202-0a1b2c3d4e"));
    EXPECT_TRUE(isBatchIdShape(std::string(64, 'a')));
    EXPECT_FALSE(isBatchIdShape(std::string(65, 'a')));
    EXPECT_FALSE(isBatchIdShape(""));
    EXPECT_FALSE(isBatchIdShape("B1;drop"));
    EXPECT_FALSE(isBatchIdShape("B1 2"));
    EXPECT_TRUE(isDigestHex(std::string(64, 'f')));
    EXPECT_FALSE(isDigestHex(std::string(64, 'F')));  // lowercase only
    EXPECT_FALSE(isDigestHex(std::string(63, 'a')));
    EXPECT_FALSE(isDigestHex(std::string(65, 'a')));
    EXPECT_FALSE(isDigestHex(std::string(63, 'a') + "g"));
}

TEST(ResultsSignature, LineRoundTripsAndRejectsMalformedLines) {
    const ResultsSignature signature{"B20261202-0a1b2c3d4e", "csv", std::string(64, 'a'), "0123456789abcdef",
                                     std::string(86, 'A') + "=="};
    const std::string line = formatSignature(signature);
    EXPECT_EQ(line, "taxdesk-sig-v1 batch_id=B20261202-0a1b2c3d4e format=csv sha256=" + std::string(64, 'a') +
                        " key_id=0123456789abcdef sig=" + std::string(86, 'A') + "==");
    const auto parsed = parseSignature("  " + line + "\n");
    ASSERT_TRUE(std::holds_alternative<ResultsSignature>(parsed)) << std::get<std::string>(parsed);
    EXPECT_EQ(std::get<ResultsSignature>(parsed), signature);

    auto problem = [](const std::string& text) {
        const auto result = parseSignature(text);
        return std::holds_alternative<std::string>(result) ? std::get<std::string>(result) : std::string("parsed");
    };
    EXPECT_EQ(problem(""), "the signature is empty");
    EXPECT_EQ(problem("v2 " + line.substr(15)), "the signature does not start with taxdesk-sig-v1");
    std::string noKey = line;
    noKey.replace(noKey.find(" key_id="), 25, "");
    EXPECT_EQ(problem(noKey), "the signature has no key_id");
    EXPECT_EQ(problem(line + " format=csv"), "the signature has format twice");
    EXPECT_EQ(problem(line + " extra=1"), "the signature has an unknown field: extra=1");
    std::string badFormat = line;
    badFormat.replace(badFormat.find("format=csv"), 10, "format=xml");
    EXPECT_EQ(problem(badFormat), "the signature's format must be csv or json");
    std::string badDigest = line;
    badDigest.replace(badDigest.find("sha256=") + 7, 1, "A");
    EXPECT_EQ(problem(badDigest), "the signature's sha256 must be 64 lowercase hex digits");
    EXPECT_EQ(problem(line + "\nsecond line"), "the signature is not one line");
}

TEST(ResultsSignature, VerifyProblemNamesWhy) {
    const ResultsSignature signature{"B1", "csv", std::string(64, 'a'), "0123456789abcdef", ""};
    EXPECT_EQ(verifyProblem(signature, std::string(64, 'a'), "0123456789abcdef", true), std::nullopt);
    EXPECT_EQ(verifyProblem(signature, std::string(64, 'a'), "fedcba9876543210", true),
              "the signature was made with key 0123456789abcdef, not the key given (fedcba9876543210)");
    const auto changed = verifyProblem(signature, std::string(64, 'b'), "0123456789abcdef", true);
    ASSERT_TRUE(changed);
    EXPECT_NE(changed->find("the file is not the one the bureau issued"), std::string::npos);
    EXPECT_EQ(verifyProblem(signature, std::string(64, 'a'), "0123456789abcdef", false),
              "the signature does not verify with the key: the signature line was altered or forged");
}

TEST(ResultsSignature, WholePathOneChangedFileByteIsCaught) {
    // As the engine signs a download and `taxdesk verify` checks it: digest, signed message, line, parse, check.
    const auto signer = crypto::Ed25519Signer::generate();
    const std::string file = "\xEF\xBB\xBFrow,debtor_id,status\n1,A123456789,found\n2,B223456789,no_records\n";
    const std::string sha = crypto::sha256Hex(file);
    const ResultsSignature issued{"B1", "csv", sha, signer->keyId(),
                                  crypto::base64Encode(signer->sign(signedMessage("B1", "csv", sha)))};
    const auto parsed = std::get<ResultsSignature>(parseSignature(formatSignature(issued) + "\n"));
    auto check = [&](const std::string& bytes) {
        const bool verifies =
            crypto::verifyEd25519(signer->publicKeyPem(), signedMessage(parsed.batchId, parsed.format, parsed.sha256),
                                  crypto::base64Decode(parsed.signature));
        return verifyProblem(parsed, crypto::sha256Hex(bytes), crypto::keyIdOfPem(signer->publicKeyPem()), verifies);
    };
    EXPECT_EQ(check(file), std::nullopt);
    for (std::size_t at : {std::size_t{0}, std::size_t{3}, file.size() / 2, file.size() - 1}) {
        std::string changed = file;
        changed[at] = static_cast<char>(changed[at] ^ 0x20);
        EXPECT_NE(check(changed), std::nullopt) << "file byte " << at;
    }
}
