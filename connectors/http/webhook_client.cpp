#include "connectors/http/webhook_client.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/NullStream.h>
#include <Poco/StreamCopier.h>
#include <Poco/Timespan.h>
#include <Poco/Timestamp.h>
#include <Poco/URI.h>

#include <memory>
#include <thread>

#include "connectors/api/errors.hpp"
#include "jobs/notify/notify.hpp"

namespace taxdesk::connectors {

HttpWebhookSender::HttpWebhookSender(WebhookClientSettings settings) : settings_(std::move(settings)) {
    if (!settings_.sleep) settings_.sleep = [](std::chrono::milliseconds wait) { std::this_thread::sleep_for(wait); };
}

int HttpWebhookSender::postOnce(const WebhookPost& post, std::string& error) const {
    try {
        const Poco::URI uri(post.url);
        std::unique_ptr<Poco::Net::HTTPClientSession> session;
        if (uri.getScheme() == "https") {
            // The system's CAs, the peer verified (no global SSLManager needed).
            const Poco::Net::Context::Ptr context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "",
                                                                           Poco::Net::Context::VERIFY_RELAXED, 9, true);
            session = std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(), context);
        } else {
            session = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
        }
        session->setTimeout(Poco::Timespan(static_cast<long>(settings_.timeout.count() / 1000),
                                           static_cast<long>(settings_.timeout.count() % 1000) * 1000));
        Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST,
                                       uri.getPathAndQuery().empty() ? std::string("/") : uri.getPathAndQuery(),
                                       Poco::Net::HTTPMessage::HTTP_1_1);
        request.setContentType("application/json; charset=utf-8");
        request.setContentLength(static_cast<std::streamsize>(post.body.size()));
        request.set("User-Agent", "taxdesk-webhook/1");
        request.set("X-Taxdesk-Idempotency-Id", post.notificationId);
        request.set("X-Taxdesk-Signature",
                    jobs::notify::signatureHeader(post.secret, Poco::Timestamp().epochTime(), post.body));
        session->sendRequest(request) << post.body;
        Poco::Net::HTTPResponse response;
        std::istream& in = session->receiveResponse(response);
        Poco::NullOutputStream discard;
        Poco::StreamCopier::copyStream(in, discard);
        return static_cast<int>(response.getStatus());
    } catch (const Poco::Exception& failure) {
        error = failure.displayText();
    } catch (const std::exception& failure) {
        error = failure.what();
    }
    return -1;
}

int HttpWebhookSender::deliver(const WebhookPost& post) {
    std::string last;
    for (int attempt = 1; attempt <= settings_.attempts; ++attempt) {
        const auto wait = jobs::notify::backoff(attempt, settings_.backoff, settings_.backoffMax);
        if (wait.count() > 0) settings_.sleep(wait);
        std::string error;
        const int status = postOnce(post, error);
        if (status < 0) {
            last = "no answer: " + error;
            continue;
        }
        switch (jobs::notify::classifyStatus(status)) {
            case jobs::notify::Answer::delivered:
                return status;
            case jobs::notify::Answer::refused:
                throw PermanentError("webhook refused the notification: HTTP " + std::to_string(status));
            case jobs::notify::Answer::retry:
                last = "HTTP " + std::to_string(status);
                break;
        }
    }
    throw PermanentError("webhook not delivered after " + std::to_string(settings_.attempts) +
                         " attempts (last: " + last + ")");
}

}  // namespace taxdesk::connectors
