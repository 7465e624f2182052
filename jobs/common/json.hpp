#pragma once
// Small, allocation-light JSON helpers for the hot path: an escaping writer and a reader for flat objects
// (string, number, boolean and null values, arrays of those). Messages on the pipeline's topics are flat or
// nearly so; anything nested is read with Poco::JSON where speed does not matter.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace taxdesk::jobs::json {

/// Appends `text` as a JSON string literal (with quotes) to `out`. `text` is UTF-8 and copied as is, but for the
/// characters JSON requires escaped; a byte that is not part of valid UTF-8 is written as U+FFFD (EF BF BD), so
/// that the output is always valid JSON.
void appendString(std::string& out, std::string_view text);

/// Builds one JSON object by appending fields. Not a general writer: values are strings, integers, raw JSON.
class ObjectWriter {
  public:
    explicit ObjectWriter(std::string& out) : out_(out) { out_.push_back('{'); }
    ObjectWriter& field(std::string_view name, std::string_view value);
    ObjectWriter& field(std::string_view name, const char* value) { return field(name, std::string_view(value)); }
    ObjectWriter& field(std::string_view name, long long value);
    ObjectWriter& field(std::string_view name, int value) { return field(name, static_cast<long long>(value)); }
    /// `json` must already be valid JSON (an array or object built by the caller).
    ObjectWriter& raw(std::string_view name, std::string_view json);
    void close() { out_.push_back('}'); }

  private:
    void key(std::string_view name);
    std::string& out_;
    bool first_ = true;
};

class ParseError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct Null {};
using Scalar = std::variant<Null, bool, double, std::string>;
struct Value {
    Scalar scalar;
    std::vector<Scalar> array;  ///< set when the value was an array
    bool isArray = false;
};

struct Field {
    std::string name;
    Value value;
};

/// Parses one JSON object whose values are scalars or arrays of scalars. Throws ParseError with the byte offset for
/// anything RFC 8259 does not allow there, among them a `\u` escape of an unpaired surrogate (a high one must be
/// followed by a `\u` escape of a low one: it would decode to bytes that are not UTF-8), a raw control character
/// (U+0000–U+001F) in a string, and a number outside the JSON grammar (01, 1., -inf). Bytes that are not UTF-8 are
/// taken as they are (rowOfRequest reads what the strict reader refused). The inquiry codecs read with simdjson.
std::vector<Field> parseFlatObject(std::string_view text);

}  // namespace taxdesk::jobs::json
