// The creditor portal (`GET /`, SPEC 5) as a creditor uses it, in headless Chromium: save the token, upload a batch
// file with a few bad rows, see one error row per bad row, pay by card, watch the progress reach 100 % and the state
// "completed", follow it from the list, download the CSV results (UTF-8 BOM, header row,debtor_id,status).
// In each of these states the page passes axe-core (WCAG 2.1 A and AA, no serious or critical violation) and shows
// no state by colour alone (a11y.mjs); those findings are gathered and asserted at the end, so that one does not stop
// the path. The keyboard-only path is keyboard.test.mjs.
// Started by tests/browser/run.sh, which sets TAXDESK_BROWSER_URL, TAXDESK_BROWSER_TOKEN, TAXDESK_BROWSER_BATCH,
// TAXDESK_BROWSER_BAD_ROWS (TAXDESK_BROWSER_ROWS), TAXDESK_BROWSER_SHOTS and CHROMIUM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { env, launch, stepper } from './chromium.mjs';
import { axeViolations, colourOnlyProblems, describeViolations } from './a11y.mjs';

// Waits for a condition in the page; on timeout, the error says what was awaited and what the page showed instead.
async function waitInPage(page, what, fn, arg, timeout, describe) {
  try {
    return await (await page.waitForFunction(fn, arg, { timeout, polling: 100 })).jsonValue();
  } catch (error) {
    const seen = describe ? await describe().catch((e) => `(could not read the page: ${e.message})`) : '';
    throw new Error(`${what} (waited ${timeout / 1000} s)${seen ? `; the page shows ${seen}` : ''}: ${error.message.split('\n')[0]}`);
  }
}

// RFC 4180 CSV: quoted fields may hold commas, quotes (doubled) and line breaks.
function parseCsv(data) {
  const records = [];
  let fields = [], field = '', quoted = false;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (quoted) {
      if (c === '"' && data[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { fields.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && data[i + 1] === '\n') i++;
      fields.push(field); records.push(fields); fields = []; field = '';
    } else field += c;
  }
  if (field !== '' || fields.length) { fields.push(field); records.push(fields); }
  return records;
}

const text = (page, selector) => page.locator(selector).first().textContent({ timeout: 2_000 }).then((t) => (t ?? '').trim());

test('creditor portal: token, upload with row errors, payment, progress to completed, CSV download', { timeout: 240_000 }, async (t) => {
  const base = env('TAXDESK_BROWSER_URL');
  const token = env('TAXDESK_BROWSER_TOKEN');
  const batchFile = env('TAXDESK_BROWSER_BATCH');
  const badRows = Number(env('TAXDESK_BROWSER_BAD_ROWS'));
  const totalRows = process.env.TAXDESK_BROWSER_ROWS ? Number(process.env.TAXDESK_BROWSER_ROWS) : null;
  const shots = env('TAXDESK_BROWSER_SHOTS');
  await mkdir(shots, { recursive: true });

  const browser = await launch({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const page = await browser.context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => { if (message.type() === 'error') problems.push(`console error: ${message.text()}`); });
  const errorText = () => text(page, '#error').catch(() => '');
  // For failure messages: every error the page shows (#error and the page's own *-error elements).
  const shownErrors = () => page.evaluate(() => [...document.querySelectorAll('#error, [id$="-error"]')]
    .map((el) => [el.id, (el.textContent ?? '').trim()]).filter(([, t]) => t).map(([id, t]) => `#${id} "${t}"`).join(', ') || 'no error');

  // Each step runs only if the ones before it passed, so a failure is reported once, where it happened.
  const step = stepper(t, problems);

  // Accessibility in each state of the path: axe-core's serious and critical violations, and colour-only states.
  const a11yFindings = [];
  const a11yStates = [];
  const checkA11y = async (where) => {
    try {
      const { failing, all } = await axeViolations(page);
      const colour = await colourOnlyProblems(page);
      a11yStates.push(where);
      t.diagnostic(`a11y, ${where}: ${failing.length} serious/critical of ${all.length} axe violation(s)` +
        `${all.length ? ` (${all.map((v) => `${v.id}/${v.impact}`).join(', ')})` : ''}; ${colour.checked} coloured state(s), ${colour.problems.length} shown by colour alone`);
      if (failing.length) a11yFindings.push(`axe-core on the portal, ${where}:\n    ${describeViolations(failing)}`);
      for (const problem of colour.problems) a11yFindings.push(`colour alone on the portal, ${where}: ${problem}`);
    } catch (error) {
      a11yFindings.push(`the accessibility check of the portal, ${where}, failed: ${error.message}`);
    }
  };

  let batchId = null;
  try {
    await step('opens the portal and saves the token', 60_000, async () => {
      const response = await page.goto(new URL('/', base).href, { waitUntil: 'load', timeout: 30_000 });
      assert.ok(response, `GET ${base}/ gave no response`);
      assert.equal(response.status(), 200, `GET / answered ${response.status()}`);
      for (const id of ['#token', '#token-save', '#file', '#charset', '#upload', '#card', '#pay', '#progress-bar', '#state', '#download-csv']) {
        assert.ok(await page.locator(id).count(), `the portal has no ${id} element`);
      }
      await checkA11y('fresh page');
      await page.fill('#token', token);
      await page.click('#token-save');
      await waitInPage(page, '#token-status never said saved', () => (/Saved/.test(document.querySelector('#token-status')?.textContent ?? '') ? true : null),
        null, 10_000, shownErrors);
      await checkA11y('token entered and saved');
    });

    await step(`uploads the batch file and lists its ${badRows} row errors`, 90_000, async () => {
      await page.selectOption('#charset', 'utf-8');
      await page.setInputFiles('#file', batchFile);
      const errorBefore = await errorText();
      await page.click('#upload');
      const outcome = await waitInPage(page, '#upload-result never got a data-batch-id after #upload', (before) => {
        const id = document.querySelector('#upload-result')?.getAttribute('data-batch-id');
        if (id) return { id };
        const error = (document.querySelector('#error')?.textContent ?? '').trim();
        return error && error !== before ? { error } : null;
      }, errorBefore, 60_000, async () => `#upload-result "${await text(page, '#upload-result')}", ${await shownErrors()}`);
      assert.ok(!outcome.error, `the upload failed, #error says: ${outcome.error}`);
      batchId = outcome.id;
      t.diagnostic(`batch ${batchId}`);
      const rowsSeen = await waitInPage(page, `#row-errors does not list ${badRows} rows`, (n) => {
        const count = document.querySelectorAll('#row-errors tbody tr').length;
        return count === n ? { count } : null;
      }, badRows, 15_000, async () => `${await page.locator('#row-errors tbody tr').count()} rows in #row-errors tbody, ${await shownErrors()}`);
      assert.equal(rowsSeen.count, badRows);
      await checkA11y('upload result with its row errors');
    });

    await step('pays the fee by card', 90_000, async () => {
      const card = `EC${Date.now()}`;
      await page.fill('#card', card);
      const errorBefore = await errorText();
      await page.click('#pay');
      const outcome = await waitInPage(page, '#payment-result stayed empty after #pay', (before) => {
        const result = (document.querySelector('#payment-result')?.textContent ?? '').trim();
        const error = (document.querySelector('#error')?.textContent ?? '').trim();
        if (error && error !== before) return { error };
        return result ? { result } : null;
      }, errorBefore, 60_000, async () => `#payment-result "${await text(page, '#payment-result')}", ${await shownErrors()}`);
      assert.ok(!outcome.error, `the payment failed, #error says: ${outcome.error}`);
      t.diagnostic(`payment: ${outcome.result.slice(0, 120)}`);
      await checkA11y('payment done');
    });

    await step('shows the progress reach 100 % and the state completed', 90_000, async () => {
      await waitInPage(page, '#progress-bar did not reach aria-valuenow 100 with #state "completed"', () => {
        const bar = document.querySelector('#progress-bar');
        const state = document.querySelector('#state')?.textContent ?? '';
        return bar && Number(bar.getAttribute('aria-valuenow')) === 100 && /completed/i.test(state) ? true : null;
      }, null, 60_000, async () => {
        const bar = page.locator('#progress-bar');
        return `#progress-bar aria-valuenow="${await bar.getAttribute('aria-valuenow', { timeout: 2_000 })}" ` +
          `role="${await bar.getAttribute('role', { timeout: 2_000 })}", #progress-text "${await text(page, '#progress-text').catch(() => '')}", ` +
          `#state "${await text(page, '#state')}", ${await shownErrors()}`;
      });
      assert.equal(await page.getAttribute('#progress-bar', 'role'), 'progressbar', '#progress-bar lacks role=progressbar');
      // At 100 % the bar is full, not only its text: its fill (which slides in with a CSS transition) reaches the
      // bar's whole width. Polled on animation frames, so that the transition runs in headless Chromium.
      const fill = () => page.evaluate(() => {
        const bar = document.querySelector('#progress-bar');
        return { fill: bar.firstElementChild.getBoundingClientRect().width, bar: bar.clientWidth };
      });
      await page.waitForFunction(() => {
        const bar = document.querySelector('#progress-bar');
        return bar.firstElementChild.getBoundingClientRect().width >= bar.clientWidth - 1;
      }, null, { timeout: 5_000, polling: 'raf' }).catch(async () => {
        const { fill: width, bar } = await fill();
        assert.fail(`#progress-bar says 100 % but its fill is ${width.toFixed(0)} px of ${bar} px`);
      });
      // Issue 13: the batch was seen finishing, so the page says so in words (a browser notification too, when the
      // user allowed them on a Follow click; headless Chromium has no permission to give).
      await waitInPage(page, '#done-notice did not say the batch completed', () => {
        const notice = document.querySelector('#done-notice');
        return notice && !notice.hidden && /Batch completed/.test(notice.textContent) ? true : null;
      }, null, 10_000, async () => `#done-notice "${await text(page, '#done-notice').catch(() => '')}"`);
    });

    await step('follows the batch from the list of batches', 60_000, async () => {
      const follow = `#batches tbody tr[data-batch-id="${batchId}"] button.follow`;
      await page.click(follow);
      await waitInPage(page, `#current-batch did not become ${batchId} with #state completed after its Follow button`, (id) =>
        document.querySelector('#current-batch')?.textContent === id && /completed/.test(document.querySelector('#state')?.textContent ?? '') ? true : null,
      batchId, 15_000, shownErrors);
      const badge = await page.evaluate((id) => {
        const el = document.querySelector(`#batches tbody tr[data-batch-id="${id}"] .state-badge`);
        return el ? { state: el.dataset.state, text: el.textContent } : null;
      }, batchId);
      assert.ok(badge, `the list's row of ${batchId} has no .state-badge`);
      assert.equal(badge.state, 'completed');
      assert.match(badge.text, /completed/, `the list's state badge shows "${badge.text}", not the word completed`);
      await checkA11y('batch followed from the list, completed');
    });

    await step('downloads the CSV results: UTF-8 BOM, header row,debtor_id,status', 60_000, async () => {
      const downloaded = page.waitForEvent('download', { timeout: 30_000 })
        .catch((error) => { throw new Error(`clicking #download-csv started no download: ${error.message.split('\n')[0]}`); });
      await page.click('#download-csv');
      const download = await downloaded;
      const failure = await download.failure();
      assert.equal(failure, null, `the CSV download failed: ${failure}`);
      const bytes = await readFile(await download.path());
      assert.ok(bytes.length > 3, `the CSV download "${download.suggestedFilename()}" is empty`);
      assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf],
        `the CSV does not start with the UTF-8 BOM EF BB BF but ${[...bytes.subarray(0, 3)].map((b) => b.toString(16)).join(' ')}`);
      const body = bytes.subarray(3).toString('utf8');
      assert.ok(body.startsWith('row,debtor_id,status'), `the CSV header is "${body.split(/\r?\n/)[0].slice(0, 80)}", not row,debtor_id,status,…`);
      const records = parseCsv(body);
      // One or more lines a row (one per income or property record); a rejected row is there with status rejected.
      const statusOf = new Map(records.slice(1).map((fields) => [fields[0], fields[2]]));
      const rejected = [...statusOf.values()].filter((status) => status === 'rejected').length;
      assert.equal(rejected, badRows, `the CSV has ${rejected} rows with status rejected; the file has ${badRows} bad rows`);
      if (totalRows !== null) {
        assert.equal(statusOf.size, totalRows, `the CSV holds results for ${statusOf.size} rows; the file has ${totalRows}`);
      }
      t.diagnostic(`downloaded ${download.suggestedFilename()}: ${bytes.length} bytes, ${records.length - 1} records, ${statusOf.size} rows`);
      await checkA11y('results downloaded');
    });

    await step('"Retry failed rows" on a batch without error rows says there is nothing to retry', 30_000, async () => {
      await waitInPage(page, '#retry stayed disabled on the completed, paid batch',
        () => (document.querySelector('#retry')?.disabled === false ? true : null), null, 10_000, shownErrors);
      await page.click('#retry');
      const shown = await waitInPage(page, '#results-error stayed empty after #retry', () => {
        const error = (document.querySelector('#results-error')?.textContent ?? '').trim();
        return error || null;
      }, null, 15_000, shownErrors);
      assert.match(shown, /409/, `#results-error "${shown}" does not say 409`);
      assert.match(shown, /no_error_rows/, `#results-error "${shown}" does not name no_error_rows`);
      await checkA11y('an error shown (retry refused)');
    });

    await step('every batch state is shown in words with a sign, not by colour alone', 30_000, async () => {
      // Each state the page can show, drawn by the page's own stateBadge() (the list and the progress step use it).
      const shown = await page.evaluate(() => ['awaiting_payment', 'queued', 'processing', 'completed', 'failed'].map((state) => {
        const badge = stateBadge(state);
        document.body.append(badge);
        const sign = getComputedStyle(badge, '::before').content;
        const text = badge.textContent;
        badge.remove();
        return { state, text, sign };
      }));
      for (const { state, text: words, sign } of shown) {
        assert.ok(words.includes(state), `the badge of state ${state} shows "${words}", not the word ${state}`);
        assert.ok(sign && sign !== 'none', `the badge of state ${state} has no sign (::before)`);
      }
    });

    await step('axe-core is live: it finds an unlabelled input and grey-on-grey text put into the page', 30_000, async () => {
      // So that "no violation" above means a page that passes, not a checker that did not run.
      await page.evaluate(() => {
        const probe = document.createElement('div');
        probe.id = 'a11y-probe';
        probe.innerHTML = '<input type="text"><p style="color:#aaa;background:#bbb">低對比 low contrast</p>';
        document.querySelector('main').append(probe);
      });
      const { failing } = await axeViolations(page);
      await page.evaluate(() => document.getElementById('a11y-probe').remove());
      const ids = failing.map((v) => v.id);
      assert.ok(ids.includes('label'), `axe-core did not report the unlabelled input (rule label); it reported ${ids.join(', ') || 'nothing'}`);
      assert.ok(ids.includes('color-contrast'), `axe-core did not report grey on grey (rule color-contrast); it reported ${ids.join(', ') || 'nothing'}`);
    });

    await step('passes axe-core (no serious or critical violation) and shows no state by colour alone, in every state', 10_000, async () => {
      assert.ok(a11yStates.length >= 7, `only ${a11yStates.length} states were checked: ${a11yStates.join('; ')}`);
      assert.equal(a11yFindings.length, 0, `${a11yFindings.length} accessibility finding(s):\n  ${a11yFindings.join('\n  ')}`);
    });
  } finally {
    const shot = join(shots, 'portal.png');
    await page.screenshot({ path: shot, fullPage: true, animations: 'disabled', timeout: 15_000 })
      .then(() => t.diagnostic(`screenshot ${shot}`))
      .catch((error) => t.diagnostic(`no screenshot: ${error.message.split('\n')[0]}`));
    await browser.close();
  }
});
