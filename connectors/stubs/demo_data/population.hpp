#pragma once
// SPEC 7: the deterministic synthetic population behind the registry, NHI card and tax data stubs, and behind
// `taxdesk gen`, so that generated batches and SMS applications match what the stubs answer.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "jobs/records/registry.hpp"
#include "jobs/records/taxdata.hpp"

namespace taxdesk::demo_data {

using jobs::records::IncomeRecord;
using jobs::records::PropertyRecord;
using jobs::records::RegistryRecord;
using jobs::records::TaxRecords;

/// A synthetic population of persons (national IDs, resident certificates) and companies (business numbers).
///
/// Every answer is a pure function of (normalised ID, seed): two instances with the same seed agree, in any
/// process, on any thread, in any order of calls. Of the valid IDs about 3% are unknown to the registry, about
/// 1% of the known ones are deceased (companies: dissolved), and about 10% of the known ones have no income or
/// property records at all. Income exists for tax years up to kLatestTaxYear only.
///
/// IDs are normalised (jobs::identity::normalize) before use; an invalid ID is simply unknown.
/// Immutable after construction, so thread-safe.
class Population {
  public:
    /// The last tax year with income records (the latest complete tax year in 2026).
    static constexpr int kLatestTaxYear = 2025;
    /// The year that ages and founding dates are counted from.
    static constexpr int kReferenceYear = 2026;

    explicit Population(std::uint64_t seed);

    [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

    /// What the household registry knows of `id`; nullopt when it has no such person or company (or `id` is
    /// not a valid ID). Persons get a Chinese name, a birth date (aged 20–90 in 2026) and a Taipei district;
    /// companies a company name and a founding date, with `company` set.
    [[nodiscard]] std::optional<RegistryRecord> registryRecord(const std::string& id) const;

    /// The 12-digit NHI card number of a registered person; empty for companies and unknown IDs.
    [[nodiscard]] std::string nhiCardNumber(const std::string& id) const;

    /// Income records for each of `years` (Gregorian; 0–4 records a year, none before a person was 18 or a
    /// company was founded, none after kLatestTaxYear) when `income`, and 0–3 property records when `property`.
    /// Empty for unknown IDs. A year's records do not depend on which other years are asked for.
    [[nodiscard]] TaxRecords taxRecords(const std::string& id, const std::vector<int>& years, bool income,
                                        bool property) const;

    /// A valid national ID, deterministic in (index, seed), that the registry knows as living. Different indices
    /// give different IDs with overwhelming (not certain) probability.
    [[nodiscard]] std::string nationalIdAt(std::uint64_t index) const;
    /// As nationalIdAt, for a new-format resident certificate number.
    [[nodiscard]] std::string residentCertificateAt(std::uint64_t index) const;
    /// As nationalIdAt, for an old-format resident certificate number (舊式統一證號, `^[A-Z][A-D][0-9]{8}$`).
    [[nodiscard]] std::string oldResidentCertificateAt(std::uint64_t index) const;
    /// As nationalIdAt, for a unified business number of an existing (not dissolved) company.
    [[nodiscard]] std::string businessNumberAt(std::uint64_t index) const;
    /// A valid national ID that the registry does not know (status not_registered).
    [[nodiscard]] std::string unregisteredIdAt(std::uint64_t index) const;
    /// A valid national ID of a person the registry knows as deceased (status deceased).
    [[nodiscard]] std::string deceasedIdAt(std::uint64_t index) const;

    /// A plausible person's name that is not tied to any ID (for rows about unknown people).
    [[nodiscard]] std::string randomPersonName(std::uint64_t index) const;

    /// The name registered for a valid business number, whether or not the registry knows the company. Payers in
    /// income records are named this way, so a payer's name matches its registry record.
    [[nodiscard]] std::string companyName(const std::string& businessNumber) const;

  private:
    enum class Want { living, unknown, deceased };
    struct Payer {
        std::string businessNumber;
        std::string name;
    };
    /// The payers of income records (businessNumberAt(i) and its companyName), found once on first use (about a
    /// millisecond), shared by copies.
    struct Payers {
        std::once_flag once;
        std::vector<Payer> table;
    };
    /// What the tax data needs of a registry record: drawn as registryRecord() draws, without its strings.
    struct Basics {
        bool company = false;
        int birthYear = 0;  ///< of the birth or founding date
    };
    [[nodiscard]] std::optional<Basics> basicsOf(const std::string& normalizedId) const;
    [[nodiscard]] const Payer& payerAt(std::uint64_t index) const;
    [[nodiscard]] std::uint64_t keyOf(const std::string& normalizedId) const noexcept;
    [[nodiscard]] std::string findId(std::uint64_t index, std::uint64_t salt, char kind, Want want) const;

    std::uint64_t seed_;
    std::shared_ptr<Payers> payers_;
};

/// Completes 9 leading characters (a letter, a digit or, for an old resident certificate, a letter, then 7 digits)
/// to a valid national ID or resident certificate number by appending the check digit. The caller supplies a
/// correct shape.
std::string withCheckDigit(const std::string& first9);

}  // namespace taxdesk::demo_data
