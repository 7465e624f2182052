'use strict';
// librdkafka's default partitioner (consistent_random: CRC-32 of the key modulo the partitions), so that the results
// spread over the partitions as the C++ engine's do. kafkajs's default (murmur2) puts up to 5 of the 64 bench batch
// ids on one partition (CRC-32: 4), past the mock broker's 5 MiB a partition, which then dropped the oldest results.
const kCrcTable = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

function crc32(buffer) {
  let crc = -1;
  for (let i = 0; i < buffer.length; i++) crc = kCrcTable[(crc ^ buffer[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

function consistentPartitioner() {
  const cache = new Map();
  return ({ partitionMetadata, message }) => {
    const count = partitionMetadata.length;
    if (message.key == null) return Math.floor(Math.random() * count);
    const key = typeof message.key === 'string' ? message.key : message.key.toString('latin1');
    let crc = cache.get(key);
    if (crc === undefined) {
      crc = crc32(Buffer.from(message.key));
      cache.set(key, crc);
    }
    return crc % count;
  };
}

module.exports = { crc32, consistentPartitioner };
