#include "jobs/inquiry/csv.hpp"

namespace taxdesk::jobs::inquiry {
namespace {

bool startsLikeAFormula(std::string_view value) {
    if (value.empty()) return false;
    switch (value.front()) {
        case '=':
        case '+':
        case '-':
        case '@':
        case '\t':
        case '\r':
            return true;
        default:
            return false;
    }
}

}  // namespace

void appendCsvCell(std::string& out, std::string_view value) {
    const bool formula = startsLikeAFormula(value);
    // The apostrophe goes inside the quotes: a quoted cell is read as text only after its quotes are removed.
    if (!formula && value.find_first_of(",\"\r\n") == std::string_view::npos) {
        out += value;
        return;
    }
    out.push_back('"');
    if (formula) out.push_back('\'');
    for (const char c : value) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
    }
    out.push_back('"');
}

void appendCsvLine(std::string& out, const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (i) out.push_back(',');
        appendCsvCell(out, cells[i]);
    }
    out += "\r\n";
}

}  // namespace taxdesk::jobs::inquiry
