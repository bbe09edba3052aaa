/**
 * Outbound HTTP for anything a Kin or a user's content makes us fetch (tools, knowledge URLs,
 * mini-app proxy) — never for admin-configured provider endpoints. It refuses to reach the
 * machine itself and the networks around it unless the admin allowed private networks.
 *
 * DNS pinning: the host name is resolved once (every address it has), every address is checked,
 * and the socket is then opened to the first checked address through a `lookup` function given to
 * node:http(s) that answers with that address only. There is no second resolution, so a name that
 * answers "public" to the check and "127.0.0.1" a moment later (DNS rebinding) gets nowhere. The
 * URL's host name is kept as the request's host, so the Host header, TLS SNI and certificate
 * verification all still use the name. A fresh agent per request (`agent: false`) means no pooled
 * socket, opened earlier to another address, is ever reused.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, isIPv4 } from 'node:net';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';

export type SsrfErrorCode =
  | 'INVALID_URL'
  | 'INVALID_REQUEST'
  | 'BLOCKED_SCHEME'
  | 'BLOCKED_ADDRESS'
  | 'DNS_FAILURE'
  | 'TOO_MANY_REDIRECTS'
  | 'TIMEOUT'
  | 'RESPONSE_TOO_LARGE'
  | 'NETWORK_ERROR';

export class SsrfError extends Error {
  constructor(
    readonly code: SsrfErrorCode,
    message: string,
    readonly url?: string,
  ) {
    super(message);
    this.name = 'SsrfError';
  }
}

export const DEFAULT_TIMEOUT_MS = 15_000;
export const DEFAULT_MAX_BYTES = 5 * 1024 * 1024;
export const DEFAULT_MAX_REDIRECTS = 5;

export type GuardOptions = {
  /** The admin setting: when true, private, loopback and link-local addresses may be reached. */
  allowPrivateNetworks: boolean;
  /** For the whole exchange, redirects and body included. */
  timeoutMs?: number;
  /** Of the (decoded) response body. */
  maxBytes?: number;
  maxRedirects?: number;
};

export type GuardedRequestInit = {
  method?: string;
  headers?: Record<string, string> | Headers | [string, string][];
  body?: string | Uint8Array | ArrayBuffer | URLSearchParams | null;
  signal?: AbortSignal;
};

// ── Addresses ─────────────────────────────────────────────────────────────────────────────────

const ipv4ToInt = (address: string): number =>
  address.split('.').reduce((value, part) => ((value << 8) | Number(part)) >>> 0, 0);

const cidr4 = (base: string, bits: number, label: string) => {
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return { network: (ipv4ToInt(base) & mask) >>> 0, mask, label };
};

const BLOCKED_IPV4 = [
  cidr4('0.0.0.0', 8, 'unspecified'),
  cidr4('10.0.0.0', 8, 'private'),
  cidr4('100.64.0.0', 10, 'carrier-grade NAT'),
  cidr4('127.0.0.0', 8, 'loopback'),
  cidr4('169.254.0.0', 16, 'link-local'),
  cidr4('172.16.0.0', 12, 'private'),
  cidr4('192.0.0.0', 24, 'reserved'),
  cidr4('192.0.2.0', 24, 'reserved'),
  cidr4('192.168.0.0', 16, 'private'),
  cidr4('198.18.0.0', 15, 'reserved'),
  cidr4('198.51.100.0', 24, 'reserved'),
  cidr4('203.0.113.0', 24, 'reserved'),
  cidr4('224.0.0.0', 4, 'multicast'),
  cidr4('240.0.0.0', 4, 'reserved'),
];

function ipv4Reason(address: string): string | null {
  const value = ipv4ToInt(address);
  return BLOCKED_IPV4.find((range) => (value & range.mask) >>> 0 === range.network)?.label ?? null;
}

/** The eight 16-bit groups of an IPv6 address (zone id dropped, dotted IPv4 tail folded in). */
export function ipv6Groups(address: string): number[] | null {
  let text = address.split('%')[0]!.toLowerCase();
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!isIPv4(tail)) return null;
    const value = ipv4ToInt(tail);
    text = `${text.slice(0, lastColon + 1)}${(value >>> 16).toString(16)}:${(value & 0xffff).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const part = (half: string | undefined) => (half ? half.split(':') : []);
  const head = part(halves[0]);
  const rest = part(halves[1]);
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest].map((group) =>
    /^[0-9a-f]{1,4}$/.test(group) ? parseInt(group, 16) : NaN,
  );
  return groups.some(Number.isNaN) ? null : groups;
}

const embeddedIpv4 = (high: number, low: number) => `${high >>> 8}.${high & 0xff}.${low >>> 8}.${low & 0xff}`;

function ipv6Reason(address: string): string | null {
  const g = ipv6Groups(address);
  if (!g) return 'unparseable';
  const zeros = (from: number, to: number) => g.slice(from, to).every((group) => group === 0);
  const viaIpv4 = (ipv4: string, form: string) => {
    const reason = ipv4Reason(ipv4);
    return reason ? `${reason} (${form} of ${ipv4})` : null;
  };
  if (zeros(0, 8)) return 'unspecified';
  if (zeros(0, 7) && g[7] === 1) return 'loopback';
  if (zeros(0, 5) && g[5] === 0xffff) return viaIpv4(embeddedIpv4(g[6]!, g[7]!), 'IPv4-mapped IPv6');
  if (zeros(0, 4) && g[4] === 0xffff && g[5] === 0) return viaIpv4(embeddedIpv4(g[6]!, g[7]!), 'IPv4-translated IPv6');
  if (zeros(0, 6)) return viaIpv4(embeddedIpv4(g[6]!, g[7]!), 'IPv4-compatible IPv6') ?? 'reserved';
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return viaIpv4(embeddedIpv4(g[6]!, g[7]!), 'NAT64');
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return 'private';
  if (g[0] === 0x2002) return viaIpv4(embeddedIpv4(g[1]!, g[2]!), '6to4');
  if (g[0] === 0x2001 && g[1] === 0) return 'reserved';
  if (g[0] === 0x2001 && g[1] === 0xdb8) return 'reserved';
  if (g[0] === 0x100 && zeros(1, 4)) return 'reserved';
  if ((g[0]! & 0xffc0) === 0xfe80) return 'link-local';
  if ((g[0]! & 0xffc0) === 0xfec0) return 'private';
  if ((g[0]! & 0xfe00) === 0xfc00) return 'private';
  if ((g[0]! & 0xff00) === 0xff00) return 'multicast';
  return null;
}

/**
 * Why an IP address must not be reached (loopback, private, link-local, …), or null when it is a
 * public unicast address. Anything that is not an IP address is refused.
 */
export function blockedAddressReason(address: string): string | null {
  const family = isIP(address.split('%')[0]!);
  if (family === 4) return ipv4Reason(address);
  if (family === 6) return ipv6Reason(address);
  return 'not an IP address';
}

// ── Fetch ─────────────────────────────────────────────────────────────────────────────────────

export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** Seams for tests: how names are resolved and which addresses are refused. */
export type GuardDeps = { resolve: Resolver; blockReason: (address: string) => string | null };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const NULL_BODY = new Set([101, 204, 205, 304]);
/** Headers the guard owns; a caller cannot set them. */
const OWN_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer']);
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

type Hop = { url: URL; method: string; headers: Record<string, string>; body: Buffer | null };

function toBuffer(body: GuardedRequestInit['body']): Buffer | null {
  if (body == null) return null;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof URLSearchParams) return Buffer.from(body.toString());
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

function headerRecord(init: GuardedRequestInit): Record<string, string> {
  const record: Record<string, string> = {};
  for (const [name, value] of new Headers(init.headers as HeadersInit | undefined)) {
    if (!OWN_HEADERS.has(name)) record[name] = value;
  }
  if (init.body instanceof URLSearchParams && !record['content-type']) {
    record['content-type'] = 'application/x-www-form-urlencoded;charset=UTF-8';
  }
  record['user-agent'] ??= 'KinBot';
  record['accept-encoding'] ??= 'gzip, deflate, br';
  return record;
}

/** Answers every lookup of the socket with the one address that was checked. */
function pinnedLookup(pinned: { address: string; family: number }) {
  return (
    _hostname: string,
    options: LookupOptions,
    callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    if (options.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
    else callback(null, pinned.address, pinned.family);
  };
}

function decoded(response: IncomingMessage): { stream: Readable; decodedEncoding: boolean } {
  const encoding = String(response.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (encoding === 'gzip' || encoding === 'x-gzip') return { stream: response.pipe(zlib.createGunzip()), decodedEncoding: true };
  if (encoding === 'deflate') return { stream: response.pipe(zlib.createInflate()), decodedEncoding: true };
  if (encoding === 'br') return { stream: response.pipe(zlib.createBrotliDecompress()), decodedEncoding: true };
  return { stream: response, decodedEncoding: false };
}

export function createGuardedFetch(deps: GuardDeps = { resolve: systemResolver, blockReason: blockedAddressReason }) {
  /** Resolves and checks the hop's host; returns the address to connect to. */
  async function checkedAddress(url: URL, allowPrivate: boolean): Promise<{ address: string; family: number }> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new SsrfError('BLOCKED_SCHEME', `Only http and https URLs may be fetched, not ${url.protocol.replace(/:$/, '')}`, url.href);
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    let addresses: { address: string; family: number }[];
    if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
    else {
      try {
        addresses = await deps.resolve(host);
      } catch (error) {
        throw new SsrfError('DNS_FAILURE', `Could not resolve ${host}: ${(error as Error).message}`, url.href);
      }
      if (addresses.length === 0) throw new SsrfError('DNS_FAILURE', `Could not resolve ${host}: no address`, url.href);
    }
    if (!allowPrivate) {
      for (const { address } of addresses) {
        const reason = deps.blockReason(address);
        if (reason) {
          const named = address === host ? address : `${host} (${address})`;
          throw new SsrfError(
            'BLOCKED_ADDRESS',
            `Refused to connect to ${named}: ${reason} address; private networks are not allowed`,
            url.href,
          );
        }
      }
    }
    return addresses[0]!;
  }

  function send(hop: Hop, pinned: { address: string; family: number }, signal: AbortSignal): Promise<IncomingMessage> {
    const { url } = hop;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request({
        protocol: url.protocol,
        hostname: host,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: hop.method,
        headers: { ...hop.headers, ...(hop.body ? { 'content-length': String(hop.body.length) } : {}) },
        agent: false,
        lookup: pinnedLookup(pinned) as never,
        ...(isIP(host) ? {} : { servername: host }),
        signal,
      });
      request.once('response', resolve);
      request.once('error', reject);
      request.end(hop.body ?? undefined);
    });
  }

  /** The body, decoded when the server compressed it, aborted past `maxBytes`. */
  async function readBody(
    response: IncomingMessage,
    maxBytes: number,
    signal: AbortSignal,
    url: string,
  ): Promise<{ bytes: Buffer; decodedEncoding: boolean }> {
    const tooLarge = () => new SsrfError('RESPONSE_TOO_LARGE', `Response larger than ${maxBytes} bytes`, url);
    const declared = Number(response.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      response.destroy();
      throw tooLarge();
    }
    const { stream, decodedEncoding } = decoded(response);
    const bytes = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const finish = (error: unknown, value?: Buffer) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (error) {
          response.destroy();
          stream.destroy();
          reject(error);
        } else resolve(value!);
      };
      const onAbort = () => finish(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) return finish(tooLarge());
        chunks.push(chunk);
      });
      stream.once('end', () => finish(null, Buffer.concat(chunks)));
      stream.once('error', (error) => finish(error));
      response.once('error', (error) => finish(error));
      response.once('aborted', () => finish(new Error('The connection was closed before the response was complete')));
    });
    return { bytes, decodedEncoding };
  }

  async function attempt(hop: Hop, allowPrivate: boolean, signal: AbortSignal): Promise<IncomingMessage> {
    const pinned = await checkedAddress(hop.url, allowPrivate);
    if (signal.aborted) throw signal.reason;
    return send(hop, pinned, signal);
  }

  /**
   * fetch() with the guard: http(s) only, every hop's addresses checked and pinned, redirects
   * followed by hand (each re-checked), a timeout and a body size cap. The body is read in full
   * (at most `maxBytes`) before the Response is returned. Fails with an SsrfError.
   */
  return async function guardedFetch(input: string | URL, init: GuardedRequestInit, options: GuardOptions): Promise<Response> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      throw new SsrfError('INVALID_URL', `Not a valid URL: ${String(input)}`);
    }
    let hop: Hop;
    try {
      hop = { url, method: (init.method ?? 'GET').toUpperCase(), headers: headerRecord(init), body: toBuffer(init.body) };
    } catch (error) {
      throw new SsrfError('INVALID_REQUEST', `Invalid request: ${(error as Error).message}`, url.href);
    }
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new SsrfError('TIMEOUT', `No complete response within ${timeoutMs} ms`, url.href)),
      timeoutMs,
    );
    const signal = init.signal ? AbortSignal.any([init.signal, timeout.signal]) : timeout.signal;
    try {
      for (let redirects = 0; ; redirects++) {
        const response = await attempt(hop, options.allowPrivateNetworks, signal);
        const location = response.headers.location;
        if (REDIRECTS.has(response.statusCode ?? 0) && location) {
          response.destroy();
          if (redirects >= maxRedirects) {
            throw new SsrfError('TOO_MANY_REDIRECTS', `More than ${maxRedirects} redirects`, hop.url.href);
          }
          hop = nextHop(hop, response.statusCode!, location);
          continue;
        }
        const status = response.statusCode ?? 500;
        const empty = hop.method === 'HEAD' || NULL_BODY.has(status);
        const body = empty ? null : await readBody(response, maxBytes, signal, hop.url.href);
        if (empty) response.destroy();
        const headers = new Headers();
        for (let i = 0; i < response.rawHeaders.length; i += 2) headers.append(response.rawHeaders[i]!, response.rawHeaders[i + 1]!);
        if (body?.decodedEncoding) {
          headers.delete('content-encoding');
          headers.delete('content-length');
        }
        const result = new Response(body ? new Uint8Array(body.bytes) : null, { status, statusText: response.statusMessage ?? '', headers });
        Object.defineProperty(result, 'url', { value: hop.url.href });
        Object.defineProperty(result, 'redirected', { value: redirects > 0 });
        return result;
      }
    } catch (error) {
      if (timeout.signal.aborted && !init.signal?.aborted) throw timeout.signal.reason;
      if (init.signal?.aborted) throw init.signal.reason;
      if (error instanceof SsrfError) throw error;
      throw new SsrfError('NETWORK_ERROR', `Request to ${hop.url.origin} failed: ${(error as Error).message}`, hop.url.href);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** The next request after a redirect, as browsers do it: 303 (and 301/302 after POST) become GET. */
function nextHop(hop: Hop, status: number, location: string): Hop {
  let url: URL;
  try {
    url = new URL(location, hop.url);
  } catch {
    throw new SsrfError('INVALID_URL', `Redirect to an invalid URL: ${location}`, hop.url.href);
  }
  const headers = { ...hop.headers };
  if (url.origin !== hop.url.origin) for (const name of CREDENTIAL_HEADERS) delete headers[name];
  const toGet = (status === 303 && hop.method !== 'HEAD') || ((status === 301 || status === 302) && hop.method === 'POST');
  if (!toGet) return { url, method: hop.method, headers, body: hop.body };
  delete headers['content-type'];
  return { url, method: 'GET', headers, body: null };
}

export const guardedFetch = createGuardedFetch();
