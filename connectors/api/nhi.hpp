#pragma once
// NHI card (健保卡) connector: do these four digits end this person's card number.
#include <string>

namespace taxdesk::connectors {

/// Thread-safe.
class NhiCard {
  public:
    virtual ~NhiCard() = default;
    /// True iff `last4` are the last four digits of the NHI card number of the person `id`.
    /// An unknown person gives false. Throws ConnectorError.
    virtual bool verifyLast4(const std::string& id, const std::string& last4) = 0;
};

}  // namespace taxdesk::connectors
