import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { nativeTools, toolListing, type ToolContext } from '../../src/agents/tools.js';
import { getCurrentDatetimeTool } from '../../src/agents/tools/datetime.js';
import { httpRequestTool, MAX_BODY_CHARS } from '../../src/agents/tools/httpRequest.js';
import type { ReadStore } from '../../src/es/readStore.js';
import { SETTINGS } from '../../src/projections/settings.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const dir = mkdtempSync(join(tmpdir(), 'kinbot-tools-'));
let readStore: ReadStore;
let server: http.Server;
let base: string;

beforeAll(async () => {
  readStore = createSqliteReadStore(openSqlite(join(dir, 'tools.db')));
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      switch (req.url) {
        case '/hello':
          return res.writeHead(200, { 'content-type': 'text/plain', etag: '"v1"', 'x-noise': 'n' }).end('hello');
        case '/echo':
          return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ method: req.method, body, auth: req.headers.authorization }));
        case '/long':
          return res.writeHead(200, { 'content-type': 'text/plain' }).end('a'.repeat(25_000));
        case '/image':
          return res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(100));
        case '/moved':
          return res.writeHead(301, { location: '/hello' }).end();
        default:
          return res.writeHead(404).end('nope');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await readStore.close();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  vi.useRealTimers();
});

const context = () => ({ kinId: 'kin-1', readStore }) as unknown as ToolContext;
const run = (tool: typeof httpRequestTool, input: unknown) => tool.execute(tool.input.parse(input) as never, context());
const allowPrivateNetworks = (allowed: boolean) =>
  readStore.collection(SETTINGS).replace({ id: 'global', allowPrivateNetworks: allowed });

describe('get_current_datetime', () => {
  const at = new Date('2026-03-20T13:04:05.678Z');
  const unix = Math.floor(at.getTime() / 1000);

  it.each([
    ['Europe/Paris', '2026-03-20T14:04:05+01:00', 'Friday'],
    ['Asia/Kolkata', '2026-03-20T18:34:05+05:30', 'Friday'],
    ['America/Los_Angeles', '2026-03-20T06:04:05-07:00', 'Friday'],
    ['Pacific/Kiritimati', '2026-03-21T03:04:05+14:00', 'Saturday'],
    ['UTC', '2026-03-20T13:04:05+00:00', 'Friday'],
  ])('gives the time in %s', async (timezone, iso, weekday) => {
    vi.useFakeTimers({ toFake: ['Date'], now: at });
    expect(await run(getCurrentDatetimeTool, { timezone })).toEqual({ iso, timezone, weekday, unix });
  });

  it("uses the server's time zone by default", async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: at });
    const result = (await run(getCurrentDatetimeTool, {})) as { iso: string; timezone: string; unix: number };
    expect(result.timezone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(Date.parse(result.iso)).toBe(unix * 1000);
    expect(result.unix).toBe(unix);
  });

  it('answers an error result for an unknown time zone', async () => {
    expect(await run(getCurrentDatetimeTool, { timezone: 'Mars/Olympus_Mons' })).toEqual({
      error: 'Unknown time zone "Mars/Olympus_Mons": use an IANA name such as "Europe/Paris" or "UTC"',
    });
  });
});

describe('http_request', () => {
  it('refuses a private address by default, as a result the model can read', async () => {
    await readStore.collection(SETTINGS).delete({ id: 'global' });
    const result = (await run(httpRequestTool, { url: `${base}/hello` })) as { error: string };
    expect(result.error).toMatch(/^Refused to connect to 127\.0\.0\.1: loopback address/);
  });

  it('reaches a local server once the admin allowed private networks', async () => {
    await allowPrivateNetworks(true);
    expect(await run(httpRequestTool, { url: `${base}/hello` })).toEqual({
      status: 200,
      headers: { 'content-type': 'text/plain', etag: '"v1"' },
      body: 'hello',
    });
  });

  it('refuses again when the setting is turned off', async () => {
    await allowPrivateNetworks(false);
    expect(await run(httpRequestTool, { url: `${base}/hello` })).toHaveProperty('error');
  });

  it('sends the method, headers and body', async () => {
    await allowPrivateNetworks(true);
    const result = (await run(httpRequestTool, { url: `${base}/echo`, method: 'PATCH', headers: { authorization: 'Bearer t' }, body: 'x=1' })) as {
      body: string;
    };
    expect(JSON.parse(result.body)).toEqual({ method: 'PATCH', body: 'x=1', auth: 'Bearer t' });
  });

  it('truncates a long body to 20,000 characters with a note', async () => {
    await allowPrivateNetworks(true);
    const { body } = (await run(httpRequestTool, { url: `${base}/long` })) as { body: string };
    expect(body.startsWith('a'.repeat(MAX_BODY_CHARS) + '\n\n')).toBe(true);
    expect(body.slice(MAX_BODY_CHARS)).toBe('\n\n[Truncated: showing the first 20000 of 25000 characters]');
  });

  it('describes a binary body instead of returning it', async () => {
    await allowPrivateNetworks(true);
    expect(((await run(httpRequestTool, { url: `${base}/image` })) as { body: string }).body).toBe('[100 bytes of image/png not shown]');
  });

  it('reports the final URL after a redirect, and an empty body for HEAD', async () => {
    await allowPrivateNetworks(true);
    expect(await run(httpRequestTool, { url: `${base}/moved` })).toMatchObject({ status: 200, url: `${base}/hello`, body: 'hello' });
    expect(await run(httpRequestTool, { url: `${base}/hello`, method: 'HEAD' })).toMatchObject({ status: 200, body: '' });
  });

  it('answers error results for other schemes, bad URLs and a GET with a body', async () => {
    await allowPrivateNetworks(true);
    expect(await run(httpRequestTool, { url: 'file:///etc/passwd' })).toEqual({ error: 'Only http and https URLs may be fetched, not file' });
    expect(await run(httpRequestTool, { url: 'not a url' })).toEqual({ error: 'Not a valid URL: not a url' });
    expect(await run(httpRequestTool, { url: `${base}/echo`, body: 'x' })).toEqual({ error: 'A GET request cannot have a body' });
  });

  it('defaults the method to GET and refuses others', () => {
    expect(httpRequestTool.input.parse({ url: 'https://example.com' })).toEqual({ url: 'https://example.com', method: 'GET' });
    expect(httpRequestTool.input.safeParse({ url: 'https://example.com', method: 'TRACE' }).success).toBe(false);
  });
});

describe('registration', () => {
  it('lists get_current_datetime under system and http_request under browse', () => {
    expect(nativeTools.filter((tool) => ['get_current_datetime', 'http_request'].includes(tool.name)).length).toBe(2);
    const listing = toolListing(null);
    expect(listing.find((group) => group.domain === 'system')?.tools).toContainEqual({ name: 'get_current_datetime', enabled: true, defaultDisabled: false });
    expect(listing.find((group) => group.domain === 'browse')?.tools).toContainEqual({ name: 'http_request', enabled: true, defaultDisabled: false });
  });
});
