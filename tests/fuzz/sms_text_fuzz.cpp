// Fuzz target: the inbound SMS grammar of SPEC 4.1 (jobs/sms/inbound: parseSmsText, normalizeMsisdn). Invariants:
// each kind carries exactly the fields the header promises; an application names a service and a valid person's ID
// (normalised, valid in the year) and four ASCII digits; an invalidId has a service, four digits and an ID that is
// not a person's in that year; a normalised number is `09` and 8 digits, and normalising it again gives itself.
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/sms/inbound.hpp"

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
        case Kind::invalidId: {
            FUZZ_CHECK(parsed.service.has_value(), "an invalid ID comes with a service");
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
    if (parsed.service) {
        const sms::Service service = *parsed.service;
        FUZZ_CHECK(sms::serviceFromCode(sms::serviceCode(service)) == service, "a service's code names it");
        FUZZ_CHECK(sms::serviceFromString(sms::toString(service)) == service, "a service's name names it");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = taxdesk::fuzz::asText(data, size);
    // 2030 is the last year of the old resident certificates, 2031 the first without them.
    checkParsed(text, 2030);
    checkParsed(text, 2031);

    if (const auto msisdn = sms::normalizeMsisdn(text)) {
        FUZZ_CHECK(msisdn->size() == 10 && msisdn->starts_with("09") &&
                       msisdn->find_first_not_of("0123456789") == std::string::npos,
                   "a normalised number is 09 and 8 digits");
        FUZZ_CHECK(sms::normalizeMsisdn(*msisdn) == msisdn, "normalizeMsisdn() is idempotent");
    }
    return 0;
}
