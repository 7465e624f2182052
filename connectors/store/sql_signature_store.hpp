#pragma once
// The issued results signatures over SQL (table result_signatures, migration 9).
#include "connectors/store/database.hpp"
#include "connectors/store/signature_store.hpp"

namespace taxdesk::connectors {

class SqlSignatureStore final : public SignatureStore {
  public:
    /// Over an open database; must not outlive it.
    explicit SqlSignatureStore(Database& db) : db_(db) {}

    IssuedSignature recordSignature(const IssuedSignature& signature) override;
    std::optional<IssuedSignature> findSignature(const std::string& batchId, const std::string& sha256) override;
    std::vector<IssuedSignature> signaturesOfBatch(const std::string& batchId) override;

  private:
    std::vector<IssuedSignature> select(const std::string& where, const std::string& batchId,
                                        const std::string& sha256);
    Database& db_;
};

}  // namespace taxdesk::connectors
