#include "jobs/audit/audit.hpp"

#include <Poco/DigestEngine.h>
#include <Poco/HMACEngine.h>
#include <Poco/SHA2Engine.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <new>
#include <stdexcept>

namespace taxdesk::jobs::audit {
namespace {

/// Poco::HMACEngine needs its digest's block and digest sizes as class constants.
class Sha256Engine : public Poco::SHA2Engine {
  public:
    enum { BLOCK_SIZE = 64, DIGEST_SIZE = 32 };
    Sha256Engine() : Poco::SHA2Engine(Poco::SHA2Engine::SHA_256) {}
};

/// Whether `c` may be one of the characters packing escapes (\\, tab, line feed, carriage return): true for those and
/// for the other control characters up to \r.
constexpr bool mayNeedEscape(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= '\r' || byte == '\\';
}

/// True when no byte of `text` mayNeedEscape(): eight bytes at a time (a byte below 14, or a byte equal to '\\', by
/// the usual bit tricks on a 64-bit word), then the rest one by one.
bool plainText(std::string_view text) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
    constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
    std::size_t i = 0;
    for (; i + 8 <= text.size(); i += 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, text.data() + i, 8);
        const std::uint64_t below = (word - kOnes * ('\r' + 1)) & ~word & kHighs;
        const std::uint64_t slash = word ^ (kOnes * static_cast<unsigned char>('\\'));
        const std::uint64_t equal = (slash - kOnes) & ~slash & kHighs;
        if ((below | equal) != 0) return false;
    }
    for (; i < text.size(); ++i)
        if (mayNeedEscape(text[i])) return false;
    return true;
}

void appendEscaped(std::string& out, std::string_view text) {
    // The usual case, nothing to escape, checked eight bytes at a time (find_first_of searched the four characters for
    // each byte: 2.1k instructions of a row's 2.4k packing under callgrind; a byte at a time, 550 an entry).
    const bool plain = plainText(text);
    if (plain) {
        out += text;
        return;
    }
    for (const char c : text) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                out += c;
        }
    }
}

std::string unescape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\') {
            out += text[i];
            continue;
        }
        if (++i == text.size()) throw std::invalid_argument("audit entries: a lone backslash");
        switch (text[i]) {
            case '\\':
                out += '\\';
                break;
            case 't':
                out += '\t';
                break;
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            default:
                throw std::invalid_argument("audit entries: an unknown escape");
        }
    }
    return out;
}

void line(std::string& out, std::string_view field) {
    appendEscaped(out, field);
    out += '\n';
}

}  // namespace

namespace {

std::string hexOf(const unsigned char* bytes, std::size_t size) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(size * 2, '0');
    for (std::size_t i = 0; i < size; ++i) {
        out[2 * i] = kHex[bytes[i] >> 4];
        out[2 * i + 1] = kHex[bytes[i] & 15];
    }
    return out;
}

std::string normalisedId(std::string_view debtorId) {
    std::size_t begin = 0, end = debtorId.size();
    while (begin < end && std::isspace(static_cast<unsigned char>(debtorId[begin]))) ++begin;
    while (end > begin && std::isspace(static_cast<unsigned char>(debtorId[end - 1]))) --end;
    std::string id(debtorId.substr(begin, end - begin));
    for (char& c : id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return id;
}

}  // namespace

std::string sha256Hex(std::string_view bytes) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr);
    return hexOf(digest, size);
}

std::string hmacSha256Hex(std::string_view key, std::string_view message) {
    const std::string secret(key);
    Poco::HMACEngine<Sha256Engine> engine(secret);
    engine.update(message.data(), static_cast<unsigned>(message.size()));
    return Poco::DigestEngine::digestToHex(engine.digest());
}

std::string idHmac(std::string_view key, std::string_view debtorId) {
    return hmacSha256Hex(key, normalisedId(debtorId));
}

// The ID HMAC keeps SHA-256 states after the key's pads and copies them by value for each ID. OpenSSL 3 deprecates the
// plain SHA256_CTX functions in favour of EVP, whose context copy allocates (two allocations and frees an ID, a tenth
// of the audit trail's cost on the engine), but still provides them, with the same hardware SHA code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct IdHasher::State {
    SHA256_CTX inner;  ///< SHA-256 after the key's inner pad
    SHA256_CTX outer;  ///< SHA-256 after the key's outer pad
};

IdHasher::IdHasher(std::string_view key) : state_(new State) {
    std::array<unsigned char, 64> block{};
    if (key.size() > block.size()) {
        SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), block.data());
    } else {
        std::memcpy(block.data(), key.data(), key.size());
    }
    std::array<unsigned char, 64> pad{};
    for (std::size_t i = 0; i < pad.size(); ++i) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&state_->inner);
    SHA256_Update(&state_->inner, pad.data(), pad.size());
    for (std::size_t i = 0; i < pad.size(); ++i) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&state_->outer);
    SHA256_Update(&state_->outer, pad.data(), pad.size());
}

IdHasher::~IdHasher() {
    delete state_;
}

std::string IdHasher::operator()(std::string_view debtorId) {
    std::string out;
    append(out, debtorId);
    return out;
}

void IdHasher::append(std::string& out, std::string_view debtorId) {
    const std::string id = normalisedId(debtorId);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256_CTX work = state_->inner;
    SHA256_Update(&work, id.data(), id.size());
    SHA256_Final(digest, &work);
    work = state_->outer;
    SHA256_Update(&work, digest, sizeof digest);
    SHA256_Final(digest, &work);
    static constexpr char kHex[] = "0123456789abcdef";
    const std::size_t at = out.size();
    out.resize(at + 2 * sizeof digest);
    for (std::size_t i = 0; i < sizeof digest; ++i) {
        out[at + 2 * i] = kHex[digest[i] >> 4];
        out[at + 2 * i + 1] = kHex[digest[i] & 15];
    }
}

#pragma GCC diagnostic pop

std::string daySeed(std::string_view day) {
    return sha256Hex("taxdesk-audit-day:" + std::string(day));
}

void appendEntry(std::string& out, int row, std::string_view requestId, std::string_view status,
                 std::string_view idHmac, std::string_view titleRef) {
    char digits[16];
    const auto written = std::to_chars(std::begin(digits), std::end(digits), row);
    out.append(digits, written.ptr);
    out += '\t';
    appendEscaped(out, requestId);
    out += '\t';
    appendEscaped(out, status);
    out += '\t';
    appendEscaped(out, idHmac);
    out += '\t';
    appendEscaped(out, titleRef);
    out += '\n';
}

std::string packEntries(const std::vector<Entry>& entries) {
    std::string out;
    out.reserve(entries.size() * 120);
    for (const Entry& entry : entries)
        appendEntry(out, entry.row, entry.requestId, entry.status, entry.idHmac, entry.titleRef);
    return out;
}

std::vector<Entry> unpackEntries(std::string_view packed) {
    std::vector<Entry> entries;
    while (!packed.empty()) {
        const std::size_t end = packed.find('\n');
        if (end == std::string_view::npos) throw std::invalid_argument("audit entries: an unterminated line");
        std::string_view text = packed.substr(0, end);
        packed.remove_prefix(end + 1);
        std::vector<std::string_view> fields;
        for (;;) {
            const std::size_t tab = text.find('\t');
            fields.push_back(text.substr(0, tab));
            if (tab == std::string_view::npos) break;
            text.remove_prefix(tab + 1);
        }
        if (fields.size() != 5) throw std::invalid_argument("audit entries: a line without 5 fields");
        Entry entry;
        try {
            std::size_t used = 0;
            entry.row = std::stoi(std::string(fields[0]), &used);
            if (used != fields[0].size()) throw std::invalid_argument("row");
        } catch (const std::exception&) {
            throw std::invalid_argument("audit entries: a bad row number");
        }
        entry.requestId = unescape(fields[1]);
        entry.status = unescape(fields[2]);
        entry.idHmac = unescape(fields[3]);
        entry.titleRef = unescape(fields[4]);
        entries.push_back(std::move(entry));
    }
    return entries;
}

std::string canonicalBytes(const Record& record) {
    return canonicalBytes(record, packEntries(record.entries));
}

std::string canonicalBytes(const Record& record, std::string_view packedEntries) {
    std::string out;
    out.reserve(128 + packedEntries.size());
    out += "taxdesk-audit-v1\n";
    line(out, record.day);
    line(out, std::to_string(record.seq));
    line(out, record.recordedAt);
    line(out, record.kind);
    line(out, record.creditorId);
    line(out, record.batchId);
    line(out, record.requestId);
    line(out, record.format);
    line(out, std::to_string(record.rowCount));
    out += packedEntries;
    return out;
}

std::string chainHash(const Record& record) {
    return chainHash(record, packEntries(record.entries));
}

std::string chainHash(const Record& record, std::string_view packedEntries) {
    // The SHA-256 of prevHash, "\n" and the canonical bytes, taken in pieces: the packed entries (the bulk of a
    // results record) are hashed where they are, not copied into one string first.
    std::string head = record.prevHash;
    head += '\n';
    head += canonicalBytes(record, {});
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    if (context == nullptr) throw std::bad_alloc();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestInit_ex(context, EVP_sha256(), nullptr);
    EVP_DigestUpdate(context, head.data(), head.size());
    EVP_DigestUpdate(context, packedEntries.data(), packedEntries.size());
    EVP_DigestFinal_ex(context, digest, &size);
    EVP_MD_CTX_free(context);
    return hexOf(digest, size);
}

void seal(Record& record, std::int64_t seq, std::string_view previousHash) {
    seal(record, seq, previousHash, packEntries(record.entries));
}

void seal(Record& record, std::int64_t seq, std::string_view previousHash, std::string_view packedEntries) {
    record.seq = seq;
    record.prevHash = std::string(previousHash);
    record.hash = chainHash(record, packedEntries);
}

VerifyResult verifyDay(std::string_view day, const std::vector<Record>& records, std::int64_t startSeq,
                       std::string_view startHash, std::optional<std::int64_t> headSeq, std::string_view headHash) {
    VerifyResult result;
    std::string previous = startHash.empty() ? daySeed(day) : std::string(startHash);
    std::int64_t expected = startSeq + 1;
    auto broken = [&](std::int64_t seq, std::string reason) {
        result.ok = false;
        result.brokenDay = std::string(day);
        result.brokenSeq = seq;
        result.reason = std::move(reason);
        return result;
    };
    for (const Record& record : records) {
        if (record.day != day) return broken(record.seq, "record of day " + record.day + " in day " + std::string(day));
        if (record.seq != expected) {
            return broken(record.seq, record.seq > expected
                                          ? "records " + std::to_string(expected) + " to " +
                                                std::to_string(record.seq - 1) + " are missing"
                                          : "out of order (expected seq " + std::to_string(expected) + ")");
        }
        if (record.prevHash != previous) return broken(record.seq, "its link does not match the record before it");
        if (chainHash(record) != record.hash) return broken(record.seq, "its content does not match its hash");
        previous = record.hash;
        ++expected;
        ++result.records;
        result.entries += static_cast<std::int64_t>(record.entries.size());
    }
    if (headSeq) {
        if (*headSeq != expected - 1)
            return broken(expected, "the day's head is at seq " + std::to_string(*headSeq) + ": records " +
                                        std::to_string(expected) + " on are missing");
        if (headHash != previous) return broken(expected - 1, "the day's head hash does not match its last record");
    }
    return result;
}

std::string checkpointSignature(std::string_view key, std::string_view day, std::int64_t lastSeq,
                                std::string_view lastHash) {
    return hmacSha256Hex(key, "taxdesk-audit-checkpoint-v1\n" + std::string(day) + "\n" + std::to_string(lastSeq) +
                                  "\n" + std::string(lastHash));
}

bool isDay(std::string_view text) {
    if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
    for (const std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
        if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
    const int month = (text[5] - '0') * 10 + (text[6] - '0');
    const int dayOfMonth = (text[8] - '0') * 10 + (text[9] - '0');
    return month >= 1 && month <= 12 && dayOfMonth >= 1 && dayOfMonth <= 31;
}

std::string dayOf(std::string_view isoTime) {
    if (isoTime.size() < 10 || !isDay(isoTime.substr(0, 10)))
        throw std::invalid_argument("not an ISO 8601 time: " + std::string(isoTime.substr(0, 32)));
    return std::string(isoTime.substr(0, 10));
}

}  // namespace taxdesk::jobs::audit
