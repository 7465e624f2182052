// The issued results signatures (SqlSignatureStore; issue 13; migration 9), on both backends.
#include <gtest/gtest.h>

#include "connectors/store/sql_signature_store.hpp"
#include "fixtures/store_backend.hpp"
#include "fixtures/test_env.hpp"

namespace taxdesk::connectors {
namespace {

class StoreSignaturesTest : public ::testing::TestWithParam<std::string> {};

IssuedSignature issued(const std::string& batch, const std::string& format, char digit, const std::string& at) {
    return {batch, format, std::string(64, digit), "0123456789abcdef", std::string(86, 'S') + "==", 1234, at};
}

TEST_P(StoreSignaturesTest, ADigestIsRecordedOnceAndFoundForItsBatchOnly) {
    testing::StoreBackend backend(GetParam(), "signatures");
    Store store(backend.settings());
    SqlSignatureStore signatures(store.database());
    const std::string batch = testing::uniqueName("B");
    const std::string other = testing::uniqueName("B");

    const auto first = signatures.recordSignature(issued(batch, "csv", 'a', "2026-12-02T03:00:00.000Z"));
    EXPECT_EQ(first, issued(batch, "csv", 'a', "2026-12-02T03:00:00.000Z"));
    // The same bytes again (a second download, another engine at once): the first row stays.
    auto repeat = issued(batch, "csv", 'a', "2026-12-02T04:00:00.000Z");
    repeat.signature = std::string(86, 'T') + "==";
    EXPECT_EQ(signatures.recordSignature(repeat), first);
    const auto json = signatures.recordSignature(issued(batch, "json", 'b', ""));
    EXPECT_EQ(json.issuedAt.size(), 24u) << "stamped: " << json.issuedAt;

    EXPECT_EQ(signatures.findSignature(batch, std::string(64, 'a')), first);
    EXPECT_EQ(signatures.findSignature(batch, std::string(64, 'b'))->format, "json");
    EXPECT_FALSE(signatures.findSignature(batch, std::string(64, 'c')));
    EXPECT_FALSE(signatures.findSignature(other, std::string(64, 'a'))) << "a digest is issued for its batch only";
    const auto all = signatures.signaturesOfBatch(batch);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].format, "json") << "newest first";
    EXPECT_EQ(all[1], first);
    EXPECT_TRUE(signatures.signaturesOfBatch(other).empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreSignaturesTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

}  // namespace
}  // namespace taxdesk::connectors
