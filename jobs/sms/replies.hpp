#pragma once
// SPEC 4.1, 4.2: the texts of every outbound SMS: the pickup alert, its reminder and the short reasons. Traditional
// Chinese, UTF-8. No text holds an ID, not even masked: the citizen knows whom they applied for, and a phone
// number is not proof of who reads the message. Each reason fits one UCS-2 segment (70 characters); the alert and
// the reminder do too with the configured offices. Pure functions, thread-safe.
#include <string>

#include "jobs/sms/inbound.hpp"
#include "jobs/sms/pickup_rules.hpp"

namespace taxdesk::jobs::sms {

/// The sender tag every text starts with, so that citizens can tell the bureau's messages from phishing.
inline constexpr const char* kSenderTag = "【臺北國稅局】";

/// A deadline as the texts write it: `11/30 18:00` (month and day without zero padding, the hour as HH:00).
std::string deadlineText(const PickupDeadline& deadline);

/// SPEC 4.2's alert, e.g. `【臺北國稅局】您申請的財產所得資料已備妥，請於11/30
/// 18:00前持身分證至信義分局快速取件櫃台領取， 取件碼482913`: the date as M/D without zero padding, the hour as HH:00.
std::string pickupAlert(Service service, const std::string& office, const PickupDeadline& deadline,
                        const std::string& code);

/// The reminder sent at 09:00 on the deadline day when the pickup is not collected: the same facts, and that it
/// lapses at the deadline today.
std::string reminderText(Service service, const std::string& office, const PickupDeadline& deadline,
                         const std::string& code);

/// The help reply: the format `服務代碼 身分證字號 健保卡末4碼` and the five services with their codes.
std::string helpText();
/// The ID is not a valid national ID or resident certificate number (SPEC 2); repeats the format.
std::string invalidIdText();
/// The registry or the NHI card check failed (unknown person, deceased, wrong last four digits). Deliberately
/// does not say which, so the reply reveals nothing about the person.
std::string identityFailedText();
/// Too many failed checks: the ID or the number is locked for `minutes` (SPEC 4.1: 10).
std::string lockedText(int minutes = 10);
/// The number has used its `limit` applications for today (sms.daily_limit).
std::string dailyLimitText(int limit = 5);
/// The first word is no service code or keyword; points to the help word.
std::string unknownServiceText();
/// Not `<service> <ID> <last 4>`; shows the format.
std::string malformedText();
/// A connector kept failing, so the application could not be checked; asks to try again later.
std::string unavailableText();

/// The reply to a text that parseSmsText did not accept as an application: help, unknownService, malformed or
/// invalidId. Throws std::invalid_argument for Kind::application and Kind::query, whose replies depend on the identity
/// checks. (A malformed or invalid query has replies of its own: jobs/sms/query.hpp.)
std::string replyForParse(ParsedSms::Kind kind);

}  // namespace taxdesk::jobs::sms
