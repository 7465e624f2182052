#include "engine/api/creditor_api_util.hpp"

#include <Poco/DigestEngine.h>
#include <Poco/RandomStream.h>

#include <exception>

namespace taxdesk::engine::api {

std::string randomHex(std::size_t bytes) {
    Poco::RandomInputStream random;
    Poco::DigestEngine::Digest data(bytes);
    random.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(data.size()));
    return Poco::DigestEngine::digestToHex(data);
}

int intParam(const HttpRequest& request, const std::string& name, int fallback, int min, int max) {
    const std::string text = request.queryValue(name);
    if (text.empty()) return fallback;
    try {
        std::size_t used = 0;
        const int value = std::stoi(text, &used);
        if (used == text.size() && value >= min && value <= max) return value;
    } catch (const std::exception&) {
    }
    throw HttpError(400, "bad_parameter",
                    name + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max));
}

std::string baseUrl(const HttpRequest& request) {
    const std::string host = request.header("Host");
    if (host.empty()) return "http://127.0.0.1";
    if (host.size() > 261 ||
        host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") !=
            std::string::npos)
        throw HttpError(400, "bad_host", "the Host header must be a host name or address with an optional port");
    return "http://" + host;
}

}  // namespace taxdesk::engine::api
