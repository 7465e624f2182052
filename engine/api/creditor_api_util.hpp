#pragma once
// Helpers the creditor API's handlers share (upload, payment, results): internal to engine/api.
#include <cstddef>
#include <string>

#include "engine/http/http_server.hpp"

namespace taxdesk::engine::api {

/// `bytes` random bytes as hex.
std::string randomHex(std::size_t bytes);

/// The query parameter `name` as a whole number from min to max, `fallback` when absent; HttpError 400 otherwise.
int intParam(const HttpRequest& request, const std::string& name, int fallback, int min, int max);

/// The URL the caller reached us by, for the links and the receipt's QR code. A Host header that is not a host name
/// (and port) is a 400: it would otherwise be written into pages and QR codes (which cannot hold 8 KB).
std::string baseUrl(const HttpRequest& request);

}  // namespace taxdesk::engine::api
