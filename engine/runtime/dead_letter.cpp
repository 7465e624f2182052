#include "engine/runtime/dead_letter.hpp"

#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Timestamp.h>

#include "jobs/common/json.hpp"

namespace taxdesk::engine {

std::string deadLetterValue(std::string_view original, const std::string& error, int attempts) {
    std::string extra;
    jobs::json::ObjectWriter(extra)
        .field("error", error)
        .field("attempts", attempts)
        .field("failed_at", Poco::DateTimeFormatter::format(Poco::Timestamp(), Poco::DateTimeFormat::ISO8601_FORMAT))
        .close();
    // Keep the original object's fields when it is one; its validity was what failed, so check the outline only.
    const auto first = original.find_first_not_of(" \t\r\n");
    const auto last = original.find_last_not_of(" \t\r\n");
    if (first != std::string_view::npos && original[first] == '{' && original[last] == '}') {
        std::string body(original.substr(first, last - first));  // without the closing brace
        const bool empty = body.find_first_not_of(" \t\r\n", 1) == std::string::npos;
        try {
            (void)jobs::json::parseFlatObject(original);
            return body + (empty ? "" : ",") + extra.substr(1);
        } catch (const jobs::json::ParseError&) {
            // Not a flat object we can extend safely: wrap it instead.
        }
    }
    std::string out;
    jobs::json::ObjectWriter(out).field("original", original).raw("dead_letter", extra).close();
    return out;
}

}  // namespace taxdesk::engine
