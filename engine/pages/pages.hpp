#pragma once
// Server-rendered pages: a batch's receipt (with the QR code of its public URL) and the public progress page.
// No personal data on either: the batch's numbers, state and progress only.
#include <string>

#include "connectors/store/store.hpp"

namespace taxdesk::engine::pages {

/// Escapes text for HTML element content and attribute values.
std::string escapeHtml(const std::string& text);

/// The receipt: batch id, rows, fee, payment state, created time, and the public URL written out and as a QR code.
std::string receiptPage(const connectors::BatchRecord& batch, const std::string& publicUrl);

/// The public page behind the QR code: state and progress only; refreshes itself while the batch is not finished.
std::string publicProgressPage(const connectors::BatchRecord& batch);

}  // namespace taxdesk::engine::pages
