import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './process.js';
import { startFakeLlm } from '../fakes/fakeLlm.js';
import { addFakeProvider, apiKeyClient, kinInput, signUp, startTestServer, until, type TestServer } from './helpers.js';

let server: TestServer;
let metricsPort: number;

beforeAll(async () => {
  metricsPort = await freePort();
  server = await startTestServer(undefined, { METRICS_PORT: String(metricsPort) });
});
afterAll(() => server.cleanup());

const scrape = async (url: string, headers: Record<string, string> = {}) => {
  const response = await fetch(url, { headers });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
};

/** The value of one sample line (`name{labels} value`), or null when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | null {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (wanted.every((pair) => line.includes(pair))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return null;
}

describe('GET /metrics', () => {
  it('counts requests per operation, appends and projection lag in Prometheus text format', async () => {
    const admin = await signUp(server.url);
    expect((await admin.api.post('/api/kins', kinInput())).status).toBe(201);
    expect((await admin.api.get('/api/kins')).status).toBe(200);
    const { status, type, text } = await scrape(`${server.url}/metrics`);
    expect(status).toBe(200);
    expect(type).toContain('text/plain');
    expect(sample(text, 'kinbot_http_request_duration_seconds_count', { operation: 'createKin', method: 'POST', status: '2xx' })).toBe(1);
    expect(sample(text, 'kinbot_http_request_duration_seconds_count', { operation: 'kins', method: 'GET', status: '2xx' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'kinbot_event_appends_duration_seconds_count', { outcome: 'ok' })).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'kinbot_events_appended_total')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'kinbot_projection_lag_events', { projection: 'kins' })).toBe(0);
    expect(sample(text, 'kinbot_live_feed_clients')).toBe(0);
    expect(sample(text, 'kinbot_process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('serves the same figures on METRICS_PORT', async () => {
    const { status, text } = await scrape(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(status).toBe(200);
    expect(text).toContain('kinbot_http_request_duration_seconds_bucket');
    expect((await fetch(`http://127.0.0.1:${metricsPort}/api/kins`)).status).toBe(404);
  });

  it('measures the turns a Kin answers', async () => {
    const llm = await startFakeLlm({ apiKey: 'sk-fake' });
    try {
      const { api } = await apiKeyClient(server.url, (await signInAgain()).cookie);
      const provider = await addFakeProvider(api, llm.baseUrl, 'sk-fake');
      const kin = (await api.post('/api/kins', kinInput({ name: 'Talker', model: 'fake-chat', providerId: provider.body.provider.id }))).body.kin;
      llm.script({ text: 'Hello back.' });
      expect((await api.post(`/api/kins/${kin.id}/messages`, { content: 'hello?' })).status).toBe(202);
      const text = await until(
        async () => (await scrape(`${server.url}/metrics`)).text,
        (t) => (sample(t, 'kinbot_turn_duration_seconds_count', { outcome: 'answered' }) ?? 0) >= 1,
      );
      expect(sample(text, 'kinbot_turns_started_total')).toBe(1);
      expect(sample(text, 'kinbot_turn_duration_seconds_count', { outcome: 'answered' })).toBe(1);
    } finally {
      await llm.close();
    }
  });
});

async function signInAgain() {
  const response = await fetch(`${server.url}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'ada@example.com', password: 'correct horse battery' }),
  });
  return { cookie: response.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') };
}
