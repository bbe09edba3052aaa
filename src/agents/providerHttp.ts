/**
 * The HTTP side of the provider catalogue: one call with a timeout and a readable error, and the
 * parsing of OpenAI-style model lists. Used by src/agents/providerCatalog.ts.
 */

/** Decrypted provider config. */
export type ProviderConfig = { apiKey?: string; baseUrl?: string };

export type ModelCapability = 'llm' | 'embedding' | 'image' | 'rerank';

export type ProviderModel = { id: string; name: string; capability: ModelCapability; supportsImageInput?: boolean };

/** The fetch used for live calls: replaceable in tests. */
export type Fetch = typeof fetch;
export type CallOptions = { timeoutMs?: number; fetch?: Fetch };

export const CONNECTION_TIMEOUT_MS = 10_000;

export type Probe = { url: string; method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: unknown };

export const trimSlash = (url: string) => url.replace(/\/+$/, '');
export const bearer = (config: ProviderConfig): Record<string, string> => (config.apiKey ? { authorization: `Bearer ${config.apiKey}` } : {});
export const fixedBase = (url: string) => (config: ProviderConfig) => trimSlash(config.baseUrl || url);

export class ProviderCallError extends Error {}

/** Makes one call with the timeout; returns the parsed JSON body, or throws a readable error. */
export async function call(probe: Probe, options: CallOptions = {}): Promise<unknown> {
  const timeoutMs = options.timeoutMs ?? CONNECTION_TIMEOUT_MS;
  const doFetch = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(probe.url, {
      method: probe.method ?? 'GET',
      headers: { accept: 'application/json', ...(probe.body !== undefined ? { 'content-type': 'application/json' } : {}), ...probe.headers },
      body: probe.body === undefined ? undefined : JSON.stringify(probe.body),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'follow',
    });
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') throw new ProviderCallError(`Connection timed out after ${timeoutMs / 1000} s`);
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new ProviderCallError(`Connection failed: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
  const text = await response.text().catch(() => '');
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text for the error message
  }
  if (!response.ok) throw new ProviderCallError(`HTTP ${response.status}: ${errorText(body) ?? response.statusText}`);
  return body;
}

/** The vendor's own error message, wherever it puts it. */
function errorText(body: unknown): string | undefined {
  if (typeof body === 'string') return body.trim().slice(0, 300) || undefined;
  if (!body || typeof body !== 'object') return undefined;
  const record = body as Record<string, unknown>;
  const error = record.error;
  if (typeof error === 'string') return error;
  if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') return (error as { message: string }).message;
  for (const key of ['message', 'detail', 'error_description']) if (typeof record[key] === 'string') return record[key] as string;
  return undefined;
}

export const asArray = (value: unknown): Record<string, unknown>[] =>
  Array.isArray(value) ? value.filter((item): item is Record<string, unknown> => !!item && typeof item === 'object') : [];
export const nonEmpty = (value: unknown): string | undefined => (typeof value === 'string' && value.length > 0 ? value : undefined);

/** A model's capability guessed from its id (OpenAI-style lists do not say). */
function capabilityOf(id: string): ModelCapability {
  if (/embed/i.test(id)) return 'embedding';
  if (/rerank/i.test(id)) return 'rerank';
  if (/^(dall-e|gpt-image)|flux|stable-diffusion|sdxl|imagen|playground-v/i.test(id)) return 'image';
  return 'llm';
}

/** Audio, moderation and other models no capability of ours uses. */
const UNUSABLE = /whisper|tts|transcribe|audio|realtime|moderation|omni-moderation|^babbage|^davinci|computer-use|search-preview/i;

const VISION = /gpt-4o|gpt-4\.1|gpt-5|^o[34]|vision|vl\b|-vl-|llava|pixtral|claude-(3|sonnet|opus|haiku)|gemini|grok-(2-vision|4)|llama-4|gemma-3/i;

export function modelEntry(id: string, name = id, capability = capabilityOf(id), supportsImageInput?: boolean): ProviderModel {
  const vision = supportsImageInput ?? (capability === 'llm' && VISION.test(id));
  return { id, name, capability, ...(vision && capability === 'llm' ? { supportsImageInput: true } : {}) };
}

export async function openAiModels(base: string, config: ProviderConfig, options: CallOptions): Promise<ProviderModel[]> {
  const body = (await call({ url: `${base}/models`, headers: bearer(config) }, options)) as { data?: unknown } | null;
  return asArray(body?.data)
    .map((model) => nonEmpty(model.id))
    .filter((id): id is string => !!id && !UNUSABLE.test(id))
    .map((id) => modelEntry(id));
}

export const staticList = (capability: ModelCapability, ids: string[]): ProviderModel[] => ids.map((id) => modelEntry(id, id, capability));
