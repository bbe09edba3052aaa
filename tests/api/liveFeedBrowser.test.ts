import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../fakes/fakeLlm.js';
import { serverWithBrowser, type BrowserSession } from './browser.js';

/**
 * The live feed read by a real browser as the web app reads it: an EventSource on /api/sse that
 * authenticates with the session cookie, a named `connected` event, and `chat:token` messages
 * whose text is at the top level.
 */

let session: BrowserSession;
let browser: Browser;
let llm: FakeLlm;
let base: string;

beforeAll(async () => {
  llm = await startFakeLlm({ tokenDelayMs: 10 });
  session = await serverWithBrowser('livefeed');
  ({ browser, base } = session);
}, 60_000);

afterAll(async () => {
  await session?.close();
  await llm?.close();
});

const ANSWER = 'Hello from the live feed, one word at a time.';

describe('in a browser', () => {
  it('renders the streamed tokens of an answer from an EventSource on /api/sse', async () => {
    llm.setDefault({ text: ANSWER });
    const page = await browser.newPage();
    await page.goto(`${base}/api/docs`);

    const kinId = await page.evaluate(async (llmBaseUrl) => {
      const post = async (path: string, body: unknown) => {
        const response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
        return response.json();
      };
      await post('/api/auth/sign-up/email', { name: 'Grace Hopper', email: 'grace@example.com', password: 'a long password' });
      await post('/api/providers', { name: 'Fake', type: 'openai-compatible', config: { baseUrl: llmBaseUrl } });
      const created = await post('/api/kins', { name: 'Streamer', role: 'Talks live', model: 'fake-chat' });
      return created.kin.id as string;
    }, llm.baseUrl);

    // What the web app does (useSSE.ts, useChat.ts): a named `connected` event, then JSON `message`
    // events dispatched on their top-level `type` and read without unwrapping `data`.
    await page.evaluate((kinId) => {
      const answer = document.createElement('div');
      answer.id = 'live-answer';
      document.body.append(answer);
      const state = window as unknown as { connected: boolean };
      state.connected = false;
      const source = new EventSource('/api/sse', { withCredentials: true });
      source.addEventListener('connected', () => (state.connected = true));
      source.addEventListener('message', (event) => {
        const message = JSON.parse((event as MessageEvent<string>).data);
        if (message.type === 'chat:token' && message.kinId === kinId && !message.taskId && !message.sessionId) answer.textContent += message.token;
      });
    }, kinId);
    await page.waitForFunction(() => (window as unknown as { connected: boolean }).connected, undefined, { timeout: 10_000 });

    const sent = await page.evaluate(async (kinId) => {
      const response = await fetch(`/api/kins/${kinId}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"content":"Say hello"}' });
      return response.status;
    }, kinId);
    expect(sent).toBe(202);

    await page.waitForFunction((expected) => document.getElementById('live-answer')?.textContent === expected, ANSWER, { timeout: 20_000 });
    expect(await page.textContent('#live-answer')).toBe(ANSWER);
    expect(await page.evaluate(() => (window as unknown as { connected: boolean }).connected)).toBe(true);
    await page.close();
  });
});
