#pragma once
// SPEC 3.2: a batch's state. The wire and SQL text ("awaiting_payment", …) is toString()'s, read back by
// parseBatchState(): the one place either is spelled.
#include <optional>
#include <string_view>

namespace taxdesk::jobs::inquiry {

/// awaiting_payment until paid; then queued, processing, completed (or failed, with a reason).
enum class BatchState { awaiting_payment, queued, processing, completed, failed };

/// "awaiting_payment", "queued", "processing", "completed", "failed".
const char* toString(BatchState state) noexcept;
/// The state named by `text` (exactly as toString() writes it), or nullopt.
std::optional<BatchState> parseBatchState(std::string_view text) noexcept;
/// completed or failed: nothing more happens to the batch by itself.
constexpr bool isFinished(BatchState state) noexcept {
    return state == BatchState::completed || state == BatchState::failed;
}

}  // namespace taxdesk::jobs::inquiry
