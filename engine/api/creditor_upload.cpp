// POST /api/v1/batches: a batch file uploaded, read row by row (jobs::inquiry::BatchFile) and stored with its fee.
#include "engine/api/creditor_api.hpp"

#include <Poco/DateTime.h>
#include <Poco/File.h>
#include <Poco/Logger.h>
#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/MessageHeader.h>
#include <Poco/Net/NameValueCollection.h>
#include <Poco/Net/PartHandler.h>
#include <Poco/String.h>

#include <fstream>
#include <limits>

#include "engine/api/auth.hpp"
#include "engine/api/creditor_api_util.hpp"
#include "jobs/common/json.hpp"
#include "jobs/inquiry/batch_file.hpp"
#include "jobs/inquiry/batch_state.hpp"
#include "jobs/inquiry/codec.hpp"

namespace taxdesk::engine::api {
namespace {

constexpr std::size_t kChunkRows = 2000;
constexpr std::size_t kErrorsShown = 100;
constexpr int kMaxParts = 100;             // of a multipart upload (Poco's default, said out loud)
constexpr int kMaxFieldBytes = 64 * 1024;  // a form field other than the file

/// Taipei has no daylight saving time: UTC+8 all year.
Poco::DateTime taipeiNow() {
    Poco::DateTime now;
    now.makeLocal(8 * 3600);
    return now;
}

std::string newBatchId() {
    const auto now = taipeiNow();
    char date[32];
    std::snprintf(date, sizeof date, "%04d%02d%02d", now.year(), now.month(), now.day());
    return std::string("B") + date + "-" + randomHex(5);
}

/// Copies at most `limit` bytes of `in` to `out`; HttpError 413 beyond.
void copyLimited(std::istream& in, std::ostream& out, long long limit) {
    std::vector<char> buffer(64 * 1024);
    long long total = 0;
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        const auto got = in.gcount();
        if (got <= 0) break;
        total += got;
        if (total > limit)
            throw HttpError(413, "too_large", "the file is larger than " + std::to_string(limit) + " bytes");
        out.write(buffer.data(), got);
    }
    if (!out) throw std::runtime_error("cannot write the upload to the spool folder");
}

/// Receives the multipart field `file` into the spool file.
class SpoolPartHandler : public Poco::Net::PartHandler {
  public:
    SpoolPartHandler(std::ostream& out, long long limit) : out_(out), limit_(limit) {}
    void handlePart(const Poco::Net::MessageHeader& header, std::istream& stream) override {
        std::string disposition;
        Poco::Net::NameValueCollection params;
        Poco::Net::MessageHeader::splitParameters(header.get("Content-Disposition", ""), disposition, params);
        if (params.get("name", "") != "file" || found_) {
            stream.ignore(std::numeric_limits<std::streamsize>::max());
            return;
        }
        found_ = true;
        filename_ = params.get("filename", "");
        copyLimited(stream, out_, limit_);
    }
    [[nodiscard]] bool found() const { return found_; }
    [[nodiscard]] const std::string& filename() const { return filename_; }

  private:
    std::ostream& out_;
    long long limit_;
    bool found_ = false;
    std::string filename_;
};

/// Removes the spool file however the request ends.
struct SpoolFile {
    std::string path;
    ~SpoolFile() {
        try {
            Poco::File(path).remove();
        } catch (...) {
        }
    }
};

std::string joinYears(const std::vector<int>& years) {
    std::string out;
    for (const int year : years) out += (out.empty() ? "" : ";") + std::to_string(year);
    return out;
}

}  // namespace

HttpReply CreditorApi::upload(HttpRequest& request) {
    const Principal who = authenticate(request, stores_.tokens, {"creditor"});
    const std::string base = baseUrl(request);
    std::optional<jobs::inquiry::Charset> declared;
    if (const std::string charset = request.queryValue("charset"); !charset.empty()) {
        declared = jobs::inquiry::parseCharset(charset);
        if (!declared) throw HttpError(400, "bad_charset", "charset must be utf-8 or big5, not '" + charset + "'");
    }
    // Refused bodies are read (up to twice the limit) before the answer, so that a client still sending sees the
    // 413 instead of a broken connection; anything larger is cut off.
    auto tooLarge = [&] {
        request.raw.stream().ignore(static_cast<std::streamsize>(2 * settings_.maxBytes));
        return HttpError(413, "too_large", "the file is larger than " + std::to_string(settings_.maxBytes) + " bytes");
    };
    if (request.raw.hasContentLength() && request.raw.getContentLength64() > settings_.maxBytes + 64 * 1024)
        throw tooLarge();

    SpoolFile spool{settings_.spoolDir + "/upload-" + randomHex(8) + ".csv"};
    std::string filename;
    {
        std::ofstream out(spool.path, std::ios::binary | std::ios::trunc);
        const std::string type = Poco::toLower(request.raw.getContentType());
        if (type.rfind("multipart/form-data", 0) == 0) {
            SpoolPartHandler handler(out, settings_.maxBytes);
            Poco::Net::HTMLForm form;
            form.setFieldLimit(kMaxParts);
            form.setValueLengthLimit(kMaxFieldBytes);
            try {
                form.load(request.raw, request.raw.stream(), handler);
            } catch (const Poco::Exception& error) {
                // No boundary, a wrong one, too many parts, a field too long: the client's form, not our fault.
                throw HttpError(400, "bad_multipart",
                                "the multipart/form-data body cannot be read (one field 'file', at most " +
                                    std::to_string(kMaxParts) + " parts): " + error.message());
            }
            if (!handler.found()) throw HttpError(400, "missing_file", "the multipart field 'file' is missing");
            filename = handler.filename();
        } else if (type.rfind("text/csv", 0) == 0 || type.rfind("application/csv", 0) == 0 ||
                   type.rfind("text/plain", 0) == 0) {
            try {
                copyLimited(request.raw.stream(), out, settings_.maxBytes);
            } catch (const HttpError&) {
                throw tooLarge();
            }
            // A charset parameter on the content type counts as declared, unless ?charset= said otherwise.
            std::string mediaType;
            Poco::Net::NameValueCollection params;
            Poco::Net::MessageHeader::splitParameters(request.raw.getContentType(), mediaType, params);
            if (!declared && params.has("charset")) declared = jobs::inquiry::parseCharset(params.get("charset"));
        } else {
            request.raw.stream().ignore(static_cast<std::streamsize>(settings_.maxBytes));
            throw HttpError(415, "unsupported_media_type",
                            "send the file as multipart/form-data (field 'file') or as a text/csv body");
        }
    }

    std::ifstream in(spool.path, std::ios::binary);
    const auto charset = jobs::inquiry::detectCharset(in, declared);
    in.clear();
    in.seekg(0);

    const auto now = taipeiNow();
    jobs::inquiry::BatchRules rules;
    rules.maxRows = settings_.maxRows;
    // Taipei's calendar year: it has no income data yet, so the year before it is the latest one accepted (SPEC 3.1).
    rules.currentYear = now.year();
    rules.latestTaxYear = now.year() - 1;
    rules.feeProperty = settings_.feeProperty;
    rules.feeIncomeYear = settings_.feeIncomeYear;

    connectors::BatchRecord batch;
    batch.batchId = newBatchId();
    batch.creditorId = who.creditorId;
    batch.state = jobs::inquiry::BatchState::awaiting_payment;
    batch.filename = filename;
    batch.charset = jobs::inquiry::toString(charset);
    batch.receiptToken = randomHex(16);

    std::string errors = "[";
    std::size_t errorCount = 0;
    jobs::inquiry::BatchTotals totals;
    try {
        auto writer = stores_.batches.beginBatch(batch);
        std::vector<connectors::BatchRowRecord> chunk;
        chunk.reserve(kChunkRows);
        totals = jobs::inquiry::BatchFileReader(rules, charset).read(in, [&](const jobs::inquiry::BatchRow& row) {
            chunk.push_back({batch.batchId, row.row, row.debtorId, row.debtorName, row.titleRef,
                             jobs::inquiry::toString(row.scope), joinYears(row.incomeYears), row.accepted, row.reason,
                             row.column, row.fee});
            if (!row.accepted) {
                // A rejected row has its result from the start (SPEC 3.3): encoded here, stored with the batch.
                jobs::inquiry::InquiryResult rejected;
                rejected.batchId = batch.batchId;
                rejected.row = row.row;
                rejected.debtorId = row.debtorId;
                rejected.status = jobs::inquiry::ResultStatus::rejected;
                rejected.reason = row.reason;
                chunk.back().resultPayload = jobs::inquiry::encodeResult(rejected);
            }
            if (!row.accepted && errorCount < kErrorsShown) {
                if (errorCount++) errors.push_back(',');
                jobs::json::ObjectWriter(errors)
                    .field("row", row.row)
                    .field("column", row.column)
                    .field("reason", row.reason)
                    .close();
            }
            if (chunk.size() >= kChunkRows) {
                writer->addRows(chunk);
                chunk.clear();
            }
        });
        writer->addRows(chunk);
        writer->commit(totals.rows, totals.accepted, totals.rejected, totals.feeTotal);
    } catch (const jobs::inquiry::FileError& error) {
        // The writer rolled everything back: nothing stored, nothing to pay.
        throw HttpError(error.status(), error.code(), error.what());
    }
    errors.push_back(']');
    if (totals.accepted == 0)
        stores_.batches.setBatchState(batch.batchId, jobs::inquiry::BatchState::awaiting_payment,
                                      jobs::inquiry::BatchState::completed, "");
    const auto stored = stores_.batches.findBatch(batch.batchId);
    // The fee as text: Poco's %Ld wants a Poco::Int64 (a long here), and the long long printed "NT$[ERRFMT]".
    Poco::Logger::get("api").information("batch %s uploaded by creditor %s: %d rows, %d accepted, NT$%s", batch.batchId,
                                         who.creditorId, totals.rows, totals.accepted, std::to_string(totals.feeTotal));

    std::string body;
    jobs::json::ObjectWriter(body)
        .field("batch_id", batch.batchId)
        .field("state", std::string(jobs::inquiry::toString(stored ? stored->state : batch.state)))
        .field("rows_total", totals.rows)
        .field("rows_accepted", totals.accepted)
        .field("rows_rejected", totals.rejected)
        .field("fee_total", totals.feeTotal)
        .raw("errors", errors)
        .field("status_url", base + "/api/v1/batches/" + batch.batchId)
        .field("receipt_url", base + "/api/v1/batches/" + batch.batchId + "/receipt")
        .field("public_url", base + "/r/" + batch.receiptToken)
        .close();
    return jsonReply(201, std::move(body));
}

}  // namespace taxdesk::engine::api
