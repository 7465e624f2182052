#pragma once
// Tamper-evident results (issue 13): what the bureau signs for a results download, the one-line signature a download
// carries (header X-Taxdesk-Signature, file <name>.sig) and how `taxdesk verify` decides. Pure: the digest and the
// Ed25519 check are the crypto connector's; these functions get their answers.
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace taxdesk::jobs::inquiry {

/// A batch id as /v/{batch_id}/{digest} accepts it: 1 to 64 of [A-Za-z0-9_-] (real ones are B<yyyymmdd>-<hex>).
bool isBatchIdShape(std::string_view batchId);
/// A SHA-256 digest as written everywhere: exactly 64 lowercase hex digits.
bool isDigestHex(std::string_view digest);
/// A results format: "csv" or "json".
bool isResultsFormat(std::string_view format);

/// The bytes that are signed for a download: a versioned text binding the batch, the format and the SHA-256 of the
/// download's exact bytes:
///   "taxdesk-results-v1\nbatch_id=<id>\nformat=<csv|json>\nsha256=<64 hex>\n"
std::string signedMessage(std::string_view batchId, std::string_view format, std::string_view sha256Hex);

/// A download's signature as carried beside it.
struct ResultsSignature {
    std::string batchId;
    std::string format;
    std::string sha256;     ///< 64 lowercase hex
    std::string keyId;      ///< 16 lowercase hex: the first 16 of the SHA-256 of the raw public key
    std::string signature;  ///< base64 of the 64-byte Ed25519 signature of signedMessage()

    bool operator==(const ResultsSignature&) const = default;
};

/// One line, no line break:
///   "taxdesk-sig-v1 batch_id=<id> format=<fmt> sha256=<hex> key_id=<hex> sig=<base64>"
/// The header X-Taxdesk-Signature carries it; the .sig file is it and a "\n".
std::string formatSignature(const ResultsSignature& signature);

/// Reads formatSignature()'s line (surrounding white space, a trailing line break, allowed). Every field must be
/// present once and well formed; returns the signature or a message naming what is wrong.
std::variant<ResultsSignature, std::string> parseSignature(std::string_view text);

/// What `taxdesk verify` concludes about a file and its signature, checked in this order: the key the signature names
/// is the key given; the file's SHA-256 is the signature's; the Ed25519 signature verifies. nullopt: valid; else why
/// not, in words.
std::optional<std::string> verifyProblem(const ResultsSignature& signature, std::string_view fileSha256,
                                         std::string_view givenKeyId, bool signatureVerifies);

}  // namespace taxdesk::jobs::inquiry
