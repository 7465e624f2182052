#pragma once
// Redis Cluster's key slot (CLUSTER KEYSLOT): CRC16 (XMODEM) of the key, or of its hash tag, modulo 16384. Keys one
// command or script uses together must share a slot; engine/flow/redis_keys.hpp names them so, and a unit test
// checks it with this function.
#include <cstdint>
#include <string_view>

namespace taxdesk::connectors {

/// CRC16-XMODEM (polynomial 0x1021, initial value 0), Redis Cluster's key hash: "123456789" gives 0x31C3.
[[nodiscard]] std::uint16_t crc16Xmodem(std::string_view bytes);
/// The slot of a full key (prefix included): when the key holds a '{' followed later by a '}' with at least one
/// byte between them, only the bytes between the first '{' and the first '}' after it are hashed (the hash tag).
[[nodiscard]] int clusterSlot(std::string_view key);

}  // namespace taxdesk::connectors
