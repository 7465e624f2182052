#pragma once
// The signatures issued for results downloads (issue 13, tamper-evident results): one row per (batch, format, SHA-256
// of the exact bytes served). A batch may have more than one per format when its results changed (a retry of its
// error rows): each digest the bureau issued stays issued.
#include <optional>
#include <string>
#include <vector>

namespace taxdesk::connectors {

struct IssuedSignature {
    std::string batchId;
    std::string format;     ///< csv | json
    std::string sha256;     ///< 64 lowercase hex: the download's exact bytes
    std::string keyId;      ///< the signing key's id (16 hex)
    std::string signature;  ///< base64 Ed25519 signature of jobs::inquiry::signedMessage()
    long long bytes = 0;    ///< the download's size
    std::string issuedAt;   ///< ISO 8601 UTC, when first signed

    bool operator==(const IssuedSignature&) const = default;
};

/// Implemented over SQL by SqlSignatureStore (table result_signatures); thread-safe; throws StoreError.
class SignatureStore {
  public:
    virtual ~SignatureStore() = default;
    /// Records a signature unless (batch_id, format, sha256) has one already (then the first stays, and is returned);
    /// stamps issued_at when empty. Returns the stored row.
    virtual IssuedSignature recordSignature(const IssuedSignature& signature) = 0;
    /// The signature issued for these bytes of this batch, in either format.
    virtual std::optional<IssuedSignature> findSignature(const std::string& batchId, const std::string& sha256) = 0;
    /// Every signature of a batch, newest first.
    virtual std::vector<IssuedSignature> signaturesOfBatch(const std::string& batchId) = 0;
};

}  // namespace taxdesk::connectors
