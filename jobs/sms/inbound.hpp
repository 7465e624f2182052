#pragma once
// SPEC 4.1: the inbound SMS. The sender's number and the grammar of the text `<service> <ID> <NHI last 4>`.
// Pure functions, thread-safe.
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace taxdesk::jobs::sms {

/// Normalises a mobile number to the `09` + 8 digits form that is stored and used as the Kafka key. Accepts
/// `09xxxxxxxx` and `+8869xxxxxxxx`, and also `8869…` and `008869…` (how gateways and phones write the
/// international form); spaces, tabs, dashes, dots and parentheses are ignored and full-width characters are
/// folded, so `０９１２－３４５－６７８` and `+886 912-345-678` both give `0912345678`. Returns nullopt for anything
/// else (a landline, too few or too many digits, other characters).
std::optional<std::string> normalizeMsisdn(std::string_view raw);

/// An msisdn for logs and pages, never whole: `0912345678` → `0912***678` (the first four characters, `***`, then
/// everything from the eighth character on; a shorter text keeps what it has of the first four).
std::string maskMsisdn(std::string_view msisdn);

/// The documents a citizen can apply for by SMS (SPEC 4.1). The value is the code the citizen types.
enum class Service {
    propertyIncome = 1,         ///< 財產所得資料, keyword 財產所得
    taxPaymentCertificate = 2,  ///< 綜所稅納稅證明, keyword 納稅證明
    taxRegistration = 3,        ///< 綜所稅稅籍資料, keyword 稅籍資料
    arrearsReply = 4,           ///< 違章欠稅查復表, keyword 欠稅查復
    savingsDeduction = 5,       ///< 儲蓄免扣證, keyword 免扣證
};

/// Every service in code order, for help texts and tests.
inline constexpr std::array<Service, 5> kAllServices = {Service::propertyIncome, Service::taxPaymentCertificate,
                                                        Service::taxRegistration, Service::arrearsReply,
                                                        Service::savingsDeduction};

/// The code the citizen types, 1–5.
constexpr int serviceCode(Service service) noexcept {
    return static_cast<int>(service);
}
/// The service with code `code`; nullopt outside 1–5.
std::optional<Service> serviceFromCode(int code) noexcept;
/// The document's name as the citizen reads it in replies, e.g. `財產所得資料` (UTF-8).
const char* serviceName(Service service) noexcept;
/// The keyword of SPEC 4.1 that may stand for the code, e.g. `財產所得` (UTF-8).
const char* serviceKeyword(Service service) noexcept;
/// A stable ASCII name for storage, JSON and metrics labels: property_income, tax_payment_certificate,
/// tax_registration, arrears_reply, savings_deduction.
const char* toString(Service service) noexcept;
/// The inverse of toString(Service); nullopt for anything else.
std::optional<Service> serviceFromString(std::string_view name) noexcept;

/// What an inbound SMS text says.
struct ParsedSms {
    enum class Kind {
        application,     ///< a service, a valid ID and four digits: check the identity and create a pickup
        help,            ///< the citizen asked for the list of services
        unknownService,  ///< the first word is neither a service, a code nor a help word
        malformed,       ///< a known service but not exactly three words, or the last word is not four digits
        invalidId,       ///< three well-formed words but the ID fails SPEC 2 validation
        query,           ///< `查`/`Q`, a valid ID and four digits: check the identity and list the open pickups
    };

    Kind kind = Kind::malformed;
    /// The first word is the progress query command (`查` or `Q`): kind is then query, malformed or invalidId, and
    /// service is unset.
    bool isQuery = false;
    /// Set when the first word names a service (application, malformed, invalidId).
    std::optional<Service> service;
    /// The second word, normalised (identity::normalize); set for application, query and invalidId only. Never log or
    /// reply with it whole: use identity::mask.
    std::string id;
    /// The last word, four ASCII digits; set for application, query and invalidId only.
    std::string nhiLast4;
};

/// Parses an inbound SMS text (SPEC 4.1). Words are separated by any run of white space: ASCII space, tab and
/// line breaks, the ideographic space U+3000, the no-break space and the other Unicode space characters.
/// Full-width letters and digits are folded and case is ignored. The first word decides:
///  - `0`, `?`, `？`, `說明` or `HELP` (any case): help, whatever follows;
///  - a code `1`–`5`, a keyword (`財產所得`, `納稅證明`, `稅籍資料`, `欠稅查復`, `免扣證`) or a service's full name
///    (`財產所得資料`, …): a service; then exactly two more words are required, the last of exactly four digits,
///    else malformed; then the ID must be a valid national ID or new-format resident certificate number (a
///    business number is no person's ID), else invalidId;
///  - `查` or `Q` (any case, full-width too: the progress query, an addition to SPEC 4.1): the same two words as an
///    application, then query (isQuery set), else malformed or invalidId as above;
///  - anything else: unknownService. An empty or blank text is malformed.
/// `year` is the current Taipei year, in which the ID must be valid (identity::classifyIn).
ParsedSms parseSmsText(std::string_view text, int year);

/// A stable ASCII name for logs and metrics labels: application, help, unknown_service, malformed, invalid_id, query.
const char* toString(ParsedSms::Kind kind) noexcept;

}  // namespace taxdesk::jobs::sms
