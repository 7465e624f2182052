// What the accessibility tests share: axe-core (the one npm package of the browser tests, pinned in package.json and
// package-lock.json, installed by run.sh with `npm ci` into tests/browser/node_modules) injected into a page and run
// for WCAG 2.1 A and AA; key presses and typing sent as the keyboard would (CDP Input.dispatchKeyEvent: no mouse, no
// element.click()); and the checks of a keyboard user's view: where the focus is, whether it is visibly marked, and
// whether a state is shown by colour alone.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

// ---------- axe-core ----------

const AXE_FILE = fileURLToPath(new URL('./node_modules/axe-core/axe.min.js', import.meta.url));
export const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const FAILING_IMPACTS = new Set(['serious', 'critical']);

let axeSource = null;

/** Puts axe-core into the page (once per document: a navigation drops it), by evaluating the file's text. */
export async function injectAxe(page) {
  if (await page.evaluate(() => typeof window.axe === 'object')) return;
  axeSource ??= await readFile(AXE_FILE, 'utf8').catch((error) => {
    throw new Error(`cannot read ${AXE_FILE} (${error.code}): run the browser tests through tests/browser/run.sh, ` +
      'which installs axe-core with npm ci');
  });
  const { exceptionDetails } = await page.send('Runtime.evaluate', { expression: axeSource, returnByValue: true });
  if (exceptionDetails) throw new Error(`injecting axe-core: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
}

/**
 * Runs axe-core on the whole document for WCAG 2.0/2.1 A and AA; resolves with the violations of impact serious or
 * critical (`failing`), each {id, impact, help, helpUrl, targets: [{target, summary}]}, and every violation (`all`).
 */
export async function axeViolations(page) {
  await injectAxe(page);
  const result = await page.evaluate(async (tags) => {
    const { violations } = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
      targets: v.nodes.map((n) => ({ target: n.target.join(' '), summary: (n.failureSummary ?? '').replace(/\s+/g, ' ').slice(0, 300) })),
    }));
  }, WCAG_TAGS);
  return { failing: result.filter((v) => FAILING_IMPACTS.has(v.impact)), all: result };
}

/** The violations as lines: rule id (impact): help, then each target and why. */
export function describeViolations(violations) {
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help} <${v.helpUrl}>\n` +
    v.targets.map((t) => `      ${t.target}: ${t.summary}`).join('\n')).join('\n    ');
}

/** Fails (naming `where`) when axe-core finds a violation of impact serious or critical; resolves with all it found. */
export async function assertAxeClean(page, where) {
  const { failing, all } = await axeViolations(page);
  if (failing.length) {
    throw new Error(`axe-core (WCAG 2.1 A/AA) on ${where}: ${failing.length} serious or critical violation(s):\n    ` +
      describeViolations(failing));
  }
  return all;
}

// ---------- the keyboard ----------

const KEYS = {
  Tab: { code: 'Tab', keyCode: 9 },
  Enter: { code: 'Enter', keyCode: 13, text: '\r' },
  ' ': { code: 'Space', keyCode: 32, text: ' ' },
  Escape: { code: 'Escape', keyCode: 27 },
  ArrowDown: { code: 'ArrowDown', keyCode: 40 },
  ArrowUp: { code: 'ArrowUp', keyCode: 38 },
};
const SHIFT = 8;

/** Presses and releases one key (Tab, Enter, ' ', Escape, ArrowDown, ArrowUp), with Shift when options.shift. */
export async function press(page, key, options = {}) {
  const def = KEYS[key];
  if (!def) throw new Error(`press: no key ${key}`);
  const modifiers = options.shift ? SHIFT : 0;
  const common = { key, code: def.code, windowsVirtualKeyCode: def.keyCode, nativeVirtualKeyCode: def.keyCode, modifiers };
  if (options.shift) {
    await page.send('Input.dispatchKeyEvent', { type: 'rawKeyDown', key: 'Shift', code: 'ShiftLeft', windowsVirtualKeyCode: 16, modifiers });
  }
  await page.send('Input.dispatchKeyEvent', { type: def.text ? 'keyDown' : 'rawKeyDown', ...common, ...(def.text ? { text: def.text, unmodifiedText: def.text } : {}) });
  await page.send('Input.dispatchKeyEvent', { type: 'keyUp', ...common });
  if (options.shift) {
    await page.send('Input.dispatchKeyEvent', { type: 'keyUp', key: 'Shift', code: 'ShiftLeft', windowsVirtualKeyCode: 16, modifiers: 0 });
  }
}

/** Types text into the focused element, one key event per character (as a keyboard does). */
export async function type(page, text) {
  for (const ch of text) {
    const upper = ch >= 'A' && ch <= 'Z';
    const keyCode = /[a-z0-9]/i.test(ch) ? ch.toUpperCase().charCodeAt(0) : 0;
    const base = { key: ch, text: ch, unmodifiedText: ch, windowsVirtualKeyCode: keyCode, modifiers: upper ? SHIFT : 0 };
    await page.send('Input.dispatchKeyEvent', { type: 'keyDown', ...base });
    await page.send('Input.dispatchKeyEvent', { type: 'keyUp', ...base });
  }
}

/**
 * What has the focus: {id, tag, label, indicator} — `indicator` describes the visible focus mark (an outline of some
 * width not 'none', or a box-shadow) of the focused element as computed, or null when there is none.
 */
export function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body || el === document.documentElement) return { id: null, tag: 'body', label: '', indicator: null };
    const style = getComputedStyle(el);
    const outlineWidth = parseFloat(style.outlineWidth) || 0;
    const indicator = style.outlineStyle !== 'none' && outlineWidth >= 1
      ? `outline ${style.outlineWidth} ${style.outlineStyle} ${style.outlineColor}`
      : style.boxShadow && style.boxShadow !== 'none' ? `box-shadow ${style.boxShadow}` : null;
    const label = (el.getAttribute('aria-label') ?? el.labels?.[0]?.textContent ?? el.textContent ?? '').trim().replace(/\s+/g, ' ').slice(0, 60);
    return { id: el.id || null, tag: el.tagName.toLowerCase(), label, indicator, focusVisible: el.matches(':focus-visible'),
      row: el.closest('tr')?.dataset.batchId ?? null };
  });
}

/** How a focus stop reads in a message: #id, or the tag and its label. */
export const stopName = (f) => (f.id ? `#${f.id}` : `${f.tag} "${f.label}"`);

/** Resolves with the params of the next CDP event `method` of this page, or null after timeoutMs. */
export function nextEvent(page, method, timeoutMs) {
  return new Promise((resolve) => {
    const listener = (message) => {
      if (message.method !== method || message.sessionId !== page.sessionId) return;
      done(message.params);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    function done(value) {
      clearTimeout(timer);
      page.connection.listeners.delete(listener);
      resolve(value);
    }
    page.connection.listeners.add(listener);
  });
}

/** A focus mark a person can see: an outline at least 2 px wide (not 'none'), or a box-shadow. */
export const visibleMark = (f) => f.indicator !== null && (!f.indicator.startsWith('outline') || parseFloat(f.indicator.split(' ')[1]) >= 2);

/**
 * Presses Tab (Shift+Tab with options.shift) until the focused element satisfies `wanted(focus)` (none when it does
 * already), at most options.max times (default 40); resolves with the stops passed. Every stop must show a visible focus mark (visibleMark), else it
 * throws naming the stop; it throws too, listing the stops, when `wanted` was never met.
 */
export async function tabTo(page, what, wanted, options = {}) {
  const max = options.max ?? 40;
  const stops = [];
  if (wanted(await focused(page))) return stops;
  for (let i = 0; i < max; i++) {
    await press(page, 'Tab', { shift: options.shift });
    const f = await focused(page);
    stops.push(f);
    if (f.tag !== 'body' && !visibleMark(f)) {
      throw new Error(`${stopName(f)} has the focus but no visible focus mark (outline ≥ 2 px or box-shadow; computed: ${f.indicator ?? 'none'})`);
    }
    if (wanted(f)) return stops;
  }
  throw new Error(`${options.shift ? 'Shift+Tab' : 'Tab'} pressed ${max} times never reached ${what}; the focus went ${stops.map(stopName).join(' → ')}`);
}

/**
 * Colour never the only carrier of a state (WCAG 1.4.1), on what the page shows now: resolves with the problems found
 * (none: []) and how many coloured states were checked. A state badge or breaker ([data-state]) holds its state's word
 * as text; a red (failed) bar has the word "failed" in its row or section; a red figure (.bad) has a sign with words
 * (.flag) next to it or in it; a stale header says so in #stale-note; a shown error begins with a sign and the word
 * "Error" (its ::before).
 */
export function colourOnlyProblems(page) {
  return page.evaluate(() => {
    const problems = [];
    let checked = 0;
    const words = (el) => (el?.textContent ?? '').replace(/\s+/g, ' ').trim();
    for (const el of document.querySelectorAll('.state-badge[data-state], #breakers li[data-state]')) {
      const state = el.dataset.state;
      if (!state) continue;
      checked++;
      if (!words(el).includes(state)) problems.push(`${el.id ? `#${el.id}` : el.className || el.tagName} data-state=${state} shows "${words(el)}", not the word ${state}`);
    }
    for (const bar of document.querySelectorAll('.bar.failed')) {
      checked++;
      const around = bar.closest('tr') ?? bar.closest('section');
      if (!/failed|error/.test(words(around))) problems.push(`a red (failed) bar whose row or section says neither failed nor error: "${words(around).slice(0, 80)}"`);
    }
    for (const el of document.querySelectorAll('.bad')) {
      checked++;
      const flag = el.querySelector('.flag[aria-label]') ?? (el.nextElementSibling?.classList.contains('flag') ? el.nextElementSibling : null);
      const said = flag ? (flag.getAttribute('aria-label') ?? words(flag)) : '';
      if (!said) problems.push(`#${el.id || el.tagName} is red (.bad) with no sign in words next to it`);
    }
    for (const header of document.querySelectorAll('header.stale')) {
      checked++;
      if (!words(document.getElementById('stale-note'))) problems.push('the header is amber (stale) but #stale-note is empty');
    }
    for (const el of document.querySelectorAll('.action-error, #error, #poll-error')) {
      if (!words(el)) continue;
      checked++;
      const before = getComputedStyle(el, '::before').content;
      if (!before || before === 'none' || !/Error/.test(before)) problems.push(`#${el.id} shows an error in red without the sign and word Error before it (::before ${before})`);
    }
    return { problems, checked };
  });
}
