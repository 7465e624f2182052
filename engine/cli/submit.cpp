#include "engine/cli/submit.hpp"

#include <Poco/File.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "engine/cli/cli.hpp"
#include "jobs/inquiry/batch_state.hpp"

namespace taxdesk::engine {
namespace {

struct Response {
    int status = 0;
    std::string body;
};

class Client {
  public:
    Client(const std::string& url, std::string token) : uri_(url), token_(std::move(token)) {
        if (uri_.getScheme() != "http") throw UsageError("--url must be an http:// URL, not '" + url + "'");
    }

    /// Sends a request; `body` is streamed from `bodyFile` when set. The response body goes to `sink` when set.
    Response call(const std::string& method, const std::string& path, const std::string& body = "",
                  const std::string& contentType = "", const std::string& bodyFile = "", std::ostream* sink = nullptr) {
        Poco::Net::HTTPClientSession session(uri_.getHost(), uri_.getPort());
        session.setTimeout(Poco::Timespan(300, 0));
        Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
        request.set("Authorization", "Bearer " + token_);
        if (!contentType.empty()) request.setContentType(contentType);
        if (!bodyFile.empty()) {
            request.setContentLength64(static_cast<Poco::Int64>(Poco::File(bodyFile).getSize()));
            std::ifstream in(bodyFile, std::ios::binary);
            Poco::StreamCopier::copyStream(in, session.sendRequest(request));
        } else {
            if (method == "POST") request.setContentLength(static_cast<std::streamsize>(body.size()));
            session.sendRequest(request) << body;
        }
        Poco::Net::HTTPResponse response;
        std::istream& in = session.receiveResponse(response);
        Response result;
        result.status = static_cast<int>(response.getStatus());
        if (sink != nullptr && result.status == 200)
            Poco::StreamCopier::copyStream(in, *sink);
        else
            Poco::StreamCopier::copyToString(in, result.body);
        return result;
    }

  private:
    Poco::URI uri_;
    std::string token_;
};

Poco::JSON::Object::Ptr parse(const std::string& body) {
    return Poco::JSON::Parser().parse(body).extract<Poco::JSON::Object::Ptr>();
}

/// The API's error message, or the raw body.
std::string errorText(const Response& response) {
    try {
        const auto error = parse(response.body)->getObject("error");
        return error->getValue<std::string>("message") + " (" + error->getValue<std::string>("code") + ", HTTP " +
               std::to_string(response.status) + ")";
    } catch (const std::exception&) {
        return "HTTP " + std::to_string(response.status) + ": " + response.body.substr(0, 200);
    }
}

void drawProgress(bool terminal, int done, int total, const std::string& state, bool final) {
    const double fraction = total > 0 ? static_cast<double>(done) / total : 1.0;
    if (terminal) {
        const int width = 40;
        const int filled = static_cast<int>(fraction * width);
        std::fprintf(stderr, "\r  [%s%s] %5.1f%% %d/%d %-12s",
                     std::string(static_cast<std::size_t>(filled), '#').c_str(),
                     std::string(static_cast<std::size_t>(width - filled), ' ').c_str(), fraction * 100, done, total,
                     state.c_str());
        if (final) std::fputc('\n', stderr);
    } else {
        std::fprintf(stderr, "progress: %d/%d rows (%.1f%%), %s\n", done, total, fraction * 100, state.c_str());
    }
    std::fflush(stderr);
}

}  // namespace

int commandSubmit(const std::vector<std::string>& args) {
    const ArgReader reader(args, {"charset", "pay", "token", "url", "out", "format", "timeout", "poll-ms"}, {"timing"});
    if (reader.positional().size() != 1) throw UsageError("submit: give exactly one batch file");
    const std::string file = reader.positional()[0];
    if (!Poco::File(file).exists()) throw UsageError("submit: no such file '" + file + "'");
    const auto token = reader.value("token");
    if (!token) throw UsageError("submit: --token is required (taxdesk token create --role creditor --creditor ID)");
    const std::string format = reader.value("format").value_or("csv");
    if (format != "csv" && format != "json") throw UsageError("submit: --format must be csv or json");
    const long long timeout = reader.integer("timeout", 3600, 1, 86400);
    const long long pollMs = reader.integer("poll-ms", 500, 10, 60000);
    // --timing: one line on stdout at the end, seconds of each phase (for bench/real_path and bench/big_batch).
    const bool timing = reader.flag("timing");
    using Clock = std::chrono::steady_clock;
    const auto seconds = [](Clock::time_point from, Clock::time_point to) {
        return std::chrono::duration<double>(to - from).count();
    };
    Client client(reader.value("url").value_or("http://127.0.0.1:8080"), *token);
    const auto started = Clock::now();

    std::string path = "/api/v1/batches";
    if (const auto charset = reader.value("charset")) path += "?charset=" + *charset;
    const auto uploaded = client.call("POST", path, "", "text/csv", file);
    if (uploaded.status != 201) {
        std::cerr << "submit: the upload was refused: " << errorText(uploaded) << std::endl;
        return 1;
    }
    const auto uploadedAt = Clock::now();
    const auto batch = parse(uploaded.body);
    const std::string id = batch->getValue<std::string>("batch_id");
    std::cerr << "batch " << id << ": " << batch->getValue<int>("rows_total") << " rows, "
              << batch->getValue<int>("rows_accepted") << " accepted, " << batch->getValue<int>("rows_rejected")
              << " rejected; fee NT$" << batch->getValue<long long>("fee_total") << std::endl;
    const auto errors = batch->getArray("errors");
    for (std::size_t i = 0; i < errors->size() && i < 10; ++i) {
        const auto error = errors->getObject(static_cast<unsigned>(i));
        std::cerr << "  row " << error->getValue<int>("row") << ": " << error->getValue<std::string>("reason") << " ("
                  << error->getValue<std::string>("column") << ")" << std::endl;
    }
    if (errors->size() > 10) std::cerr << "  … and more: every row's status is in the results" << std::endl;
    std::cerr << "receipt: " << batch->getValue<std::string>("receipt_url")
              << "\nprogress (public): " << batch->getValue<std::string>("public_url") << std::endl;

    if (jobs::inquiry::parseBatchState(batch->getValue<std::string>("state")) ==
        jobs::inquiry::BatchState::awaiting_payment) {
        const auto card = reader.value("pay");
        if (!card) {
            std::cerr << "awaiting payment: run again with --pay CARD, or pay in the portal" << std::endl;
            return 0;
        }
        // The key is the batch's own: running the same payment again never charges twice.
        const std::string body =
            R"({"method":"easycard","card_id":")" + *card + R"(","idempotency_key":"submit-)" + id + "\"}";
        const auto paid = client.call("POST", "/api/v1/batches/" + id + "/payment", body, "application/json");
        if (paid.status != 200 && paid.status != 201) {
            std::cerr << "submit: the payment failed: " << errorText(paid) << std::endl;
            return 1;
        }
        const auto payment = parse(paid.body);
        std::cerr << "paid NT$" << payment->getValue<long long>("amount") << " with card "
                  << payment->getValue<std::string>("card") << " (payment "
                  << payment->getValue<std::string>("payment_id") << ")" << std::endl;
    }

    const auto paidAt = Clock::now();
    int rowsTotal = 0;
    const bool terminal = isatty(STDERR_FILENO) == 1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
    auto lastPlain = std::chrono::steady_clock::now() - std::chrono::hours(1);
    for (;;) {
        const auto status = client.call("GET", "/api/v1/batches/" + id);
        if (status.status != 200) {
            std::cerr << "\nsubmit: cannot read the batch's status: " << errorText(status) << std::endl;
            return 1;
        }
        const auto state = parse(status.body);
        const std::string name = state->getValue<std::string>("state");
        const auto parsed = jobs::inquiry::parseBatchState(name);
        const bool finished = parsed && jobs::inquiry::isFinished(*parsed);
        const auto now = std::chrono::steady_clock::now();
        if (terminal || finished || now - lastPlain > std::chrono::seconds(5)) {
            drawProgress(terminal, state->getValue<int>("rows_done"), state->getValue<int>("rows_total"), name,
                         finished);
            lastPlain = now;
        }
        if (parsed == jobs::inquiry::BatchState::failed) {
            std::cerr << "submit: the batch failed: " << state->optValue<std::string>("failure_reason", "")
                      << std::endl;
            return 1;
        }
        rowsTotal = state->getValue<int>("rows_total");
        if (finished) break;
        if (now > deadline) {
            std::cerr << "\nsubmit: still " << name << " after " << timeout << " s; the batch goes on, download later"
                      << std::endl;
            return 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(pollMs));
    }

    const auto finishedAt = Clock::now();
    const std::string out = reader.value("out").value_or(id + "-results." + format);
    std::ofstream file_(out, std::ios::binary | std::ios::trunc);
    const auto results = client.call("GET", "/api/v1/batches/" + id + "/results?format=" + format, "", "", "", &file_);
    if (results.status != 200) {
        std::cerr << "submit: the download failed: " << errorText(results) << std::endl;
        return 1;
    }
    std::cerr << "results: " << out << std::endl;
    if (timing) {
        const auto downloadedAt = Clock::now();
        std::printf("batch=%s rows=%d upload_s=%.3f pay_s=%.3f paid_to_finished_s=%.3f download_s=%.3f\n", id.c_str(),
                    rowsTotal, seconds(started, uploadedAt), seconds(uploadedAt, paidAt), seconds(paidAt, finishedAt),
                    seconds(finishedAt, downloadedAt));
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace taxdesk::engine
