// Fuzz target: the JSON readers (jobs/common/json parseFlatObject, jobs/inquiry/codec decodeRequest and
// decodeResult, rowOfRequest). Invariants: each reader either returns or throws its documented error (json::ParseError,
// inquiry::DecodeError), never anything else; strings read from valid UTF-8 are valid UTF-8; the writer writes
// valid UTF-8 whatever it is given; what the flat reader returns survives a round trip through the writer; a decoded
// request or result encodes to JSON that decodes to the same value.
#include <Poco/Exception.h>

#include <string>
#include <string_view>
#include <variant>

#include "fuzz_check.hpp"
#include "jobs/common/json.hpp"
#include "jobs/inquiry/codec.hpp"

namespace json = taxdesk::jobs::json;
namespace inquiry = taxdesk::jobs::inquiry;
using taxdesk::fuzz::isValidUtf8;

namespace {

void appendScalar(std::string& out, const json::Scalar& scalar) {
    if (std::holds_alternative<json::Null>(scalar)) {
        out += "null";
    } else if (const auto* flag = std::get_if<bool>(&scalar)) {
        out += *flag ? "true" : "false";
    } else if (const auto* number = std::get_if<double>(&scalar)) {
        // Only the strings are compared after the round trip; a number stands in as 0.
        (void)number;
        out += "0";
    } else {
        json::appendString(out, std::get<std::string>(scalar));
    }
}

void checkFlat(std::string_view text, bool validInput) {
    std::vector<json::Field> fields;
    try {
        fields = json::parseFlatObject(text);
    } catch (const json::ParseError&) {
        return;
    }
    std::string again = "{";
    for (std::size_t i = 0; i < fields.size(); ++i) {
        const json::Field& field = fields[i];
        FUZZ_CHECK(!validInput || isValidUtf8(field.name), "names read from valid UTF-8 are valid UTF-8");
        for (const json::Scalar& item : field.value.array)
            if (const auto* s = std::get_if<std::string>(&item))
                FUZZ_CHECK(!validInput || isValidUtf8(*s), "strings read from valid UTF-8 are valid UTF-8");
        if (const auto* s = std::get_if<std::string>(&field.value.scalar))
            FUZZ_CHECK(!validInput || isValidUtf8(*s), "strings read from valid UTF-8 are valid UTF-8");
        FUZZ_CHECK(field.value.isArray || field.value.array.empty(), "only an array has items");
        if (i) again.push_back(',');
        json::appendString(again, field.name);
        again.push_back(':');
        if (field.value.isArray) {
            again.push_back('[');
            for (std::size_t j = 0; j < field.value.array.size(); ++j) {
                if (j) again.push_back(',');
                appendScalar(again, field.value.array[j]);
            }
            again.push_back(']');
        } else {
            appendScalar(again, field.value.scalar);
        }
    }
    again.push_back('}');
    std::vector<json::Field> reread;
    try {
        reread = json::parseFlatObject(again);
    } catch (const json::ParseError& error) {
        std::fprintf(stderr, "written: %s\nerror: %s\n", again.c_str(), error.what());
        FUZZ_CHECK(false, "what the writer writes, the reader reads");
    }
    FUZZ_CHECK(reread.size() == fields.size(), "the round trip keeps every field");
    for (std::size_t i = 0; i < fields.size(); ++i) {
        FUZZ_CHECK(!isValidUtf8(fields[i].name) || reread[i].name == fields[i].name, "the round trip keeps names");
        FUZZ_CHECK(reread[i].value.isArray == fields[i].value.isArray, "the round trip keeps arrays");
        const auto* before = std::get_if<std::string>(&fields[i].value.scalar);
        const auto* after = std::get_if<std::string>(&reread[i].value.scalar);
        FUZZ_CHECK((before == nullptr) == (after == nullptr), "the round trip keeps types");
        // Bytes that are not UTF-8 come back as U+FFFD (the writer's promise); valid text comes back as it was.
        FUZZ_CHECK(before == nullptr || !isValidUtf8(*before) || *before == *after, "the round trip keeps strings");
        FUZZ_CHECK(after == nullptr || isValidUtf8(*after), "what the writer wrote reads as valid UTF-8");
    }
}

void checkRequest(std::string_view text, bool validInput) {
    // Never throws: it reads what decodeRequest may refuse (a dead-lettered request's row gets its error result).
    const auto row = inquiry::rowOfRequest(text);
    FUZZ_CHECK(!row || (!row->batchId.empty() && row->row >= 1), "a row named is a batch id and a row >= 1");
    inquiry::InquiryRequest request;
    try {
        request = inquiry::decodeRequest(text);
    } catch (const inquiry::DecodeError&) {
        return;
    }
    FUZZ_CHECK(request.batchId.empty() || (row && row->batchId == request.batchId && row->row == request.row),
               "the row of a request that decodes is the request's");
    // The writer turns bytes that are not UTF-8 into U+FFFD: only valid text must come back unchanged.
    if (!validInput) return;
    const std::string encoded = inquiry::encodeRequest(request);
    inquiry::InquiryRequest again;
    try {
        again = inquiry::decodeRequest(encoded);
    } catch (const inquiry::DecodeError& error) {
        std::fprintf(stderr, "encoded: %s\nerror: %s\n", encoded.c_str(), error.what());
        FUZZ_CHECK(false, "an encoded request decodes");
    }
    FUZZ_CHECK(again == request, "a request survives encode and decode");
}

void checkResult(std::string_view text, bool validInput) {
    inquiry::InquiryResult result;
    try {
        result = inquiry::decodeResult(text);
    } catch (const inquiry::DecodeError&) {
        return;
    } catch (const Poco::Exception& error) {
        std::fprintf(stderr, "decodeResult threw %s: %s\n", error.className(), error.displayText().c_str());
        FUZZ_CHECK(false, "decodeResult() throws DecodeError only");
    }
    if (!validInput) return;
    const std::string encoded = inquiry::encodeResult(result);
    inquiry::InquiryResult again;
    try {
        again = inquiry::decodeResult(encoded);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "encoded: %s\nerror: %s\n", encoded.c_str(), error.what());
        FUZZ_CHECK(false, "an encoded result decodes");
    }
    FUZZ_CHECK(again == result, "a result survives encode and decode");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = taxdesk::fuzz::asText(data, size);
    std::string written;
    json::appendString(written, text);
    FUZZ_CHECK(isValidUtf8(written), "the writer always writes valid UTF-8");
    const bool validInput = isValidUtf8(text);
    checkFlat(text, validInput);
    checkRequest(text, validInput);
    checkResult(text, validInput);
    return 0;
}
