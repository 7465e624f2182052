// Scans log files for whole IDs (SPEC 2: an ID is never written whole to logs). Run by scripts/test over every engine
// log the integration tests produced: `taxdesk_log_scan DIR…`. A candidate is a 10-character national ID or resident
// certificate number that passes its checksum; one found is printed masked, with its file and line, and fails the run.
// Exit codes, distinct so that a test can tell the outcomes apart (tests/logscan/expect.sh):
//   0  files scanned, no whole ID;  1  whole IDs found;  2  nothing to scan (no regular file under the paths given:
//   a missing path counts as empty, so that a run whose tests wrote no log is caught, not passed).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

#include "jobs/identity/identifiers.hpp"

namespace {
constexpr int kOk = 0;
constexpr int kWholeIdsFound = 1;
constexpr int kNothingToScan = 2;
}  // namespace

int main(int argc, char** argv) {
    namespace id = taxdesk::jobs::identity;
    const std::regex candidate("[A-Z][1289A-D][0-9]{8}");
    std::size_t files = 0;
    std::size_t lines = 0;
    std::size_t found = 0;
    for (int i = 1; i < argc; ++i) {
        if (!std::filesystem::exists(argv[i])) continue;
        for (const auto& entry : std::filesystem::recursive_directory_iterator(argv[i])) {
            if (!entry.is_regular_file()) continue;
            ++files;
            std::ifstream in(entry.path());
            std::size_t number = 0;
            for (std::string line; std::getline(in, line);) {
                ++number;
                ++lines;
                for (std::sregex_iterator it(line.begin(), line.end(), candidate), end; it != end; ++it) {
                    const std::string text = it->str();
                    if (id::classify(text) == id::IdKind::invalid) continue;
                    ++found;
                    std::cerr << entry.path().string() << ":" << number << ": a whole ID (" << id::mask(text) << ")\n";
                }
            }
        }
    }
    const bool ok = files > 0 && found == 0;
    std::cout << "log scan: " << files << " files, " << lines << " lines, " << found
              << " whole IDs: " << (ok ? "ok" : "FAILED") << "\n";
    if (found > 0) return kWholeIdsFound;
    if (files == 0) {
        std::cerr << "no logs to scan: the integration tests wrote none\n";
        return kNothingToScan;
    }
    return kOk;
}
