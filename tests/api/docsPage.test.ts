import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverWithBrowser, type BrowserSession } from './browser.js';

let session: BrowserSession;
let browser: Browser;
let base: string;

beforeAll(async () => {
  session = await serverWithBrowser('docs');
  ({ browser, base } = session);
}, 60_000);

afterAll(() => session?.close());

describe('in a browser', () => {
  it('shows the API reference at /api/docs, built from /api/openapi.json', async () => {
    const page = await browser.newPage();
    const failed: string[] = [];
    page.on('requestfailed', (request) => failed.push(request.url()));
    await page.goto(`${base}/api/docs`);
    await page.waitForSelector('.opblock-tag', { timeout: 20_000 });
    const tags = await page.$$eval('.opblock-tag', (nodes) => nodes.map((node) => node.getAttribute('data-tag')));
    expect(tags).toEqual(expect.arrayContaining(['Kins', 'Messages', 'Vault', 'File storage', 'Invitations']));
    await page.click('.opblock-tag[data-tag="Kins"]');
    await page.waitForSelector('.opblock-summary-path', { timeout: 10_000 });
    const paths = await page.$$eval('.opblock-summary-path', (nodes) => nodes.map((node) => node.textContent?.replace(/\u200b/g, '')));
    expect(paths).toContain('/api/kins');
    expect(paths).toContain('/api/kins/{id}');
    expect(await page.textContent('.info .title')).toContain('KinBot API');
    expect(failed).toEqual([]);
    await page.close();
  });

  it('signs up from a page on 127.0.0.1, the address the log prints, on a port other than 3000', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/api/docs`);
    const result = await page.evaluate(async () => {
      const response = await fetch('/api/auth/sign-up/email', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Grace Hopper', email: 'grace@example.com', password: 'a long password' }),
      });
      const me = await fetch('/api/me');
      return { signUp: response.status, me: me.status, body: await me.json() };
    });
    expect(result).toMatchObject({ signUp: 200, me: 200, body: { email: 'grace@example.com', role: 'admin' } });
    const key = await page.evaluate(async () => {
      const response = await fetch('/api/auth/api-key/create', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"from the page"}' });
      return response.status;
    });
    expect(key).toBe(200);
    await page.close();
  });
});
