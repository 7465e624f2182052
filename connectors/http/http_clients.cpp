#include "connectors/http/http_clients.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/StreamCopier.h>
#include <Poco/Timespan.h>
#include <Poco/URI.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>

#include "connectors/http/json_codec.hpp"
#include "jobs/identity/identifiers.hpp"

namespace taxdesk::connectors {
namespace detail {
namespace {

// Idle keep-alive sessions kept per client. Callers beyond this open short-lived connections rather than wait.
constexpr std::size_t kMaxIdleSessions = 8;
// Below the stub server's keep-alive timeout (5 s), so that an idle session is re-opened by the client before the
// server drops it.
constexpr int kClientKeepAliveSeconds = 4;

struct HttpResponse {
    int status = 0;
    std::string body;
};

// One HTTPClientSession per request in flight: HTTPClientSession is not thread-safe, the connectors must be. Idle
// sessions are pooled so that keep-alive connections are reused.
class Transport {
  public:
    Transport(std::string connector, const HttpClientSettings& settings) : connector_(std::move(connector)) {
        const Poco::URI uri(settings.baseUrl);
        if (uri.getScheme() != "http" || uri.getHost().empty()) {
            throw std::invalid_argument("connector '" + connector_ +
                                        "': base URL must be http://host[:port][/path], got '" + settings.baseUrl +
                                        "'");
        }
        host_ = uri.getHost();
        port_ = uri.getPort();
        basePath_ = uri.getPath();
        while (!basePath_.empty() && basePath_.back() == '/') basePath_.pop_back();
        timeout_ = Poco::Timespan(static_cast<long>(std::max(1, settings.timeoutMs)) * 1000);
        origin_ = "http://" + host_ + ":" + std::to_string(port_);
    }

    // Sends one request and returns the response, whatever its status. Throws TransientError when no response
    // arrived: refused, reset, timed out, cut short.
    HttpResponse exchange(const std::string& method, const std::string& path, const std::string* body) {
        const std::string target = basePath_ + path;
        const std::string what = describe(method, path);
        for (int round = 0;; ++round) {
            auto [session, reused] = acquire();
            try {
                Poco::Net::HTTPRequest request(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
                request.setKeepAlive(true);
                request.set("Accept", "application/json");
                if (body != nullptr) {
                    request.setContentType("application/json; charset=utf-8");
                    request.setContentLength(static_cast<std::streamsize>(body->size()));
                }
                std::ostream& out = session->sendRequest(request);
                if (body != nullptr) out << *body;
                // iostreams swallow the socket's exceptions and set badbit, so check it rather than rely on a throw.
                if (out.bad()) throw Poco::IOException("sending the request body failed");
                Poco::Net::HTTPResponse response;
                std::istream& in = session->receiveResponse(response);
                HttpResponse result;
                result.status = static_cast<int>(response.getStatus());
                Poco::StreamCopier::copyToString(in, result.body);
                if (in.bad() || (response.hasContentLength() &&
                                 static_cast<std::streamsize>(result.body.size()) != response.getContentLength())) {
                    throw Poco::IOException("response body cut short");
                }
                if (response.getKeepAlive()) release(std::move(session));
                return result;
            } catch (const Poco::TimeoutException& error) {
                throw TransientError(what + ": timed out after " + std::to_string(timeout_.totalMilliseconds()) +
                                     " ms (" + error.displayText() + ")");
            } catch (const Poco::Exception& error) {
                // A pooled keep-alive connection may have been closed by the server while idle; every request of this
                // protocol is idempotent, so send it once more on a fresh connection before calling it a failure.
                if (reused && round == 0) continue;
                throw TransientError(what + ": " + error.displayText());
            } catch (const std::ios_base::failure& error) {
                throw TransientError(what + ": " + error.what());
            }
        }
    }

    // "registry: GET http://127.0.0.1:8091/registry/v1/persons/A12****789", the start of every error message. The
    // ID in the path is masked: these messages reach logs (SPEC 2).
    [[nodiscard]] std::string describe(const std::string& method, const std::string& path) const {
        return connector_ + ": " + method + " " + origin_ + basePath_ + jobs::identity::maskIdsIn(path);
    }

    [[nodiscard]] const std::string& connector() const noexcept { return connector_; }

  private:
    std::pair<std::unique_ptr<Poco::Net::HTTPClientSession>, bool> acquire() {
        {
            std::lock_guard lock(mutex_);
            if (!idle_.empty()) {
                auto session = std::move(idle_.back());
                idle_.pop_back();
                return {std::move(session), true};
            }
        }
        auto session = std::make_unique<Poco::Net::HTTPClientSession>(host_, port_);
        session->setTimeout(timeout_, timeout_, timeout_);
        session->setKeepAlive(true);
        session->setKeepAliveTimeout(Poco::Timespan(kClientKeepAliveSeconds, 0));
        return {std::move(session), false};
    }

    void release(std::unique_ptr<Poco::Net::HTTPClientSession> session) {
        std::lock_guard lock(mutex_);
        if (idle_.size() < kMaxIdleSessions) idle_.push_back(std::move(session));
    }

    const std::string connector_;
    std::string host_;
    Poco::UInt16 port_ = 0;
    std::string basePath_;
    std::string origin_;
    Poco::Timespan timeout_;

    std::mutex mutex_;
    std::vector<std::unique_ptr<Poco::Net::HTTPClientSession>> idle_;
};

std::optional<ErrorBody> errorBodyOf(const HttpResponse& response) {
    try {
        return errorBodyFromJson(parseJsonObject(response.body, "error body"));
    } catch (const PermanentError&) {
        return std::nullopt;
    }
}

// One place that turns a non-2xx status into the typed error the caller acts on.
[[noreturn]] void throwForStatus(const std::string& what, const HttpResponse& response) {
    const auto error = errorBodyOf(response);
    std::string message = what + ": HTTP " + std::to_string(response.status);
    if (error) {
        message += " " + error->code + ": " + error->message;
    } else if (!response.body.empty()) {
        message += ": " + response.body.substr(0, 200);
    }
    message = jobs::identity::maskIdsIn(message);  // a server's answer may quote the ID it was asked about
    const int status = response.status;
    // 501 means the server does not offer this connector at all: no retry will change that.
    if ((status >= 500 && status != 501) || status == 408 || status == 429) throw TransientError(message);
    throw PermanentError(message);
}

class ClientBase : public HttpConnectorStatus {
  public:
    ClientBase(std::string name, const HttpClientSettings& settings)
        : name_(std::move(name)),
          transport_(name_, settings),
          breaker_(name_, settings.breakerFailures, std::chrono::milliseconds(settings.breakerOpenMs)) {
        policy_.attempts = std::max(0, settings.retries) + 1;
        policy_.baseDelay = std::chrono::milliseconds(settings.backoffMs);
        policy_.maxDelay = std::chrono::milliseconds(settings.maxBackoffMs);
        hooks_.stats = &stats_;
        hooks_.shouldRetry = worthRetryingThroughBreaker;
    }

    [[nodiscard]] const std::string& connectorName() const noexcept override { return name_; }
    [[nodiscard]] BreakerState breakerState() const override { return breaker_.state(); }
    [[nodiscard]] const CircuitBreaker& breaker() const noexcept override { return breaker_; }
    [[nodiscard]] const RetryStats& retryStats() const noexcept override { return stats_; }

  protected:
    // Retries wrap the breaker, so that each failed attempt counts towards opening it. `handle` turns the response
    // into the result or throws; a decoding failure is a PermanentError naming the field.
    template <class Handle>
    auto call(const std::string& method, const std::string& path, const std::string* body, Handle handle) {
        return retry(policy_, hooks_, [&] {
            return breaker_.run([&] {
                const HttpResponse response = transport_.exchange(method, path, body);
                return handle(response, transport_.describe(method, path));
            });
        });
    }

    template <class Decode>
    static auto decodeOk(const HttpResponse& response, const std::string& what, Decode decode) {
        if (response.status < 200 || response.status > 299) throwForStatus(what, response);
        try {
            return decode(parseJsonObject(response.body, "response"));
        } catch (const PermanentError& error) {
            throw PermanentError(jobs::identity::maskIdsIn(what + ": malformed response: " + error.what()));
        }
    }

  private:
    const std::string name_;
    Transport transport_;
    CircuitBreaker breaker_;
    RetryStats stats_;
    RetryPolicy policy_;
    RetryHooks hooks_;
};

std::string encodeSegment(const std::string& segment) {
    std::string encoded;
    Poco::URI::encode(segment, "/?#%&+ ", encoded);
    return encoded;
}

class RegistryClient final : public Registry, public ClientBase {
  public:
    explicit RegistryClient(const HttpClientSettings& settings) : ClientBase("registry", settings) {}

    std::optional<RegistryRecord> lookup(const std::string& id) override {
        const std::string path = "/registry/v1/persons/" + encodeSegment(id);
        return call("GET", path, nullptr,
                    [](const HttpResponse& response, const std::string& what) -> std::optional<RegistryRecord> {
                        if (response.status == 404) {
                            const auto error = errorBodyOf(response);
                            if (error && error->code == "not_found") return std::nullopt;
                        }
                        return decodeOk(response, what, registryRecordFromJson);
                    });
    }
};

class NhiClient final : public NhiCard, public ClientBase {
  public:
    explicit NhiClient(const HttpClientSettings& settings) : ClientBase("nhi", settings) {}

    bool verifyLast4(const std::string& id, const std::string& last4) override {
        const std::string body = toJsonString(toJson(NhiVerifyRequest{id, last4}));
        return call("POST", "/nhi/v1/verify", &body, [](const HttpResponse& response, const std::string& what) {
            return decodeOk(response, what, nhiMatchFromJson);
        });
    }
};

class TaxDataClient final : public TaxData, public ClientBase {
  public:
    explicit TaxDataClient(const HttpClientSettings& settings) : ClientBase("taxdata", settings) {}

    TaxRecords lookup(const std::string& id, const std::vector<int>& years, bool income, bool property) override {
        const std::string body = toJsonString(toJson(TaxDataRequest{id, years, income, property}));
        return call("POST", "/taxdata/v1/records", &body, [](const HttpResponse& response, const std::string& what) {
            return decodeOk(response, what, taxRecordsFromJson);
        });
    }
};

class PaymentClient final : public Payment, public ClientBase {
  public:
    explicit PaymentClient(const HttpClientSettings& settings) : ClientBase("payment", settings) {}

    ChargeResult charge(const std::string& cardId, long long amount, const std::string& idempotencyKey) override {
        const std::string body = toJsonString(toJson(ChargeRequest{cardId, amount, idempotencyKey}));
        return call("POST", "/payment/v1/charges", &body, [](const HttpResponse& response, const std::string& what) {
            if (response.status == 402) {
                const auto error = errorBodyOf(response);
                throw InsufficientBalance(what + ": " + (error ? error->message : std::string("insufficient balance")));
            }
            return decodeOk(response, what, chargeResultFromJson);
        });
    }

    std::optional<ChargeResult> findCharge(const std::string& idempotencyKey) override {
        const std::string path = "/payment/v1/charges/" + encodeSegment(idempotencyKey);
        return call("GET", path, nullptr,
                    [](const HttpResponse& response, const std::string& what) -> std::optional<ChargeResult> {
                        if (response.status == 404) {
                            const auto error = errorBodyOf(response);
                            if (error && error->code == "not_found") return std::nullopt;
                        }
                        return decodeOk(response, what, chargeResultFromJson);
                    });
    }
};

class SmsClient final : public SmsGateway, public ClientBase {
  public:
    explicit SmsClient(const HttpClientSettings& settings) : ClientBase("sms", settings) {}

    SendReceipt send(const OutboundSms& sms) override {
        const std::string body = toJsonString(toJson(sms));
        return call("POST", "/sms/v1/messages", &body, [](const HttpResponse& response, const std::string& what) {
            return decodeOk(response, what, sendReceiptFromJson);
        });
    }
};

template <class T>
void addStatus(std::vector<const HttpConnectorStatus*>& statuses, const std::shared_ptr<T>& connector) {
    if (const auto* status = dynamic_cast<const HttpConnectorStatus*>(connector.get())) statuses.push_back(status);
}

}  // namespace
}  // namespace detail

/// Throws std::invalid_argument when settings.baseUrl is not an http:// URL. The connectors are thread-safe.
ConnectorSet makeHttpConnectors(const HttpClientSettings& settings) {
    ConnectorSet set;
    set.registry = std::make_shared<detail::RegistryClient>(settings);
    set.nhi = std::make_shared<detail::NhiClient>(settings);
    set.taxData = std::make_shared<detail::TaxDataClient>(settings);
    set.payment = std::make_shared<detail::PaymentClient>(settings);
    set.sms = std::make_shared<detail::SmsClient>(settings);
    return set;
}

std::vector<const HttpConnectorStatus*> httpConnectorStatuses(const ConnectorSet& connectors) {
    std::vector<const HttpConnectorStatus*> statuses;
    detail::addStatus(statuses, connectors.registry);
    detail::addStatus(statuses, connectors.nhi);
    detail::addStatus(statuses, connectors.taxData);
    detail::addStatus(statuses, connectors.payment);
    detail::addStatus(statuses, connectors.sms);
    return statuses;
}

}  // namespace taxdesk::connectors
