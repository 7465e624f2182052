#include "jobs/sms/lock_rules.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace taxdesk::jobs::sms {

int lockSeconds(int baseSeconds, int previousLocks, int maxSeconds) {
    if (baseSeconds <= 0) {
        throw std::invalid_argument("lockSeconds: baseSeconds must be positive, got " + std::to_string(baseSeconds));
    }
    const std::int64_t cap = std::max<std::int64_t>(baseSeconds, maxSeconds);
    std::int64_t seconds = baseSeconds;
    // Doubling stops at the cap, so the loop is short and nothing overflows however large previousLocks is.
    for (int i = 0; i < previousLocks && seconds < cap; ++i) seconds *= 2;
    return static_cast<int>(std::min(seconds, cap));
}

std::vector<int> lockLadder(int baseSeconds, int maxSeconds) {
    std::vector<int> ladder{lockSeconds(baseSeconds, 0, maxSeconds)};
    for (int k = 1; k < 32; ++k) {
        const int next = lockSeconds(baseSeconds, k, maxSeconds);
        if (next == ladder.back()) break;
        ladder.push_back(next);
    }
    return ladder;
}

}  // namespace taxdesk::jobs::sms
