// What both browser tests share: their settings from tests/browser/run.sh, and Debian's Chromium driven headless
// through the Chrome DevTools Protocol over a pipe (--remote-debugging-pipe). Nothing from npm: node (Debian 12's 18 is
// enough) and Debian's chromium are all it needs, so the tests run on a plain Debian machine whatever its network.
//
// The page object offers the few calls the tests use, named as in Playwright so that they read familiarly: goto,
// evaluate, waitForFunction, locator(…).count/first/textContent/getAttribute, fill, click, selectOption,
// setInputFiles, waitForEvent('download'), screenshot, and the events pageerror, console and response.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A setting the runner passes in the environment; throws, naming it, when it is missing. */
export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests through tests/browser/run.sh`);
  return value;
}

// Debian's Chromium on a machine without a network: no sandbox (root), no GPU, nothing in the background.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-extensions',
  '--disable-default-apps', '--no-default-browser-check', '--mute-audio', '--hide-scrollbars'];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One CDP connection over the pipe: requests with ids, answers matched back, events to listeners. */
class Connection {
  constructor(toBrowser, fromBrowser) {
    this.toBrowser = toBrowser;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = new Set();
    this.closed = null;
    let buffer = '';
    fromBrowser.setEncoding('utf8');
    fromBrowser.on('data', (chunk) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\0'); end >= 0; end = buffer.indexOf('\0')) {
        const message = JSON.parse(buffer.slice(0, end));
        buffer = buffer.slice(end + 1);
        this.dispatch(message);
      }
    });
    fromBrowser.on('close', () => this.close('the browser closed the DevTools pipe'));
    toBrowser.on('error', () => {});
  }

  dispatch(message) {
    if (message.id !== undefined) {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.error) waiter.reject(new Error(`${waiter.method}: ${message.error.message}`));
      else waiter.resolve(message.result);
      return;
    }
    for (const listener of this.listeners) listener(message);
  }

  /** Sends a command (to the browser, or to a page when sessionId is given) and resolves with its result. */
  send(method, params = {}, sessionId = undefined) {
    if (this.closed) return Promise.reject(new Error(`${method}: ${this.closed}`));
    const id = this.nextId++;
    const message = { id, method, params };
    if (sessionId) message.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.toBrowser.write(`${JSON.stringify(message)}\0`);
    });
  }

  close(reason) {
    if (this.closed) return;
    this.closed = reason;
    for (const waiter of this.pending.values()) waiter.reject(new Error(`${waiter.method}: ${reason}`));
    this.pending.clear();
  }
}

/** Something found by a CSS selector, as the tests ask about it (Playwright's locator, the part they use). */
class Locator {
  constructor(page, selector) {
    this.page = page;
    this.selector = selector;
  }
  first() { return this; }
  count() { return this.page.evaluate((s) => document.querySelectorAll(s).length, this.selector); }
  async textContent(options = {}) {
    await this.page.waitForSelector(this.selector, options.timeout);
    return this.page.evaluate((s) => document.querySelector(s).textContent, this.selector);
  }
  async getAttribute(name, options = {}) {
    await this.page.waitForSelector(this.selector, options.timeout);
    return this.page.evaluate(([s, n]) => document.querySelector(s).getAttribute(n), [this.selector, name]);
  }
}

class Page {
  constructor(connection, sessionId, downloadDir) {
    this.connection = connection;
    this.sessionId = sessionId;
    this.downloadDir = downloadDir;
    this.handlers = { pageerror: [], console: [], response: [], load: [], download: [] };
    this.defaultTimeout = 30_000;
    this.responses = new Map();  // requestId → {url, status}, until its body has arrived
    this.documentStatus = new Map();  // loaderId → HTTP status of the document
    this.downloads = new Map();  // guid → download
    connection.listeners.add((message) => this.onMessage(message));
  }

  send(method, params = {}) { return this.connection.send(method, params, this.sessionId); }

  on(event, handler) { this.handlers[event].push(handler); }
  emit(event, value) { for (const handler of this.handlers[event]) handler(value); }

  onMessage({ method, params, sessionId }) {
    if (method === 'Browser.downloadWillBegin') {
      const download = new Download(params, this.downloadDir);
      this.downloads.set(params.guid, download);
      this.emit('download', download);
      return;
    }
    if (method === 'Browser.downloadProgress') {
      this.downloads.get(params.guid)?.progress(params.state);
      return;
    }
    if (sessionId !== this.sessionId) return;
    if (method === 'Runtime.exceptionThrown') {
      const details = params.exceptionDetails;
      this.emit('pageerror', new Error(details.exception?.description ?? details.text));
    } else if (method === 'Runtime.consoleAPICalled') {
      const text = params.args.map((arg) => arg.value ?? arg.description ?? '').join(' ');
      this.emit('console', { type: () => params.type, text: () => text });
    } else if (method === 'Network.responseReceived') {
      if (params.type === 'Document') this.documentStatus.set(params.loaderId, params.response.status);
      this.responses.set(params.requestId, { url: params.response.url, status: params.response.status });
    } else if (method === 'Network.loadingFinished') {
      const response = this.responses.get(params.requestId);
      if (!response) return;
      this.responses.delete(params.requestId);
      const body = this.send('Network.getResponseBody', { requestId: params.requestId })
        .then((r) => (r.base64Encoded ? Buffer.from(r.body, 'base64').toString('utf8') : r.body));
      body.catch(() => {});
      this.emit('response', { url: () => response.url, status: () => response.status, text: () => body });
    } else if (method === 'Page.loadEventFired') {
      this.emit('load', params);
    }
  }

  setDefaultTimeout(ms) { this.defaultTimeout = ms; }

  /** Navigates and waits for the load event; resolves with the document's response ({status()}). */
  async goto(url, options = {}) {
    const timeout = options.timeout ?? this.defaultTimeout;
    const loaded = new Promise((resolve) => this.handlers.load.push(resolve));
    const navigated = await this.send('Page.navigate', { url });
    if (navigated.errorText) throw new Error(`navigating to ${url}: ${navigated.errorText}`);
    await withTimeout(loaded, timeout, `the load of ${url}`);
    this.handlers.load = [];
    const status = this.documentStatus.get(navigated.loaderId);
    return status === undefined ? null : { status: () => status };
  }

  /** Runs fn(arg) in the page (awaiting a promise it returns) and resolves with its value, as JSON. */
  async evaluate(fn, arg) {
    const expression = `(${fn})(${JSON.stringify(arg === undefined ? null : arg)})`;
    const { result, exceptionDetails } = await this.send('Runtime.evaluate',
      { expression, awaitPromise: true, returnByValue: true, userGesture: true });
    if (exceptionDetails) throw new Error(`in the page: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
    return result.value;
  }

  /** Polls fn(arg) in the page until it returns something truthy; `polling` is milliseconds or 'raf'. */
  async waitForFunction(fn, arg, options = {}) {
    const timeout = options.timeout ?? this.defaultTimeout;
    const polling = options.polling ?? 100;
    const deadline = Date.now() + timeout;
    // 'raf' runs the check in an animation frame, so that transitions and layout move on between checks.
    const check = polling === 'raf'
      ? `(a) => new Promise((resolve) => requestAnimationFrame(() => resolve((${fn})(a))))`
      : fn;
    for (;;) {
      // A check that throws (the page is between two documents, say) is tried again until the time is up.
      let failure = null;
      try {
        const value = await this.evaluate(check, arg);
        if (value) return { jsonValue: async () => value };
      } catch (error) {
        if (this.connection.closed) throw error;
        failure = error;
      }
      if (Date.now() >= deadline) {
        throw new Error(`waitForFunction: not true within ${timeout} ms${failure ? ` (last: ${failure.message})` : ''}`);
      }
      await sleep(polling === 'raf' ? 16 : polling);
    }
  }

  waitForSelector(selector, timeout = this.defaultTimeout) {
    return this.waitForFunction((s) => document.querySelector(s) !== null, selector, { timeout })
      .catch(() => { throw new Error(`no element ${selector} within ${timeout} ms`); });
  }

  locator(selector) { return new Locator(this, selector); }
  getAttribute(selector, name) { return this.locator(selector).getAttribute(name); }

  /** Waits until the element is there, visible and enabled (as a person could use it), then runs action(el, arg). */
  async act(selector, action, arg) {
    await this.waitForFunction((s) => {
      const el = document.querySelector(s);
      return el && !el.disabled && el.getClientRects().length > 0;
    }, selector).catch(() => { throw new Error(`${selector} was not there, visible and enabled within ${this.defaultTimeout} ms`); });
    return this.evaluate(`([s, a]) => (${action})(document.querySelector(s), a)`, [selector, arg]);
  }

  /** Types a value into an input: the value set as a person's typing would, with input and change events. */
  fill(selector, value) {
    return this.act(selector, (el, v) => {
      el.focus();
      el.value = v;
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
    }, value);
  }

  selectOption(selector, value) { return this.fill(selector, value); }

  /** A click on the element's centre with the mouse, as a person would (after scrolling it into view). */
  async click(selector) {
    const { x, y } = await this.act(selector, (el) => {
      el.scrollIntoView({ block: 'center', inline: 'center' });
      const box = el.getBoundingClientRect();
      return { x: box.left + box.width / 2, y: box.top + box.height / 2 };
    });
    for (const type of ['mouseMoved', 'mousePressed', 'mouseReleased']) {
      await this.send('Input.dispatchMouseEvent', { type, x, y, button: 'left', clickCount: type === 'mouseMoved' ? 0 : 1 });
    }
  }

  /** Chooses a file in an <input type=file> (Chromium fires its input and change events). */
  async setInputFiles(selector, path) {
    await this.waitForSelector(selector);
    const { root } = await this.send('DOM.getDocument', { depth: 0 });
    const { nodeId } = await this.send('DOM.querySelector', { nodeId: root.nodeId, selector });
    await this.send('DOM.setFileInputFiles', { nodeId, files: [path] });
  }

  waitForEvent(event, options = {}) {
    const timeout = options.timeout ?? this.defaultTimeout;
    return withTimeout(new Promise((resolve) => this.handlers[event].push(resolve)), timeout, `the ${event} event`);
  }

  /** A PNG of the page (the whole page with fullPage); animations 'disabled' ends transitions first. */
  async screenshot(options) {
    if (options.animations === 'disabled') {
      await this.evaluate(() => {
        const style = document.createElement('style');
        style.textContent = '*, *::before, *::after { transition: none !important; animation: none !important; }';
        document.head.append(style);
      });
    }
    const params = { format: 'png', captureBeyondViewport: Boolean(options.fullPage) };
    if (options.fullPage) {
      const { cssContentSize } = await this.send('Page.getLayoutMetrics');
      params.clip = { x: 0, y: 0, width: cssContentSize.width, height: cssContentSize.height, scale: 1 };
    }
    const { data } = await withTimeout(this.send('Page.captureScreenshot', params), options.timeout ?? this.defaultTimeout,
      'the screenshot');
    await writeFile(options.path, Buffer.from(data, 'base64'));
  }
}

/** A download the page started; the file is saved under its guid in the download folder. */
class Download {
  constructor({ guid, suggestedFilename }, dir) {
    this.file = join(dir, guid);
    this.name = suggestedFilename;
    this.finished = new Promise((resolve) => { this.progress = (state) => { if (state !== 'inProgress') resolve(state); }; });
  }
  suggestedFilename() { return this.name; }
  async failure() { const state = await withTimeout(this.finished, 30_000, 'the download'); return state === 'completed' ? null : state; }
  async path() { await this.failure(); return this.file; }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms / 1000} s`)), ms);
  })]).finally(() => clearTimeout(timer));
}

/**
 * Launches Debian's Chromium headless with a new empty profile; `options.viewport` sizes the page. Resolves with
 * {context: {newPage()}, close()}.
 */
export async function launch(options = {}) {
  const profile = await mkdtemp(join(tmpdir(), 'taxdesk-chromium-'));
  const downloads = join(profile, 'downloads');
  const executable = process.env.CHROMIUM || '/usr/bin/chromium';
  const child = spawn(executable, [...CHROMIUM_ARGS, '--remote-debugging-pipe', `--user-data-dir=${profile}`, 'about:blank'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr = (stderr + chunk).slice(-2000); });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const connection = new Connection(child.stdio[3], child.stdio[4]);
  const close = async () => {
    await connection.send('Browser.close').catch(() => {});
    await withTimeout(exited, 10_000, 'the browser exit').catch(() => child.kill('SIGKILL'));
    connection.close('closed');
    await rm(profile, { recursive: true, force: true });
  };
  try {
    await withTimeout(connection.send('Browser.getVersion'), 60_000, `${executable} answering on its DevTools pipe`);
    await connection.send('Browser.setDownloadBehavior', { behavior: 'allowAndName', downloadPath: downloads, eventsEnabled: true });
  } catch (error) {
    await close();
    throw new Error(`${error.message}; chromium said: ${stderr.trim().slice(-500)}`);
  }
  const context = {
    async newPage() {
      const { targetId } = await connection.send('Target.createTarget', { url: 'about:blank' });
      const { sessionId } = await connection.send('Target.attachToTarget', { targetId, flatten: true });
      const page = new Page(connection, sessionId, downloads);
      await Promise.all(['Page.enable', 'Runtime.enable', 'Network.enable'].map((method) => page.send(method)));
      if (options.viewport) {
        await page.send('Emulation.setDeviceMetricsOverride',
          { ...options.viewport, deviceScaleFactor: 1, mobile: false });
      }
      return page;
    },
  };
  return { context, close };
}

/**
 * The steps of one test: `step(name, timeoutMs, fn)` runs fn(subtest) as a subtest of `t`, only if every step before it
 * passed (so a failure is reported once, where it happened; the later steps are skipped naming it), and adds the
 * browser's last problems (page errors, console errors: the array `problems` the caller fills) to a failure's message.
 */
export function stepper(t, problems) {
  let broken = null;
  return (name, timeout, fn) => t.test(name, { timeout }, async (st) => {
    if (broken) { st.skip(`not run: "${broken}" failed`); return; }
    try { await fn(st); } catch (error) {
      broken = name;
      if (problems.length) error.message += `\n  in the browser: ${problems.slice(-5).join('\n  ')}`;
      throw error;
    }
  });
}
