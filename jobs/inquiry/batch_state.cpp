#include "jobs/inquiry/batch_state.hpp"

#include <array>
#include <utility>

namespace taxdesk::jobs::inquiry {
namespace {

constexpr std::array<std::pair<BatchState, const char*>, 5> kNames{{
    {BatchState::awaiting_payment, "awaiting_payment"},
    {BatchState::queued, "queued"},
    {BatchState::processing, "processing"},
    {BatchState::completed, "completed"},
    {BatchState::failed, "failed"},
}};

}  // namespace

const char* toString(BatchState state) noexcept {
    for (const auto& [value, name] : kNames)
        if (value == state) return name;
    return "unknown";
}

std::optional<BatchState> parseBatchState(std::string_view text) noexcept {
    for (const auto& [value, name] : kNames)
        if (text == name) return value;
    return std::nullopt;
}

}  // namespace taxdesk::jobs::inquiry
