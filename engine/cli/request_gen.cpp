#include "engine/cli/request_gen.hpp"

#include "connectors/stubs/demo_data/population.hpp"
#include "jobs/common/json.hpp"

namespace taxdesk::engine {

jobs::inquiry::InquiryRequest generatedRequest(const std::string& batchId, const std::string& creditorId, int row,
                                               std::uint64_t seed) {
    const demo_data::Population population(seed);
    jobs::inquiry::InquiryRequest request;
    request.batchId = batchId;
    request.creditorId = creditorId;
    request.row = row;
    const auto index = static_cast<std::uint64_t>(row);
    // Shares of the unusual statuses, by row number: 3% unknown, 1% deceased, 2% wrong name.
    switch (row % 100) {
        case 7:
        case 37:
        case 77:
            request.debtorId = population.unregisteredIdAt(index);
            break;
        case 57:
            request.debtorId = population.deceasedIdAt(index);
            break;
        case 91:
            request.debtorId = population.businessNumberAt(index);
            break;
        default:
            request.debtorId = population.nationalIdAt(index);
    }
    const auto record = population.registryRecord(request.debtorId);
    request.debtorName = record ? record->name : population.randomPersonName(index);
    if (row % 100 == 13 || row % 100 == 63) request.debtorName = population.randomPersonName(index + 1);
    request.scope = row % 3 == 0 ? jobs::inquiry::Scope::income
                                 : (row % 3 == 1 ? jobs::inquiry::Scope::both : jobs::inquiry::Scope::property);
    if (request.wantsIncome()) {
        request.incomeYears = {demo_data::Population::kLatestTaxYear - 1, demo_data::Population::kLatestTaxYear};
        if (row % 2 == 0) request.incomeYears.erase(request.incomeYears.begin());
    }
    request.titleRef = generatedTitle(row);
    return request;
}

std::string generatedTitle(int row) {
    return "臺灣臺北地方法院112年度司執字第" + std::to_string(row) + "號";
}

std::string generatedSms(std::uint64_t index, std::uint64_t seed, double badFraction, const std::string& receivedAt) {
    static const char* const kServices[] = {"1",        "2",        "3",        "4",        "5",
                                            "財產所得", "納稅證明", "稅籍資料", "欠稅查復", "免扣證"};
    const demo_data::Population population(seed);
    char msisdn[16];
    std::snprintf(msisdn, sizeof msisdn, "09%08llu",
                  static_cast<unsigned long long>((index * 7919 + seed) % 100000000));
    std::string id = population.nationalIdAt(index + 1000000);
    std::string last4 = population.nhiCardNumber(id).substr(8);
    std::string service = kServices[index % 10];
    std::string text;
    // Bad messages are spread evenly: message i is bad when floor((i+1)F) > floor(iF).
    const bool bad = static_cast<std::uint64_t>(static_cast<double>(index + 1) * badFraction) >
                     static_cast<std::uint64_t>(static_cast<double>(index) * badFraction);
    const auto kind =
        bad ? static_cast<int>((static_cast<std::uint64_t>(static_cast<double>(index) * badFraction)) % 6) : -1;
    switch (kind) {
        case 0:
            id[9] = static_cast<char>('0' + (id[9] - '0' + 1) % 10);
            break;  // invalid ID
        case 1:
            last4 = last4 == "0000" ? "0001" : "0000";
            break;  // wrong NHI digits
        case 2:
            service = "9";
            break;  // unknown service
        case 3:
            text = service + " " + id;
            break;  // malformed
        case 4:
            text = "?";
            break;  // help
        case 5:
            id = population.deceasedIdAt(index);
            last4 = "1234";
            break;  // identity fails
        default:
            break;
    }
    if (text.empty()) text = service + (index % 7 == 0 ? "\u3000" : " ") + id + " " + last4;
    std::string out;
    jobs::json::ObjectWriter(out)
        .field("msisdn", msisdn)
        .field("text", text)
        .field("gateway_msg_id", "g-" + std::to_string(seed) + "-" + std::to_string(index))
        .field("received_at", receivedAt)
        .close();
    return out;
}

}  // namespace taxdesk::engine
