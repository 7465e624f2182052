#pragma once
// SPEC 3.1: the batch file's charset, UTF-8 or Big5 (CP950), declared by the upload or detected from its bytes, and
// the file decoded to UTF-8 text chunk by chunk, in memory that does not grow with the file.
#include <istream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace taxdesk::jobs::inquiry {

enum class Charset { utf8, big5 };

/// Parses the upload's `charset` parameter: `utf-8`/`utf8` or `big5`/`cp950`, case-insensitive, surrounding white
/// space ignored. Returns nullopt for anything else (the HTTP layer answers 400) and for an empty text.
std::optional<Charset> parseCharset(std::string_view text);
/// `utf-8` or `big5`, as the upload's parameter and the batch's record name it.
const char* toString(Charset charset);
/// `UTF-8` or `Big5 (CP950)`, as messages to the creditor name it.
const char* displayName(Charset charset);

/// Decides how to read a batch file. A declared charset wins and nothing is read. Otherwise the stream is read to its
/// end: UTF-8 when every byte is valid UTF-8; else Big5 when fewer characters are unreadable as Big5 (CP950 with
/// its user-defined area and HKSCS, as the reader decodes it) than as UTF-8, so that a Big5 file with one bad pair
/// is still read as Big5 and only that row is refused; else UTF-8. A UTF-8 byte order mark settles it as UTF-8 at
/// once, and so does a UTF-16 one (the reader then explains that UTF-16 is not supported). Leaves the stream at an
/// unspecified position, possibly with eofbit set: the caller rewinds (clear(), seekg(0)). Throws
/// std::runtime_error when the stream fails (badbit).
Charset detectCharset(std::istream& in, std::optional<Charset> declared);

/// Windows' CP950 mapping of Big5's user-defined areas (造字, EUDC) to the Unicode Private Use Area, 157 code points
/// per lead byte, trail bytes 0x40–0x7E then 0xA1–0xFE: 0xFA40–0xFEFE → U+E000–U+E310, 0x8E40–0xA0FE →
/// U+E311–U+EEB7, 0x8140–0x8DFE → U+EEB8–U+F6B0, and 0xC6A1–0xC8FE → U+F6B1–U+F848 (its first lead byte has only
/// the trail bytes 0xA1–0xFE: 0xC640–0xC67E are standard characters). Returns 0 for a pair outside these areas.
/// The reader decodes such a pair as HKSCS first when glibc's BIG5-HKSCS knows it, and only otherwise with this.
char32_t big5UserDefined(unsigned char lead, unsigned char trail) noexcept;

/// Stands in the decoded text for bytes that could not be read. A decoder's output is otherwise valid UTF-8, in
/// which the byte 0xFF never occurs, so a reader can tell it from any character the creditor wrote.
inline constexpr char kUnreadable = '\xFF';

/// U+FFFD, what the CSV reader puts where bytes could not be read, and what some exports write for a lost character.
inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

/// Thrown by DecodedText::next() when the file looks like UTF-16 (a byte order mark, or NUL bytes in its first line).
class Utf16Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// The file as UTF-8 text, chunk by chunk: validated (UTF-8) or decoded (Big5), without a byte order mark, with
/// kUnreadable where bytes could not be read (the reader of the text decides what that costs: a row, or the file).
/// Big5 pairs are read as CP950 (Poco's table), then HKSCS (glibc's BIG5-HKSCS) inside the user-defined areas, then
/// big5UserDefined(); ill-formed UTF-8 is replaced sequence by sequence (Unicode's "maximal subpart" practice), so a
/// comma or a line break right after a cut character is kept. Not thread-safe; one per read.
class DecodedText {
  public:
    DecodedText(std::istream& in, Charset charset);
    ~DecodedText();
    DecodedText(const DecodedText&) = delete;
    DecodedText& operator=(const DecodedText&) = delete;

    /// The next piece of text, empty at the end of the file (and every call after it). Throws Utf16Error for a file
    /// that looks like UTF-16, std::runtime_error when the stream fails (badbit).
    std::string_view next();

  private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace taxdesk::jobs::inquiry
