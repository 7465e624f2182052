'use strict';
// A port of the stub connectors' synthetic population (connectors/stubs/demo_data/population.cpp and
// deterministic.hpp) and of the ID checks it uses (jobs/identity/identifiers.cpp), so that the Node engine's
// "connectors" answer exactly what the C++ engine's stubs answer for the same IDs: bench/compare_node checks it by
// comparing the two engines' results row by row.
//
// The population runs on 64-bit unsigned arithmetic (FNV-1a, splitmix64). BigInt would be exact but costs about a
// microsecond an operation; here a 64-bit value is two unsigned 32-bit halves (hi, lo) in plain numbers, multiplied
// by 16-bit limbs, which V8 keeps in registers.

// ---- 64-bit arithmetic on (hi, lo) halves. Results go to the module variables H and L (no allocation).
let H = 0;
let L = 0;

/** (ah, al) * (bh, bl) mod 2^64 into H, L. */
function mul64(ah, al, bh, bl) {
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  L = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  const high = p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16);
  H = (high + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

/** (h, l) + 0x9e3779b97f4a7c15 into H, L. */
function addGolden(h, l) {
  const low = l + 0x7f4a7c15;
  L = low >>> 0;
  H = (h + 0x9e3779b9 + (low > 0xffffffff ? 1 : 0)) >>> 0;
}

/** The splitmix64 finaliser of (h, l) into H, L (deterministic.hpp mix64 without its addition). */
function finalise(h, l) {
  // z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
  let zl = (l ^ ((l >>> 30) | (h << 2))) >>> 0;
  let zh = (h ^ (h >>> 30)) >>> 0;
  mul64(zh, zl, 0xbf58476d, 0x1ce4e5b9);
  // z = (z ^ (z >> 27)) * 0x94d049bb133111eb
  zl = (L ^ ((L >>> 27) | (H << 5))) >>> 0;
  zh = (H ^ (H >>> 27)) >>> 0;
  mul64(zh, zl, 0x94d049bb, 0x133111eb);
  // z ^ (z >> 31)
  zl = (L ^ ((L >>> 31) | (H << 1))) >>> 0;
  zh = (H ^ (H >>> 31)) >>> 0;
  H = zh;
  L = zl;
}

/** mix64 of (h, l) into H, L. */
function mix64(h, l) {
  addGolden(h, l);
  finalise(H, L);
}

/** combine(key, salt) = mix64(key ^ mix64(salt)) into H, L; salt a non-negative integer below 2^53. */
function combine(kh, kl, salt) {
  mix64(Math.floor(salt / 4294967296) >>> 0, salt >>> 0);
  mix64((kh ^ H) >>> 0, (kl ^ L) >>> 0);
}

/** FNV-1a 64 of an ASCII (or any one-byte-per-char) string into H, L. */
function fnv1a(text) {
  let h = 0xcbf29ce4;
  let l = 0x84222325;
  for (let i = 0; i < text.length; i++) {
    l = (l ^ text.charCodeAt(i)) >>> 0;
    // * 0x100000001b3 = * 0x1b3 + << 40
    const low = l * 0x1b3;
    const newL = low >>> 0;
    h = (h * 0x1b3 + Math.floor(low / 4294967296) + (l << 8)) >>> 0;
    l = newL;
  }
  H = h;
  L = l;
}

/** A splitmix64 stream (deterministic.hpp Stream). */
class Stream {
  constructor(h, l) {
    this.h = h;
    this.l = l;
    // The last output, as halves.
    this.oh = 0;
    this.ol = 0;
  }

  next() {
    addGolden(this.h, this.l);
    this.h = H;
    this.l = L;
    finalise(H, L);
    this.oh = H;
    this.ol = L;
  }

  /** Uniform in [0, bound) for 0 < bound < 2^37: next() % bound. */
  below(bound) {
    if (bound === 0) return 0;
    this.next();
    const oh = this.oh;
    const ol = this.ol;
    if (bound < 32768) {
      // Four 16-bit steps that stay in int32 (r < 2^15, so r << 16 | 16 bits < 2^31): V8's integer modulus, where
      // a modulus of doubles above 2^31 goes through fmod (it was a third of the population's time).
      let r = (oh >>> 16) % bound;
      r = ((r << 16) | (oh & 0xffff)) % bound;
      r = ((r << 16) | (ol >>> 16)) % bound;
      return ((r << 16) | (ol & 0xffff)) % bound;
    }
    let r = oh % bound;
    r = (r * 65536 + (ol >>> 16)) % bound;
    return (r * 65536 + (ol & 0xffff)) % bound;
  }

  between(low, high) {
    return low + this.below(high - low + 1);
  }

  unit() {
    this.next();
    return (this.oh * 2097152 + (this.ol >>> 11)) * 1.1102230246251565e-16; // 2^-53
  }

  chance(p) {
    return this.unit() < p;
  }
}

/** A stream seeded with combine(key, salt). */
function streamOf(kh, kl, salt) {
  combine(kh, kl, salt);
  return new Stream(H, L);
}

// ---- identity (jobs/identity/identifiers.cpp)

const kLetterCodes = [10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21, 22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33];

function isUpper(c) {
  return c >= 65 && c <= 90;
}
function isDigit(c) {
  return c >= 48 && c <= 57;
}

function isValidLetterId(id, seconds) {
  if (id.length !== 10 || !isUpper(id.charCodeAt(0)) || !seconds.includes(id[1])) return false;
  for (let i = 2; i < 10; i++) if (!isDigit(id.charCodeAt(i))) return false;
  const code = kLetterCodes[id.charCodeAt(0) - 65];
  const c1 = id.charCodeAt(1);
  const second = isUpper(c1) ? kLetterCodes[c1 - 65] % 10 : c1 - 48;
  let sum = Math.floor(code / 10) + (code % 10) * 9 + second * 8;
  for (let i = 2; i <= 8; i++) sum += (id.charCodeAt(i) - 48) * (9 - i);
  sum += id.charCodeAt(9) - 48;
  return sum % 10 === 0;
}

function isValidBusinessNumber(id) {
  if (id.length !== 8) return false;
  for (let i = 0; i < 8; i++) if (!isDigit(id.charCodeAt(i))) return false;
  const weights = [1, 2, 1, 2, 1, 2, 4, 1];
  let rest = 0;
  for (let i = 0; i < 8; i++) {
    if (i === 6) continue;
    const product = (id.charCodeAt(i) - 48) * weights[i];
    rest += Math.floor(product / 10) + (product % 10);
  }
  if (id[6] === '7') return (rest + 1) % 5 === 0 || rest % 5 === 0;
  const seventh = (id.charCodeAt(6) - 48) * 4;
  return (rest + Math.floor(seventh / 10) + (seventh % 10)) % 5 === 0;
}

/** 'nationalId', 'residentCertificate', 'businessNumber' or 'invalid' of a normalised ID. */
function classify(id) {
  if (isValidLetterId(id, '12')) return 'nationalId';
  if (isValidLetterId(id, '89ABCD')) return 'residentCertificate';
  if (isValidBusinessNumber(id)) return 'businessNumber';
  return 'invalid';
}

/** SPEC 2 spaces (identifiers.hpp isSpace). */
function isSpace(cp) {
  switch (cp) {
    case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x20: case 0x85: case 0xa0: case 0x1680:
    case 0x200b: case 0x200c: case 0x200d: case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x2060:
    case 0x3000: case 0xfeff:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200a;
  }
}

function foldWidth(cp) {
  if (cp === 0x3000) return 0x20;
  if (cp >= 0xff01 && cp <= 0xff5e) return cp - 0xfee0;
  return cp;
}

/** identity::normalize for text that JSON.parse gave (always valid UTF-16, so always foldable). */
function normalize(text) {
  // The usual case: already upper-case ASCII letters and digits.
  if (/^[A-Z0-9]+$/.test(text)) return text;
  const cps = Array.from(text, (c) => c.codePointAt(0));
  let begin = 0;
  let end = cps.length;
  while (begin < end && isSpace(cps[begin])) begin++;
  while (end > begin && isSpace(cps[end - 1])) end--;
  let out = '';
  for (let i = begin; i < end; i++) {
    let cp = foldWidth(cps[i]);
    if (cp >= 0x61 && cp <= 0x7a) cp -= 0x20;
    out += String.fromCodePoint(cp);
  }
  return out;
}

/** identity::mask for ASCII IDs of 10 or 8 characters, else first and last character around ****. */
function mask(id) {
  // eslint-disable-next-line no-control-regex
  const ascii = /^[\x00-\x7f]*$/.test(id);
  if (ascii && id.length === 10) return id.slice(0, 3) + '****' + id.slice(7);
  if (ascii && id.length === 8) return id.slice(0, 2) + '****' + id.slice(6);
  const chars = Array.from(id);
  if (chars.length < 3) return '****';
  return chars[0] + '****' + chars[chars.length - 1];
}

// ---- the population (population.cpp)

const kSaltRegistry = 1;
const kSaltCompanyName = 2;
const kSaltHasRecords = 4;
const kSaltEmployer = 5;
const kSaltProperty = 6;
const kSaltIncomeYear = 1000000;
const kSaltBusiness = 103;

const kUnknownShare = 0.03;
const kDeceasedShare = 0.01;
const kNoRecordsShare = 0.1;
const kPayerPool = 400;
const kLatestTaxYear = 2025;
const kReferenceYear = 2026;

const kDistricts = ['中正區', '大同區', '中山區', '松山區', '大安區', '萬華區', '信義區', '士林區', '北投區', '內湖區', '南港區', '文山區'];
const kStreets = [
  ['重慶南路一段', '羅斯福路一段', '杭州南路一段'],
  ['承德路二段', '民生西路', '延平北路二段'],
  ['南京東路二段', '林森北路', '中山北路二段'],
  ['八德路四段', '民生東路四段', '光復北路'],
  ['復興南路一段', '和平東路二段', '忠孝東路四段'],
  ['西園路一段', '康定路', '艋舺大道'],
  ['松仁路', '信義路五段', '基隆路一段'],
  ['中正路', '文林路', '天母東路'],
  ['石牌路二段', '中央北路一段', '光明路'],
  ['內湖路一段', '成功路四段', '瑞光路'],
  ['南港路一段', '經貿二路', '研究院路二段'],
  ['木柵路一段', '興隆路二段', '羅斯福路六段'],
];
const kSurnames = Array.from('陳林黃張李王吳劉蔡楊許鄭謝洪郭邱曾廖賴徐周葉蘇莊呂江何蕭羅高潘簡朱鍾游彭詹胡施沈余盧梁趙顏柯翁魏孫戴');
const kMaleGiven = Array.from('志明俊傑建宏家豪冠廷承恩宇翔柏文哲偉信榮國華正雄彥凱威安德睿');
const kFemaleGiven = Array.from('淑芬美玲雅婷怡君佩珊惠如欣宜靜慧佳穎詩涵心瑜思庭筱萱琪曉秀麗');
const kBrands = ['華新', '宏遠', '聯合', '中興', '東方', '永信', '金鼎', '嘉新', '正隆', '光華', '寶成', '日新', '大安', '信義', '松山', '南港', '士林', '鼎泰', '恆昌', '立德'];
const kTrades = ['科技', '實業', '貿易', '建設', '食品', '電子', '資訊', '國際', '生技', '精密', '物流', '營造', '開發', '投資', '紡織'];
const kCarBrands = ['TOYOTA', 'NISSAN', 'HONDA', 'MAZDA', 'FORD', 'LUXGEN', 'MITSUBISHI', 'SUZUKI'];
const kLandSections = ['一小段', '二小段', '三小段'];

function pick(stream, items) {
  return items[stream.below(items.length)];
}

function weighted(stream, weights) {
  let total = 0;
  for (const w of weights) total += w;
  let roll = stream.below(total);
  for (let i = 0; i < weights.length; i++) {
    if (roll < weights[i]) return i;
    roll -= weights[i];
  }
  return weights.length - 1;
}

function isLeap(year) {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

const kDays = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
function daysIn(year, month) {
  return month === 2 && isLeap(year) ? 29 : kDays[month - 1];
}

function two(n) {
  return n < 10 ? '0' + n : String(n);
}

function date(stream, firstYear, lastYear) {
  const year = stream.between(firstYear, lastYear);
  const month = stream.between(1, 12);
  const day = stream.between(1, daysIn(year, month));
  return String(year).padStart(4, '0') + '-' + two(month) + '-' + two(day);
}

function digits(stream, count) {
  let out = '';
  for (let i = 0; i < count; i++) out += String.fromCharCode(48 + stream.below(10));
  return out;
}

function personName(stream, female) {
  let name = pick(stream, kSurnames);
  const givenCount = stream.chance(0.1) ? 1 : 2;
  for (let i = 0; i < givenCount; i++) name += female ? pick(stream, kFemaleGiven) : pick(stream, kMaleGiven);
  return name;
}

function isFemale(id) {
  const c = id[1];
  return c === '2' || c === '9' || c === 'B' || c === 'D';
}

function streetAddress(stream, district) {
  let out = '臺北市' + kDistricts[district] + pick(stream, kStreets[district]);
  out += String(stream.between(1, 350));
  out += '號';
  if (stream.chance(0.7)) out += String(stream.between(2, 15)) + '樓';
  return out;
}

function area(stream, low, high) {
  const hundredths = stream.between(low * 100, high * 100);
  return String(Math.floor(hundredths / 100)) + '.' + String(Math.floor((hundredths % 100) / 10)) + String(hundredths % 10) + '平方公尺';
}

function makeBusinessNumber(stream) {
  const first7 = digits(stream, 7);
  const start = stream.below(10);
  for (let i = 0; i < 10; i++) {
    const candidate = first7 + String((start + i) % 10);
    if (isValidBusinessNumber(candidate)) return candidate;
  }
  return first7 + '0';
}

class Population {
  constructor(seed) {
    // Seeds below 2^32 (the bench's is 1).
    this.seed = seed;
    this.payers = null;
  }

  /** keyOf(id) = combine(fnv1a(id), seed) as [hi, lo]. */
  keyOf(id) {
    fnv1a(id);
    combine(H, L, this.seed);
    return [H, L];
  }

  payerAt(index) {
    if (!this.payers) {
      const table = [];
      for (let i = 0; i < kPayerPool; i++) {
        const number = this.findBusinessNumber(i);
        table.push({ businessNumber: number, name: this.companyName(number) });
      }
      this.payers = table;
    }
    return this.payers[index];
  }

  /** findId(index, kSaltBusiness, 'B', Want::living). */
  findBusinessNumber(index) {
    combine(0, index, kSaltBusiness);
    combine(H, L, this.seed);
    const stream = new Stream(H, L);
    let candidate = '';
    for (let attempt = 0; attempt < 100000; attempt++) {
      candidate = makeBusinessNumber(stream);
      const record = this.registryRecord(candidate);
      if (record && !record.deceased) break;
    }
    return candidate;
  }

  companyName(businessNumber) {
    const [kh, kl] = this.keyOf(normalize(businessNumber));
    const stream = streamOf(kh, kl, kSaltCompanyName);
    let name = stream.chance(0.3) ? '臺北' : '';
    name += pick(stream, kBrands);
    name += pick(stream, kTrades);
    name += stream.chance(0.8) ? '股份有限公司' : '有限公司';
    return name;
  }

  /** {id, name, birthDate, district, deceased, company} or null. */
  registryRecord(id) {
    const normalized = normalize(id);
    const kind = classify(normalized);
    if (kind === 'invalid') return null;
    const [kh, kl] = this.keyOf(normalized);
    const stream = streamOf(kh, kl, kSaltRegistry);
    if (stream.chance(kUnknownShare)) return null;
    const record = { id: normalized, name: '', birthDate: '', district: '', deceased: false, company: false };
    record.deceased = stream.chance(kDeceasedShare);
    record.district = pick(stream, kDistricts);
    if (kind === 'businessNumber') {
      record.company = true;
      record.name = this.companyName(normalized);
      record.birthDate = date(stream, 1950, kLatestTaxYear - 1);
    } else {
      record.name = personName(stream, isFemale(normalized));
      record.birthDate = date(stream, kReferenceYear - 90, kReferenceYear - 20);
    }
    return record;
  }

  /** {income: [{year, payerId, payerName, incomeType, amount}], property: [{kind, description, location, value}]}. */
  taxRecords(id, years, income, property) {
    const records = { income: [], property: [] };
    const record = this.registryRecord(id);
    if (!record) return records;
    const [kh, kl] = this.keyOf(record.id);
    if (streamOf(kh, kl, kSaltHasRecords).chance(kNoRecordsShare)) return records;

    if (income) {
      const firstYear = Number(record.birthDate.slice(0, 4)) + (record.company ? 0 : 18);
      const employer = streamOf(kh, kl, kSaltEmployer).below(kPayerPool);
      for (const year of years) {
        if (year < firstYear || year > kLatestTaxYear) continue;
        const stream = streamOf(kh, kl, kSaltIncomeYear + year);
        const count = weighted(stream, [15, 35, 25, 15, 10]);
        for (let i = 0; i < count; i++) {
          const item = { year, payerId: '', payerName: '', incomeType: '', amount: 0 };
          const type = record.company ? 2 + weighted(stream, [50, 20, 30]) : weighted(stream, [45, 10, 25, 8, 12]);
          let payer = stream.below(kPayerPool);
          switch (type) {
            case 0:
              item.incomeType = '50';
              payer = employer;
              item.amount = stream.between(300000, 2400000);
              break;
            case 1:
              item.incomeType = '9A';
              item.amount = stream.between(20000, 600000);
              break;
            case 2:
              item.incomeType = '5A';
              item.amount = stream.between(100, 80000);
              break;
            case 3:
              item.incomeType = '51';
              item.amount = stream.between(60000, 720000);
              break;
            default:
              item.incomeType = '54';
              item.amount = stream.between(1000, 400000);
              break;
          }
          const payerRecord = this.payerAt(payer);
          item.payerId = payerRecord.businessNumber;
          item.payerName = payerRecord.name;
          records.income.push(item);
        }
      }
    }

    if (property) {
      const stream = streamOf(kh, kl, kSaltProperty);
      const count = weighted(stream, [30, 35, 20, 15]);
      for (let i = 0; i < count; i++) {
        const item = { kind: '', description: '', location: '', value: 0 };
        const district = stream.below(kDistricts.length);
        const districtName = kDistricts[district];
        switch (stream.below(4)) {
          case 0: {
            item.kind = 'land';
            const section = districtName.slice(0, -1);
            // GCC evaluates the operands of this chain of operator+ calls from the last to the first (checked
            // against the C++ engine's results by bench/compare_node): the area, then the number, then the section.
            const areaText = area(stream, 30, 600);
            const number = stream.between(1, 2000);
            const landSection = pick(stream, kLandSections);
            item.description = section + '段' + landSection + String(number) + '地號 ' + areaText;
            item.location = '臺北市' + districtName;
            item.value = stream.between(2000000, 60000000);
            break;
          }
          case 1:
            item.kind = 'building';
            {
              const areaText = area(stream, 25, 300);
              const use = stream.chance(0.8) ? '住家用' : '商業用';
              item.description = use + '建物 ' + areaText;
            }
            item.location = streetAddress(stream, district);
            item.value = stream.between(1000000, 30000000);
            break;
          case 2: {
            item.kind = 'vehicle';
            const modelYear = stream.between(2008, kLatestTaxYear);
            const brand = pick(stream, kCarBrands);
            item.description = (record.company ? '營業用貨車 ' : '自用小客車 ') + brand + ' ' + String(modelYear) + '年式';
            item.location = '臺北市' + districtName;
            item.value = stream.between(100000, 2000000);
            break;
          }
          default: {
            item.kind = 'investment';
            const issuer = this.payerAt(stream.below(kPayerPool));
            item.description = issuer.name + ' 股票 ' + String(stream.between(1, 500) * 1000) + '股';
            item.location = streetAddress(stream, district);
            item.value = stream.between(10000, 5000000);
            break;
          }
        }
        records.property.push(item);
      }
    }
    return records;
  }
}

module.exports = {
  Population,
  Stream,
  classify,
  normalize,
  mask,
  isSpace,
  foldWidth,
  isValidBusinessNumber,
  // For the tests: 64-bit helpers returning [hi, lo].
  fnv1a64(text) {
    fnv1a(text);
    return [H, L];
  },
  mix64Of(h, l) {
    mix64(h, l);
    return [H, L];
  },
  mul64Of(ah, al, bh, bl) {
    mul64(ah, al, bh, bl);
    return [H, L];
  },
};
