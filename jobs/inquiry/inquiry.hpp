#pragma once
// SPEC 3.3: the creditor inquiry, one data row at a time. Plain data and the rule that decides a row's result.
#include <optional>
#include <string>
#include <vector>

#include "jobs/records/registry.hpp"
#include "jobs/records/taxdata.hpp"

namespace taxdesk::jobs::inquiry {

enum class Scope { income, property, both };

/// One accepted row of a batch, as it travels on `inquiry.requests`.
struct InquiryRequest {
    std::string batchId;
    int row = 0;  ///< 1-based data row number in the uploaded file
    std::string creditorId;
    std::string debtorId;  ///< normalised and valid
    std::string debtorName;
    Scope scope = Scope::both;
    std::vector<int> incomeYears;  ///< Gregorian years, ascending, unique
    /// The row's enforcement title reference (SPEC 3.1 `title_ref`) as the dispatcher copies it from the stored row,
    /// for the audit trail; optional on the topic ('' when the message has none, or one that is not text of at most
    /// 200 characters: the trail reads the store then).
    std::string titleRef;

    [[nodiscard]] bool wantsIncome() const { return scope != Scope::property; }
    [[nodiscard]] bool wantsProperty() const { return scope != Scope::income; }
    bool operator==(const InquiryRequest&) const = default;
};

enum class ResultStatus { found, no_records, not_registered, name_mismatch, deceased, rejected, error };

/// One result per data row (SPEC 3.3), as it travels on `inquiry.results` and sits in the store.
struct InquiryResult {
    std::string batchId;
    int row = 0;
    std::string debtorId;
    ResultStatus status = ResultStatus::error;
    std::string reason;  ///< set for rejected and error
    std::vector<records::IncomeRecord> income;
    std::vector<records::PropertyRecord> property;

    bool operator==(const InquiryResult&) const = default;
};

const char* toString(Scope scope);
std::optional<Scope> parseScope(std::string_view text);
const char* toString(ResultStatus status);
std::optional<ResultStatus> parseResultStatus(std::string_view text);

/// Names match as the registry matches them (SPEC 3.3): equal after removing every space (identity::isSpace, inner
/// ones too), folding full-width forms and ASCII case, and reading variant characters (台/臺, 黄/黃, …) and middle
/// dots (· ‧ ・ • ． ･) as one (the table in name_variants.cpp). Allocates nothing; thread-safe.
bool namesMatch(std::string_view given, std::string_view registered);

/// The registry step: decides the result when the registry's answer already settles it (not_registered,
/// name_mismatch, deceased). Returns nullopt when the tax data must be looked up.
std::optional<InquiryResult> decideFromRegistry(const InquiryRequest& request,
                                                const std::optional<records::RegistryRecord>& record);

/// The tax data step: found when any record is present for the requested scope, else no_records.
InquiryResult decideFromTaxData(const InquiryRequest& request, records::TaxRecords records);

/// A connector kept failing: status error with the reason (never charged again on replay).
InquiryResult errorResult(const InquiryRequest& request, std::string reason);

}  // namespace taxdesk::jobs::inquiry
