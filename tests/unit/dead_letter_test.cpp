// Dead letters (engine/dead_letter, SPEC 6): the original message with error, attempts and failed_at.
#include "engine/runtime/dead_letter.hpp"

#include <gtest/gtest.h>

#include <string>

TEST(DeadLetter, KeepsTheOriginalAndAddsErrorAttemptsFailedAt) {
    const std::string extended = taxdesk::engine::deadLetterValue(R"({"batch_id":"B1","row":0})", "row must be 1", 2);
    EXPECT_EQ(extended.rfind(R"({"batch_id":"B1","row":0,"error":"row must be 1","attempts":2,"failed_at":")", 0), 0u)
        << extended;
    const std::string wrapped = taxdesk::engine::deadLetterValue("not \"json\"", "bad", 1);
    EXPECT_EQ(wrapped.rfind(R"({"original":"not \"json\"","dead_letter":{"error":"bad","attempts":1,)", 0), 0u)
        << wrapped;
}
