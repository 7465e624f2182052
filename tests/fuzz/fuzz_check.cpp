#include "fuzz_check.hpp"

#include "jobs/common/utf8.hpp"

namespace taxdesk::fuzz {

bool isValidUtf8(std::string_view text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        if (!jobs::utf8::decodeAt(text, pos)) return false;
    }
    return true;
}

}  // namespace taxdesk::fuzz
