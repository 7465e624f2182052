'use strict';
// Did the Node engine do the same work as the C++ engine? Reads both results topics whole and compares the result
// of every (batch_id, row), byte for byte.
//
//   node check.js --bootstrap HOST:PORT --expected TOPIC --actual TOPIC --rows N
//
// Prints `check rows=N same=S different=D missing=M extra=E` (and the first differences, IDs masked) and exits 1
// unless every row of each topic is there once with the same payload.
const { Kafka, logLevel } = require('kafkajs');
const { mask } = require('./population');

function parseArgs(argv) {
  const options = {};
  for (let i = 0; i < argv.length; i += 2) options[argv[i].replace(/^--/, '')] = argv[i + 1];
  if (!options.bootstrap || !options.expected || !options.actual || !options.rows) throw new Error('--bootstrap, --expected, --actual and --rows are required');
  options.rows = Number(options.rows);
  return options;
}

/** Every message of `topic` as Map(batch_id/row → payload); counts rows seen twice. */
async function readAll(kafka, topic, rows) {
  const consumer = kafka.consumer({ groupId: `bench-node.check-${topic}-${Date.now()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const payloads = new Map();
  let twice = 0;
  await new Promise((resolve, reject) => {
    let idle = null;
    let quiet = null;
    const finish = () => {
      clearTimeout(idle);
      clearTimeout(quiet);
      resolve();
    };
    // Nothing new for 15 s: done with what came.
    const waitQuiet = () => {
      clearTimeout(quiet);
      quiet = setTimeout(finish, 15000);
    };
    waitQuiet();
    consumer
      .run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) {
            const value = message.value.toString('utf8');
            const { batch_id: batchId, row } = JSON.parse(value);
            const key = `${batchId}/${row}`;
            if (payloads.has(key)) twice++;
            payloads.set(key, value);
          }
          waitQuiet();
          if (payloads.size >= rows) {
            clearTimeout(idle);
            idle = setTimeout(finish, 2000); // anything more (a row twice) arrives now
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return { payloads, twice };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const kafka = new Kafka({ clientId: 'taxdesk-bench-node-check', brokers: options.bootstrap.split(','), logLevel: logLevel.WARN });
  const expected = await readAll(kafka, options.expected, options.rows);
  const actual = await readAll(kafka, options.actual, options.rows);
  let same = 0;
  let different = 0;
  let missing = 0;
  const shown = [];
  for (const [key, value] of expected.payloads) {
    const other = actual.payloads.get(key);
    if (other === undefined) {
      missing++;
    } else if (other === value) {
      same++;
    } else {
      different++;
      if (shown.length < 3) shown.push({ key, expected: value, actual: other });
    }
  }
  let extra = 0;
  for (const key of actual.payloads.keys()) if (!expected.payloads.has(key)) extra++;
  const masked = (text) => text.replace(/"debtor_id":"([^"]*)"/g, (_, id) => `"debtor_id":"${mask(id)}"`);
  for (const d of shown) {
    process.stdout.write(`differs ${d.key}\n  expected ${masked(d.expected)}\n  actual   ${masked(d.actual)}\n`);
  }
  process.stdout.write(
    `check rows=${options.rows} expected=${expected.payloads.size} actual=${actual.payloads.size} same=${same} different=${different}` +
      ` missing=${missing} extra=${extra} twice_expected=${expected.twice} twice_actual=${actual.twice}\n`,
  );
  const ok = same === options.rows && different === 0 && missing === 0 && extra === 0;
  process.exit(ok ? 0 : 1);
}

main().catch((error) => {
  process.stderr.write(`bench/node/check.js: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
