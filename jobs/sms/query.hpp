#pragma once
// The progress query by SMS (issue 13; an addition to SPEC 4.1): `查 <ID> <NHI last 4>` (or `Q …`) is answered, after
// the same identity checks and locks as an application, with ONE reply listing the citizen's open pickups: for each
// the document, the office, the deadline and the pickup code. Texts only here; the decision is decideApplication's
// (jobs/sms/application.hpp). Like every reply, no text holds an ID, not even masked. Pure functions, thread-safe.
#include <string>
#include <vector>

#include "jobs/sms/application.hpp"

namespace taxdesk::jobs::sms {

/// The most segments a query's reply may take (SPEC 4.2: UCS-2, 67 characters a segment once concatenated, so 201
/// characters). An applicant has at most five open pickups (one per service); with the offices of
/// config/offices.properties all five fit. A list that does not fit names the pickups due first and counts the rest.
inline constexpr int kQueryReplyMaxSegments = 3;

/// The query's format, as the query's texts show it: `查 身分證字號 健保卡末4碼`.
inline constexpr const char* kQueryFormat = "查 身分證字號 健保卡末4碼";

/// The reply to a query when the applicant has no open pickup:
/// `【臺北國稅局】目前查無待領取的文件（已領取或已逾期者不列入）`.
std::string noOpenPickupsText();

/// The reply to a query listing `open` (any order; listed by deadline, then service code, then code):
/// `【臺北國稅局】您有2件文件待領取：財產所得資料，信義分局，11/30 18:00前，取件碼482913；綜所稅納稅證明，總局，12/1
/// 18:00前，取件碼123456`. When the whole list takes more than `maxSegments` segments (countSegments), as many
/// pickups as fit are named, due first, and the rest counted: `…；另有2件未列出`; when none fits, `您有N件文件待領取，
/// 請持身分證至快速取件櫃台查詢`. An empty list is noOpenPickupsText(). Throws std::invalid_argument for a service code
/// outside 1–5 or maxSegments below 1.
std::string openPickupsText(std::vector<OpenPickup> open, int maxSegments = kQueryReplyMaxSegments);

/// A query that is not `查 <ID> <last 4>`: shows the query's format.
std::string queryMalformedText();
/// A query whose ID fails SPEC 2 validation: repeats the query's format.
std::string queryInvalidIdText();

}  // namespace taxdesk::jobs::sms
