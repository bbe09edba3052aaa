import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { freePort, launchServer } from './process.js';

/** Debian's Chromium (installed by .ci/run when missing); no browser download works here. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const hasChromium = () => existsSync(CHROMIUM);

/** Headless, with no background networking: this machine's network is closed. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export type BrowserSession = { base: string; browser: Browser; close: () => Promise<void> };

/**
 * A real server in its own process (NODE_ENV unset, PUBLIC_URL at its default of localhost, so a
 * page on 127.0.0.1 tests the trusted origins too) on a fresh data dir, and Chromium to drive it.
 */
export async function serverWithBrowser(name: string, env: Record<string, string> = {}): Promise<BrowserSession> {
  const dataDir = mkdtempSync(join(tmpdir(), `kinbot-${name}-`));
  const port = await freePort();
  const server = await launchServer(dataDir, port, { NODE_ENV: '', ...env });
  const browser = await launchChromium();
  return {
    base: `http://127.0.0.1:${port}`,
    browser,
    async close() {
      await browser.close();
      server.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
