#pragma once
// JSON forms of the inquiry messages (SPEC 6 `inquiry.requests`, SPEC 3.3 / `inquiry.results`).
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "jobs/inquiry/inquiry.hpp"

namespace taxdesk::jobs::inquiry {

/// The message could not be read as the contract says. Not retryable: the same bytes fail again.
class DecodeError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// Parses `{batch_id, row, creditor_id, debtor_id, debtor_name, scope, income_years[, title_ref]}`. `income_years`
/// may be a JSON array of numbers or a ';'-separated string; ROC years (< 1911) are turned into Gregorian ones.
/// `title_ref` (issue 13, optional: the audit trail's title of the row) is taken when it is a string of at most 200
/// characters and otherwise left empty: it never makes a request unreadable.
/// Throws DecodeError naming the field at fault.
InquiryRequest decodeRequest(std::string_view json);
std::string encodeRequest(const InquiryRequest& request);

/// Which row of which batch an `inquiry.requests` message is about, read leniently (only `batch_id`, a non-empty
/// string, and `row`, a whole number >= 1, are looked at) from a message that decodeRequest() may refuse: so that a
/// request that fails for good still gets its row an `error` result. nullopt when the message does not say. Never
/// throws except std::bad_alloc.
struct RowRef {
    std::string batchId;
    int row = 0;
    bool operator==(const RowRef&) const = default;
};
std::optional<RowRef> rowOfRequest(std::string_view json);

std::string encodeResult(const InquiryResult& result);
/// Parses what encodeResult() writes. Throws DecodeError naming the field at fault, and only DecodeError.
InquiryResult decodeResult(std::string_view json);

}  // namespace taxdesk::jobs::inquiry
