#include "engine/cli/verify.hpp"

#include <Poco/File.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <variant>

#include "connectors/crypto/signer.hpp"
#include "engine/cli/cli.hpp"
#include "jobs/inquiry/results_signature.hpp"

namespace taxdesk::engine {
namespace {

constexpr int kValid = 0;
constexpr int kInvalid = 1;
constexpr int kUsage = 2;

std::string readText(const std::string& path, const std::string& what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw UsageError("verify: cannot read " + what + " " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

int commandVerify(const std::vector<std::string>& args, const std::string& configuredKey) {
    try {
        const ArgReader reader(args, {"signature", "sig-file", "key"}, {});
        if (reader.positional().size() != 1) throw UsageError("verify: give exactly one results file");
        const std::string file = reader.positional().front();
        if (reader.value("signature") && reader.value("sig-file"))
            throw UsageError("verify: give --signature or --sig-file, not both");

        // The file's SHA-256, read in pieces (a results file may be large).
        std::ifstream in(file, std::ios::binary);
        if (!in) throw UsageError("verify: cannot read the file " + file);
        connectors::crypto::Sha256 digest;
        std::string buffer(64 * 1024, '\0');
        while (in) {
            in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
            digest.update(std::string_view(buffer.data(), static_cast<std::size_t>(in.gcount())));
        }
        if (in.bad()) throw UsageError("verify: cannot read the file " + file);
        const std::string fileSha256 = digest.hex();

        std::string line;
        if (const auto given = reader.value("signature")) {
            line = *given;
        } else {
            const std::string sigFile = reader.value("sig-file").value_or(file + ".sig");
            if (!Poco::File(sigFile).exists())
                throw UsageError("verify: no signature: " + sigFile +
                                 " does not exist (download it from .../results.csv.sig, or give --signature or "
                                 "--sig-file)");
            line = readText(sigFile, "the signature file");
        }

        std::string pem;
        if (const auto key = reader.value("key")) {
            pem = readText(*key, "the key file");
        } else if (!configuredKey.empty() && Poco::File(configuredKey).exists()) {
            pem = readText(configuredKey, "the key file (results.signing_key)");
        } else {
            throw UsageError(
                "verify: no key: give --key PEM (curl -o key.pem <engine>/.well-known/taxdesk-results-key)");
        }
        std::string keyId;
        try {
            keyId = connectors::crypto::keyIdOfPem(pem);
        } catch (const connectors::crypto::CryptoError& error) {
            throw UsageError("verify: the key is " + std::string(error.what()));
        }

        const auto parsed = jobs::inquiry::parseSignature(line);
        if (const auto* problem = std::get_if<std::string>(&parsed)) {
            std::cerr << "taxdesk verify: INVALID: " << *problem << std::endl;
            return kInvalid;
        }
        const auto& signature = std::get<jobs::inquiry::ResultsSignature>(parsed);
        bool verifies = false;
        try {
            verifies = connectors::crypto::verifyEd25519(
                pem, jobs::inquiry::signedMessage(signature.batchId, signature.format, signature.sha256),
                connectors::crypto::base64Decode(signature.signature));
        } catch (const connectors::crypto::CryptoError&) {
            verifies = false;
        }
        if (const auto problem = jobs::inquiry::verifyProblem(signature, fileSha256, keyId, verifies)) {
            std::cerr << "taxdesk verify: INVALID: " << file << ": " << *problem << std::endl;
            return kInvalid;
        }
        std::cout << "valid: " << file << " is the " << signature.format << " results of batch " << signature.batchId
                  << " as issued (sha256 " << fileSha256 << ", key " << keyId << ")" << std::endl;
        return kValid;
    } catch (const UsageError& error) {
        std::cerr << "taxdesk: " << error.what() << " (see taxdesk --help)" << std::endl;
        return kUsage;
    }
}

}  // namespace taxdesk::engine
