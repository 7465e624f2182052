#include "jobs/payment/payment_status.hpp"

#include <array>
#include <utility>

namespace taxdesk::jobs::payment {
namespace {

constexpr std::array<std::pair<PaymentStatus, const char*>, 4> kNames{{
    {PaymentStatus::pending, "pending"},
    {PaymentStatus::succeeded, "succeeded"},
    {PaymentStatus::failed, "failed"},
    {PaymentStatus::refund_due, "refund_due"},
}};

}  // namespace

const char* toString(PaymentStatus status) noexcept {
    for (const auto& [value, name] : kNames)
        if (value == status) return name;
    return "unknown";
}

std::optional<PaymentStatus> parsePaymentStatus(std::string_view text) noexcept {
    for (const auto& [value, name] : kNames)
        if (text == name) return value;
    return std::nullopt;
}

}  // namespace taxdesk::jobs::payment
