// What both browser tests share: their settings from tests/browser/run.sh, and Debian's Chromium launched through
// playwright-core in a fresh, empty profile.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** A setting the runner passes in the environment; throws, naming it, when it is missing. */
export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests through tests/browser/run.sh`);
  return value;
}

// Debian's Chromium on a machine without a network: no sandbox (root), no GPU, nothing in the background.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Launches Chromium with a new empty --user-data-dir; `options` go to launchPersistentContext (viewport, …). */
export async function launch(options = {}) {
  const profile = await mkdtemp(join(tmpdir(), 'taxdesk-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
    ...options,
  });
  context.setDefaultTimeout(30_000);
  return { context, close: async () => { await context.close().catch(() => {}); await rm(profile, { recursive: true, force: true }); } };
}
