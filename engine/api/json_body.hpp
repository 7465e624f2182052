#pragma once
// Reading a request's JSON body strictly: a field of the wrong type is a 400 naming it, never a value converted to
// what the handler expected (an object taken for a card number).
#include <Poco/JSON/Object.h>

#include <initializer_list>
#include <string>

#include "engine/http/http_server.hpp"

namespace taxdesk::engine::api {

/// The body as a JSON object; HttpError 400 `bad_json` when it is not one.
Poco::JSON::Object::Ptr readJsonObject(HttpRequest& request);

/// The string field, "" when absent or null; HttpError 400 `bad_field` when it holds anything but a string.
std::string stringField(const Poco::JSON::Object::Ptr& object, const std::string& field);

/// Checks that each of `fields` present in the (server-read) JSON body is a string, and rewinds the body for the
/// handler. A body that is not a JSON object is left for the handler to refuse. HttpError 400 `bad_field`.
void requireStringFields(HttpRequest& request, std::initializer_list<const char*> fields);

}  // namespace taxdesk::engine::api
