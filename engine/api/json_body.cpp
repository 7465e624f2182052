#include "engine/api/json_body.hpp"

#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPServerRequest.h>

namespace taxdesk::engine::api {

Poco::JSON::Object::Ptr readJsonObject(HttpRequest& request) {
    Poco::JSON::Object::Ptr object;
    try {
        object = Poco::JSON::Parser().parse(request.raw.stream()).extract<Poco::JSON::Object::Ptr>();
    } catch (const Poco::Exception& error) {
        throw HttpError(400, "bad_json", "the body must be a JSON object: " + error.displayText());
    }
    if (!object) throw HttpError(400, "bad_json", "the body must be a JSON object");
    return object;
}

std::string stringField(const Poco::JSON::Object::Ptr& object, const std::string& field) {
    if (!object->has(field) || object->isNull(field)) return "";
    const auto value = object->get(field);
    if (!value.isString()) throw HttpError(400, "bad_field", "'" + field + "' must be a string");
    return value.extract<std::string>();
}

void requireStringFields(HttpRequest& request, std::initializer_list<const char*> fields) {
    std::istream& body = request.raw.stream();
    Poco::JSON::Object::Ptr object;
    try {
        object = Poco::JSON::Parser().parse(body).extract<Poco::JSON::Object::Ptr>();
    } catch (const Poco::Exception&) {
    }
    body.clear();
    body.seekg(0);
    if (!object) return;
    for (const char* field : fields) stringField(object, field);
}

}  // namespace taxdesk::engine::api
