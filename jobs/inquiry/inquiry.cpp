#include "jobs/inquiry/inquiry.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "jobs/common/utf8.hpp"
#include "jobs/identity/identifiers.hpp"
#include "jobs/inquiry/name_variants.hpp"

namespace taxdesk::jobs::inquiry {
namespace {

constexpr std::array<std::pair<Scope, const char*>, 3> kScopes{
    {{Scope::income, "income"}, {Scope::property, "property"}, {Scope::both, "both"}}};

constexpr std::array<std::pair<ResultStatus, const char*>, 7> kStatuses{{
    {ResultStatus::found, "found"},
    {ResultStatus::no_records, "no_records"},
    {ResultStatus::not_registered, "not_registered"},
    {ResultStatus::name_mismatch, "name_mismatch"},
    {ResultStatus::deceased, "deceased"},
    {ResultStatus::rejected, "rejected"},
    {ResultStatus::error, "error"},
}};

/// Walks a name one folded code point at a time, without allocating (namesMatch runs for every row): spaces
/// skipped wherever they are, full-width forms folded, ASCII letters upper-cased, variant characters and middle
/// dots made canonical. A byte that is not valid UTF-8 stands for itself, as a value above U+10FFFF, so that such
/// names still compare byte for byte.
class FoldedName {
  public:
    explicit FoldedName(std::string_view text) noexcept : text_(text) {}

    /// The next folded code point, or nullopt at the end.
    std::optional<char32_t> next() noexcept {
        while (pos_ < text_.size()) {
            const std::size_t start = pos_;
            const auto cp = utf8::decodeAt(text_, pos_);
            if (!cp) {
                pos_ = start + 1;
                return kUndecodable + static_cast<unsigned char>(text_[start]);
            }
            if (identity::isSpace(*cp)) continue;
            char32_t folded = identity::foldWidth(*cp);
            if (folded >= U'a' && folded <= U'z') folded -= U'a' - U'A';
            return canonicalCharacter(folded);
        }
        return std::nullopt;
    }

  private:
    static constexpr char32_t kUndecodable = 0x110000;
    std::string_view text_;
    std::size_t pos_ = 0;
};

InquiryResult baseResult(const InquiryRequest& request, ResultStatus status) {
    InquiryResult result;
    result.batchId = request.batchId;
    result.row = request.row;
    result.debtorId = request.debtorId;
    result.status = status;
    return result;
}

}  // namespace

const char* toString(Scope scope) {
    for (const auto& [value, name] : kScopes)
        if (value == scope) return name;
    return "both";
}

std::optional<Scope> parseScope(std::string_view text) {
    for (const auto& [value, name] : kScopes)
        if (text == name) return value;
    return std::nullopt;
}

const char* toString(ResultStatus status) {
    for (const auto& [value, name] : kStatuses)
        if (value == status) return name;
    return "error";
}

std::optional<ResultStatus> parseResultStatus(std::string_view text) {
    for (const auto& [value, name] : kStatuses)
        if (text == name) return value;
    return std::nullopt;
}

bool namesMatch(std::string_view given, std::string_view registered) {
    FoldedName a(given);
    FoldedName b(registered);
    for (;;) {
        const auto x = a.next();
        const auto y = b.next();
        if (x != y) return false;
        if (!x) return true;
    }
}

std::optional<InquiryResult> decideFromRegistry(const InquiryRequest& request,
                                                const std::optional<records::RegistryRecord>& record) {
    if (!record) return baseResult(request, ResultStatus::not_registered);
    if (!namesMatch(request.debtorName, record->name)) return baseResult(request, ResultStatus::name_mismatch);
    if (record->deceased) return baseResult(request, ResultStatus::deceased);
    return std::nullopt;
}

InquiryResult decideFromTaxData(const InquiryRequest& request, records::TaxRecords records) {
    InquiryResult result = baseResult(request, ResultStatus::no_records);
    if (request.wantsIncome()) result.income = std::move(records.income);
    if (request.wantsProperty()) result.property = std::move(records.property);
    if (!result.income.empty() || !result.property.empty()) result.status = ResultStatus::found;
    return result;
}

InquiryResult errorResult(const InquiryRequest& request, std::string reason) {
    InquiryResult result = baseResult(request, ResultStatus::error);
    result.reason = std::move(reason);
    return result;
}

}  // namespace taxdesk::jobs::inquiry
