'use strict';
// Unit tests of the Node engine's ports (run: cd bench/node && npm test). Whether the whole engine answers exactly as
// the C++ engine does is checked by bench/compare_node (check.js, every row compared); these pin the pieces with
// values worked out by hand or by an independent reference (BigInt arithmetic, published test vectors).
const test = require('node:test');
const assert = require('node:assert');
const population = require('../population');
const inquiry = require('../inquiry');
const { crc32 } = require('../partitioner');

const { Stream, classify, normalize, mask, fnv1a64, mix64Of, mul64Of } = population;

const hex = ([h, l]) => h.toString(16).padStart(8, '0') + l.toString(16).padStart(8, '0');
const halves = (big) => [Number(big >> 32n), Number(big & 0xffffffffn)];
const MASK = (1n << 64n) - 1n;

test('FNV-1a 64 matches the published test vectors', () => {
  assert.strictEqual(hex(fnv1a64('')), 'cbf29ce484222325');
  assert.strictEqual(hex(fnv1a64('a')), 'af63dc4c8601ec8c');
  assert.strictEqual(hex(fnv1a64('foobar')), '85944171f73967e8');
});

test('splitmix64 seeded with 0 gives the reference sequence', () => {
  const stream = new Stream(0, 0);
  const outputs = [];
  for (let i = 0; i < 3; i++) {
    stream.next();
    outputs.push(hex([stream.oh, stream.ol]));
  }
  assert.deepStrictEqual(outputs, ['e220a8397b1dcdaf', '6e789e6aa1b965f4', '06c45d188009454f']);
});

test('64-bit multiplication wraps modulo 2^64', () => {
  assert.deepStrictEqual(mul64Of(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), [0, 1]); // (-1)(-1) = 1
  assert.deepStrictEqual(mul64Of(1, 1, 1, 1), [2, 1]); // (2^32+1)^2 = 2^64 + 2^33 + 1
});

test('the 32-bit-halves arithmetic agrees with BigInt on many inputs', () => {
  // A BigInt splitmix64 as the reference.
  const mixBig = (v) => {
    let z = (v + 0x9e3779b97f4a7c15n) & MASK;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
    return z ^ (z >> 31n);
  };
  let x = 0x0123456789abcdefn;
  for (let i = 0; i < 2000; i++) {
    x = mixBig(x);
    const y = mixBig(x ^ 0x5555n);
    assert.strictEqual(hex(mix64Of(...halves(x))), mixBig(x).toString(16).padStart(16, '0'));
    assert.strictEqual(hex(mul64Of(...halves(x), ...halves(y))), ((x * y) & MASK).toString(16).padStart(16, '0'));
    // below(bound) = next() % bound
    const stream = new Stream(...halves(x));
    const bound = 1 + Number(y % 60000000n);
    assert.strictEqual(stream.below(bound), Number(mixBig(x) % BigInt(bound)));
    // The int32 path of small bounds.
    const small = 1 + Number(y % 32767n);
    assert.strictEqual(new Stream(...halves(y)).below(small), Number(mixBig(y) % BigInt(small)));
  }
});

test('IDs are classified by form and checksum (SPEC 2)', () => {
  assert.strictEqual(classify('A123456789'), 'nationalId');
  assert.strictEqual(classify('A123456788'), 'invalid'); // check digit off by one
  assert.strictEqual(classify('22099131'), 'businessNumber'); // 2+4+0+9+9+2+3+1 = 30, divisible by 5
  assert.strictEqual(classify('22099132'), 'invalid');
  // A = 10: 1 + 0×9; then 8×8, 0×7 … 1×1, and the check digit 4: 1 + 64 + 1 + 4 = 70, divisible by 10.
  assert.strictEqual(classify('A800000014'), 'residentCertificate');
  assert.strictEqual(classify('A800000015'), 'invalid');
});

test('normalize trims, folds full width and upper-cases; mask hides the middle', () => {
  assert.strictEqual(normalize('\u3000ａ１２３４５６７８９ '), 'A123456789');
  assert.strictEqual(mask('A123456789'), 'A12****789');
  assert.strictEqual(mask('22099131'), '22****31');
});

test('names match across spaces, widths, case and variant characters', () => {
  assert.ok(inquiry.namesMatch('臺北 陳', '台北陳'));
  assert.ok(inquiry.namesMatch('ＡＢＣ', 'abc'));
  assert.ok(inquiry.namesMatch('瓦旦．達利', '瓦旦‧達利'));
  assert.ok(!inquiry.namesMatch('王小明', '王小名'));
  assert.ok(!inquiry.namesMatch('王小明', '王小明明'));
});

test('a request is read as the contract says', () => {
  const request = inquiry.decodeRequest(
    '{"batch_id":"B1","row":"7","creditor_id":"C1","debtor_id":" a123456789","debtor_name":"陳志明","scope":"income","income_years":"114;113;2024"}',
  );
  assert.deepStrictEqual(request, {
    batchId: 'B1',
    row: 7,
    creditorId: 'C1',
    debtorId: 'A123456789',
    debtorName: '陳志明',
    scope: 'income',
    incomeYears: [2024, 2025], // ROC 113 = 2024, 114 = 2025, and 2024 once
  });
  assert.throws(() => inquiry.decodeRequest('{"batch_id":"B1","row":1,"creditor_id":"C1","debtor_name":"x"}'), /missing field 'debtor_id'/);
  assert.throws(() => inquiry.decodeRequest('{"batch_id":"B1","row":0,"creditor_id":"C1","debtor_id":"A123456789","debtor_name":"x"}'), /'row' must be 1 or more/);
  // An invalid ID is named masked, never whole.
  assert.throws(
    () => inquiry.decodeRequest('{"batch_id":"B1","row":1,"creditor_id":"C1","debtor_id":"A123456788","debtor_name":"x"}'),
    (error) => error instanceof inquiry.DecodeError && error.message.includes('A12****788') && !error.message.includes('A123456788'),
  );
  assert.throws(() => inquiry.decodeRequest('[1]'), inquiry.DecodeError);
});

test('the SPEC 3.3 rules decide the status', () => {
  const request = { batchId: 'B1', row: 3, debtorId: 'A123456789', debtorName: '陳志明', scope: 'income', incomeYears: [2025] };
  const record = { id: 'A123456789', name: '陳 志明', birthDate: '1980-01-02', district: '信義區', deceased: false, company: false };
  assert.strictEqual(inquiry.decideFromRegistry(request, null).status, 'not_registered');
  assert.strictEqual(inquiry.decideFromRegistry({ ...request, debtorName: '林志明' }, record).status, 'name_mismatch');
  assert.strictEqual(inquiry.decideFromRegistry(request, { ...record, deceased: true }).status, 'deceased');
  assert.strictEqual(inquiry.decideFromRegistry(request, record), null);
  const property = [{ kind: 'land', description: 'd', location: 'l', value: 5 }];
  // Scope income: the property records are not the creditor's to see, so nothing is found.
  assert.strictEqual(inquiry.decideFromTaxData(request, { income: [], property }).status, 'no_records');
  assert.strictEqual(inquiry.decideFromTaxData({ ...request, scope: 'both' }, { income: [], property }).status, 'found');
});

test('results and cache texts are written byte for byte as the C++ engine writes them', () => {
  const result = inquiry.errorResult({ batchId: 'B1', row: 2, debtorId: 'A123456789' }, 'registry_unavailable');
  assert.strictEqual(
    inquiry.encodeResult(result),
    '{"batch_id":"B1","row":2,"debtor_id":"A123456789","status":"error","reason":"registry_unavailable","income":[],"property":[]}',
  );
  const record = { id: 'A123456789', name: '陳志明', birthDate: '1980-01-02', district: '信義區', deceased: false, company: true };
  const text = inquiry.encodeRegistry(record);
  assert.strictEqual(text, '1\x1fA123456789\x1f陳志明\x1f1980-01-02\x1f信義區\x1f0\x1f1');
  assert.deepStrictEqual(inquiry.decodeRegistry(text), record);
  assert.strictEqual(inquiry.encodeRegistry(null), '0');
  assert.strictEqual(inquiry.decodeRegistry('0'), null);
  assert.strictEqual(inquiry.decodeRegistry('garbage'), undefined); // a miss
  const records = { income: [{ year: 2025, payerId: '22099131', payerName: '某公司', incomeType: '50', amount: 1200000 }], property: [] };
  assert.strictEqual(inquiry.encodeTax(records), 'T\x1eI\x1f2025\x1f22099131\x1f某公司\x1f50\x1f1200000');
  assert.deepStrictEqual(inquiry.decodeTax(inquiry.encodeTax(records)), records);
  assert.strictEqual(inquiry.registryKey('A123456789'), 'v1:reg:A123456789');
  assert.strictEqual(inquiry.taxKey('A123456789', true, false, [2024, 2025]), 'v1:tax:A123456789:i:2024,2025,');
});

test('the partitioner is CRC-32 (IEEE), as librdkafka consistent_random', () => {
  assert.strictEqual(crc32(Buffer.from('123456789')).toString(16), 'cbf43926');
});
