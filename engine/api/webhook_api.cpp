#include "engine/api/webhook_api.hpp"

#include "connectors/api/errors.hpp"
#include "engine/api/auth.hpp"
#include "engine/api/creditor_api_util.hpp"
#include "engine/api/json_body.hpp"
#include "jobs/common/json.hpp"
#include "jobs/notify/notify.hpp"
#include "jobs/sms/inbound.hpp"

namespace taxdesk::engine::api {
namespace {

std::string registrationJson(const connectors::WebhookRecord& record, const std::string& newSecret) {
    std::string out;
    jobs::json::ObjectWriter writer(out);
    writer.field("url", record.url);
    // The whole secret only in the reply that made it; masked everywhere else.
    writer.field("secret", newSecret.empty() ? jobs::notify::maskSecret(record.secret) : newSecret);
    writer.field("sms", record.sms).field("updated_at", record.updatedAt);
    writer.close();
    return out;
}

}  // namespace

void WebhookApi::checkHost(const std::string& url) const {
    const std::string host = jobs::notify::urlHost(url);
    std::vector<std::string> addresses;
    try {
        addresses = settings_.resolve(host);
    } catch (const connectors::ConnectorError& failure) {
        if (!failure.isRetryable()) throw HttpError(400, "bad_url", failure.what());
        throw HttpError(503, "unavailable", "url's host could not be resolved now; try again later",
                        {{"Retry-After", "5"}});
    }
    if (addresses.empty()) throw HttpError(400, "bad_url", "url's host " + host + " has no address");
    for (const auto& address : addresses)
        if (const auto problem = jobs::notify::addressProblem(address, settings_.allowPrivateHosts))
            throw HttpError(400, "bad_url", *problem);
}

std::vector<Route> WebhookApi::routes() {
    return {
        {"PUT", "/api/v1/webhook",
         [this](HttpRequest& request) {
             requireStringFields(request, {"url", "secret", "sms"});
             return put(request);
         }},
        {"GET", "/api/v1/webhook", [this](HttpRequest& request) { return get(request); }},
        {"DELETE", "/api/v1/webhook", [this](HttpRequest& request) { return remove(request); }},
    };
}

HttpReply WebhookApi::put(HttpRequest& request) {
    const Principal caller = authenticate(request, tokens_, {"creditor"});
    const auto body = readJsonObject(request);
    const std::string url = stringField(body, "url");
    std::string secret = stringField(body, "secret");
    const std::string sms = stringField(body, "sms");
    if (url.empty() && sms.empty()) throw HttpError(400, "bad_field", "url or sms is required");
    if (!url.empty()) {
        if (const auto problem = jobs::notify::urlProblem(url, settings_.allowPrivateHosts))
            throw HttpError(400, "bad_url", *problem);
        checkHost(url);
    }
    if (!secret.empty()) {
        if (url.empty()) throw HttpError(400, "bad_secret", "secret is for a url: give the url with it");
        if (const auto problem = jobs::notify::secretProblem(secret)) throw HttpError(400, "bad_secret", *problem);
    }
    connectors::WebhookRecord record;
    record.tokenId = caller.tokenId;
    record.creditorId = caller.creditorId;
    record.url = url;
    if (!sms.empty()) {
        const auto number = jobs::sms::normalizeMsisdn(sms);
        if (!number) throw HttpError(400, "bad_sms", "sms must be a mobile number 09xxxxxxxx");
        record.sms = *number;
    }
    std::string newSecret;
    if (!url.empty() && secret.empty()) {
        const auto stored = webhooks_.findWebhook(caller.tokenId);
        if (stored && !stored->secret.empty()) {
            secret = stored->secret;
        } else {
            newSecret = "whsec_" + randomHex(24);
            secret = newSecret;
        }
    }
    record.secret = secret;
    webhooks_.putWebhook(record);
    const auto stored = webhooks_.findWebhook(caller.tokenId);
    return jsonReply(200, registrationJson(stored ? *stored : record, newSecret));
}

HttpReply WebhookApi::get(HttpRequest& request) {
    const Principal caller = authenticate(request, tokens_, {"creditor"});
    const auto stored = webhooks_.findWebhook(caller.tokenId);
    if (!stored) throw HttpError(404, "not_found", "this token has no webhook or SMS number registered");
    return jsonReply(200, registrationJson(*stored, ""));
}

HttpReply WebhookApi::remove(HttpRequest& request) {
    const Principal caller = authenticate(request, tokens_, {"creditor"});
    if (!webhooks_.removeWebhook(caller.tokenId))
        throw HttpError(404, "not_found", "this token has no webhook or SMS number registered");
    HttpReply reply;
    reply.status = 204;
    return reply;
}

}  // namespace taxdesk::engine::api
