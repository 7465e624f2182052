#include "connectors/http/webhook_client.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/DNS.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/HostEntry.h>
#include <Poco/Net/IPAddress.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Timespan.h>
#include <Poco/Timestamp.h>
#include <Poco/URI.h>

#include <memory>
#include <thread>

#include "connectors/api/errors.hpp"
#include "jobs/notify/notify.hpp"

namespace taxdesk::connectors {

HostResolver systemResolver() {
    return [](const std::string& host) {
        Poco::Net::IPAddress numeric;
        if (Poco::Net::IPAddress::tryParse(host, numeric)) return std::vector<std::string>{numeric.toString()};
        try {
            std::vector<std::string> addresses;
            const Poco::Net::HostEntry entry = Poco::Net::DNS::hostByName(host);
            for (const auto& address : entry.addresses()) addresses.push_back(address.toString());
            if (addresses.empty()) throw PermanentError("url's host " + host + " has no address");
            return addresses;
        } catch (const Poco::Net::HostNotFoundException&) {
            throw PermanentError("url's host " + host + " does not resolve");
        } catch (const Poco::Net::NoAddressFoundException&) {
            throw PermanentError("url's host " + host + " has no address");
        } catch (const Poco::Exception& failure) {
            throw TransientError("resolving url's host " + host + ": " + failure.displayText());
        }
    };
}

HttpWebhookSender::HttpWebhookSender(WebhookClientSettings settings) : settings_(std::move(settings)) {
    if (!settings_.sleep) settings_.sleep = [](std::chrono::milliseconds wait) { std::this_thread::sleep_for(wait); };
    if (!settings_.resolve) settings_.resolve = systemResolver();
}

int HttpWebhookSender::postOnce(const WebhookPost& post, std::string& error) const {
    const Poco::URI uri(post.url);
    const std::string host = uri.getHost();
    // Resolved once; every address checked (a name with one public and one internal address is refused); the
    // connection goes to the first, by number, so a second lookup by the HTTP client cannot lead elsewhere.
    std::vector<std::string> addresses;
    try {
        addresses = settings_.resolve(host);
    } catch (const ConnectorError& failure) {
        error = failure.what();
        return -1;
    }
    if (addresses.empty()) {
        error = "url's host " + host + " has no address";
        return -1;
    }
    for (const auto& address : addresses)
        if (const auto problem = jobs::notify::addressProblem(address, settings_.allowPrivateHosts))
            throw PermanentError("webhook not sent: " + *problem);
    const std::string& pinned = addresses.front();
    try {
        std::unique_ptr<Poco::Net::HTTPClientSession> session;
        if (uri.getScheme() == "https") {
            // The system's CAs, the peer verified against the host NAME (set on the socket before the session
            // connects it to the pinned address: it is also the SNI).
            const Poco::Net::Context::Ptr context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "",
                                                                           Poco::Net::Context::VERIFY_RELAXED, 9, true);
            Poco::Net::SecureStreamSocket socket(context);
            socket.setPeerHostName(host);
            session = std::make_unique<Poco::Net::HTTPSClientSession>(socket);
            session->setHost(pinned);
            session->setPort(uri.getPort());
        } else {
            session = std::make_unique<Poco::Net::HTTPClientSession>(pinned, uri.getPort());
        }
        session->setTimeout(Poco::Timespan(static_cast<long>(settings_.timeout.count() / 1000),
                                           static_cast<long>(settings_.timeout.count() % 1000) * 1000));
        Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST,
                                       uri.getPathAndQuery().empty() ? std::string("/") : uri.getPathAndQuery(),
                                       Poco::Net::HTTPMessage::HTTP_1_1);
        request.setHost(host, uri.getPort());  // the name, not the pinned address
        request.setContentType("application/json; charset=utf-8");
        request.setContentLength(static_cast<std::streamsize>(post.body.size()));
        request.set("User-Agent", "taxdesk-webhook/1");
        request.set("X-Taxdesk-Idempotency-Id", post.notificationId);
        request.set("X-Taxdesk-Signature",
                    jobs::notify::signatureHeader(post.secret, Poco::Timestamp().epochTime(), post.body));
        session->sendRequest(request) << post.body;
        Poco::Net::HTTPResponse response;
        std::istream& in = session->receiveResponse(response);
        // The answer's body is not used: at most 64 KiB of it is read, so a receiver streaming without end does not
        // hold the worker (the connection is closed with the session).
        char buffer[4096];
        for (std::size_t read = 0; read < 64 * 1024 && in.read(buffer, sizeof buffer).gcount() > 0;)
            read += static_cast<std::size_t>(in.gcount());
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
