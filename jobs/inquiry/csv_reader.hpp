#pragma once
// SPEC 3.1: the batch file's CSV (RFC 4180, and what hand-edited files make of it), tokenised one piece of decoded
// text at a time into fields and records. It knows nothing of columns or rows: a CsvSink does.
#include <cstddef>
#include <string>
#include <string_view>

namespace taxdesk::jobs::inquiry {

/// One field as the reader passes it to its sink.
struct CsvField {
    /// Quotes removed ("" read as one). When `inPiece`, a view of the text passed to CsvReader::feed(), valid until
    /// the sink's endOfPiece(); else a view of the reader's own buffer, valid only during the call to field().
    std::string_view text;
    bool inPiece = false;    ///< `text` views the piece being fed (the common field: no "" inside, not cut by a piece)
    bool overflow = false;   ///< the field was longer than CsvReader::kMaxFieldBytes and `text` holds its beginning
    int unreadableLine = 0;  ///< the physical line of the field's first unreadable bytes, 0 when all could be read
    int index = 0;           ///< 0-based position of the field in its record
};

/// What a CsvReader calls, in file order. Exceptions propagate out of CsvReader::feed() and finish().
class CsvSink {
  public:
    virtual ~CsvSink() = default;
    /// A field of the current record. `field.text` is a view: see CsvField for how long it lives.
    virtual void field(const CsvField& field) = 0;
    /// The end of the record whose fields were just passed. `line` is the 1-based physical line it started on. A
    /// blank line is a record of one empty field.
    virtual void endRecord(int line) = 0;
    /// The end of a piece of text passed to CsvReader::feed(): views of it (CsvField::inPiece) that the sink still
    /// holds must be copied now. Not called when feed() ends by an exception.
    virtual void endOfPiece() {}
    /// A whole record at once, in place of field() for each of its fields and endRecord(line): the reader calls it
    /// for a record that lies in the piece being fed and whose fields are all views of it (inPiece, no overflow,
    /// nothing unreadable), `fields[i]` being field i. The views live until endOfPiece(). The default makes exactly
    /// those calls; a sink overrides it to take the common record without a call a field.
    virtual void record(const std::string_view* fields, std::size_t count, int line);
};

/// RFC 4180 tokenising: fields separated by commas, records by LF (a CR outside quotes is dropped wherever it is: it
/// can only be the first half of a CRLF line end, or stray white space), quoted fields with "" for a quote and line
/// breaks kept inside. A quote inside an unquoted field, or text after a closing quote, is kept as text (not RFC
/// 4180, but what a hand-edited file contains, and its meaning is plain). kUnreadable (charset.hpp) in the text is
/// written as U+FFFD and its line remembered in the field. Memory stays bounded: a field keeps at most
/// kMaxFieldBytes, cut at a character boundary. A field that lies whole in one piece of text and needs no change (no
/// "" inside, no text after its closing quote, no CR or unreadable bytes inside) is passed as a view of that piece,
/// without a copy; any other is built in the reader's buffer, as before. Not thread-safe; one per file.
class CsvReader {
  public:
    /// What a field may hold. The longest legal value (200 characters of up to four bytes, plus padding) fits;
    /// longer text is cut and flagged, so that an unbalanced quote cannot make one field as big as the file.
    static constexpr std::size_t kMaxFieldBytes = 4096;

    explicit CsvReader(CsvSink& sink) : sink_(sink) {}

    /// Reads the next piece of text (valid UTF-8 but for kUnreadable bytes).
    void feed(std::string_view text);

    /// At the end of the text: ends the last record (unless the text ended with a line break). Returns false, and
    /// ends nothing, when a quoted field is still open: openQuoteLine() says where it opened.
    bool finish();

    /// The 1-based physical line of the last opening quote.
    [[nodiscard]] int openQuoteLine() const noexcept { return quoteLine_; }

  private:
    enum class State { fieldStart, unquoted, quoted, quoteSeen, afterQuoted };

    void take(const char* at);
    void takeUnreadable();
    void append(char c);
    void appendRun(const char* begin, const char* end);
    void appendOwned(const char* begin, const char* end);
    void ownField();
    void endField();
    void endRecord();
    void endRecordNow();  // endRecord() once its last field is passed

    CsvSink& sink_;
    State state_ = State::fieldStart;
    CsvField field_;
    std::string text_;                 // the field's text when it is not a view (viewing_ false)
    bool viewing_ = true;              // the field so far is [viewBegin_, viewEnd_) of the piece being fed
    const char* viewBegin_ = nullptr;  // null while the field has no text yet
    const char* viewEnd_ = nullptr;
    int line_ = 1;        // physical line of the next byte
    int recordLine_ = 1;  // physical line on which the current record started
    int quoteLine_ = 0;   // physical line of the last opening quote
};

}  // namespace taxdesk::jobs::inquiry
