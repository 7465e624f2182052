#include "engine/runtime/logging.hpp"

#include <Poco/AutoPtr.h>
#include <Poco/Channel.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/Message.h>
#include <Poco/PatternFormatter.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace taxdesk::engine {
namespace {

/// Each line, newline included, in one write(2) to stderr, at once (issue 11: Poco's StreamChannel on the unbuffered
/// std::cerr made two writes and a flush a line, and the SMS path logs three lines an application). Lines of
/// concurrent threads do not interleave: one write each (a pipe keeps a line of up to 4 KiB whole, a file each write).
class StderrLineChannel : public Poco::Channel {
  public:
    void log(const Poco::Message& message) override {
        std::string line = message.getText();
        line.push_back('\n');
        const char* data = line.data();
        std::size_t left = line.size();
        while (left > 0) {
            const ssize_t written = ::write(STDERR_FILENO, data, left);
            if (written < 0) {
                if (errno == EINTR) continue;
                return;  // stderr gone: nothing to tell it to
            }
            data += written;
            left -= static_cast<std::size_t>(written);
        }
    }
};

}  // namespace

void setupLogging(const std::string& level, const std::string& process) {
    Poco::AutoPtr<Poco::PatternFormatter> formatter(
        new Poco::PatternFormatter("%Y-%m-%dT%H:%M:%S.%iZ level=%p process=" + process + " source=%s msg=\"%t\""));
    Poco::AutoPtr<Poco::FormattingChannel> channel(
        new Poco::FormattingChannel(formatter, Poco::AutoPtr<Poco::Channel>(new StderrLineChannel)));
    Poco::Logger::root().setChannel(channel);
    Poco::Logger::root().setLevel(level);
    // Loggers created before this call keep their old settings unless told.
    Poco::Logger::setChannel("", channel);
    Poco::Logger::setLevel("", Poco::Logger::parseLevel(level));
}

}  // namespace taxdesk::engine
