#pragma once
// SPEC 3.3: results as CSV. RFC 4180 quoting, and cells that a spreadsheet would run as a formula written as text
// (OWASP "CSV injection"). Pure functions, thread-safe.
#include <string>
#include <string_view>
#include <vector>

namespace taxdesk::jobs::inquiry {

/// Appends one CSV cell to `out`. A value that starts with `=`, `+`, `-`, `@`, a tab or a carriage return (what
/// Excel and LibreOffice read as the start of a formula) gets a leading apostrophe, so that a spreadsheet shows it as
/// text; a value holding a comma, a quote, CR or LF (or so prefixed) is quoted, with quotes doubled.
void appendCsvCell(std::string& out, std::string_view value);

/// Appends the cells separated by commas and ended by CRLF.
void appendCsvLine(std::string& out, const std::vector<std::string>& cells);

}  // namespace taxdesk::jobs::inquiry
