// Fuzz target: the inbound SMS grammar of SPEC 4.1 (jobs/sms/inbound: parseSmsText, normalizeMsisdn). Invariants:
// each kind carries exactly the fields the header promises; an application names a service and a valid person's ID
// (normalised, valid in the year) and four ASCII digits, and so does a progress query (`查`/`Q`, issue 13) but with no
// service; an invalidId has a service (or is a query's), four digits and an ID that is not a person's in that year;
// only a query, its malformed or its invalid form says isQuery; a normalised number is `09` and 8 digits, and
// normalising it again gives itself. The gateway's received_at (jobs/sms/received_at): an instant that parses is
// believed exactly within its window and not outside it, and reads back the same when written as UTC; its Taipei day
// key is 8 digits. Segments (jobs/sms/segments): at least one, at most one per byte, never fewer when a character is
// added; GSM-7 text is valid UTF-8.
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/sms/inbound.hpp"
#include "jobs/sms/received_at.hpp"
#include "jobs/sms/segments.hpp"

namespace id = taxdesk::jobs::identity;
namespace sms = taxdesk::jobs::sms;

namespace {

bool isFourDigits(std::string_view text) {
    return text.size() == 4 && text.find_first_not_of("0123456789") == std::string_view::npos;
}

void checkParsed(std::string_view text, int year) {
    const sms::ParsedSms parsed = sms::parseSmsText(text, year);
    FUZZ_CHECK(std::string_view(sms::toString(parsed.kind)) != "unknown", "every kind has a name");
    using Kind = sms::ParsedSms::Kind;
    switch (parsed.kind) {
        case Kind::application: {
            FUZZ_CHECK(parsed.service.has_value(), "an application names a service");
            FUZZ_CHECK(isFourDigits(parsed.nhiLast4), "an application has four digits");
            FUZZ_CHECK(id::normalize(parsed.id) == parsed.id, "the ID is normalised");
            const id::IdKind kind = id::classifyIn(parsed.id, year);
            FUZZ_CHECK(kind == id::IdKind::nationalId || kind == id::IdKind::residentCertificate,
                       "an application's ID is a person's, valid in the year");
            break;
        }
        case Kind::query: {
            FUZZ_CHECK(parsed.isQuery && !parsed.service, "a query names no service");
            FUZZ_CHECK(isFourDigits(parsed.nhiLast4), "a query has four digits");
            FUZZ_CHECK(id::normalize(parsed.id) == parsed.id, "the query's ID is normalised");
            const id::IdKind kind = id::classifyIn(parsed.id, year);
            FUZZ_CHECK(kind == id::IdKind::nationalId || kind == id::IdKind::residentCertificate,
                       "a query's ID is a person's, valid in the year");
            break;
        }
        case Kind::invalidId: {
            FUZZ_CHECK(parsed.service.has_value() != parsed.isQuery, "an invalid ID comes with a service or a query");
            FUZZ_CHECK(isFourDigits(parsed.nhiLast4), "an invalid ID comes with four digits");
            const id::IdKind kind = id::classifyIn(parsed.id, year);
            FUZZ_CHECK(kind != id::IdKind::nationalId && kind != id::IdKind::residentCertificate,
                       "an invalid ID is not a person's valid ID");
            break;
        }
        case Kind::malformed:
            FUZZ_CHECK(parsed.id.empty() && parsed.nhiLast4.empty(), "a malformed text carries no ID");
            break;
        case Kind::help:
        case Kind::unknownService:
            FUZZ_CHECK(!parsed.service && parsed.id.empty() && parsed.nhiLast4.empty(),
                       "help and unknown service carry nothing");
            break;
    }
    if (parsed.isQuery)
        FUZZ_CHECK(parsed.kind == Kind::query || parsed.kind == Kind::malformed || parsed.kind == Kind::invalidId,
                   "a query is a query, malformed or an invalid ID");
    if (parsed.service) {
        const sms::Service service = *parsed.service;
        FUZZ_CHECK(sms::serviceFromCode(sms::serviceCode(service)) == service, "a service's code names it");
        FUZZ_CHECK(sms::serviceFromString(sms::toString(service)) == service, "a service's name names it");
    }
}

void checkReceivedAt(std::string_view text) {
    const auto instant = sms::parseIsoInstant(text);
    if (!instant) {
        FUZZ_CHECK(sms::applicationInstant(text, 1'800'000'000).source ==
                       (text.empty() ? sms::ReceivedAtSource::missing : sms::ReceivedAtSource::unparsable),
                   "what does not parse is missing or unparsable");
        return;
    }
    const std::int64_t at = *instant;
    const auto same = sms::applicationInstant(text, at);
    FUZZ_CHECK(same.source == sms::ReceivedAtSource::gateway && same.unixSeconds == at, "believed at its instant");
    const auto oldest = sms::applicationInstant(text, at + sms::kMaxReceivedAtAgeSeconds);
    FUZZ_CHECK(oldest.source == sms::ReceivedAtSource::gateway && oldest.unixSeconds == at, "believed 24 h later");
    const auto ahead = sms::applicationInstant(text, at - 1);
    FUZZ_CHECK(ahead.source == sms::ReceivedAtSource::future && ahead.unixSeconds == at - 1, "future: now instead");
    const auto old = sms::applicationInstant(text, at + sms::kMaxReceivedAtAgeSeconds + 1);
    FUZZ_CHECK(old.source == sms::ReceivedAtSource::tooOld, "too old after 24 h");

    // dayKey() is given the application instant, within a day of the engine's clock: from 1970 to well before 9999.
    const std::string day = sms::dayKey(at);
    if (at >= 0 && at < 253'402'000'000)
        FUZZ_CHECK(day.size() == 8 && day.find_first_not_of("0123456789") == std::string::npos,
                   "a day key is 8 digits");

    const std::time_t seconds = static_cast<std::time_t>(at);
    std::tm utc{};
    FUZZ_CHECK(gmtime_r(&seconds, &utc) != nullptr, "an instant has a UTC date");
    char written[32];
    std::snprintf(written, sizeof written, "%04d-%02d-%02dT%02d:%02d:%02dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                  utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
    // Years 0–9999 with an offset can fall outside them in UTC; only four-digit years can be written back.
    if (utc.tm_year + 1900 >= 0 && utc.tm_year + 1900 <= 9999)
        FUZZ_CHECK(sms::parseIsoInstant(written) == instant, "an instant written as UTC reads back the same");
}

void checkSegments(std::string_view text) {
    const int segments = sms::countSegments(text);
    FUZZ_CHECK(segments >= 1, "at least one segment");
    FUZZ_CHECK(static_cast<std::size_t>(segments) <= text.size() + 1, "at most one segment per byte");
    FUZZ_CHECK(sms::countSegments(std::string(text) + "a") >= segments, "a longer text costs no fewer segments");
    FUZZ_CHECK(!sms::isGsm7(text) || taxdesk::fuzz::isValidUtf8(text), "GSM-7 text is valid UTF-8");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = taxdesk::fuzz::asText(data, size);
    // 2030 is the last year of the old resident certificates, 2031 the first without them.
    checkParsed(text, 2030);
    checkParsed(text, 2031);

    checkReceivedAt(text);
    checkSegments(text);

    if (const auto msisdn = sms::normalizeMsisdn(text)) {
        FUZZ_CHECK(msisdn->size() == 10 && msisdn->starts_with("09") &&
                       msisdn->find_first_not_of("0123456789") == std::string::npos,
                   "a normalised number is 09 and 8 digits");
        FUZZ_CHECK(sms::normalizeMsisdn(*msisdn) == msisdn, "normalizeMsisdn() is idempotent");
    }
    return 0;
}
