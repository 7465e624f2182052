#pragma once
// Issue 13 "Done means told": the pure rules of batch notifications. A creditor token's webhook registration (URL,
// secret, SMS number) is checked here; when a batch reaches completed or failed, decideBatchDone() names one
// notification per registered channel, with an id that is a function of (batch, event, channel) so that a replay
// records nothing twice; the webhook body, its HMAC-SHA256 signature header and the back-off between delivery
// attempts are computed here too. No I/O. Thread-safe.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taxdesk::jobs::notify {

/// The longest webhook URL accepted (characters).
inline constexpr std::size_t kMaxUrlLength = 2048;
/// A secret given by the creditor: 16 to 128 printable ASCII characters (no spaces).
inline constexpr std::size_t kMinSecretLength = 16;
inline constexpr std::size_t kMaxSecretLength = 128;
/// The kind of a batch notification on notifications.outbound.
inline constexpr std::string_view kBatchDoneKind = "batch_done";
/// A webhook notification's msisdn field on notifications.outbound: this prefix and the token id (it is the Kafka
/// key and the store's target; the URL and the secret are read from the registration at send time).
inline constexpr std::string_view kWebhookTarget = "webhook:";

/// What is wrong with `url` as a webhook URL, or nullopt when it is acceptable: https://host[:port][/path…], at most
/// kMaxUrlLength characters, no whitespace, control characters or user info. http:// only when `allowPrivateHosts`
/// and the host is `localhost` or a literal address that is not public (classifyAddress): for tests. Where the host
/// name leads is checked apart, once resolved (addressProblem), at registration and again at each delivery.
std::optional<std::string> urlProblem(std::string_view url, bool allowPrivateHosts);
/// The host of a URL urlProblem() accepts (IPv6 without its brackets), lower case; "" when there is none.
std::string urlHost(std::string_view url);

/// What an IP address is, for the webhook's SSRF rule (issue 13): where a creditor's URL may make the engine connect.
enum class AddressKind {
    publicAddress,   ///< anything not below
    loopback,        ///< 127.0.0.0/8, ::1
    privateNetwork,  ///< RFC 1918: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16
    linkLocal,       ///< 169.254.0.0/16, fe80::/10 (cloud metadata services live here)
    uniqueLocal,     ///< fc00::/7
    unspecified,     ///< 0.0.0.0/8 ("this host": 0.0.0.0 connects to the local host), ::
    invalid,         ///< not a numeric IPv4 (dotted quad) or IPv6 address
};
/// The kind of a numeric address as a resolver gives it: dotted-quad IPv4 or IPv6 text (no brackets, no zone). An
/// IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) IPv6 address is the kind of the IPv4 address it carries.
AddressKind classifyAddress(std::string_view address);
/// "loopback", "private, RFC 1918", "link-local", "unique-local", "unspecified", "public", "not an IP address".
std::string_view describe(AddressKind kind);
/// Why a webhook must not connect to `address` (a resolved address of its URL's host), or nullopt: anything but a
/// public address is refused unless `allowPrivateHosts` (webhook.allow_private_hosts, for tests); an invalid one
/// always.
std::optional<std::string> addressProblem(std::string_view address, bool allowPrivateHosts);
/// What is wrong with a secret the creditor chose, or nullopt (see kMinSecretLength).
std::optional<std::string> secretProblem(std::string_view secret);

/// A secret as shown back (GET): its first 4 characters and asterisks, never the whole of it.
std::string maskSecret(std::string_view secret);

/// A batch that reached a final state, as the completion path read it in its transaction.
struct FinishedBatch {
    std::string batchId;
    std::string creditorId;
    std::string state;  ///< completed | failed (anything else: not notified)
    int rowsTotal = 0;
    int rowsDone = 0;
    std::string failureReason;
    std::string completedAt;
};

/// One creditor token's registration.
struct Registration {
    std::string tokenId;
    std::string url;  ///< "" = no webhook
    std::string sms;  ///< 09xxxxxxxx, "" = no SMS
};

/// One notification intent: what the outbox row (a notifications row, status queued) holds.
struct Intent {
    std::string notificationId;  ///< "bd-" batch "-" event "-" channel: the idempotency id
    std::string target;          ///< webhook:<token_id>, or the SMS number
    std::string text;            ///< the webhook body (JSON) or the SMS text
    bool webhook = false;
};

/// The intents for a batch that reached `batch.state`: one per registered channel (a webhook and an SMS number each)
/// of each registration; none unless the state is completed or failed.
std::vector<Intent> decideBatchDone(const FinishedBatch& batch, const std::vector<Registration>& registrations);

/// The webhook body: {"event":"batch.completed"|"batch.failed","notification_id","batch_id","state","rows_total",
/// "rows_done","completed_at"[,"failure_reason"]}.
std::string webhookBody(const FinishedBatch& batch, std::string_view notificationId);
/// The SMS text for a finished batch (Traditional Chinese, as the bureau's other texts).
std::string smsText(const FinishedBatch& batch);

/// Lower-case hex HMAC-SHA256 of `message` under `key`.
std::string hmacSha256Hex(std::string_view key, std::string_view message);
/// The X-Taxdesk-Signature header: "t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<body>" under the secret>".
std::string signatureHeader(std::string_view secret, long long unixSeconds, std::string_view body);
/// Whether `header` is a valid signature of `body` under `secret` (what a receiver checks; constant-time compare).
bool verifySignature(std::string_view secret, std::string_view header, std::string_view body);

/// The wait before delivery attempt `attempt` (1-based; the first has none): base × 2^(attempt-2), at most `cap`.
std::chrono::milliseconds backoff(int attempt, std::chrono::milliseconds base, std::chrono::milliseconds cap);

/// Whether a webhook answer's HTTP status is worth another attempt (5xx, 408, 429) or final (2xx delivered, other 4xx
/// refused for good).
enum class Answer { delivered, retry, refused };
Answer classifyStatus(int httpStatus);

}  // namespace taxdesk::jobs::notify
