#include "connectors/store/sql_signature_store.hpp"

#include <Poco/Data/Session.h>

#include "connectors/store/migrations.hpp"
#include "connectors/store/store_internal.hpp"

namespace taxdesk::connectors {

using namespace Poco::Data::Keywords;

IssuedSignature SqlSignatureStore::recordSignature(const IssuedSignature& signature) {
    IssuedSignature row = signature;
    if (row.issuedAt.empty()) row.issuedAt = detail::utcNow();
    const std::string insert = db_.sql(
        "INSERT INTO result_signatures (batch_id, format, sha256, key_id, signature, bytes, issued_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (batch_id, format, sha256) DO NOTHING");
    const Poco::Int64 bytes = row.bytes;
    db_.withSession("recording a results signature", [&](Poco::Data::Session& session) {
        session << insert, bind(row.batchId), bind(row.format), bind(row.sha256), bind(row.keyId), bind(row.signature),
            bind(bytes), bind(row.issuedAt), now;
    });
    for (const auto& stored : select(" AND sha256 = ?", row.batchId, row.sha256))
        if (stored.format == row.format) return stored;
    throw StoreError("the results signature of batch " + row.batchId + " was not stored");
}

std::optional<IssuedSignature> SqlSignatureStore::findSignature(const std::string& batchId, const std::string& sha256) {
    auto rows = select(" AND sha256 = ?", batchId, sha256);
    if (rows.empty()) return std::nullopt;
    return rows.front();
}

std::vector<IssuedSignature> SqlSignatureStore::signaturesOfBatch(const std::string& batchId) {
    return select("", batchId, "");
}

std::vector<IssuedSignature> SqlSignatureStore::select(const std::string& where, const std::string& batchId,
                                                       const std::string& sha256) {
    const std::string query = db_.sql(
        "SELECT batch_id, format, sha256, key_id, signature, bytes, issued_at FROM result_signatures WHERE batch_id = "
        "?" +
        where + " ORDER BY issued_at DESC, format");
    std::vector<std::string> batchIds, formats, digests, keyIds, signatures, issuedAts;
    std::vector<Poco::Int64> sizes;
    db_.withSession("reading results signatures", [&](Poco::Data::Session& session) {
        std::string batch = batchId;
        std::string digest = sha256;
        if (where.empty()) {
            session << query, use(batch), into(batchIds), into(formats), into(digests), into(keyIds), into(signatures),
                into(sizes), into(issuedAts), now;
        } else {
            session << query, use(batch), use(digest), into(batchIds), into(formats), into(digests), into(keyIds),
                into(signatures), into(sizes), into(issuedAts), now;
        }
    });
    std::vector<IssuedSignature> rows;
    for (std::size_t i = 0; i < batchIds.size(); ++i)
        rows.push_back({batchIds[i], formats[i], digests[i], keyIds[i], signatures[i], sizes[i], issuedAts[i]});
    return rows;
}

}  // namespace taxdesk::connectors
