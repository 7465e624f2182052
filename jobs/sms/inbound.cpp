#include "jobs/sms/inbound.hpp"

#include <algorithm>
#include <vector>

#include "jobs/common/utf8.hpp"
#include "jobs/identity/identifiers.hpp"

namespace taxdesk::jobs::sms {
namespace {

struct ServiceInfo {
    Service service;
    const char* name;
    const char* keyword;
    const char* ascii;
};

constexpr std::array<ServiceInfo, 5> kServices = {{
    {Service::propertyIncome, "財產所得資料", "財產所得", "property_income"},
    {Service::taxPaymentCertificate, "綜所稅納稅證明", "納稅證明", "tax_payment_certificate"},
    {Service::taxRegistration, "綜所稅稅籍資料", "稅籍資料", "tax_registration"},
    {Service::arrearsReply, "違章欠稅查復表", "欠稅查復", "arrears_reply"},
    {Service::savingsDeduction, "儲蓄免扣證", "免扣證", "savings_deduction"},
}};

const ServiceInfo& infoOf(Service service) noexcept {
    // The enum's values are 1..5 in table order; anything else (a cast from a bad integer) falls back to the first
    // entry rather than reading outside the table.
    const int code = serviceCode(service);
    return kServices[static_cast<std::size_t>(code >= 1 && code <= 5 ? code - 1 : 0)];
}

bool isAsciiSpace(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool isDigit(char c) noexcept {
    return c >= '0' && c <= '9';
}

/// Folds full-width characters, splits on any white space (identity::isSpace, the one definition of SPEC 2) and
/// upper-cases ASCII letters of each word. Bytes that are not valid UTF-8 stay in their word unchanged.
std::vector<std::string> splitWords(std::string_view text) {
    const std::string folded = identity::foldFullWidth(text);
    std::vector<std::string> words;
    std::string current;
    std::size_t pos = 0;
    auto flush = [&] {
        if (!current.empty()) words.push_back(std::move(current));
        current.clear();
    };
    while (pos < folded.size()) {
        const std::size_t start = pos;
        const auto cp = utf8::decodeAt(folded, pos);
        if (!cp) pos = start + 1;
        if (cp && identity::isSpace(*cp)) {
            flush();
            continue;
        }
        const std::string_view bytes = std::string_view(folded).substr(start, pos - start);
        for (char c : bytes) current.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
    }
    flush();
    return words;
}

bool isHelpWord(std::string_view word) noexcept {
    // `？` (U+FF1F) arrives here already folded to `?`.
    return word == "0" || word == "?" || word == "說明" || word == "HELP";
}

/// The progress query command. `Ｑ`/`ｑ` arrive here folded and upper-cased to `Q`.
bool isQueryWord(std::string_view word) noexcept {
    return word == "查" || word == "Q";
}

std::optional<Service> serviceFromWord(std::string_view word) noexcept {
    for (const ServiceInfo& info : kServices) {
        if (word == info.keyword || word == info.name) return info.service;
    }
    if (word.size() == 1 && isDigit(word[0])) return serviceFromCode(word[0] - '0');
    return std::nullopt;
}

bool isFourDigits(std::string_view word) noexcept {
    if (word.size() != 4) return false;
    for (char c : word) {
        if (!isDigit(c)) return false;
    }
    return true;
}

}  // namespace

std::optional<std::string> normalizeMsisdn(std::string_view raw) {
    const std::string folded = identity::foldFullWidth(raw);
    std::string compact;
    compact.reserve(folded.size());
    for (char c : folded) {
        if (isAsciiSpace(c) || c == '-' || c == '.' || c == '(' || c == ')') continue;
        compact.push_back(c);
    }
    std::string_view digits = compact;
    bool international = false;
    for (std::string_view prefix : {"+886", "00886", "886"}) {
        if (digits.starts_with(prefix)) {
            digits.remove_prefix(prefix.size());
            international = true;
            break;
        }
    }
    // The international form drops the trunk 0: what remains is 9 + 8 digits.
    if (international ? (digits.size() != 9 || digits[0] != '9') : (digits.size() != 10 || !digits.starts_with("09"))) {
        return std::nullopt;
    }
    for (char c : digits) {
        if (!isDigit(c)) return std::nullopt;
    }
    std::string out;
    out.reserve(10);
    if (digits.size() == 9) out.push_back('0');
    out.append(digits);
    return out;
}

std::string maskMsisdn(std::string_view msisdn) {
    return std::string(msisdn.substr(0, 4)) + "***" +
           std::string(msisdn.substr(std::min<std::size_t>(7, msisdn.size())));
}

std::optional<Service> serviceFromCode(int code) noexcept {
    if (code < 1 || code > 5) return std::nullopt;
    return static_cast<Service>(code);
}

const char* serviceName(Service service) noexcept {
    return infoOf(service).name;
}

const char* serviceKeyword(Service service) noexcept {
    return infoOf(service).keyword;
}

const char* toString(Service service) noexcept {
    return infoOf(service).ascii;
}

std::optional<Service> serviceFromString(std::string_view name) noexcept {
    for (const ServiceInfo& info : kServices) {
        if (name == info.ascii) return info.service;
    }
    return std::nullopt;
}

ParsedSms parseSmsText(std::string_view text, int year) {
    ParsedSms parsed;
    const std::vector<std::string> words = splitWords(text);
    if (words.empty()) {
        parsed.kind = ParsedSms::Kind::malformed;
        return parsed;
    }
    if (isHelpWord(words[0])) {
        parsed.kind = ParsedSms::Kind::help;
        return parsed;
    }
    parsed.isQuery = isQueryWord(words[0]);
    if (!parsed.isQuery) parsed.service = serviceFromWord(words[0]);
    if (!parsed.isQuery && !parsed.service) {
        parsed.kind = ParsedSms::Kind::unknownService;
        return parsed;
    }
    if (words.size() != 3 || !isFourDigits(words[2])) {
        parsed.kind = ParsedSms::Kind::malformed;
        return parsed;
    }
    parsed.id = identity::normalize(words[1]);
    parsed.nhiLast4 = words[2];
    const identity::IdKind kind = identity::classifyIn(parsed.id, year);
    const bool isPerson = kind == identity::IdKind::nationalId || kind == identity::IdKind::residentCertificate;
    if (!isPerson)
        parsed.kind = ParsedSms::Kind::invalidId;
    else
        parsed.kind = parsed.isQuery ? ParsedSms::Kind::query : ParsedSms::Kind::application;
    return parsed;
}

const char* toString(ParsedSms::Kind kind) noexcept {
    switch (kind) {
        case ParsedSms::Kind::application:
            return "application";
        case ParsedSms::Kind::help:
            return "help";
        case ParsedSms::Kind::unknownService:
            return "unknown_service";
        case ParsedSms::Kind::malformed:
            return "malformed";
        case ParsedSms::Kind::invalidId:
            return "invalid_id";
        case ParsedSms::Kind::query:
            return "query";
    }
    return "unknown";
}

}  // namespace taxdesk::jobs::sms
