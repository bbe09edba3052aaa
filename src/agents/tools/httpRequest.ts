import { z } from 'zod';
import type { ReadStore } from '../../es/readStore.js';
import { guardedFetch, SsrfError } from '../../lib/ssrf.js';
import { readSettings } from '../../projections/settings.js';
import type { NativeTool } from '../tools.js';

export const MAX_BODY_CHARS = 20_000;

/** Response headers worth showing the model; the rest is noise in its context. */
const SHOWN_HEADERS = ['content-type', 'content-length', 'location', 'last-modified', 'etag', 'cache-control', 'retry-after'];

const BINARY = /^(image|audio|video|font)\/|^application\/(octet-stream|pdf|zip|gzip|x-tar|x-7z-compressed|vnd\.)/;

const input = z.object({
  url: z.string().min(1).describe('http(s) URL'),
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']).default('GET'),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.string().optional().describe('Request body (not for GET or HEAD)'),
});

/** The admin setting `allowPrivateNetworks` (GET/PUT /api/settings/network); off unless set. */
export async function allowPrivateNetworks(readStore: ReadStore): Promise<boolean> {
  return (await readSettings(readStore)).allowPrivateNetworks;
}

function bodyText(bytes: ArrayBuffer, contentType: string): string {
  if (BINARY.test(contentType)) return `[${bytes.byteLength} bytes of ${contentType} not shown]`;
  const text = new TextDecoder().decode(bytes);
  if (text.length <= MAX_BODY_CHARS) return text;
  return `${text.slice(0, MAX_BODY_CHARS)}\n\n[Truncated: showing the first ${MAX_BODY_CHARS} of ${text.length} characters]`;
}

export const httpRequestTool: NativeTool = {
  name: 'http_request',
  domain: 'browse',
  description:
    'Make an HTTP request (GET, POST, PUT, PATCH, DELETE, HEAD) to an http(s) URL and read the status, main headers and body (text, first 20,000 characters). Private and local network addresses are refused unless the admin allowed them.',
  defaultDisabled: false,
  input,
  async execute({ url, method, headers, body }: z.output<typeof input>, { readStore }) {
    if (body !== undefined && (method === 'GET' || method === 'HEAD')) return { error: `A ${method} request cannot have a body` };
    try {
      const response = await guardedFetch(url, { method, headers, body }, { allowPrivateNetworks: await allowPrivateNetworks(readStore) });
      const shown = Object.fromEntries(SHOWN_HEADERS.flatMap((name) => (response.headers.has(name) ? [[name, response.headers.get(name)!]] : [])));
      const contentType = response.headers.get('content-type') ?? '';
      return {
        status: response.status,
        ...(response.url !== url ? { url: response.url } : {}),
        headers: shown,
        body: method === 'HEAD' ? '' : bodyText(await response.arrayBuffer(), contentType),
      };
    } catch (error) {
      if (error instanceof SsrfError) return { error: error.message };
      throw error;
    }
  },
};
