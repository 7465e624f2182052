#pragma once
// SPEC 6: a dead letter is the original message with `error`, `attempts` and `failed_at` added.
#include <string>
#include <string_view>

namespace taxdesk::engine {

/// The dead-letter value for `original`: when it is a JSON object, the object with the three fields added;
/// otherwise `{"original": "<text>", …}`.
std::string deadLetterValue(std::string_view original, const std::string& error, int attempts);

}  // namespace taxdesk::engine
