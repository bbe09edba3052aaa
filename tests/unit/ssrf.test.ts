import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockedAddressReason, createGuardedFetch, guardedFetch, SsrfError, type Resolver } from '../../src/lib/ssrf.js';

let server: http.Server;
let port: number;
let base: string;
const seen: { url: string; method: string; host: string; authorization?: string; body: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const url = new URL(req.url!, 'http://x');
      seen.push({ url: req.url!, method: req.method!, host: req.headers.host!, authorization: req.headers.authorization, body });
      const redirect = (location: string, status = 302) => res.writeHead(status, { location }).end();
      switch (url.pathname) {
        case '/hello':
          return res.writeHead(200, { 'content-type': 'text/plain', 'x-test': 'yes' }).end('hello');
        case '/echo':
          return res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ method: req.method, body, host: req.headers.host }));
        case '/to-hello':
          return redirect('/hello');
        case '/see-other':
          return redirect('/echo', 303);
        case '/to-private':
          return redirect('http://10.0.0.1/secret');
        case '/to-metadata':
          return redirect('http://169.254.169.254/latest/meta-data/');
        case '/to-ipv6-loopback':
          return redirect(`http://[::1]:${port}/hello`);
        case '/to-internal-name':
          return redirect('http://internal.test/hello');
        case '/to-file':
          return redirect('file:///etc/passwd');
        case '/to-other-origin':
          return redirect(`http://other.test:${port}/hello`);
        case '/loop':
          return redirect('/loop');
        case '/chain': {
          const left = Number(url.searchParams.get('n'));
          return left > 0 ? redirect(`/chain?n=${left - 1}`) : res.end('end of chain');
        }
        case '/big':
          return res.writeHead(200, { 'content-length': String(6 * 1024 * 1024) }).end(Buffer.alloc(6 * 1024 * 1024));
        case '/big-chunked': {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          let sent = 0;
          const pump = () => {
            while (sent < 8 * 1024 * 1024) {
              sent += 64 * 1024;
              if (!res.write(Buffer.alloc(64 * 1024))) return void res.once('drain', pump);
            }
            res.end();
          };
          res.on('error', () => {});
          return pump();
        }
        case '/gzip':
          return res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'text/plain' }).end(gzipSync('compressed hello'));
        case '/gzip-bomb':
          return res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(Buffer.alloc(20 * 1024 * 1024)));
        case '/slow':
          return; // never answers
        case '/slow-body':
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('partial');
          return; // never ends
        default:
          return res.writeHead(404).end('not found');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function refusal(promise: Promise<unknown>): Promise<SsrfError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SsrfError);
  return error as SsrfError;
}

const open = { allowPrivateNetworks: true };
const closed = { allowPrivateNetworks: false };

/** A resolver over a fixed table, counting calls; unknown names fail like NXDOMAIN. */
function fakeResolver(table: Record<string, string[]>) {
  const calls: string[] = [];
  const resolve: Resolver = async (hostname) => {
    calls.push(hostname);
    const addresses = table[hostname];
    if (!addresses) throw new Error(`getaddrinfo ENOTFOUND ${hostname}`);
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { resolve, calls };
}

describe('blockedAddressReason', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'private'],
    ['fd12:3456:789a::1', 'private'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback (IPv4-mapped IPv6 of 127.0.0.1)'],
    ['::ffff:7f00:1', 'loopback (IPv4-mapped IPv6 of 127.0.0.1)'],
    ['0:0:0:0:0:ffff:10.0.0.1', 'private (IPv4-mapped IPv6 of 10.0.0.1)'],
    ['::ffff:169.254.169.254', 'link-local (IPv4-mapped IPv6 of 169.254.169.254)'],
    ['::ffff:0.0.0.0', 'unspecified (IPv4-mapped IPv6 of 0.0.0.0)'],
    ['::127.0.0.1', 'loopback (IPv4-compatible IPv6 of 127.0.0.1)'],
    ['64:ff9b::a9fe:a9fe', 'link-local (NAT64 of 169.254.169.254)'],
    ['2002:c0a8:0101::1', 'private (6to4 of 192.168.1.1)'],
  ])('refuses %s (%s)', (address, reason) => {
    expect(blockedAddressReason(address)).toBe(reason);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.15.255.255',
    '172.32.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '192.169.0.1',
    '11.0.0.1',
    '2606:4700:4700::1111',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:0808:0808::1',
  ])('lets the public address %s through', (address) => {
    expect(blockedAddressReason(address)).toBeNull();
  });

  it('refuses what is not an IP address', () => {
    expect(blockedAddressReason('localhost')).toBe('not an IP address');
    expect(blockedAddressReason('1.2.3')).toBe('not an IP address');
  });
});

describe('guardedFetch refusals', () => {
  it.each([
    'http://127.0.0.1/',
    'http://127.0.0.2:8080/admin',
    'http://0.0.0.0/',
    'http://10.0.0.1/',
    'http://172.16.5.4/',
    'http://192.168.0.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://100.64.0.1/',
    'http://224.0.0.1/',
    'http://[::1]/',
    'http://[::]/',
    'http://[fe80::1]/',
    'http://[fc00::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:a9fe:a9fe]/',
    'http://2130706433/',
    'http://0x7f.1/',
    'http://127.1/',
    'https://10.1.1.1/',
  ])('refuses the literal address in %s before connecting', async (url) => {
    const error = await refusal(guardedFetch(url, {}, closed));
    expect(error.code).toBe('BLOCKED_ADDRESS');
    expect(error.message).toMatch(/^Refused to connect to .+ address; private networks are not allowed$/);
  });

  it.each(['file:///etc/passwd', 'ftp://example.com/file', 'gopher://example.com/', 'data:text/plain,hello', 'javascript:alert(1)'])(
    'refuses the scheme of %s, even with private networks allowed',
    async (url) => {
      expect((await refusal(guardedFetch(url, {}, open))).code).toBe('BLOCKED_SCHEME');
    },
  );

  it('refuses what is not a URL', async () => {
    expect((await refusal(guardedFetch('not a url', {}, open))).code).toBe('INVALID_URL');
  });

  it('refuses a malformed header or method as INVALID_REQUEST or NETWORK_ERROR, never a raw crash', async () => {
    expect((await refusal(guardedFetch(`${base}/hello`, { headers: { 'bad header': 'x' } }, open))).code).toBe('INVALID_REQUEST');
    expect((await refusal(guardedFetch(`${base}/hello`, { headers: { 'x-ok': 'line\nbreak' } }, open))).code).toBe('INVALID_REQUEST');
    expect((await refusal(guardedFetch(`${base}/hello`, { method: 'GE T' }, open))).code).toBe('NETWORK_ERROR');
  });

  it('refuses a host name that resolves to a loopback address (localhost)', async () => {
    const error = await refusal(guardedFetch(`http://localhost:${port}/hello`, {}, closed));
    expect(error.code).toBe('BLOCKED_ADDRESS');
    expect(error.message).toMatch(/^Refused to connect to localhost \((127\.0\.0\.1|::1)\): loopback address/);
    expect(seen.some((request) => request.host === `localhost:${port}`)).toBe(false);
  });

  it('checks every address of a name, not only the first', async () => {
    const { resolve } = fakeResolver({ 'mixed.test': ['93.184.216.34', '10.0.0.7'] });
    const error = await refusal(createGuardedFetch({ resolve, blockReason: blockedAddressReason })('http://mixed.test/', {}, closed));
    expect(error.code).toBe('BLOCKED_ADDRESS');
    expect(error.message).toContain('mixed.test (10.0.0.7): private address');
  });

  it('reports a name that does not resolve', async () => {
    const { resolve } = fakeResolver({});
    const error = await refusal(createGuardedFetch({ resolve, blockReason: blockedAddressReason })('http://nowhere.test/', {}, closed));
    expect(error.code).toBe('DNS_FAILURE');
  });
});

describe('guardedFetch with private networks allowed', () => {
  it('reaches a local server and returns status, headers and body', async () => {
    const response = await guardedFetch(`${base}/hello`, {}, open);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-test')).toBe('yes');
    expect(await response.text()).toBe('hello');
    expect(response.url).toBe(`${base}/hello`);
    expect(response.redirected).toBe(false);
  });

  it('reaches it through localhost too', async () => {
    expect(await (await guardedFetch(`http://localhost:${port}/hello`, {}, open)).text()).toBe('hello');
  });

  it('sends the method, headers and body', async () => {
    const response = await guardedFetch(`${base}/echo`, { method: 'post', body: '{"a":1}', headers: { 'content-type': 'application/json' } }, open);
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ method: 'POST', body: '{"a":1}' });
  });

  it('connects to the address it checked, keeping the name as the Host (no second resolution)', async () => {
    const { resolve, calls } = fakeResolver({ 'service.test': ['127.0.0.1'] });
    const fetchPinned = createGuardedFetch({ resolve, blockReason: blockedAddressReason });
    const response = await fetchPinned(`http://service.test:${port}/echo`, { method: 'GET' }, open);
    expect((await response.json()).host).toBe(`service.test:${port}`);
    expect(calls).toEqual(['service.test']);
  });

  it('decodes a gzip body', async () => {
    const response = await guardedFetch(`${base}/gzip`, {}, open);
    expect(await response.text()).toBe('compressed hello');
    expect(response.headers.get('content-encoding')).toBeNull();
  });

  it('returns no body for HEAD', async () => {
    const response = await guardedFetch(`${base}/hello`, { method: 'HEAD' }, open);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('');
  });

  it('answers NETWORK_ERROR when nothing listens', async () => {
    const idle = http.createServer();
    await new Promise<void>((resolve) => idle.listen(0, '127.0.0.1', resolve));
    const idlePort = (idle.address() as AddressInfo).port;
    await new Promise((resolve) => idle.close(resolve));
    expect((await refusal(guardedFetch(`http://127.0.0.1:${idlePort}/`, {}, open))).code).toBe('NETWORK_ERROR');
  });
});

describe('guardedFetch redirects', () => {
  // The local test server stands for a public one: 127.0.0.1 counts as public for these tests.
  const { resolve } = fakeResolver({ 'public.test': ['127.0.0.1'], 'other.test': ['127.0.0.1'], 'internal.test': ['10.0.0.5'] });
  const publicFetch = createGuardedFetch({
    resolve,
    blockReason: (address) => (address === '127.0.0.1' ? null : blockedAddressReason(address)),
  });
  const at = (path: string) => `http://public.test:${port}${path}`;

  it('follows a redirect and reports the final URL', async () => {
    const response = await publicFetch(at('/to-hello'), {}, closed);
    expect(await response.text()).toBe('hello');
    expect(response.url).toBe(at('/hello'));
    expect(response.redirected).toBe(true);
  });

  it.each([
    ['/to-private', 'BLOCKED_ADDRESS'],
    ['/to-metadata', 'BLOCKED_ADDRESS'],
    ['/to-ipv6-loopback', 'BLOCKED_ADDRESS'],
    ['/to-internal-name', 'BLOCKED_ADDRESS'],
    ['/to-file', 'BLOCKED_SCHEME'],
  ])('re-checks the target of %s', async (path, code) => {
    const error = await refusal(publicFetch(at(path), {}, closed));
    expect(error.code).toBe(code);
  });

  it('turns a POST into a GET after 303, without the body', async () => {
    const response = await publicFetch(at('/see-other'), { method: 'POST', body: 'payload' }, closed);
    expect(await response.json()).toMatchObject({ method: 'GET', body: '' });
  });

  it('drops credentials when the redirect leaves the origin', async () => {
    seen.length = 0;
    await publicFetch(at('/to-other-origin'), { headers: { authorization: 'Bearer secret' } }, closed);
    expect(seen.map((request) => [request.url, request.authorization])).toEqual([
      ['/to-other-origin', 'Bearer secret'],
      ['/hello', undefined],
    ]);
  });

  it('follows at most 5 redirects', async () => {
    expect(await (await publicFetch(at('/chain?n=5'), {}, closed)).text()).toBe('end of chain');
    const error = await refusal(publicFetch(at('/chain?n=6'), {}, closed));
    expect(error.code).toBe('TOO_MANY_REDIRECTS');
    expect((await refusal(publicFetch(at('/loop'), {}, closed))).code).toBe('TOO_MANY_REDIRECTS');
  });
});

describe('guardedFetch limits', () => {
  it('refuses a body announced larger than the cap (default 5 MB)', async () => {
    const error = await refusal(guardedFetch(`${base}/big`, {}, open));
    expect(error.code).toBe('RESPONSE_TOO_LARGE');
    expect(error.message).toBe(`Response larger than ${5 * 1024 * 1024} bytes`);
  });

  it('aborts a streamed body once it passes the cap', async () => {
    expect((await refusal(guardedFetch(`${base}/big-chunked`, {}, open))).code).toBe('RESPONSE_TOO_LARGE');
    expect((await refusal(guardedFetch(`${base}/hello`, {}, { ...open, maxBytes: 3 }))).code).toBe('RESPONSE_TOO_LARGE');
  });

  it('counts decoded bytes, so a compression bomb is cut too', async () => {
    expect((await refusal(guardedFetch(`${base}/gzip-bomb`, {}, open))).code).toBe('RESPONSE_TOO_LARGE');
  });

  it('times out when no response comes', async () => {
    const started = Date.now();
    const error = await refusal(guardedFetch(`${base}/slow`, {}, { ...open, timeoutMs: 200 }));
    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toBe('No complete response within 200 ms');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('times out when the body stalls', async () => {
    expect((await refusal(guardedFetch(`${base}/slow-body`, {}, { ...open, timeoutMs: 200 }))).code).toBe('TIMEOUT');
  });

  it("gives the caller's own abort back as it is", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop')), 50);
    await expect(guardedFetch(`${base}/slow`, { signal: controller.signal }, open)).rejects.toThrow('stop');
  });
});
