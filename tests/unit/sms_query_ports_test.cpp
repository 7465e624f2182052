// Issue 13: the progress query's read of the applicant's open pickups over the store (engine/flow/sms_ports.hpp):
// StorePickups on a store that is not the SQL one asks each service, and PrefetchedPickups answers an applicant whose
// pickups a poll batch read up front from them (open, deadline not passed, theirs only) and asks the store for anyone
// else. No servers.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

#include "connectors/store/pickup_store.hpp"
#include "engine/flow/sms_ports.hpp"

namespace taxdesk::engine {
namespace {

using connectors::PickupRecord;

class AskedPickups : public connectors::PickupStore {
  public:
    std::vector<PickupRecord> pickups;
    std::vector<std::string> asked;  ///< "applicant/service/now"

    std::optional<connectors::InboundRecord> findInbound(const std::string&) override { return std::nullopt; }
    connectors::SmsOutcomeResult recordSmsOutcome(const connectors::InboundRecord&, const std::optional<PickupRecord>&,
                                                  const connectors::NotificationRecord&) override {
        ADD_FAILURE() << "a read records nothing";
        return {};
    }
    std::optional<PickupRecord> openPickupFor(const std::string& applicantId, int service, long long now) override {
        asked.push_back(applicantId + "/" + std::to_string(service) + "/" + std::to_string(now));
        for (const auto& pickup : pickups)
            if (pickup.applicantId == applicantId && pickup.service == service && pickup.state == "open" &&
                pickup.deadlineAt >= now)
                return pickup;
        return std::nullopt;
    }
    connectors::CollectResult collectPickup(const std::string&, const std::string&, long long) override { return {}; }
    std::vector<PickupRecord> claimDueReminders(long long, const std::string&, int, int) override { return {}; }
    void markReminded(const std::string&, const std::string&) override {}
    int expireDue(long long) override { return 0; }
};

PickupRecord record(const std::string& applicant, int service, long long deadlineAt, const std::string& state,
                    const std::string& code) {
    PickupRecord pickup;
    pickup.pickupId = "p-" + code;
    pickup.code = code;
    pickup.applicantId = applicant;
    pickup.service = service;
    pickup.office = "總局";
    pickup.deadlineAt = deadlineAt;
    pickup.state = state;
    return pickup;
}

std::vector<std::string> codesOf(const std::vector<jobs::sms::OpenPickup>& open) {
    std::vector<std::string> codes;
    for (const auto& pickup : open) codes.push_back(pickup.code);
    std::sort(codes.begin(), codes.end());
    return codes;
}

constexpr long long kNow = 1000;

TEST(SmsQueryPortsTest, StorePickupsOverAnotherStoreAsksEachService) {
    AskedPickups store;
    store.pickups = {record("A123456789", 2, kNow + 10, "open", "200000"),
                     record("A123456789", 4, kNow + 10, "open", "400000")};
    StorePickups pickups(store);
    const auto open = pickups.openPickupsOf("A123456789", kNow);
    EXPECT_EQ(codesOf(open), (std::vector<std::string>{"200000", "400000"}));
    EXPECT_EQ(store.asked, (std::vector<std::string>{"A123456789/1/1000", "A123456789/2/1000", "A123456789/3/1000",
                                                     "A123456789/4/1000", "A123456789/5/1000"}));
    ASSERT_EQ(open.size(), 2U);
    EXPECT_EQ(open[0].office, "總局");
    EXPECT_EQ(open[0].deadlineAt, kNow + 10);
}

TEST(SmsQueryPortsTest, PrefetchedPickupsAnswerFromTheBatchsReadForItsApplicants) {
    AskedPickups store;
    const std::unordered_set<std::string> applicants = {"A123456789"};
    const std::vector<PickupRecord> read = {
        record("A123456789", 1, kNow + 10, "open", "100000"),
        record("A123456789", 2, kNow - 1, "open", "200000"),        // its deadline passed: not open any more
        record("A123456789", 3, kNow + 10, "collected", "300000"),  // collected
        record("A123456789", 5, kNow, "open", "500000"),            // due this very second: still open
        record("B123456780", 4, kNow + 10, "open", "400000"),       // another applicant's
    };
    PrefetchedPickups pickups(store, applicants, read);
    EXPECT_EQ(codesOf(pickups.openPickupsOf("A123456789", kNow)), (std::vector<std::string>{"100000", "500000"}));
    EXPECT_TRUE(store.asked.empty()) << "answered from the batch's read";

    // An applicant the batch did not read: the store is asked.
    store.pickups = {record("C223456788", 3, kNow + 10, "open", "333333")};
    EXPECT_EQ(codesOf(pickups.openPickupsOf("C223456788", kNow)), (std::vector<std::string>{"333333"}));
    EXPECT_EQ(store.asked.size(), 5U);
}

}  // namespace
}  // namespace taxdesk::engine
