#pragma once
// Server-rendered pages: a batch's receipt (with the QR code of its public URL) and the public progress page.
// No personal data on either: the batch's numbers, state and progress only.
#include <string>
#include <vector>

#include "connectors/store/store.hpp"

namespace taxdesk::engine::pages {

/// Escapes text for HTML element content and attribute values.
std::string escapeHtml(const std::string& text);

/// A digest of a results download the receipt shows (issue 13), with the public URL that checks it.
struct ReceiptDigest {
    std::string format;     ///< csv | json
    std::string sha256;     ///< 64 hex
    std::string verifyUrl;  ///< <base>/v/<batch_id>/<sha256>
};

/// The receipt: batch id, rows, fee, payment state, created time, and the public URL written out and as a QR code.
/// With `digests` (a completed batch's signed downloads): each digest and its verification URL written out, and the
/// first one's URL (batch id and digest) as a second QR code.
std::string receiptPage(const connectors::BatchRecord& batch, const std::string& publicUrl,
                        const std::vector<ReceiptDigest>& digests = {});

/// The public page behind the QR code: state and progress only; refreshes itself while the batch is not finished.
std::string publicProgressPage(const connectors::BatchRecord& batch);

}  // namespace taxdesk::engine::pages
