#include "jobs/notify/notify.hpp"

#include <Poco/DigestEngine.h>
#include <Poco/HMACEngine.h>
#include <Poco/SHA2Engine.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include <arpa/inet.h>

#include "jobs/common/json.hpp"

namespace taxdesk::jobs::notify {
namespace {

class Sha256 : public Poco::SHA2Engine {
  public:
    enum { BLOCK_SIZE = 64, DIGEST_SIZE = 32 };
    Sha256() : Poco::SHA2Engine(Poco::SHA2Engine::SHA_256) {}
};

bool startsWith(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool privateHost(std::string_view host) {
    if (host == "localhost") return true;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const AddressKind kind = classifyAddress(host);
    return kind != AddressKind::invalid && kind != AddressKind::publicAddress;
}

AddressKind classifyIpv4(const unsigned char* octet) {
    const unsigned a = octet[0];
    const unsigned b = octet[1];
    if (a == 0) return AddressKind::unspecified;
    if (a == 127) return AddressKind::loopback;
    if (a == 10 || (a == 172 && b >= 16 && b <= 31) || (a == 192 && b == 168)) return AddressKind::privateNetwork;
    if (a == 169 && b == 254) return AddressKind::linkLocal;
    return AddressKind::publicAddress;
}

std::string eventOf(std::string_view state) {
    return state == "failed" ? "failed" : "completed";
}

}  // namespace

AddressKind classifyAddress(std::string_view address) {
    if (address.empty() || address.size() > 45) return AddressKind::invalid;
    const std::string text(address);
    unsigned char bytes[16] = {};
    if (address.find(':') == std::string_view::npos) {
        if (inet_pton(AF_INET, text.c_str(), bytes) != 1) return AddressKind::invalid;
        return classifyIpv4(bytes);
    }
    if (inet_pton(AF_INET6, text.c_str(), bytes) != 1) return AddressKind::invalid;
    const auto zeros = [&](int from, int to) {
        return std::all_of(bytes + from, bytes + to, [](unsigned char byte) { return byte == 0; });
    };
    if (zeros(0, 10) && bytes[10] == 0xff && bytes[11] == 0xff) return classifyIpv4(bytes + 12);  // ::ffff:a.b.c.d
    if (bytes[0] == 0x00 && bytes[1] == 0x64 && bytes[2] == 0xff && bytes[3] == 0x9b && zeros(4, 12))
        return classifyIpv4(bytes + 12);  // 64:ff9b::a.b.c.d (NAT64)
    if (zeros(0, 16)) return AddressKind::unspecified;
    if (zeros(0, 15) && bytes[15] == 1) return AddressKind::loopback;
    if (bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80) return AddressKind::linkLocal;
    if ((bytes[0] & 0xfe) == 0xfc) return AddressKind::uniqueLocal;
    return AddressKind::publicAddress;
}

std::string_view describe(AddressKind kind) {
    switch (kind) {
        case AddressKind::publicAddress:
            return "public";
        case AddressKind::loopback:
            return "loopback";
        case AddressKind::privateNetwork:
            return "private, RFC 1918";
        case AddressKind::linkLocal:
            return "link-local";
        case AddressKind::uniqueLocal:
            return "unique-local";
        case AddressKind::unspecified:
            return "unspecified";
        case AddressKind::invalid:
            break;
    }
    return "not an IP address";
}

std::optional<std::string> addressProblem(std::string_view address, bool allowPrivateHosts) {
    const AddressKind kind = classifyAddress(address);
    if (kind == AddressKind::publicAddress) return std::nullopt;
    if (kind == AddressKind::invalid) return "url's host resolves to something that is not an IP address";
    if (allowPrivateHosts) return std::nullopt;
    return "url's host resolves to " + std::string(address) + " (" + std::string(describe(kind)) +
           "): webhooks go to public addresses only";
}

std::string urlHost(std::string_view url) {
    const auto scheme = url.find("://");
    if (scheme == std::string_view::npos) return "";
    std::string_view rest = url.substr(scheme + 3);
    std::string_view host = rest.substr(0, rest.find_first_of("/?#"));
    if (const auto at = host.rfind('@'); at != std::string_view::npos) host = host.substr(at + 1);
    if (!host.empty() && host.front() == '[') {
        const auto close = host.find(']');
        if (close == std::string_view::npos) return "";
        return lower(host.substr(1, close - 1));
    }
    return lower(host.substr(0, host.find(':')));
}

std::optional<std::string> urlProblem(std::string_view url, bool allowPrivateHosts) {
    if (url.empty()) return "url is required";
    if (url.size() > kMaxUrlLength) return "url is longer than " + std::to_string(kMaxUrlLength) + " characters";
    for (const char c : url) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte >= 0x7f) return "url holds a space, a control or a non-ASCII character";
    }
    const std::string scheme = lower(url.substr(0, std::min<std::size_t>(url.size(), 8)));
    const bool https = startsWith(scheme, "https://");
    const bool http = !https && startsWith(scheme, "http://");
    if (!https && !http) return "url must begin with https://";
    std::string_view rest = url.substr(https ? 8 : 7);
    const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    if (authority.find('@') != std::string_view::npos) return "url must not hold user info (user@host)";
    std::string_view host = authority;
    if (!host.empty() && host.front() == '[') {
        const auto close = host.find(']');
        if (close == std::string_view::npos) return "url's host is not valid";
        const std::string_view port = host.substr(close + 1);
        host = host.substr(0, close + 1);
        if (!port.empty() && (port.front() != ':' || port.size() == 1)) return "url's port is not valid";
    } else if (const auto colon = host.find(':'); colon != std::string_view::npos) {
        const std::string_view port = host.substr(colon + 1);
        host = host.substr(0, colon);
        int number = 0;
        const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
        if (port.empty() || error != std::errc() || end != port.data() + port.size() || number < 1 || number > 65535)
            return "url's port is not valid";
    }
    if (host.empty()) return "url has no host";
    for (const char c : host)
        if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' && c != '-' && c != '[' && c != ']' &&
            c != ':')
            return "url's host is not valid";
    if (http) {
        if (!allowPrivateHosts) return "url must begin with https://";
        if (!privateHost(lower(host))) return "url may use http:// only for a loopback or private address";
    }
    return std::nullopt;
}

std::optional<std::string> secretProblem(std::string_view secret) {
    if (secret.size() < kMinSecretLength || secret.size() > kMaxSecretLength)
        return "secret must be " + std::to_string(kMinSecretLength) + " to " + std::to_string(kMaxSecretLength) +
               " characters";
    for (const char c : secret) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte >= 0x7f) return "secret must be printable ASCII without spaces";
    }
    return std::nullopt;
}

std::string maskSecret(std::string_view secret) {
    if (secret.empty()) return "";
    return std::string(secret.substr(0, std::min<std::size_t>(4, secret.size() / 4))) + "****";
}

std::vector<Intent> decideBatchDone(const FinishedBatch& batch, const std::vector<Registration>& registrations) {
    std::vector<Intent> intents;
    if (batch.state != "completed" && batch.state != "failed") return intents;
    const std::string prefix = "bd-" + batch.batchId + "-" + eventOf(batch.state) + "-";
    for (const auto& registration : registrations) {
        if (!registration.url.empty()) {
            Intent intent;
            intent.notificationId = prefix + "w" + registration.tokenId;
            intent.target = std::string(kWebhookTarget) + registration.tokenId;
            intent.text = webhookBody(batch, intent.notificationId);
            intent.webhook = true;
            intents.push_back(std::move(intent));
        }
        if (!registration.sms.empty()) {
            Intent intent;
            intent.notificationId = prefix + "s" + registration.tokenId;
            intent.target = registration.sms;
            intent.text = smsText(batch);
            intents.push_back(std::move(intent));
        }
    }
    return intents;
}

std::string webhookBody(const FinishedBatch& batch, std::string_view notificationId) {
    std::string out;
    json::ObjectWriter writer(out);
    writer.field("event", "batch." + eventOf(batch.state))
        .field("notification_id", notificationId)
        .field("batch_id", batch.batchId)
        .field("state", batch.state)
        .field("rows_total", batch.rowsTotal)
        .field("rows_done", batch.rowsDone)
        .field("completed_at", batch.completedAt);
    if (!batch.failureReason.empty()) writer.field("failure_reason", batch.failureReason);
    writer.close();
    return out;
}

std::string smsText(const FinishedBatch& batch) {
    if (batch.state == "failed") return "【臺北國稅局】您的批次查詢 " + batch.batchId + " 未能完成，請登入查看原因";
    return "【臺北國稅局】您的批次查詢 " + batch.batchId + " 已完成（" + std::to_string(batch.rowsDone) +
           " 筆），請登入下載結果";
}

std::string hmacSha256Hex(std::string_view key, std::string_view message) {
    Poco::HMACEngine<Sha256> hmac{std::string(key)};
    hmac.update(message.data(), static_cast<unsigned>(message.size()));
    return Poco::DigestEngine::digestToHex(hmac.digest());
}

std::string signatureHeader(std::string_view secret, long long unixSeconds, std::string_view body) {
    const std::string stamp = std::to_string(unixSeconds);
    std::string signed_ = stamp;
    signed_ += '.';
    signed_ += body;
    return "t=" + stamp + ",v1=" + hmacSha256Hex(secret, signed_);
}

bool verifySignature(std::string_view secret, std::string_view header, std::string_view body) {
    if (!startsWith(header, "t=")) return false;
    const auto comma = header.find(",v1=");
    if (comma == std::string_view::npos) return false;
    const std::string_view stamp = header.substr(2, comma - 2);
    const std::string_view given = header.substr(comma + 4);
    if (stamp.empty() || !std::all_of(stamp.begin(), stamp.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return false;
    std::string signed_(stamp);
    signed_ += '.';
    signed_ += body;
    const std::string expected = hmacSha256Hex(secret, signed_);
    if (expected.size() != given.size()) return false;
    unsigned char difference = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) difference |= static_cast<unsigned char>(expected[i] ^ given[i]);
    return difference == 0;
}

std::chrono::milliseconds backoff(int attempt, std::chrono::milliseconds base, std::chrono::milliseconds cap) {
    if (attempt <= 1) return std::chrono::milliseconds(0);
    auto wait = base;
    for (int i = 2; i < attempt && wait < cap; ++i) wait *= 2;
    return std::min(wait, cap);
}

Answer classifyStatus(int httpStatus) {
    if (httpStatus >= 200 && httpStatus < 300) return Answer::delivered;
    if (httpStatus >= 500 || httpStatus == 408 || httpStatus == 429) return Answer::retry;
    return Answer::refused;
}

}  // namespace taxdesk::jobs::notify
