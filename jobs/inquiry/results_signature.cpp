#include "jobs/inquiry/results_signature.hpp"

#include <array>
#include <utility>
#include <vector>

namespace taxdesk::jobs::inquiry {
namespace {

bool allOf(std::string_view text, std::string_view allowed) {
    return text.find_first_not_of(allowed) == std::string_view::npos;
}

constexpr std::string_view kLowerHex = "0123456789abcdef";
constexpr std::string_view kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
constexpr std::string_view kMagic = "taxdesk-sig-v1";

}  // namespace

bool isBatchIdShape(std::string_view batchId) {
    return !batchId.empty() && batchId.size() <= 64 &&
           allOf(batchId, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");
}

bool isDigestHex(std::string_view digest) {
    return digest.size() == 64 && allOf(digest, kLowerHex);
}

bool isResultsFormat(std::string_view format) {
    return format == "csv" || format == "json";
}

std::string signedMessage(std::string_view batchId, std::string_view format, std::string_view sha256Hex) {
    std::string message = "taxdesk-results-v1\nbatch_id=";
    message += batchId;
    message += "\nformat=";
    message += format;
    message += "\nsha256=";
    message += sha256Hex;
    message += '\n';
    return message;
}

std::string formatSignature(const ResultsSignature& signature) {
    std::string line(kMagic);
    line += " batch_id=" + signature.batchId + " format=" + signature.format + " sha256=" + signature.sha256 +
            " key_id=" + signature.keyId + " sig=" + signature.signature;
    return line;
}

std::variant<ResultsSignature, std::string> parseSignature(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return std::string("the signature is empty");
    text = text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
    if (text.find_first_of("\r\n") != std::string_view::npos) return std::string("the signature is not one line");
    std::vector<std::string_view> words;
    for (std::size_t start = 0; start < text.size();) {
        const auto end = text.find(' ', start);
        const auto word = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        if (!word.empty()) words.push_back(word);
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    if (words.empty() || words.front() != kMagic)
        return std::string("the signature does not start with ") + std::string(kMagic);
    ResultsSignature out;
    const std::array<std::pair<std::string_view, std::string*>, 5> fields{{{"batch_id", &out.batchId},
                                                                           {"format", &out.format},
                                                                           {"sha256", &out.sha256},
                                                                           {"key_id", &out.keyId},
                                                                           {"sig", &out.signature}}};
    std::array<bool, 5> seen{};
    for (std::size_t i = 1; i < words.size(); ++i) {
        const auto eq = words[i].find('=');
        const auto name = words[i].substr(0, eq);
        bool known = false;
        for (std::size_t f = 0; f < fields.size(); ++f) {
            if (eq == std::string_view::npos || fields[f].first != name) continue;
            if (seen[f]) return "the signature has " + std::string(name) + " twice";
            seen[f] = true;
            *fields[f].second = std::string(words[i].substr(eq + 1));
            known = true;
        }
        if (!known) return "the signature has an unknown field: " + std::string(words[i].substr(0, 32));
    }
    for (std::size_t f = 0; f < fields.size(); ++f)
        if (!seen[f]) return "the signature has no " + std::string(fields[f].first);
    if (!isBatchIdShape(out.batchId)) return std::string("the signature's batch_id is malformed");
    if (!isResultsFormat(out.format)) return std::string("the signature's format must be csv or json");
    if (!isDigestHex(out.sha256)) return std::string("the signature's sha256 must be 64 lowercase hex digits");
    if (out.keyId.size() != 16 || !allOf(out.keyId, kLowerHex))
        return std::string("the signature's key_id must be 16 lowercase hex digits");
    if (out.signature.size() != 88 || !allOf(out.signature, kBase64))
        return std::string("the signature's sig must be 88 base64 characters (64 bytes)");
    return out;
}

std::optional<std::string> verifyProblem(const ResultsSignature& signature, std::string_view fileSha256,
                                         std::string_view givenKeyId, bool signatureVerifies) {
    if (signature.keyId != givenKeyId)
        return "the signature was made with key " + signature.keyId + ", not the key given (" +
               std::string(givenKeyId) + ")";
    if (signature.sha256 != fileSha256)
        return "the file's SHA-256 is " + std::string(fileSha256) + ", the signed one is " + signature.sha256 +
               ": the file is not the one the bureau issued (changed or another file)";
    if (!signatureVerifies)
        return std::string("the signature does not verify with the key: the signature line was altered or forged");
    return std::nullopt;
}

}  // namespace taxdesk::jobs::inquiry
