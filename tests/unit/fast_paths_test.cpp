// Issue 11: the fast paths of the upload and the topic codecs give what the plain paths gave. Each fast path is
// checked against a reference written here the simple way (a character at a time), on random inputs that mix what
// real files hold with what breaks them: ASCII, CJK, full-width forms, every kind of space, bytes that are not
// UTF-8, characters cut by the reader's 64 KiB chunks. And the strict JSON of RFC 8259 in the readers.
#include <gtest/gtest.h>

#include <Poco/TextConverter.h>
#include <Poco/UTF8Encoding.h>
#include <Poco/Windows950Encoding.h>

#include <cstdio>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "jobs/common/json.hpp"
#include "jobs/common/utf8.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/inquiry/batch_row.hpp"
#include "jobs/inquiry/charset.hpp"
#include "jobs/inquiry/codec.hpp"
#include "jobs/inquiry/csv_reader.hpp"

namespace taxdesk::jobs {
namespace {

/// Pieces that random inputs are made of.
const std::vector<std::string> kPieces = {
    "a",
    "Z",
    "0",
    "9",
    ",",
    ",",
    "\n",
    "\r\n",
    "\"",
    "\"\"",
    ";",
    "|",
    "-",
    "'",
    "王",
    "臺",
    "小明",
    "\xEF\xBC\xA1",      // Ａ U+FF21
    "\xEF\xBC\x91",      // １ U+FF11
    "\xE3\x80\x80",      // U+3000
    "\xC2\xA0",          // U+00A0
    "\xC2\x85",          // U+0085
    "\xE2\x80\x8B",      // U+200B
    "\xE2\x80\x83",      // U+2003
    "\xEF\xBB\xBF",      // U+FEFF
    "\xE1\x9A\x80",      // U+1680
    "\xF0\x9F\x98\x80",  // U+1F600
    "\xC3\xA9",          // é
    "\xFF",
    "\x80",
    "\xC0\xAF",
    "\xE0\x80\x80",
    "\xED\xA0\x80",
    "\xF4\x90\x80\x80",
    "\xE7\x8E",
    "\xF0\x9F\x98",
    "\xE4",
    "\xC2",
    " ",
    "\t",
};

std::string randomText(std::mt19937& rng, std::size_t pieces) {
    std::string out;
    std::uniform_int_distribution<std::size_t> pick(0, kPieces.size() - 1);
    for (std::size_t i = 0; i < pieces; ++i) out += kPieces[pick(rng)];
    return out;
}

// ---- UTF-8 ----------------------------------------------------------------------------------------------------------

std::size_t referencePrefix(std::string_view text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t next = pos;
        if (!utf8::decodeAt(text, next)) break;
        pos = next;
    }
    return pos;
}

TEST(FastPaths, ValidPrefixAndIsValidAgreeWithDecodeAt) {
    std::mt19937 rng(1);
    for (int round = 0; round < 3000; ++round) {
        const std::string text = randomText(rng, round % 40);
        SCOPED_TRACE(text);
        const std::size_t expected = referencePrefix(text);
        EXPECT_EQ(utf8::validPrefix(text), expected);
        EXPECT_EQ(utf8::isValid(text), expected == text.size());
        std::size_t ascii = 0;
        while (ascii < text.size() && static_cast<unsigned char>(text[ascii]) < 0x80) ++ascii;
        EXPECT_EQ(utf8::asciiPrefix(text), ascii);
    }
    EXPECT_EQ(utf8::validPrefix(std::string(20, 'a') + "\xE7\x8E"), 20u) << "a character cut short is not taken";
}

/// Unicode's "maximal subpart" decoding, one sequence at a time: a valid sequence is copied; otherwise the longest
/// start of one that could still have become valid (at least one byte) is one kUnreadable.
std::string referenceDecode(std::string_view text) {
    std::string out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t next = pos;
        if (utf8::decodeAt(text, next)) {
            out.append(text.substr(pos, next - pos));
            pos = next;
            continue;
        }
        std::size_t taken = 1;
        for (std::size_t length = 2; length <= 4 && pos + length <= text.size() + 1; ++length) {
            // Would these `length - 1` bytes be the start of some valid sequence? Try every completion's first byte.
            const std::string_view start = text.substr(pos, length - 1);
            if (start.size() < length - 1) break;
            bool startsOne = false;
            for (const std::string_view tail : {"\x80\x80\x80", "\x90\x80\x80", "\xA0\x80\x80", "\xBF\xBF\xBF"}) {
                std::string candidate(start);
                const std::size_t need = utf8::sequenceLength(static_cast<unsigned char>(start[0]));
                if (need < candidate.size() || need == 0) break;
                candidate.append(tail.substr(0, need - candidate.size()));
                std::size_t at = 0;
                if (utf8::decodeAt(candidate, at) && at == candidate.size()) startsOne = true;
            }
            if (!startsOne) break;
            taken = length - 1;
        }
        out.push_back(inquiry::kUnreadable);
        pos += std::max<std::size_t>(taken, 1);
    }
    return out;
}

std::string decodeAll(const std::string& bytes, inquiry::Charset charset) {
    std::istringstream in(bytes);
    inquiry::DecodedText text(in, charset);
    std::string out;
    for (std::string_view piece = text.next(); !piece.empty(); piece = text.next()) out.append(piece);
    return out;
}

TEST(FastPaths, DecodedUtf8IsTheSequenceBySequenceDecoding) {
    std::mt19937 rng(2);
    for (int round = 0; round < 40; ++round) {
        // Up to about 200 KiB: several chunks, cut anywhere.
        const std::string text = "x" + randomText(rng, static_cast<std::size_t>(round) * 1500);
        ASSERT_EQ(decodeAll(text, inquiry::Charset::utf8), referenceDecode(text)) << "round " << round;
    }
}

TEST(FastPaths, CharactersCutByTheChunkEdgeAreWhole) {
    constexpr std::size_t kChunk = 64 * 1024;
    for (const std::string_view character : {"\xC3\xA9", "\xE7\x8E\x8B", "\xF0\x9F\x98\x80"}) {
        for (std::size_t shift = 0; shift <= character.size(); ++shift) {
            const std::string text = std::string(kChunk - shift, 'a') + std::string(character) + "b";
            EXPECT_EQ(decodeAll(text, inquiry::Charset::utf8), text) << "shift " << shift;
            const std::string broken =
                std::string(kChunk - shift, 'a') + std::string(character.substr(0, character.size() - 1)) + ",b";
            EXPECT_EQ(decodeAll(broken, inquiry::Charset::utf8), referenceDecode(broken)) << "shift " << shift;
        }
    }
}

/// The character a chunk cuts short is put back in front of the next chunk (round 3): every edge of a file of several
/// chunks falls inside a character, an ill-formed sequence or a character cut short for good, at every shift, with
/// and without a byte order mark (which moves every edge by three bytes).
TEST(FastPaths, CharactersCarriedAcrossEveryChunkEdgeDecodeAsOneSequence) {
    constexpr std::size_t kChunk = 64 * 1024;
    const std::vector<std::string_view> atEdge = {
        "\xC3\xA9",     "\xE7\x8E\x8B", "\xF0\x9F\x98\x80", "\xE7\x8E",     "\xE0\x80\x80", "\xF0\x9F\x98",
        "\xED\xA0\x80", "\xC3\xC3\xA9", "\xF4\x90\x80\x80", "\x80\x80\x80", "\xFF"};
    std::mt19937 rng(23);
    for (const bool bom : {false, true}) {
        for (int round = 0; round < 24; ++round) {
            std::string text = bom ? "\xEF\xBB\xBF" : "";
            for (std::size_t edge = kChunk; edge <= 4 * kChunk; edge += kChunk) {
                const std::string_view piece = atEdge[rng() % atEdge.size()];
                const std::size_t shift = rng() % (piece.size() + 1);
                text.append(edge - shift - text.size(), 'a');
                text.append(piece);
            }
            text += ",b\n";
            const std::string body = bom ? text.substr(3) : text;
            ASSERT_EQ(decodeAll(text, inquiry::Charset::utf8), referenceDecode(body)) << "round " << round;
        }
    }
}

TEST(FastPaths, DecodedBig5IsPocosCp950) {
    std::mt19937 rng(3);
    const std::vector<std::string> pieces = {"王", "臺", "灣", "小", "明", "，", "Ａ", "１", "a", ",", "\n", "1"};
    std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
    std::string utf8Text;
    for (int i = 0; i < 120000; ++i) utf8Text += pieces[pick(rng)];
    Poco::UTF8Encoding from;
    Poco::Windows950Encoding to;
    std::string big5;
    ASSERT_EQ(Poco::TextConverter(from, to).convert(utf8Text, big5), 0);
    EXPECT_EQ(decodeAll(big5, inquiry::Charset::big5), utf8Text);
    std::istringstream in(big5);
    EXPECT_EQ(inquiry::detectCharset(in, std::nullopt), inquiry::Charset::big5);
    std::istringstream same(utf8Text);
    EXPECT_EQ(inquiry::detectCharset(same, std::nullopt), inquiry::Charset::utf8);
}

/// Big5 as charset.hpp describes it, a byte at a time: Poco's CP950 first; a pair of the user-defined areas as the
/// reader decodes that pair alone (HKSCS or the Private Use Area); otherwise unreadable, and an ASCII trail byte is
/// read on its own.
std::string referenceBig5(std::string_view bytes) {
    const Poco::Windows950Encoding cp950;
    std::string out;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        const auto b = static_cast<unsigned char>(bytes[i]);
        if (b < 0x80) {
            out.push_back(static_cast<char>(b));
            continue;
        }
        if (b == 0x80 || b == 0xFF || i + 1 == bytes.size()) {
            out.push_back(inquiry::kUnreadable);
            continue;
        }
        const auto trail = static_cast<unsigned char>(bytes[++i]);
        const unsigned char pair[2] = {b, trail};
        if (const int cp = cp950.queryConvert(pair, 2); cp >= 0) {
            utf8::append(out, static_cast<char32_t>(cp));
        } else if (inquiry::big5UserDefined(b, trail) != 0) {
            out += decodeAll(std::string(bytes.substr(i - 1, 2)), inquiry::Charset::big5);
        } else {
            out.push_back(inquiry::kUnreadable);
            if (trail < 0x80) out.push_back(static_cast<char>(trail));
        }
    }
    return out;
}

/// The Big5 decoder's segments (round 3): runs of pairs longer than a segment, after every short ASCII prefix (so
/// that a pair straddles a segment's end at both parities), and pairs of 2-byte UTF-8 (，is 3 bytes, é not in CP950:
/// ± and ° are 2) beside 3-byte ones, across chunk edges too.
TEST(FastPaths, Big5PairsAcrossSegmentAndChunkEdges) {
    Poco::UTF8Encoding from;
    Poco::Windows950Encoding to;
    for (const std::string_view character : {"王", "±", "°"}) {
        for (std::size_t prefix = 0; prefix < 10; ++prefix) {
            for (const std::size_t pairs :
                 {std::size_t{1023}, std::size_t{1024}, std::size_t{3000}, std::size_t{40000}}) {
                std::string utf8Text(prefix, 'a');
                for (std::size_t i = 0; i < pairs; ++i) utf8Text += character;
                utf8Text += ",b\n";
                std::string big5;
                ASSERT_EQ(Poco::TextConverter(from, to).convert(utf8Text, big5), 0) << character;
                ASSERT_EQ(decodeAll(big5, inquiry::Charset::big5), utf8Text) << prefix << " " << pairs;
            }
        }
    }
}

/// Detection counts Big5's unreadable characters with a loop that only counts (round 3). Each file here is padded so
/// that UTF-8 and Big5 tie, or Big5 has exactly one unreadable character fewer, counted on the decoders' output (one
/// kUnreadable each): detection must then say UTF-8 and Big5, so a count off by one either way fails.
TEST(FastPaths, DetectionCountsBig5AsTheDecoderMarksIt) {
    auto unreadable = [](const std::string& bytes, inquiry::Charset charset) {
        const std::string text = decodeAll(bytes, charset);
        return static_cast<long long>(std::count(text.begin(), text.end(), inquiry::kUnreadable));
    };
    // Pads after a line end (both decoders start clean there): one unreadable for UTF-8 only (A4 40 is 一 in Big5, a
    // stray continuation byte then '@' in UTF-8), or for Big5 only (C2 80 is U+0080 in UTF-8, a bad pair in Big5).
    const std::string utf8Only =
        "a\xA4\x40"
        "a";
    const std::string big5Only =
        "a\xC2\x80"
        "a";
    std::mt19937 rng(31);
    std::uniform_int_distribution<int> byte(1, 255);
    int big5Files = 0;
    for (int round = 0; round < 60; ++round) {
        std::string body = "a";
        const std::size_t size = 50 + static_cast<std::size_t>(round) * 2500;  // up to about 150 KiB: several chunks
        while (body.size() < size) {
            const int roll = byte(rng) % 10;
            if (roll < 4) {
                body.push_back(static_cast<char>(0xA4 + byte(rng) % 0x10));
                body.push_back(static_cast<char>(0xA1 + byte(rng) % 0x5E));
            } else if (roll < 7) {
                body.append(static_cast<std::size_t>(1 + byte(rng) % 20), static_cast<char>('a' + byte(rng) % 26));
            } else if (roll < 8) {
                body += "\xE7\x8E\x8B";  // 王 in UTF-8
            } else {
                body.push_back(static_cast<char>(byte(rng)));
            }
        }
        body += "\n";
        const long long big5 = unreadable(body, inquiry::Charset::big5);
        const long long utf8 = unreadable(body, inquiry::Charset::utf8);
        for (const long long lead : {0LL, 1LL}) {  // UTF-8's count minus Big5's: a tie, then Big5 ahead by one
            std::string file = body;
            const long long gap = (big5 + lead) - utf8;
            for (long long i = 0; i < gap; ++i) file += utf8Only;
            for (long long i = 0; i < -gap; ++i) file += big5Only;
            ASSERT_EQ(unreadable(file, inquiry::Charset::utf8) - unreadable(file, inquiry::Charset::big5), lead);
            std::istringstream in(file);
            const inquiry::Charset want = lead == 1 ? inquiry::Charset::big5 : inquiry::Charset::utf8;
            ASSERT_EQ(inquiry::detectCharset(in, std::nullopt), want) << "round " << round << " lead " << lead;
            big5Files += want == inquiry::Charset::big5 ? 1 : 0;
        }
    }
    EXPECT_EQ(big5Files, 60);
}

TEST(FastPaths, DecodedBig5IsThePairByPairDecoding) {
    std::mt19937 rng(8);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> ascii(0x20, 0x7E);
    for (int round = 0; round < 20; ++round) {
        std::string bytes;
        const std::size_t size = 1000 + static_cast<std::size_t>(round) * 7000;  // up to about 140 KiB
        while (bytes.size() < size) {
            // Mostly characters of the table, some ASCII, some anything (bad pairs, lone leads, the user areas).
            const int roll = byte(rng) % 10;
            if (roll < 5) {
                bytes.push_back(static_cast<char>(0xA4 + byte(rng) % 0x10));
                bytes.push_back(static_cast<char>(0xA1 + byte(rng) % 0x5E));
            } else if (roll < 8) {
                bytes.push_back(static_cast<char>(ascii(rng)));
            } else {
                bytes.push_back(static_cast<char>(std::max(1, byte(rng))));  // NUL would look like UTF-16
            }
        }
        ASSERT_EQ(decodeAll(bytes, inquiry::Charset::big5), referenceBig5(bytes)) << "round " << round;
    }
}

/// A stream that cannot seek: detection must count both charsets in one pass.
class NoSeekBuffer : public std::stringbuf {
  public:
    using std::stringbuf::stringbuf;

  protected:
    pos_type seekoff(off_type, std::ios_base::seekdir, std::ios_base::openmode) override {
        return pos_type(off_type(-1));
    }
    pos_type seekpos(pos_type, std::ios_base::openmode) override { return pos_type(off_type(-1)); }
};

inquiry::Charset detect(const std::string& bytes, bool seekable) {
    if (seekable) {
        std::istringstream in(bytes);
        return inquiry::detectCharset(in, std::nullopt);
    }
    NoSeekBuffer buffer(bytes);
    std::istream in(&buffer);
    return inquiry::detectCharset(in, std::nullopt);
}

TEST(FastPaths, DetectionReadsAgainOnlyWhatIsNotUtf8) {
    const std::string ascii(100 * 1024, 'a');  // more than a chunk before anything else
    std::string big5Name;
    ASSERT_EQ(
        Poco::TextConverter(*std::make_unique<Poco::UTF8Encoding>(), *std::make_unique<Poco::Windows950Encoding>())
            .convert("王小明,臺灣臺北地方法院\n", big5Name),
        0);
    for (const bool seekable : {true, false}) {
        SCOPED_TRACE(seekable ? "seekable" : "not seekable");
        EXPECT_EQ(detect(ascii + "王小明\n", seekable), inquiry::Charset::utf8);
        EXPECT_EQ(detect(ascii + big5Name + big5Name, seekable), inquiry::Charset::big5) << "Big5 after a chunk";
        EXPECT_EQ(detect(ascii + "王小明,臺灣\xFF\n", seekable), inquiry::Charset::utf8)
            << "one bad byte in UTF-8 text: UTF-8 (Big5 reads less of it)";
        EXPECT_EQ(detect(ascii + "\xE7\x8E", seekable), inquiry::Charset::utf8)
            << "cut short at the end: one bad sequence either way (8E is no Big5 trail byte), and a tie is UTF-8";
        EXPECT_EQ(detect(ascii + "\xA4\xA4", seekable), inquiry::Charset::big5) << "中 in Big5, two bad bytes in UTF-8";
        EXPECT_EQ(detect("", seekable), inquiry::Charset::utf8);
    }
}

TEST(FastPaths, DetectionByRereadingAgreesWithOnePass) {
    std::mt19937 rng(9);
    std::uniform_int_distribution<int> byte(1, 255);
    for (int round = 0; round < 60; ++round) {
        // UTF-8 text with Big5 pairs and stray bytes mixed in, in proportions that make either charset win.
        std::string bytes = randomText(rng, static_cast<std::size_t>(round) * 700);
        const int foreign = round % 6;
        for (int i = 0; i < round * foreign; ++i) {
            const std::size_t at = static_cast<std::size_t>(byte(rng)) * bytes.size() / 256;
            bytes.insert(at, i % 2 ? "\xA4\xA4" : std::string(1, static_cast<char>(byte(rng))));
        }
        EXPECT_EQ(detect(bytes, true), detect(bytes, false)) << "round " << round;
    }
}

// ---- CSV ------------------------------------------------------------------------------------------------------------

class Recorder : public inquiry::CsvSink {
  public:
    void field(const inquiry::CsvField& field) override {
        log_ += "[" + std::to_string(field.index) + ":" + std::string(field.text) + (field.overflow ? "+" : "") + "!" +
                std::to_string(field.unreadableLine) + "]";
    }
    void endRecord(int line) override { log_ += "<" + std::to_string(line) + ">"; }
    std::string log_;
};

std::string tokenise(std::string_view text, std::size_t piece) {
    Recorder recorder;
    inquiry::CsvReader reader(recorder);
    for (std::size_t at = 0; at < text.size(); at += piece) reader.feed(text.substr(at, piece));
    return recorder.log_ + (reader.finish() ? "" : "?" + std::to_string(reader.openQuoteLine()));
}

TEST(FastPaths, CsvRunsGiveWhatByteByByteGives) {
    std::mt19937 rng(4);
    for (int round = 0; round < 400; ++round) {
        // Decoded text: valid UTF-8 with kUnreadable; now and then a field longer than the reader keeps.
        std::string text = referenceDecode(randomText(rng, 60));
        if (round % 10 == 0) text += std::string(inquiry::CsvReader::kMaxFieldBytes - 3, 'x') + "王王\"x\"";
        if (round % 10 == 1) text += "\"" + std::string(inquiry::CsvReader::kMaxFieldBytes + 9, 'y') + "\n";
        const std::string byByte = tokenise(text, 1);
        for (const std::size_t piece : {std::size_t{7}, std::size_t{64}, text.size() + 1}) {
            ASSERT_EQ(tokenise(text, piece), byByte) << "round " << round << ", pieces of " << piece;
        }
    }
}

// ---- the ID rules' text helpers
// ---------------------------------------------------------------------------------------

std::string_view referenceTrim(std::string_view text) {
    std::size_t begin = 0;
    while (begin < text.size()) {
        std::size_t next = begin;
        const auto cp = utf8::decodeAt(text, next);
        if (!cp || !identity::isSpace(*cp)) break;
        begin = next;
    }
    std::size_t end = text.size();
    for (;;) {
        // The last character: the latest start from which one sequence reaches the end exactly.
        bool trimmed = false;
        for (std::size_t length = 1; length <= 4 && length <= end - begin; ++length) {
            std::size_t at = end - length;
            const auto cp = utf8::decodeAt(text.substr(0, end), at);
            if (cp && at == end) {
                if (identity::isSpace(*cp)) {
                    end -= length;
                    trimmed = true;
                }
                break;
            }
        }
        if (!trimmed) break;
    }
    return text.substr(begin, end - begin);
}

std::string referenceFold(std::string_view text) {
    std::string out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t start = pos;
        if (const auto cp = utf8::decodeAt(text, pos)) {
            utf8::append(out, identity::foldWidth(*cp));
        } else {
            out.push_back(text[start]);
            pos = start + 1;
        }
    }
    return out;
}

TEST(FastPaths, TrimAndFoldAgreeWithTheCharacterAtATimeRules) {
    std::mt19937 rng(5);
    for (int round = 0; round < 5000; ++round) {
        const std::string text = randomText(rng, round % 12);
        SCOPED_TRACE(text);
        EXPECT_EQ(identity::trimSpaces(text), referenceTrim(text));
        EXPECT_EQ(identity::foldFullWidth(text), referenceFold(text));
    }
    EXPECT_EQ(identity::normalize(" \xEF\xBD\x81\xEF\xBC\x91"
                                  "23456789\xE3\x80\x80"),
              "A123456789");
    EXPECT_EQ(identity::trimSpaces("\xE2\x80\x8B王\xC2\xA0"), "王");
}

TEST(FastPaths, KeySetFindsWhatAnUnorderedSetFinds) {
    std::mt19937 rng(6);
    inquiry::detail::KeySet keys;
    std::unordered_set<std::string> reference;
    std::uniform_int_distribution<int> id(0, 30000);
    for (int i = 0; i < 100000; ++i) {
        const std::string key = "A" + std::to_string(id(rng)) + (i % 3 == 0 ? "|income|2024" : "|both");
        ASSERT_EQ(keys.insert(key), reference.insert(key).second) << key;
    }
    EXPECT_EQ(keys.size(), reference.size());
    EXPECT_TRUE(keys.insert(""));
    EXPECT_FALSE(keys.insert(""));
}

/// The writer as it was, a byte at a time: the reference for the one that copies runs.
std::string referenceJsonString(std::string_view text) {
    std::string out = "\"";
    for (std::size_t pos = 0; pos < text.size();) {
        const char c = text[pos];
        if (static_cast<unsigned char>(c) >= 0x80) {
            const std::size_t start = pos;
            if (utf8::decodeAt(text, pos)) {
                out.append(text.substr(start, pos - start));
            } else {
                out += "\xEF\xBF\xBD";
                pos = start + 1;
            }
            continue;
        }
        ++pos;
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buffer[8];
            std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
            out += buffer;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

TEST(FastPaths, JsonWriterCopiesRunsAsTheByteAtATimeWriterWrote) {
    std::mt19937 rng(7);
    for (int round = 0; round < 3000; ++round) {
        std::string text = randomText(rng, round % 30);
        if (round % 3 == 0) text += std::string("\x01\x1f\b\\\"\0", 6);
        std::string out;
        json::appendString(out, text);
        ASSERT_EQ(out, referenceJsonString(text)) << text;
    }
}

TEST(FastPaths, JsonStringEscapesEveryByteWhereverItFallsInTheEightByteSteps) {
    // The plain-ASCII prefix is scanned eight bytes a step: a byte that needs care must be caught at every position
    // of a step, and after the last whole step.
    const std::string specials[] = {"\"", "\\", "\n", std::string(1, '\0'), "\x1f", "\x7f", "\xE7\x8E\x8B", "\xFF"};
    for (std::size_t length = 1; length <= 20; ++length) {
        for (std::size_t at = 0; at < length; ++at) {
            for (const auto& special : specials) {
                std::string text(length, 'a');
                text.replace(at, 1, special);
                // Also after a character that is not ASCII: the path for the rest of a string that is not plain.
                for (const std::string& lead : {std::string(), std::string("王"), std::string("\xC0")}) {
                    std::string out;
                    json::appendString(out, lead + text);
                    ASSERT_EQ(out, referenceJsonString(lead + text)) << length << " " << at << " " << lead;
                }
            }
        }
    }
    std::string out;
    json::appendString(out, "abcdefgh\"ijklmnop");
    EXPECT_EQ(out, R"("abcdefgh\"ijklmnop")");
    out.clear();
    json::appendString(out, "0123456789abcdef\x01");
    EXPECT_EQ(out, R"("0123456789abcdef\u0001")");
    out.clear();
    json::appendString(out, "0123456\x7f");
    EXPECT_EQ(out, "\"0123456\x7f\"") << "DEL is not a control character for JSON";
}

// ---- JSON: RFC 8259 in both readers ---------------------------------------------------------------------------------

TEST(FastPaths, FlatReaderRefusesRawControlCharactersAndBadNumbers) {
    using json::ParseError;
    using json::parseFlatObject;
    EXPECT_THROW(parseFlatObject("{\"a\":\"x\ty\"}"), ParseError) << "a raw tab in a string";
    EXPECT_THROW(parseFlatObject("{\"a\":\"x\ny\"}"), ParseError);
    EXPECT_THROW(parseFlatObject(std::string("{\"a\":\"x\0y\"}", 11)), ParseError);
    EXPECT_THROW(parseFlatObject("{\"k\x1f\":1}"), ParseError) << "in a name too";
    EXPECT_EQ(std::get<std::string>(parseFlatObject(R"({"a":"x\ty\u001f"})")[0].value.scalar), "x\ty\x1f")
        << "escaped, they read";
    EXPECT_EQ(std::get<std::string>(parseFlatObject("{\"a\":\"\x7f\"}")[0].value.scalar), "\x7f") << "DEL is no C0";
    for (const char* bad : {"-inf", "-nan", "01", "-01", "1.", "1.e5", "1e", "1e+", "-", "+1", "0x10"}) {
        EXPECT_THROW(parseFlatObject(std::string(R"({"a":)") + bad + "}"), ParseError) << bad;
    }
    for (const auto& [good, value] : std::vector<std::pair<const char*, double>>{
             {"0", 0}, {"-0", 0}, {"10", 10}, {"1.5", 1.5}, {"-2.5e2", -250}, {"1E+2", 100}, {"3e-1", 0.3}}) {
        EXPECT_DOUBLE_EQ(std::get<double>(parseFlatObject(std::string(R"({"a":)") + good + "}")[0].value.scalar), value)
            << good;
    }
    // A high surrogate followed by an escape that is not a low one is refused (checked, not joined).
    EXPECT_THROW(parseFlatObject(R"({"a":"\ud83d\ud83d"})"), ParseError);
    EXPECT_THROW(parseFlatObject(R"({"a":"\ud83d\n"})"), ParseError);
}

const std::string kRequestHead = R"({"batch_id":"B","row":3,"creditor_id":"C","debtor_id":"A123456789",)";

TEST(FastPaths, CodecsReadStrictJson) {
    using inquiry::DecodeError;
    EXPECT_EQ(inquiry::decodeRequest(kRequestHead + R"("debtor_name":"\u738b"})").debtorName, "王");
    for (const std::string bad :
         {"\"debtor_name\":\"x\ty\"}", "\"debtor_name\":\"\\ude00\"}", "\"debtor_name\":\"\\ud83d\\u0041\"}",
          "\"debtor_name\":\"\xff\"}", "\"debtor_name\":\"x\",\"other\":-01}", "\"debtor_name\":\"x\"} x",
          "\"debtor_name\":\"x\",\"other\":tru}"}) {
        EXPECT_THROW((void)inquiry::decodeRequest(kRequestHead + bad), DecodeError) << bad;
    }
    // A request refused for its bytes still names its row, so that the row gets an error result.
    const auto row = inquiry::rowOfRequest(kRequestHead + "\"debtor_name\":\"\xff\"}");
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->row, 3);
    const std::string result =
        R"({"batch_id":"B","row":3,"debtor_id":"A123456789","status":"found","income":[],"property":[]})";
    EXPECT_EQ(inquiry::decodeResult(result).row, 3);
    EXPECT_THROW((void)inquiry::decodeResult(result.substr(0, result.size() - 1) + ",\"x\":\"\x01\"}"), DecodeError);
    EXPECT_THROW((void)inquiry::decodeResult(R"({"batch_id":"B","row":3})"), DecodeError);
}

}  // namespace
}  // namespace taxdesk::jobs
