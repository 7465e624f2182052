'use strict';
// SPEC 3.3 for the Node engine: reading an `inquiry.requests` message, the registry and tax-data rules, the cache
// keys and texts of engine/runtime/lookup_cache.cpp, and the `inquiry.results` message. Ports of
// jobs/inquiry/codec.cpp, jobs/inquiry/inquiry.cpp (and name_variants.cpp) and engine/runtime/lookup_cache.cpp.
const { classify, normalize, mask, isSpace, foldWidth } = require('./population');

class DecodeError extends Error {}

const kScopes = new Set(['income', 'property', 'both']);

/** asInt of codec.cpp: a whole number below 1e9 in magnitude, or a string std::stoi reads whole. */
function asInt(value, field) {
  if (typeof value === 'number') {
    if (Math.floor(value) === value && Math.abs(value) < 1e9) return value;
  } else if (typeof value === 'string') {
    const match = /^\s*([+-]?\d+)$/.exec(value);
    if (match) {
      const parsed = Number(match[1]);
      if (parsed >= -2147483648 && parsed <= 2147483647) return parsed;
    }
  }
  throw new DecodeError(`field '${field}' must be a whole number`);
}

/** ROC years (below 1911) become Gregorian ones. */
function gregorianYear(year) {
  return year < 1911 ? year + 1911 : year;
}

function parseYears(value) {
  let years = [];
  if (value === null || value === undefined) return years;
  if (Array.isArray(value)) {
    for (const item of value) {
      if (typeof item !== 'number' && typeof item !== 'string') throw new DecodeError("field 'income_years' must be a whole number");
      years.push(gregorianYear(asInt(item, 'income_years')));
    }
  } else if (typeof value === 'string') {
    for (const part of value.split(';')) if (part !== '') years.push(gregorianYear(asInt(part, 'income_years')));
  } else {
    throw new DecodeError("field 'income_years' must be an array of years or a ';'-separated string");
  }
  years.sort((a, b) => a - b);
  years = years.filter((y, i) => i === 0 || y !== years[i - 1]);
  return years;
}

function requireString(value, field) {
  if (typeof value !== 'string') throw new DecodeError(`field '${field}' must be a string`);
  return value;
}

/** decodeRequest: {batchId, row, creditorId, debtorId, debtorName, scope, incomeYears}; throws DecodeError. */
function decodeRequest(text) {
  let object;
  try {
    object = JSON.parse(text);
  } catch (error) {
    throw new DecodeError('invalid JSON: ' + error.message);
  }
  if (object === null || typeof object !== 'object' || Array.isArray(object)) throw new DecodeError('invalid JSON: the message is not an object');
  for (const field of ['batch_id', 'row', 'creditor_id', 'debtor_id', 'debtor_name']) {
    if (!(field in object)) throw new DecodeError(`missing field '${field}'`);
  }
  const request = {
    batchId: requireString(object.batch_id, 'batch_id'),
    row: asInt(object.row, 'row'),
    creditorId: requireString(object.creditor_id, 'creditor_id'),
    debtorId: normalize(requireString(object.debtor_id, 'debtor_id')),
    debtorName: requireString(object.debtor_name, 'debtor_name'),
    scope: 'both',
    incomeYears: [],
  };
  if ('scope' in object) {
    const scope = requireString(object.scope, 'scope');
    if (!kScopes.has(scope)) throw new DecodeError("field 'scope' must be income, property or both");
    request.scope = scope;
  }
  if ('income_years' in object) request.incomeYears = parseYears(object.income_years);
  if (request.row < 1) throw new DecodeError("field 'row' must be 1 or more");
  if (classify(request.debtorId) === 'invalid') throw new DecodeError(`field 'debtor_id' is not a valid ID (${mask(request.debtorId)})`);
  return request;
}

function wantsIncome(request) {
  return request.scope !== 'property';
}
function wantsProperty(request) {
  return request.scope !== 'income';
}

// ---- names (inquiry.cpp namesMatch, name_variants.cpp)

const kMiddleDot = 0x00b7;
const kVariants = new Map([
  [0x002e, kMiddleDot], [0x2022, kMiddleDot], [0x2027, kMiddleDot], [0x30fb, kMiddleDot], [0xff0e, kMiddleDot], [0xff65, kMiddleDot],
  [0x53f0, 0x81fa], [0x5cef, 0x5cf0], [0x7fa3, 0x7fa4], [0x88cf, 0x88e1], [0x7dab, 0x7dda], [0x5553, 0x555f], [0x6052, 0x6046],
  [0x6e29, 0x6eab], [0x9ec4, 0x9ec3], [0x5434, 0x5433], [0x5415, 0x5442], [0x7240, 0x5e8a], [0x9dc4, 0x96de], [0x5374, 0x537b],
  [0x7232, 0x70ba], [0x4e3a, 0x70ba], [0x6df8, 0x6e05], [0x8aac, 0x8aaa], [0x92ed, 0x92b3], [0x7a0e, 0x7a05], [0x5185, 0x5167],
  [0x4e89, 0x722d], [0x8846, 0x773e], [0x518c, 0x518a], [0x8218, 0x9928], [0x920e, 0x9264], [0x7dd1, 0x7da0], [0x9332, 0x9304],
  [0x664b, 0x6649], [0x5151, 0x514c], [0x51b5, 0x6cc1], [0x51c9, 0x6dbc], [0x9115, 0x9109], [0x9eaa, 0x9eb5], [0x654d, 0x6558],
  [0x53d9, 0x6558], [0x5bdb, 0x5bec], [0x6237, 0x6236], [0x6238, 0x6236], [0x7ca7, 0x599d], [0x79d8, 0x7955], [0x8471, 0x8525],
  [0x59eb, 0x59ec], [0x771e, 0x771f], [0x7476, 0x7464], [0x5fb3, 0x5fb7], [0x5897, 0x589e], [0x9ed2, 0x9ed1],
]);

/** The next folded code point of `text` from `state.pos`, or -1 at the end. */
function nextFolded(text, state) {
  while (state.pos < text.length) {
    const cp = text.codePointAt(state.pos);
    state.pos += cp > 0xffff ? 2 : 1;
    if (isSpace(cp)) continue;
    let folded = foldWidth(cp);
    if (folded >= 0x61 && folded <= 0x7a) folded -= 0x20;
    const canonical = kVariants.get(folded);
    return canonical === undefined ? folded : canonical;
  }
  return -1;
}

/** Names match as the registry matches them (SPEC 3.3). */
function namesMatch(given, registered) {
  if (given === registered) return true;
  const a = { pos: 0 };
  const b = { pos: 0 };
  for (;;) {
    const x = nextFolded(given, a);
    const y = nextFolded(registered, b);
    if (x !== y) return false;
    if (x === -1) return true;
  }
}

// ---- the rules (inquiry.cpp)

function baseResult(request, status) {
  return { batchId: request.batchId, row: request.row, debtorId: request.debtorId, status, reason: '', income: [], property: [] };
}

/** The registry step: a result when the registry settles the row, else null (the tax data decide). */
function decideFromRegistry(request, record) {
  if (!record) return baseResult(request, 'not_registered');
  if (!namesMatch(request.debtorName, record.name)) return baseResult(request, 'name_mismatch');
  if (record.deceased) return baseResult(request, 'deceased');
  return null;
}

function decideFromTaxData(request, records) {
  const result = baseResult(request, 'no_records');
  if (wantsIncome(request)) result.income = records.income;
  if (wantsProperty(request)) result.property = records.property;
  if (result.income.length > 0 || result.property.length > 0) result.status = 'found';
  return result;
}

function errorResult(request, reason) {
  const result = baseResult(request, 'error');
  result.reason = reason;
  return result;
}

// ---- the cache (lookup_cache.cpp): keys and compact texts, fields split by US (0x1f), records by RS (0x1e)

const US = '\x1f';
const RS = '\x1e';

function registryKey(id) {
  return 'v1:reg:' + id;
}

function taxKey(id, income, property, years) {
  let key = 'v1:tax:' + id + ':' + (income ? 'i' : '') + (property ? 'p' : '') + ':';
  for (const year of years) key += year + ',';
  return key;
}

function encodeRegistry(record) {
  if (!record) return '0';
  return ['1', record.id, record.name, record.birthDate, record.district, record.deceased ? '1' : '0', record.company ? '1' : '0'].join(US);
}

/** undefined when the text is not a registry answer (a miss); null for "not registered". */
function decodeRegistry(text) {
  if (text === '0') return null;
  const parts = text.split(US);
  if (parts.length !== 7 || parts[0] !== '1') return undefined;
  return { id: parts[1], name: parts[2], birthDate: parts[3], district: parts[4], deceased: parts[5] === '1', company: parts[6] === '1' };
}

function encodeTax(records) {
  let out = 'T';
  for (const r of records.income) out += RS + 'I' + US + r.year + US + r.payerId + US + r.payerName + US + r.incomeType + US + r.amount;
  for (const r of records.property) out += RS + 'P' + US + r.kind + US + r.description + US + r.location + US + r.value;
  return out;
}

const kNumber = /^-?\d+$/;

/** undefined when the text is not a tax answer. */
function decodeTax(text) {
  const parts = text.split(RS);
  if (parts[0] !== 'T') return undefined;
  const records = { income: [], property: [] };
  for (let i = 1; i < parts.length; i++) {
    const f = parts[i].split(US);
    if (f[0] === 'I' && f.length === 6) {
      if (!kNumber.test(f[1]) || !kNumber.test(f[5])) return undefined;
      records.income.push({ year: Number(f[1]), payerId: f[2], payerName: f[3], incomeType: f[4], amount: Number(f[5]) });
    } else if (f[0] === 'P' && f.length === 5) {
      if (!kNumber.test(f[4])) return undefined;
      records.property.push({ kind: f[1], description: f[2], location: f[3], value: Number(f[4]) });
    } else {
      return undefined;
    }
  }
  return records;
}

// ---- the result message (codec.cpp encodeResult): the same fields in the same order

function encodeResult(result) {
  const out = { batch_id: result.batchId, row: result.row, debtor_id: result.debtorId, status: result.status };
  if (result.reason !== '') out.reason = result.reason;
  out.income = result.income.map((r) => ({ year: r.year, payer_id: r.payerId, payer_name: r.payerName, income_type: r.incomeType, amount: r.amount }));
  out.property = result.property.map((r) => ({ kind: r.kind, description: r.description, location: r.location, value: r.value }));
  return JSON.stringify(out);
}

module.exports = {
  DecodeError,
  decodeRequest,
  wantsIncome,
  wantsProperty,
  namesMatch,
  decideFromRegistry,
  decideFromTaxData,
  errorResult,
  registryKey,
  taxKey,
  encodeRegistry,
  decodeRegistry,
  encodeTax,
  decodeTax,
  encodeResult,
};
