// SPEC 3.3: a batch's results as CSV (jobs/inquiry/results_csv), line by line.
#include "jobs/inquiry/results_csv.hpp"

#include <gtest/gtest.h>

namespace taxdesk::jobs::inquiry {
namespace {

const std::string kHeader =
    "\xEF\xBB\xBF"
    "row,debtor_id,status,reason,record,year,payer_id,payer_name,income_type,amount,kind,description,location,value"
    "\r\n";

TEST(ResultsCsv, StartsWithAByteOrderMarkAndTheHeader) {
    EXPECT_EQ(resultsCsvHeader(), kHeader);
    EXPECT_EQ(resultsCsv({}), kHeader);
}

TEST(ResultsCsv, EachIncomeAndPropertyRecordIsALineOfItsRow) {
    InquiryResult result;
    result.batchId = "B1";
    result.row = 7;
    result.debtorId = "A123456789";
    result.status = ResultStatus::found;
    result.income = {{2024, "12345675", "臺北商行", "50", 480000}, {2023, "12345675", "臺北商行", "50", 455000}};
    result.property = {{"land", "信義區 段 1 地號", "臺北市", 3200000}};
    EXPECT_EQ(resultsCsv({result}), kHeader +
                                        "7,A123456789,found,,income,2024,12345675,臺北商行,50,480000,,,,\r\n"
                                        "7,A123456789,found,,income,2023,12345675,臺北商行,50,455000,,,,\r\n"
                                        "7,A123456789,found,,property,,,,,,land,信義區 段 1 地號,臺北市,3200000\r\n");
}

TEST(ResultsCsv, ARowWithoutRecordsIsOneLineWithItsReason) {
    InquiryResult rejected;
    rejected.row = 3;
    rejected.debtorId = "X1";
    rejected.status = ResultStatus::rejected;
    rejected.reason = "invalid_id";
    InquiryResult none;
    none.row = 4;
    none.debtorId = "B123456780";
    none.status = ResultStatus::no_records;
    EXPECT_EQ(resultsCsv({rejected, none}), kHeader +
                                                "3,X1,rejected,invalid_id,,,,,,,,,,\r\n"
                                                "4,B123456780,no_records,,,,,,,,,,,\r\n");
}

TEST(ResultsCsv, CellsAreQuotedAndFormulasWrittenAsText) {
    InquiryResult result;
    result.row = 1;
    result.debtorId = "A123456789";
    result.status = ResultStatus::found;
    result.income = {{2024, "=HYPERLINK(\"x\")", "王,小明", "50", 1}};
    std::string out;
    appendResultCsv(out, result);
    EXPECT_EQ(out, "1,A123456789,found,,income,2024,\"'=HYPERLINK(\"\"x\"\")\",\"王,小明\",50,1,,,,\r\n");
}

}  // namespace
}  // namespace taxdesk::jobs::inquiry
