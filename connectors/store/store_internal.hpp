#pragma once
// Internal to connectors/store: what the store's source files share — leasing a pooled
// session (Database::withSession), error texts, column-wise selects. Not for use outside this folder.
#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>
#include <Poco/Data/Statement.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "connectors/store/database.hpp"

namespace taxdesk::connectors::detail {

/// How long a call waits for a free pooled session.
inline constexpr auto kSessionWait = std::chrono::seconds(30);

/// libpq's messages span several indented lines; a log line should not.
std::string oneLine(const std::string& text);

/// The StoreError text for a call that found every pooled session busy for kSessionWait.
std::string sessionsBusy(const std::string& backend, const char* purpose, int poolSize);

/// std::invalid_argument naming `call` when `value` is empty.
void requireField(const std::string& value, const char* what, const char* call);

/// Gives a permit back to the semaphore when it goes out of scope.
class PermitRelease {
  public:
    explicit PermitRelease(std::counting_semaphore<>& permits) : permits_(permits) {}
    ~PermitRelease() { permits_.release(); }
    PermitRelease(const PermitRelease&) = delete;
    PermitRelease& operator=(const PermitRelease&) = delete;

  private:
    std::counting_semaphore<>& permits_;
};

/// True when `session` is the session of this thread's open StoreTransaction.
bool inStoreTransaction(const Poco::Data::Session& session);

/// A write that must be all or nothing: its own transaction (as Poco::Data::Transaction), or a savepoint when it runs
/// inside a StoreTransaction. Rolls back unless committed. Given `writer` (Database::sqliteWriter()), a transaction of
/// its own holds it from begin to end (a savepoint does not: its StoreTransaction holds it).
class WriteTransaction {
  public:
    explicit WriteTransaction(Poco::Data::Session& session, std::mutex* writer = nullptr);
    ~WriteTransaction();
    WriteTransaction(const WriteTransaction&) = delete;
    WriteTransaction& operator=(const WriteTransaction&) = delete;
    void commit();

  private:
    Poco::Data::Session& session_;
    bool nested_;
    bool done_ = false;
    std::unique_lock<std::mutex> writer_;
};

/// The rows of a SELECT of `Record`'s columns (in its Poco::Data::TypeHandler's order) with `values` bound to its
/// placeholders in order.
template <typename Record, typename... Values>
std::vector<Record> selectRows(Poco::Data::Session& session, const std::string& statement, const Values&... values) {
    using Poco::Data::Keywords::bind;
    using Poco::Data::Keywords::into;
    std::vector<Record> records;
    Poco::Data::Statement query(session);
    query << statement, into(records);
    (query, ..., bind(values));
    query.execute();
    return records;
}

/// The first of `records`, if any.
template <typename Record>
std::optional<Record> first(std::vector<Record>&& records) {
    if (records.empty()) return std::nullopt;
    return std::move(records.front());
}

}  // namespace taxdesk::connectors::detail

namespace taxdesk::connectors {

template <typename Work>
auto Database::withSession(const char* purpose, Work&& work) {
    if (Poco::Data::Session* bound = boundSession()) {
        // Inside this thread's StoreTransaction: its session, no retry (the transaction as a whole fails).
        try {
            return work(*bound);
        } catch (const Poco::Exception& error) {
            const std::string text = detail::oneLine(error.displayText());
            throw StoreError(backend_ + ": " + purpose + ": " + text, !isPermanentStoreFailure(text));
        }
    }
    for (int attempt = 1;; ++attempt) {
        try {
            if (!permits_->try_acquire_for(detail::kSessionWait)) {
                throw StoreError(detail::sessionsBusy(backend_, purpose, poolSize_));
            }
            const detail::PermitRelease release(*permits_);
            Poco::Data::Session session = pool_->get();  // back to the pool when it goes out of scope
            try {
                return work(session);
            } catch (const Poco::Exception&) {
                // A pooled connection the server dropped (restart, idle timeout) fails once, then reports itself
                // disconnected and the pool discards it. One retry on a fresh session is safe: upserts are
                // idempotent and reads harmless (only an insertToken whose commit reply was lost would then report a
                // duplicate).
                if (attempt == 1 && !session.isConnected()) continue;
                throw;
            }
        } catch (const Poco::Exception& error) {
            const std::string text = detail::oneLine(error.displayText());
            throw StoreError(backend_ + ": " + purpose + ": " + text, !isPermanentStoreFailure(text));
        }
    }
}

}  // namespace taxdesk::connectors
