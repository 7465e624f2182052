// jobs/audit: canonical bytes, the per-day chain, the HMAC of IDs (against RFC 4231 and values computed by hand with
// Python's hmac/hashlib), and verification catching an edited, a deleted and a reordered record.
#include <gtest/gtest.h>

#include "jobs/audit/audit.hpp"

namespace audit = taxdesk::jobs::audit;

namespace {

audit::Record sampleRecord() {
    audit::Record record;
    record.day = "2026-12-02";
    record.recordedAt = "2026-12-02T03:00:00.000Z";
    record.kind = "results";
    record.creditorId = "C1";
    record.batchId = "B1";
    record.rowCount = 1;
    record.entries.push_back({7, "r-1", "found", "abc", "T\tx"});
    return record;
}

/// A day of `n` records, chained from the day's seed.
std::vector<audit::Record> chainOf(int n) {
    std::vector<audit::Record> records;
    std::string previous = audit::daySeed("2026-12-02");
    for (int i = 0; i < n; ++i) {
        audit::Record record = sampleRecord();
        record.entries[0].row = 100 + i;
        audit::seal(record, i + 1, previous);
        previous = record.hash;
        records.push_back(record);
    }
    return records;
}

}  // namespace

TEST(AuditHashes, HmacSha256MatchesRfc4231TestCase2) {
    EXPECT_EQ(audit::hmacSha256Hex("Jefe", "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(AuditHashes, Sha256OfAbc) {
    EXPECT_EQ(audit::sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AuditHashes, IdHmacIsOfTheTrimmedUpperCaseId) {
    const std::string expected = "5d910655d866bc68140c150292d8ae74e251881d7767f47d169f6848870753e3";
    EXPECT_EQ(audit::idHmac("k", "A123456789"), expected);
    EXPECT_EQ(audit::idHmac("k", " a123456789 "), expected);
    EXPECT_NE(audit::idHmac("other key", "A123456789"), expected);
    EXPECT_EQ(audit::idHmac("k", "A123456789").find("A123456789"), std::string::npos);
}

TEST(AuditHashes, DaySeed) {
    EXPECT_EQ(audit::daySeed("2026-12-02"), "b8f6a8b35a60222471ad0f57c0b60cb79bc0598f9c67bea6c35f06ca5057d4f4");
}

TEST(AuditRecord, CanonicalBytesOneLineAFieldThenEscapedEntries) {
    audit::Record record = sampleRecord();
    record.seq = 1;
    EXPECT_EQ(audit::canonicalBytes(record),
              "taxdesk-audit-v1\n2026-12-02\n1\n2026-12-02T03:00:00.000Z\nresults\nC1\nB1\n\n\n1\n"
              "7\tr-1\tfound\tabc\tT\\tx\n");
}

TEST(AuditRecord, PackingEscapesEachSpecialCharacterWhereverItIsInALongField) {
    // The plain-text check goes eight bytes at a time: a special character at every position of a field longer than
    // a word, beside UTF-8 and other control characters (kept as they are), is escaped all the same.
    const std::string specials[] = {"\\", "\t", "\n", "\r"};
    const std::string escaped[] = {"\\\\", "\\t", "\\n", "\\r"};
    for (std::size_t kind = 0; kind < 4; ++kind) {
        for (std::size_t at = 0; at <= 20; ++at) {
            std::string field = "臺北地院\x01\x0b\x0c~abcdefghij";  // 21 bytes after the 12 of 臺北地院
            field.insert(at, specials[kind]);
            std::string expected = field;
            expected.replace(at, 1, escaped[kind]);
            std::string line;
            audit::appendEntry(line, 1, field, "found", "h", "");
            EXPECT_EQ(line, "1\t" + expected + "\tfound\th\t\n") << "kind " << kind << " at " << at;
            const std::vector<audit::Entry> entries = {{1, field, "found", "h", field}};
            EXPECT_EQ(audit::unpackEntries(audit::packEntries(entries)), entries) << "kind " << kind << " at " << at;
        }
    }
}

TEST(AuditRecord, HashChainsToThePreviousHash) {
    audit::Record record = sampleRecord();
    audit::seal(record, 1, audit::daySeed("2026-12-02"));
    EXPECT_EQ(record.hash, "dfc43b8a0444ccd32c557106376078103903618b681686db0b798366b6b05839");
    EXPECT_EQ(record.prevHash, audit::daySeed("2026-12-02"));
}

TEST(AuditRecord, EntriesRoundTripThroughPacking) {
    const std::vector<audit::Entry> entries = {{1, "r\\1", "found", "h1", "臺北\n地院"}, {2, "", "error", "h2", ""}};
    EXPECT_EQ(audit::unpackEntries(audit::packEntries(entries)), entries);
    EXPECT_THROW(audit::unpackEntries("1\tx\n"), std::invalid_argument);
    EXPECT_THROW(audit::unpackEntries("x\ta\tb\tc\td\n"), std::invalid_argument);
}

TEST(AuditRecord, EntryLinesAppendedOneAfterAnotherArePackEntries) {
    // The inquiry stage packs each row's line where it prepares the row; the committer concatenates the lines of the
    // rows it stored new, which must be the same bytes as packing those entries at once.
    std::string lines;
    audit::appendEntry(lines, 3, "req-3", "found", "h3", "T-3");
    audit::appendEntry(lines, 9, "", "error", "h9", "a\tb");
    EXPECT_EQ(lines, "3\treq-3\tfound\th3\tT-3\n9\t\terror\th9\ta\\tb\n");
    EXPECT_EQ(lines, audit::packEntries({{3, "req-3", "found", "h3", "T-3"}, {9, "", "error", "h9", "a\tb"}}));
}

TEST(AuditRecord, ChainHashOfPackedEntriesIsTheRecordsHash) {
    audit::Record record = sampleRecord();
    const std::string packed = audit::packEntries(record.entries);
    audit::seal(record, 1, audit::daySeed("2026-12-02"), packed);
    // As HashChainsToThePreviousHash: the same record, its entries handed over packed.
    EXPECT_EQ(record.hash, "dfc43b8a0444ccd32c557106376078103903618b681686db0b798366b6b05839");
    EXPECT_EQ(audit::chainHash(record), record.hash);
}

TEST(AuditVerify, AnUntouchedChainIsOk) {
    const auto records = chainOf(3);
    const auto result = audit::verifyDay("2026-12-02", records, 0, {}, 3, records.back().hash);
    EXPECT_TRUE(result.ok) << result.reason;
    EXPECT_EQ(result.records, 3);
    EXPECT_EQ(result.entries, 3);
}

TEST(AuditVerify, AnEditedRecordIsNamed) {
    auto records = chainOf(4);
    records[1].entries[0].status = "no_records";
    const auto result = audit::verifyDay("2026-12-02", records);
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.brokenSeq, 2);
}

TEST(AuditVerify, AnEditedRecordWithItsHashRecomputedBreaksTheNextLink) {
    auto records = chainOf(4);
    records[1].entries[0].idHmac = "forged";
    records[1].hash = audit::chainHash(records[1]);
    const auto result = audit::verifyDay("2026-12-02", records);
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.brokenSeq, 3);
}

TEST(AuditVerify, ADeletedRecordIsNamed) {
    auto records = chainOf(4);
    records.erase(records.begin() + 1);
    const auto result = audit::verifyDay("2026-12-02", records);
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.brokenSeq, 3);
}

TEST(AuditVerify, ADeletedLastRecordIsCaughtByTheHead) {
    auto records = chainOf(4);
    const std::string head = records.back().hash;
    records.pop_back();
    const auto result = audit::verifyDay("2026-12-02", records, 0, {}, 4, head);
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.brokenSeq, 4);
}

TEST(AuditVerify, SwappedRecordsAreNamed) {
    auto records = chainOf(4);
    std::swap(records[1], records[2]);
    auto result = audit::verifyDay("2026-12-02", records);
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.brokenSeq, 3);  // read in stored order: the record at position 2 says seq 3
    // Swapped content with the seq numbers kept in place (ordered by seq): the link breaks at the first.
    auto swapped = chainOf(4);
    std::swap(swapped[1].entries, swapped[2].entries);
    result = audit::verifyDay("2026-12-02", swapped);
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.brokenSeq, 2);
}

TEST(AuditVerify, AChainFromACheckpoint) {
    auto records = chainOf(4);
    const std::vector<audit::Record> tail(records.begin() + 2, records.end());
    EXPECT_TRUE(audit::verifyDay("2026-12-02", tail, 2, records[1].hash).ok);
    EXPECT_FALSE(audit::verifyDay("2026-12-02", tail, 2, records[0].hash).ok);
}

TEST(AuditCheckpoint, SignatureIsHmacOfDaySeqAndHash) {
    EXPECT_EQ(audit::checkpointSignature("k", "2026-12-01", 3, "abc"),
              "74104c8d1ce76cbb0c407c3f80b9aee0c8d41a16b24d6826b44e2ce16cc15edf");
}

TEST(AuditDays, DayOfAndIsDay) {
    EXPECT_EQ(audit::dayOf("2026-12-02T03:00:00.000Z"), "2026-12-02");
    EXPECT_THROW(audit::dayOf("yesterday"), std::invalid_argument);
    EXPECT_TRUE(audit::isDay("2026-01-31"));
    EXPECT_FALSE(audit::isDay("2026-13-01"));
    EXPECT_FALSE(audit::isDay("2026-1-01"));
}

TEST(AuditHashes, IdHasherAgreesWithHmacForShortAndLongKeys) {
    audit::IdHasher hasher("k");
    EXPECT_EQ(hasher("A123456789"), "5d910655d866bc68140c150292d8ae74e251881d7767f47d169f6848870753e3");
    EXPECT_EQ(hasher(" a123456789"), "5d910655d866bc68140c150292d8ae74e251881d7767f47d169f6848870753e3");
    const std::string longKey(100, 'x');  // longer than a block: hashed first
    audit::IdHasher longHasher(longKey);
    EXPECT_EQ(longHasher("B234567890"), "e9d3cd9e8eebd79205e6eac567351d312d9453e690125ce9b98cc5f85ad1e5b8");
    EXPECT_EQ(audit::idHmac(longKey, "B234567890"), longHasher("B234567890"));
    std::string appended = "row\t";
    hasher.append(appended, " b234567890");
    longHasher.append(appended, "B234567890");
    EXPECT_EQ(appended, "row\t" + audit::idHmac("k", "B234567890") + audit::idHmac(longKey, "B234567890"));
}
