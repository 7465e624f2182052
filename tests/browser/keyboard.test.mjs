// The creditor portal (`GET /`, SPEC 5) with the keyboard alone (WCAG 2.1.1, 2.1.2, 2.4.3, 2.4.7): every control
// reached by Tab in the order of the steps, each with a visible focus mark, no trap (Shift+Tab walks the same stops
// back); then the whole creditor path with key events only — type the token and Enter, choose the file and Enter on
// Upload, type the card and Space on Pay, Space on the batch's Follow in the list, Shift+Tab back to Download CSV and
// Enter. No mouse event and no element.click() from the test: only CDP Input.dispatchKeyEvent (a11y.mjs).
// The one exception is the file chooser's own dialog, which a headless browser does not show: the test opens it from
// the keyboard (Space on the focused file input, with the dialog intercepted through CDP Page.fileChooserOpened) and
// then gives it the file with DOM.setFileInputFiles on that input, which is what a person's choice in the dialog does.
// Started by tests/browser/run.sh (TAXDESK_BROWSER_URL, TAXDESK_BROWSER_TOKEN, TAXDESK_BROWSER_BATCH, CHROMIUM).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { env, launch, stepper } from './chromium.mjs';
import { focused, nextEvent, press, stopName, tabTo, type, visibleMark } from './a11y.mjs';

// The portal's controls in the order a creditor uses them (SPEC 5's steps 1 to 5, then the list of batches), as they
// are on a fresh page: Pay, the downloads, the receipt and Retry are disabled until there is a batch.
const FRESH_ORDER = ['token', 'token-save', 'token-forget', 'file', 'charset', 'upload', 'card', 'batches-refresh'];

test('creditor portal with the keyboard alone: tab order, focus marks, no trap, token → upload → pay → follow → download', { timeout: 240_000 }, async (t) => {
  const base = env('TAXDESK_BROWSER_URL');
  const token = env('TAXDESK_BROWSER_TOKEN');
  const batchFile = env('TAXDESK_BROWSER_BATCH');

  const browser = await launch({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const page = await browser.context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  const shownErrors = () => page.evaluate(() => [...document.querySelectorAll('#error, [id$="-error"]')]
    .map((el) => [el.id, (el.textContent ?? '').trim()]).filter(([, x]) => x).map(([id, x]) => `#${id} "${x}"`).join(', ') || 'no error');
  const waitFor = async (what, fn, arg, timeout) => {
    try {
      return await (await page.waitForFunction(fn, arg, { timeout, polling: 100 })).jsonValue();
    } catch (error) {
      throw new Error(`${what} (waited ${timeout / 1000} s); the page shows ${await shownErrors().catch(() => '?')}: ${error.message.split('\n')[0]}`);
    }
  };
  const focusIs = async (id, after) => {
    const f = await focused(page);
    assert.equal(f.id, id, `after ${after} the focus is on ${stopName(f)}, not #${id}`);
    assert.ok(visibleMark(f), `#${id} has the focus after ${after} but no visible focus mark (${f.indicator ?? 'none'})`);
  };

  const step = stepper(t, problems);

  let batchId = null;
  try {
    await step('Tab reaches every control in the order of the steps, each visibly focused, and Shift+Tab walks back', 60_000, async () => {
      const response = await page.goto(new URL('/', base).href, { timeout: 30_000 });
      assert.equal(response?.status(), 200, `GET / answered ${response?.status()}`);
      // What a keyboard user can reach: every enabled, shown element with tabIndex ≥ 0.
      const tabbable = await page.evaluate(() => [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')]
        .filter((el) => el.tabIndex >= 0 && !el.disabled && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden')
        .map((el) => el.id || `${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 30)}"`));
      // From the top of the page, Tab until the focus has been on each of them (or leaves the page).
      const stops = [];
      for (let i = 0; i < tabbable.length + 5 && stops.length < tabbable.length; i++) {
        await press(page, 'Tab');
        const f = await focused(page);
        if (f.tag === 'body') break;
        assert.ok(visibleMark(f), `${stopName(f)} has the focus but no visible focus mark (outline ≥ 2 px or box-shadow; computed: ${f.indicator ?? 'none'})`);
        stops.push(f);
      }
      const ids = stops.map((f) => f.id ?? stopName(f));
      t.diagnostic(`Tab stops: ${ids.join(' → ')}`);
      for (const id of tabbable) assert.ok(ids.includes(id), `Tab never reached ${id}; it went ${ids.join(' → ')}`);
      const order = ids.filter((id) => FRESH_ORDER.includes(id));
      assert.deepEqual(order, FRESH_ORDER, `the Tab order of the controls is ${order.join(' → ')}`);
      // No trap: from the last stop, Shift+Tab passes the same stops in reverse, back to the first.
      const back = [];
      for (let i = 1; i < stops.length; i++) {
        await press(page, 'Tab', { shift: true });
        back.push((await focused(page)).id ?? '?');
      }
      assert.deepEqual(back, ids.slice(0, -1).reverse(), `Shift+Tab from ${ids[ids.length - 1]} went ${back.join(' → ')}`);
    });

    await step('types the token and saves it with Enter', 30_000, async () => {
      await tabTo(page, '#token', (f) => f.id === 'token', { shift: true });
      await type(page, token);
      assert.equal(await page.evaluate(() => document.getElementById('token').value), token, 'the token typed is not in #token');
      await press(page, 'Enter');
      await waitFor('#token-status never said saved after Enter in #token',
        () => /Saved/.test(document.getElementById('token-status').textContent), null, 10_000);
      await waitFor('the token did not reach sessionStorage', () => Boolean(sessionStorage.getItem('taxdesk.portal.token')), null, 5_000);
    });

    await step('opens the file chooser with Space, then uploads with Enter on Upload', 90_000, async () => {
      await tabTo(page, '#file', (f) => f.id === 'file');
      // The chooser's dialog cannot be used in a headless browser: intercept it, open it with Space on the focused
      // input as a person would, and give it the file as the person's choice in the dialog would.
      await page.send('Page.setInterceptFileChooserDialog', { enabled: true });
      const opened = nextEvent(page, 'Page.fileChooserOpened', 10_000);
      await press(page, ' ');
      const chooser = await opened;
      assert.ok(chooser, 'Space on the focused #file opened no file chooser');
      assert.equal(chooser.mode, 'selectSingle');
      await page.send('DOM.setFileInputFiles', { backendNodeId: chooser.backendNodeId, files: [batchFile] });
      await page.send('Page.setInterceptFileChooserDialog', { enabled: false });
      await waitFor('#file-name did not show the chosen file', () => document.getElementById('file-name').textContent.trim() !== '', null, 5_000);
      await focusIs('file', 'choosing the file');
      await tabTo(page, '#upload', (f) => f.id === 'upload', { max: 3 });
      await press(page, 'Enter');
      batchId = await waitFor('#upload-result never got a data-batch-id after Enter on #upload',
        () => document.getElementById('upload-result').dataset.batchId || null, null, 60_000);
      t.diagnostic(`batch ${batchId}`);
      // The button was disabled while it worked, which drops the focus: the page puts it on the result instead.
      await focusIs('upload-result', 'the upload');
    });

    await step('types the card number and pays with Space on Pay', 90_000, async () => {
      await tabTo(page, '#card', (f) => f.id === 'card', { max: 5 });
      await type(page, `EC${Date.now()}`);
      await waitFor('#pay stayed disabled', () => !document.getElementById('pay').disabled, null, 10_000);
      await tabTo(page, '#pay', (f) => f.id === 'pay', { max: 2 });
      await press(page, ' ');
      await waitFor('#payment-result stayed empty after Space on #pay',
        () => document.getElementById('payment-result').textContent.trim() !== '', null, 60_000);
      await focusIs('payment-result', 'the payment');
    });

    await step('follows the batch with Space on its Follow button in the list, to completed', 120_000, async () => {
      await waitFor(`the list never showed batch ${batchId}`,
        (id) => [...document.querySelectorAll('#batches tbody tr')].some((tr) => tr.dataset.batchId === id), batchId, 15_000);
      const stops = await tabTo(page, `the Follow button of batch ${batchId}`, (f) => f.row === batchId && f.tag === 'button');
      t.diagnostic(`Tab from #payment-result to Follow: ${stops.map(stopName).join(' → ')}`);
      await press(page, ' ');
      await waitFor('#current-batch is not the batch followed', (id) => document.getElementById('current-batch').textContent === id, batchId, 5_000);
      await waitFor('#progress-bar never reached 100 with #state completed', () =>
        Number(document.getElementById('progress-bar').getAttribute('aria-valuenow')) === 100 &&
        /completed/.test(document.getElementById('state').textContent), null, 90_000);
      // Re-drawing the list (it is reloaded when the state changes) keeps the focus on this batch's Follow button.
      const f = await focused(page);
      assert.ok(f.row === batchId && f.tag === 'button', `after the list was reloaded the focus is on ${stopName(f)}`);
      const live = await page.evaluate(() => document.getElementById('progress-live').textContent);
      assert.match(live, /completed/, `#progress-live (aria-live) says "${live}", not the state completed`);
    });

    await step('goes back with Shift+Tab to Download CSV and downloads it with Enter', 60_000, async () => {
      const stops = await tabTo(page, '#download-csv', (f) => f.id === 'download-csv', { shift: true });
      t.diagnostic(`Shift+Tab from Follow to Download CSV: ${stops.map(stopName).join(' → ')}`);
      const downloaded = page.waitForEvent('download', { timeout: 30_000 });
      await press(page, 'Enter');
      const download = await downloaded;
      assert.equal(await download.failure(), null, 'the CSV download failed');
      const bytes = await readFile(await download.path());
      assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'the CSV does not start with the UTF-8 BOM');
      assert.ok(bytes.subarray(3).toString('utf8').startsWith('row,debtor_id,status'), 'the CSV header is not row,debtor_id,status,…');
      await waitFor('#download-csv did not get the focus back after the download', () => document.activeElement?.id === 'download-csv', null, 10_000);
      t.diagnostic(`downloaded ${download.suggestedFilename()}: ${bytes.length} bytes`);
    });
  } finally {
    await browser.close();
  }
});
