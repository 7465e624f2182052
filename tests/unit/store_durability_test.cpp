// Durability of the payment ledger on SQLite: the store's sessions run with synchronous=NORMAL (a process crash loses
// nothing; an OS crash or power loss may lose the last commits), but the commits of a payment (recorded before the
// provider is asked to charge, and its outcome) must survive any crash, so they are synced to disk (synchronous=FULL
// for those commits). What is synced is counted by a SQLite VFS that wraps the default one and counts xSync on the
// write-ahead log: with NORMAL a commit does not sync it, with FULL it does.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <string>

#include "connectors/store/store.hpp"
#include "fixtures/test_env.hpp"

namespace {

std::atomic<int> walSyncs{0};
sqlite3_vfs* realVfs = nullptr;
sqlite3_io_methods countingMethods{};

/// Our file: the methods pointer SQLite calls, then the real VFS's file (szOsFile bytes) it forwards to.
struct CountingFile {
    sqlite3_file base;
    sqlite3_file* real;
    bool wal;
};

sqlite3_file* realOf(sqlite3_file* file) {
    return reinterpret_cast<CountingFile*>(file)->real;
}

int countingSync(sqlite3_file* file, int flags) {
    if (reinterpret_cast<CountingFile*>(file)->wal) ++walSyncs;
    return realOf(file)->pMethods->xSync(realOf(file), flags);
}

/// Every method forwards to the real file's; xSync counts first.
void fillMethods(const sqlite3_io_methods* real) {
    countingMethods.iVersion = real->iVersion;
    countingMethods.xClose = [](sqlite3_file* f) { return realOf(f)->pMethods->xClose(realOf(f)); };
    countingMethods.xRead = [](sqlite3_file* f, void* out, int n, sqlite3_int64 at) {
        return realOf(f)->pMethods->xRead(realOf(f), out, n, at);
    };
    countingMethods.xWrite = [](sqlite3_file* f, const void* in, int n, sqlite3_int64 at) {
        return realOf(f)->pMethods->xWrite(realOf(f), in, n, at);
    };
    countingMethods.xTruncate = [](sqlite3_file* f, sqlite3_int64 size) {
        return realOf(f)->pMethods->xTruncate(realOf(f), size);
    };
    countingMethods.xSync = countingSync;
    countingMethods.xFileSize = [](sqlite3_file* f, sqlite3_int64* size) {
        return realOf(f)->pMethods->xFileSize(realOf(f), size);
    };
    countingMethods.xLock = [](sqlite3_file* f, int lock) { return realOf(f)->pMethods->xLock(realOf(f), lock); };
    countingMethods.xUnlock = [](sqlite3_file* f, int lock) { return realOf(f)->pMethods->xUnlock(realOf(f), lock); };
    countingMethods.xCheckReservedLock = [](sqlite3_file* f, int* out) {
        return realOf(f)->pMethods->xCheckReservedLock(realOf(f), out);
    };
    countingMethods.xFileControl = [](sqlite3_file* f, int op, void* arg) {
        return realOf(f)->pMethods->xFileControl(realOf(f), op, arg);
    };
    countingMethods.xSectorSize = [](sqlite3_file* f) { return realOf(f)->pMethods->xSectorSize(realOf(f)); };
    countingMethods.xDeviceCharacteristics = [](sqlite3_file* f) {
        return realOf(f)->pMethods->xDeviceCharacteristics(realOf(f));
    };
    countingMethods.xShmMap = [](sqlite3_file* f, int region, int size, int extend, void volatile** out) {
        return realOf(f)->pMethods->xShmMap(realOf(f), region, size, extend, out);
    };
    countingMethods.xShmLock = [](sqlite3_file* f, int offset, int n, int flags) {
        return realOf(f)->pMethods->xShmLock(realOf(f), offset, n, flags);
    };
    countingMethods.xShmBarrier = [](sqlite3_file* f) { realOf(f)->pMethods->xShmBarrier(realOf(f)); };
    countingMethods.xShmUnmap = [](sqlite3_file* f, int drop) {
        return realOf(f)->pMethods->xShmUnmap(realOf(f), drop);
    };
    countingMethods.xFetch = [](sqlite3_file* f, sqlite3_int64 at, int n, void** out) {
        return realOf(f)->pMethods->xFetch(realOf(f), at, n, out);
    };
    countingMethods.xUnfetch = [](sqlite3_file* f, sqlite3_int64 at, void* page) {
        return realOf(f)->pMethods->xUnfetch(realOf(f), at, page);
    };
}

int countingOpen(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* outFlags) {
    auto* ours = reinterpret_cast<CountingFile*>(file);
    ours->real = reinterpret_cast<sqlite3_file*>(ours + 1);
    ours->wal = (flags & SQLITE_OPEN_WAL) != 0;
    ours->base.pMethods = nullptr;
    const int rc = realVfs->xOpen(realVfs, name, ours->real, flags, outFlags);
    if (ours->real->pMethods != nullptr) {
        if (countingMethods.xSync == nullptr) fillMethods(ours->real->pMethods);
        ours->base.pMethods = &countingMethods;
    }
    return rc;
}

/// Registers, as the default VFS, the real default one with xOpen wrapped (before any connection is opened).
void registerCountingVfs() {
    static sqlite3_vfs vfs;
    realVfs = sqlite3_vfs_find(nullptr);
    ASSERT_NE(realVfs, nullptr);
    vfs = *realVfs;
    vfs.zName = "taxdesk-counting";
    vfs.szOsFile = static_cast<int>(sizeof(CountingFile)) + realVfs->szOsFile;
    vfs.xOpen = countingOpen;
    ASSERT_EQ(sqlite3_vfs_register(&vfs, 1), SQLITE_OK);
}

}  // namespace

TEST(StoreDurability, PaymentCommitsAreSyncedToDiskAndOtherCommitsAreNot) {
    registerCountingVfs();
    taxdesk::connectors::StoreSettings settings;
    settings.sqlitePath = taxdesk::testing::tempDir("store-durability") + "/taxdesk.db";
    settings.poolSize = 1;  // one connection: a payment's FULL would stay on it if it were not put back
    taxdesk::connectors::Store store(settings);

    // A token written the ordinary way (NORMAL): its commit does not sync the log (the test can tell the difference).
    walSyncs = 0;
    store.tokens().insertToken({std::string(64, '1'), "creditor", "C-durability", "2026-12-02T00:00:00.000Z"});
    EXPECT_EQ(walSyncs.load(), 0) << "an ordinary commit synced the log: the test cannot tell FULL from NORMAL";

    taxdesk::connectors::PaymentRecord payment;
    payment.paymentId = "pay-durability-1";
    payment.idempotencyKey = "key-durability-1";
    payment.batchId = "batch-durability-1";
    payment.creditorId = "C-durability";
    payment.amount = 500;
    payment.method = "easycard";
    payment.card = "****-****-****-1234";
    walSyncs = 0;
    const auto intent = store.payments().beginPayment(payment);
    EXPECT_TRUE(intent.created);
    EXPECT_GE(walSyncs.load(), 1) << "the payment was committed without syncing the log: an OS crash could lose it "
                                     "after the provider charged";

    walSyncs = 0;
    store.payments().completePayment(payment.paymentId, taxdesk::jobs::payment::PaymentStatus::succeeded, "txn-1", "",
                                     0);
    EXPECT_GE(walSyncs.load(), 1) << "the payment's outcome was committed without syncing the log";

    // The connection is back to NORMAL afterwards.
    walSyncs = 0;
    store.tokens().insertToken({std::string(64, '2'), "creditor", "C-durability", "2026-12-02T00:00:00.000Z"});
    EXPECT_EQ(walSyncs.load(), 0) << "the connection stayed synchronous=FULL after the payment";
}
