#include "engine/runtime/embedded_config.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace taxdesk::engine {
namespace detail {
extern const char* const kEmbeddedOffices;
extern const char* const kEmbeddedHolidays;
}  // namespace detail

namespace {

template <typename Load>
auto loadFrom(const std::string& path, const char* embedded, const char* what, Load&& load) {
    try {
        if (path.empty()) {
            std::istringstream in(embedded);
            return load(in);
        }
        std::ifstream in(path);
        if (!in) throw std::runtime_error("cannot read it");
        return load(in);
    } catch (const std::exception& error) {
        throw std::runtime_error(std::string(what) + " " + (path.empty() ? "(embedded)" : path) + ": " + error.what());
    }
}

}  // namespace

jobs::sms::OfficeTable loadOffices(const std::string& path) {
    return loadFrom(path, detail::kEmbeddedOffices, "office table",
                    [](std::istream& in) { return jobs::sms::OfficeTable::load(in); });
}

jobs::sms::BusinessCalendar loadCalendar(const std::string& path) {
    return loadFrom(path, detail::kEmbeddedHolidays, "holiday list",
                    [](std::istream& in) { return jobs::sms::loadHolidays(in); });
}

}  // namespace taxdesk::engine
