'use strict';
// A competent Node.js inquiry engine, to measure taxdesk's engine against (issue 11): the work of the C++ bench's
// engine mode (bench/throughput.cpp, engine/flow/inquiry_stage.cpp) on the same messages.
//
//   node engine.js --bootstrap HOST:PORT --redis-port P --input TOPIC --output TOPIC [--rows N] [--group G]
//                  [--concurrency C] [--max-in-flight M] [--sqlite PATH|none] [--key-prefix K]
//                  [--tag T]
//
// Per kafkajs `eachBatch` (one partition's fetched messages): decode every request, one Redis MGET of both steps'
// cache keys, the stub connectors' answers for the misses (population.js, the same synthetic data), the SPEC 3.3
// rules, the fresh answers written as SET … EX 3600 in one scripted command, every result upserted in one SQLite transaction (the C++
// store's statements; better-sqlite3, when it installed), one idempotent send (acks -1) of the results, and the
// batch's offset committed only after the send was acknowledged. Partitions run `--concurrency` at a time.
//
// Prints `node value=… rows/s cpu_us_per_row=… peak_rss_mib=… rows=… out=… sqlite=yes|no concurrency=… …`, timed
// as the C++ bench times its modes: from the consumer group's assignment (GROUP_JOIN) to the last result
// acknowledged; CPU is this process's utime+stime from /proc/self/stat over that window, over the rows; the peak
// RSS is VmHWM of /proc/self/status.
const fs = require('fs');
const { execFileSync } = require('child_process');
const { Kafka, logLevel } = require('kafkajs');
const { allowAnyBrokerAsController } = require('./mock_broker');
const { consistentPartitioner } = require('./partitioner');
const Redis = require('ioredis');
const { Population } = require('./population');
const inquiry = require('./inquiry');

let Database = null;
try {
  Database = require('better-sqlite3');
} catch (error) {
  Database = null;
}

function parseArgs(argv) {
  const options = {
    bootstrap: '',
    redisPort: 6379,
    input: '',
    output: '',
    rows: 200000,
    group: '',
    concurrency: 8,
    sqlite: '',
    keyPrefix: '',
    tag: '',
    ttl: 3600,
    maxInFlight: 1,
  };
  const names = { bootstrap: 'bootstrap', 'redis-port': 'redisPort', input: 'input', output: 'output', rows: 'rows', group: 'group', concurrency: 'concurrency', sqlite: 'sqlite', 'key-prefix': 'keyPrefix', tag: 'tag', 'max-in-flight': 'maxInFlight' };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    if (!(name in names) || i + 1 >= argv.length) throw new Error(`unknown option or missing value: ${argv[i]}`);
    const key = names[name];
    options[key] = typeof options[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
    if (typeof options[key] === 'number' && !(Number.isInteger(options[key]) && options[key] > 0)) throw new Error(`--${name} must be a whole number above 0`);
  }
  if (!options.bootstrap || !options.input || !options.output) throw new Error('--bootstrap, --input and --output are required');
  const stamp = Date.now();
  if (!options.group) options.group = `bench-node.group-${stamp}`;
  if (!options.keyPrefix) options.keyPrefix = `bench-node-${stamp}:`;
  if (!options.sqlite) options.sqlite = `/tmp/bench-node-${stamp}.db`;
  return options;
}

const kClockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch (error) {
    return 100;
  }
})();

/** utime + stime of this process in seconds, from /proc/self/stat. */
function cpuSeconds() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / kClockTicks;
}

function peakRssMiB() {
  const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

/** The results store: the C++ SQLite store's tables, pragmas and upsert statements (sql_result_store.cpp). */
class ResultStore {
  constructor(path) {
    this.db = new Database(path);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('mmap_size = 67108864');
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS inquiry_results (batch_id TEXT NOT NULL, row_no INTEGER NOT NULL, debtor_id TEXT NOT NULL,' +
        " status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', payload TEXT NOT NULL, updated_at TEXT NOT NULL," +
        ' PRIMARY KEY (batch_id, row_no));' +
        ' CREATE TABLE IF NOT EXISTS batches (batch_id TEXT PRIMARY KEY, state TEXT NOT NULL, rows_total INTEGER NOT NULL' +
        " DEFAULT 0, rows_done INTEGER NOT NULL DEFAULT 0, completed_at TEXT NOT NULL DEFAULT '')",
    );
    this.lock = this.db.prepare('UPDATE batches SET rows_done = rows_done WHERE batch_id = ?');
    this.insert = this.db.prepare(
      'INSERT INTO inquiry_results (batch_id, row_no, debtor_id, status, reason, payload, updated_at)' +
        ' VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (batch_id, row_no) DO NOTHING',
    );
    this.replace = this.db.prepare(
      'UPDATE inquiry_results SET debtor_id = ?, status = ?, reason = ?, payload = ?, updated_at = ? WHERE batch_id = ? AND row_no = ?',
    );
    this.add = this.db.prepare('UPDATE batches SET rows_done = rows_done + ? WHERE batch_id = ?');
    this.recount = this.db.prepare(
      'UPDATE batches SET rows_done = (SELECT COUNT(*) FROM inquiry_results WHERE batch_id = ?)' +
        " WHERE batch_id = ? AND rows_done >= rows_total AND state IN ('queued', 'processing')",
    );
    this.advance = this.db.prepare(
      "UPDATE batches SET state = CASE WHEN rows_done >= rows_total THEN 'completed' ELSE 'processing' END," +
        " completed_at = CASE WHEN rows_done >= rows_total AND completed_at = '' THEN ? ELSE completed_at END" +
        " WHERE batch_id = ? AND state IN ('queued', 'processing')",
    );
    this.upsertAll = this.db.transaction((rows) => {
      const stamp = new Date().toISOString();
      const batchIds = [...new Set(rows.map((r) => r.batchId))].sort();
      const added = new Map(batchIds.map((id) => [id, 0]));
      for (const id of batchIds) this.lock.run(id);
      for (const r of rows) {
        if (this.insert.run(r.batchId, r.row, r.debtorId, r.status, r.reason, r.payload, stamp).changes === 1) {
          added.set(r.batchId, added.get(r.batchId) + 1);
        } else {
          this.replace.run(r.debtorId, r.status, r.reason, r.payload, stamp, r.batchId, r.row);
        }
      }
      for (const id of batchIds) this.add.run(added.get(id), id);
      for (const id of batchIds) this.recount.run(id, id);
      for (const id of batchIds) this.advance.run(stamp, id);
    });
  }

  upsertResults(rows) {
    if (rows.length > 0) this.upsertAll(rows);
  }

  close() {
    this.db.close();
  }
}

/** The unique cache keys of one step, each with a request that needs it. */
class KeySet {
  constructor() {
    this.index = new Map();
    this.keys = [];
    this.representative = [];
  }
  add(key, request) {
    let position = this.index.get(key);
    if (position === undefined) {
      position = this.keys.length;
      this.index.set(key, position);
      this.keys.push(key);
      this.representative.push(request);
    }
    return position;
  }
}

class Engine {
  constructor(options, redis, store) {
    this.options = options;
    this.redis = redis;
    this.store = store;
    this.population = new Population(1); // the bench's stubs.seed
    this.cacheDegraded = false;
  }

  /** Decides every request of one batch; returns {results: [{result, message}], dead: [{message, error}], sets}. */
  async prepare(messages) {
    const n = messages.length;
    const requests = new Array(n);
    const dead = [];
    for (let i = 0; i < n; i++) {
      try {
        requests[i] = inquiry.decodeRequest(messages[i].value.toString('utf8'));
      } catch (error) {
        if (!(error instanceof inquiry.DecodeError)) throw error;
        requests[i] = null;
        dead.push({ message: messages[i], error: error.message });
      }
    }
    const registry = new KeySet();
    const tax = new KeySet();
    const registryPos = new Array(n);
    const taxPos = new Array(n);
    for (let i = 0; i < n; i++) {
      const r = requests[i];
      if (!r) continue;
      registryPos[i] = registry.add(inquiry.registryKey(r.debtorId), i);
      taxPos[i] = tax.add(inquiry.taxKey(r.debtorId, inquiry.wantsIncome(r), inquiry.wantsProperty(r), r.incomeYears), i);
    }
    // One MGET for both steps (the tax key of a row is known before the registry answers).
    let cached = [];
    const keys = registry.keys.concat(tax.keys);
    if (keys.length > 0) {
      try {
        cached = await this.redis.mget(keys);
        this.cacheDegraded = false;
      } catch (error) {
        this.cacheDegraded = true;
        cached = [];
      }
    }
    const fresh = [];

    // Step 1: the household registry.
    const registryAnswers = new Array(registry.keys.length);
    for (let k = 0; k < registry.keys.length; k++) {
      const text = cached[k];
      let answer = text == null ? undefined : inquiry.decodeRegistry(text);
      if (answer === undefined) {
        answer = this.population.registryRecord(requests[registry.representative[k]].debtorId);
        fresh.push(registry.keys[k], inquiry.encodeRegistry(answer));
      }
      registryAnswers[k] = answer;
    }

    // Step 2: tax data, for the rows the registry did not settle.
    const results = new Array(n);
    const taxAnswers = new Array(tax.keys.length);
    for (let i = 0; i < n; i++) {
      const r = requests[i];
      if (!r) continue;
      results[i] = inquiry.decideFromRegistry(r, registryAnswers[registryPos[i]]);
      if (results[i]) continue;
      const k = taxPos[i];
      if (taxAnswers[k] === undefined) {
        const text = cached[registry.keys.length + k];
        let answer = text == null ? undefined : inquiry.decodeTax(text);
        if (answer === undefined) {
          const q = requests[tax.representative[k]];
          answer = this.population.taxRecords(q.debtorId, q.incomeYears, inquiry.wantsIncome(q), inquiry.wantsProperty(q));
          fresh.push(tax.keys[k], inquiry.encodeTax(answer));
        }
        taxAnswers[k] = answer;
      }
      results[i] = inquiry.decideFromTaxData(r, taxAnswers[k]);
    }
    const out = [];
    for (let i = 0; i < n; i++) if (results[i]) out.push({ result: results[i], message: messages[i], payload: inquiry.encodeResult(results[i]) });
    return { out, dead, fresh };
  }

  /**
   * Writes the fresh answers, each `SET key value EX ttl` as the C++ engine's pipelined SETs do, in one command: a
   * server-side script over all the pairs (an ioredis pipeline of one SET a key cost about an eighth of this process's
   * CPU building a Command object per key). The promise settles when Redis has answered.
   */
  cachePut(fresh) {
    if (fresh.length === 0) return Promise.resolve();
    const keys = new Array(fresh.length / 2);
    const args = new Array(fresh.length / 2 + 1);
    args[0] = this.options.ttl;
    for (let i = 0, k = 0; i < fresh.length; i += 2, k++) {
      keys[k] = fresh[i];
      args[k + 1] = fresh[i + 1];
    }
    return this.redis.setManyEx(keys.length, ...keys, ...args).then(
      () => {},
      () => {
        this.cacheDegraded = true;
      },
    );
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  allowAnyBrokerAsController();
  const redis = new Redis({ host: '127.0.0.1', port: options.redisPort, keyPrefix: options.keyPrefix, lazyConnect: true, enableAutoPipelining: false });
  redis.defineCommand('setManyEx', {
    lua: "for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1]) end return #KEYS",
  });
  await redis.connect();
  let store = null;
  if (options.sqlite !== 'none') {
    if (!Database) throw new Error('better-sqlite3 is not installed: run with --sqlite none (results not stored)');
    store = new ResultStore(options.sqlite);
  }
  const engine = new Engine(options, redis, store);
  // The payers' table of the stubs is found on the first tax-data answer (as in C++): before the clock starts here.
  engine.population.payerAt(0);

  const kafka = new Kafka({ clientId: 'taxdesk-bench-node', brokers: options.bootstrap.split(','), logLevel: logLevel.WARN });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: options.maxInFlight, createPartitioner: consistentPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  const consumer = kafka.consumer({ groupId: options.group, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
  await consumer.connect();
  await consumer.subscribe({ topics: [options.input], fromBeginning: true });

  let started = null;
  let cpuBefore = 0;
  let finished = null;
  let cpuAfter = 0;
  let out = 0;
  let failed = null;
  let resolveDone;
  const done = new Promise((resolve) => {
    resolveDone = resolve;
  });
  consumer.on(consumer.events.GROUP_JOIN, () => {
    if (started === null) {
      started = process.hrtime.bigint();
      cpuBefore = cpuSeconds();
    }
  });
  consumer.on(consumer.events.CRASH, (event) => {
    failed = event.payload.error;
    resolveDone();
  });

  const deadLetterTopic = options.input + '.dlq';
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: options.concurrency,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      if (!isRunning() || isStale() || batch.messages.length === 0) return;
      const prepared = await engine.prepare(batch.messages);
      const cacheDone = engine.cachePut(prepared.fresh);
      // Durable in one transaction before anything is produced (SPEC 6).
      if (store) {
        store.upsertResults(
          prepared.out.map(({ result, payload }) => ({ batchId: result.batchId, row: result.row, debtorId: result.debtorId, status: result.status, reason: result.reason, payload })),
        );
      }
      const topicMessages = [];
      if (prepared.out.length > 0) {
        topicMessages.push({
          topic: options.output,
          messages: prepared.out.map(({ result, message, payload }) => ({
            key: result.batchId,
            value: payload,
            headers: { request_id: message.headers && message.headers.request_id ? message.headers.request_id : '' },
          })),
        });
      }
      if (prepared.dead.length > 0) {
        topicMessages.push({
          topic: deadLetterTopic,
          messages: prepared.dead.map(({ message, error }) => ({ key: message.key, value: JSON.stringify({ error, attempts: 1, original: message.value.toString('utf8') }) })),
        });
      }
      // One send a batch, acknowledged by all in-sync replicas, then the offset: nothing lost, nothing twice.
      await producer.sendBatch({ topicMessages, acks: -1 });
      await cacheDone;
      const last = batch.lastOffset();
      resolveOffset(last);
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
      out += prepared.out.length;
      if (out >= options.rows && finished === null) {
        finished = process.hrtime.bigint();
        cpuAfter = cpuSeconds();
        resolveDone();
      }
      await heartbeat();
    },
  });

  // Until every row came out, or nothing came out for a minute.
  let seen = -1;
  let lastProgress = Date.now();
  const watchdog = setInterval(() => {
    if (out !== seen) {
      seen = out;
      lastProgress = Date.now();
    } else if (Date.now() - lastProgress > 60000) {
      resolveDone();
    }
  }, 1000);
  await done;
  clearInterval(watchdog);
  await consumer.disconnect().catch(() => {});
  await producer.disconnect().catch(() => {});
  await redis.quit().catch(() => {});
  if (store) {
    store.close();
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(options.sqlite + suffix, { force: true });
  }
  if (failed) throw failed;
  if (finished === null) throw new Error(`not all rows came out (${out} of ${options.rows})`);
  const seconds = Number(finished - started) / 1e9;
  const line =
    `node value=${Math.round(options.rows / seconds)} rows/s cpu_us_per_row=${(((cpuAfter - cpuBefore) * 1e6) / options.rows).toFixed(2)}` +
    ` peak_rss_mib=${Math.round(peakRssMiB())} rows=${options.rows} out=${out} seconds=${seconds.toFixed(3)}` +
    ` sqlite=${store ? 'yes' : 'no'} concurrency=${options.concurrency} max_in_flight=${options.maxInFlight} node_version=${process.version} ${options.tag}`;
  process.stdout.write(line.trimEnd() + '\n');
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`bench/node/engine.js: ${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);
