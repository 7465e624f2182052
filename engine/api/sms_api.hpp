#pragma once
// SPEC 4 and 5, the SMS side: the gateway hands in inbound SMS and delivery reports; the counter collects pickups.
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <vector>

#include "connectors/store/database.hpp"
#include "connectors/store/sms_areas.hpp"
#include "connectors/store/token_store.hpp"
#include "engine/api/acked_producer.hpp"
#include "engine/http/http_server.hpp"

namespace taxdesk::engine::api {

struct SmsApiSettings {
    std::string inboundTopic;        ///< sms.inbound
    std::string outboundTopic;       ///< notifications.outbound
    std::string outboundDeadLetter;  ///< notifications.outbound.dlq
    int maxAttempts = 3;
    std::size_t maxMessages = 1000;  ///< messages in one POST
};

/// Group commit of the inbox (issue 11): the rows of requests that arrive while another request's rows are being
/// stored are stored together, in one transaction, by the first of them to find the inbox free (no thread of its
/// own); each request gets back its own rows as SmsInbox::enqueueInbox answers them, in order. When a group's store
/// fails, each of its requests is stored alone, so that one request's failure is only its own.
class InboxGroupCommit {
  public:
    explicit InboxGroupCommit(connectors::SmsInbox& inbox) : inbox_(inbox) {}
    /// SmsInbox::enqueueInbox of `rows`, together with the rows of concurrent calls. Throws what enqueueInbox throws.
    std::vector<connectors::InboxRecord> enqueue(const std::vector<connectors::InboxRecord>& rows);

  private:
    struct Pending {
        const std::vector<connectors::InboxRecord>* rows;
        std::vector<connectors::InboxRecord> stored;
        std::exception_ptr error;
        bool done = false;
    };
    void store(const std::vector<Pending*>& group);

    connectors::SmsInbox& inbox_;
    std::mutex mutex_;
    std::condition_variable finished_;
    std::vector<Pending*> waiting_;
    bool storing_ = false;
};

class SmsApi {
  public:
    /// `tokens` authenticates the requests (authenticate()); `store` holds what the routes read and write;
    /// `producer` produces to sms.inbound and notifications.outbound.
    SmsApi(SmsApiSettings settings, connectors::SmsAreas store, connectors::TokenStore& tokens,
           std::shared_ptr<AcknowledgedProducer> producer);
    [[nodiscard]] std::vector<Route> routes();

  private:
    HttpReply inbound(HttpRequest& request);
    HttpReply deliveryReport(HttpRequest& request);
    HttpReply collect(HttpRequest& request);

    SmsApiSettings settings_;
    connectors::SmsAreas store_;
    connectors::TokenStore& tokens_;
    std::shared_ptr<AcknowledgedProducer> producer_;
    std::unique_ptr<InboxGroupCommit> inbox_;
};

}  // namespace taxdesk::engine::api
