import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { providerSecretOwner, type ConnectionTest } from '../events/providers.js';
import type { Secrets } from '../lib/secrets.js';
import {
  asArray,
  bearer,
  call,
  fixedBase,
  modelEntry,
  nonEmpty,
  openAiModels,
  ProviderCallError,
  staticList,
  trimSlash,
  type CallOptions,
  type ModelCapability,
  type Probe,
  type ProviderConfig,
  type ProviderModel,
} from './providerHttp.js';

export { CONNECTION_TIMEOUT_MS, type CallOptions, type Fetch, type ModelCapability, type ProviderConfig, type ProviderModel } from './providerHttp.js';

/**
 * What KinBot knows about each provider type (platform.md §2, plus `openai-compatible` per
 * DECISIONS.md §19): its capabilities, whether it needs a key, where its OpenAI-compatible API
 * lives, the cheapest real call that proves a config works, and how to list its models.
 * The ai SDK side (turning a provider into a model) is src/agents/providers.ts.
 */

export type Capability = 'llm' | 'embedding' | 'image' | 'search' | 'rerank';

/** The config as events and the read model carry it: sealed with the provider's data key. */
export const encryptProviderConfig = (secrets: Secrets, providerId: string, config: ProviderConfig): Promise<string> =>
  secrets.encrypt(providerSecretOwner(providerId), JSON.stringify(config));

/** null once the provider's data key is shredded. */
export async function decryptProviderConfig(secrets: Secrets, providerId: string, configEncrypted: string): Promise<ProviderConfig | null> {
  const json = await secrets.decrypt(providerSecretOwner(providerId), configEncrypted);
  if (json === null) return null;
  const parsed = JSON.parse(json) as Record<string, unknown>;
  return {
    ...(typeof parsed.apiKey === 'string' ? { apiKey: parsed.apiKey } : {}),
    ...(typeof parsed.baseUrl === 'string' ? { baseUrl: parsed.baseUrl } : {}),
  };
}

/** The access token of the local Claude login (the `anthropic-oauth` type), if there is one. */
export async function localClaudeToken(): Promise<string | undefined> {
  const dir = process.env.CLAUDE_CONFIG_DIR ?? join(homedir(), '.claude');
  const raw = await readFile(join(dir, '.credentials.json'), 'utf8').catch(() => null);
  if (!raw) return undefined;
  try {
    return (JSON.parse(raw) as { claudeAiOauth?: { accessToken?: string } }).claudeAiOauth?.accessToken || undefined;
  } catch {
    return undefined;
  }
}

async function claudeOauthToken(): Promise<string> {
  const token = await localClaudeToken();
  if (!token) throw new ProviderCallError('No local Claude credentials found (~/.claude/.credentials.json)');
  return token;
}

const ANTHROPIC_VERSION = '2023-06-01';
const anthropicModels = (headers: Record<string, string>, options: CallOptions) =>
  call({ url: 'https://api.anthropic.com/v1/models?limit=100', headers: { 'anthropic-version': ANTHROPIC_VERSION, ...headers } }, options).then(
    (body) => asArray((body as { data?: unknown } | null)?.data).map((m) => modelEntry(String(m.id), nonEmpty(m.display_name) ?? String(m.id), 'llm', true)),
  );

type TypeSpec = {
  displayName: string;
  capabilities: readonly Capability[];
  /** No key is needed (local servers, local credentials); a given key is still sent. */
  noApiKey?: boolean;
  requiresBaseUrl?: boolean;
  apiKeyUrl?: string;
  /** Base URL of its OpenAI-compatible API (chat completions, embeddings, `/models`), if it has one. */
  openAiBase?: (config: ProviderConfig) => string;
  /** Model ids it serves; absent: a gateway that serves whatever id it is given. */
  models?: RegExp;
  /** The cheapest real request that proves the config (defaults to `GET {openAiBase}/models`). */
  probe?: (config: ProviderConfig) => Probe | Promise<Probe>;
  /** Live model list (defaults to `GET {openAiBase}/models`); absent and no openAiBase: `staticModels`. */
  listModels?: (config: ProviderConfig, options: CallOptions) => Promise<ProviderModel[]>;
  staticModels?: readonly ProviderModel[];
};

// ── The catalogue ─────────────────────────────────────────────────────────────────────────────

const SPECS: Record<string, TypeSpec> = {
  anthropic: {
    displayName: 'Anthropic',
    capabilities: ['llm'],
    apiKeyUrl: 'https://console.anthropic.com/settings/keys',
    models: /^claude-/,
    probe: (config) => ({
      url: 'https://api.anthropic.com/v1/models?limit=1',
      headers: { 'x-api-key': config.apiKey ?? '', 'anthropic-version': ANTHROPIC_VERSION },
    }),
    listModels: (config, options) => anthropicModels({ 'x-api-key': config.apiKey ?? '' }, options),
  },
  'anthropic-oauth': {
    displayName: 'Anthropic (Claude subscription)',
    capabilities: ['llm'],
    noApiKey: true,
    models: /^claude-/,
    probe: async () => ({
      url: 'https://api.anthropic.com/v1/models?limit=1',
      headers: { authorization: `Bearer ${await claudeOauthToken()}`, 'anthropic-version': ANTHROPIC_VERSION, 'anthropic-beta': 'oauth-2025-04-20' },
    }),
    listModels: async (_config, options) =>
      anthropicModels({ authorization: `Bearer ${await claudeOauthToken()}`, 'anthropic-beta': 'oauth-2025-04-20' }, options),
  },
  openai: {
    displayName: 'OpenAI',
    capabilities: ['llm', 'embedding', 'image'],
    apiKeyUrl: 'https://platform.openai.com/api-keys',
    openAiBase: fixedBase('https://api.openai.com/v1'),
    models: /^(gpt-|o\d|chatgpt-|codex-|text-embedding-|dall-e|gpt-image|ft:)/,
  },
  gemini: {
    displayName: 'Google Gemini',
    capabilities: ['llm', 'image', 'embedding'],
    apiKeyUrl: 'https://aistudio.google.com/apikey',
    models: /^(gemini-|gemma-|text-embedding-|embedding-|imagen-)/,
    probe: (config) => ({
      url: 'https://generativelanguage.googleapis.com/v1beta/models?pageSize=1',
      headers: { 'x-goog-api-key': config.apiKey ?? '' },
    }),
    async listModels(config, options) {
      const body = (await call(
        { url: 'https://generativelanguage.googleapis.com/v1beta/models?pageSize=1000', headers: { 'x-goog-api-key': config.apiKey ?? '' } },
        options,
      )) as { models?: unknown } | null;
      return asArray(body?.models).flatMap((model) => {
        const id = String(model.name ?? '').replace(/^models\//, '');
        const methods = Array.isArray(model.supportedGenerationMethods) ? (model.supportedGenerationMethods as string[]) : [];
        const name = nonEmpty(model.displayName) ?? id;
        if (methods.includes('embedContent')) return [modelEntry(id, name, 'embedding')];
        if (methods.includes('predict') || /imagen/.test(id)) return [modelEntry(id, name, 'image')];
        if (methods.includes('generateContent')) return [modelEntry(id, name, 'llm', true)];
        return [];
      });
    },
  },
  voyage: {
    displayName: 'Voyage AI',
    capabilities: ['embedding'],
    apiKeyUrl: 'https://dashboard.voyageai.com/api-keys',
    models: /^voyage-/,
    probe: (config) => ({
      url: 'https://api.voyageai.com/v1/embeddings',
      method: 'POST',
      headers: bearer(config),
      body: { input: ['ping'], model: 'voyage-3-lite' },
    }),
    staticModels: staticList('embedding', ['voyage-3-large', 'voyage-3.5', 'voyage-3.5-lite', 'voyage-3', 'voyage-3-lite', 'voyage-code-3']),
  },
  'brave-search': {
    displayName: 'Brave Search',
    capabilities: ['search'],
    apiKeyUrl: 'https://brave.com/search/api/',
    probe: (config) => ({
      url: 'https://api.search.brave.com/res/v1/web/search?q=kinbot&count=1',
      headers: { 'x-subscription-token': config.apiKey ?? '' },
    }),
    staticModels: [],
  },
  mistral: {
    displayName: 'Mistral AI',
    capabilities: ['llm', 'embedding'],
    apiKeyUrl: 'https://console.mistral.ai/api-keys',
    openAiBase: fixedBase('https://api.mistral.ai/v1'),
    models: /^(mistral|codestral|pixtral|ministral|open-mi|magistral|devstral|voxtral)/,
  },
  groq: {
    displayName: 'Groq',
    capabilities: ['llm'],
    apiKeyUrl: 'https://console.groq.com/keys',
    openAiBase: fixedBase('https://api.groq.com/openai/v1'),
  },
  together: {
    displayName: 'Together AI',
    capabilities: ['llm', 'embedding', 'image'],
    apiKeyUrl: 'https://api.together.ai/settings/api-keys',
    openAiBase: fixedBase('https://api.together.xyz/v1'),
    async listModels(config, options) {
      // Together answers a bare array, each entry with its own `type`.
      const body = await call({ url: 'https://api.together.xyz/v1/models', headers: bearer(config) }, options);
      const kinds: Record<string, ModelCapability> = { chat: 'llm', language: 'llm', embedding: 'embedding', image: 'image', rerank: 'rerank' };
      return asArray(body).flatMap((model) => {
        const kind = kinds[String(model.type)];
        return kind ? [modelEntry(String(model.id), nonEmpty(model.display_name) ?? String(model.id), kind)] : [];
      });
    },
  },
  fireworks: {
    displayName: 'Fireworks AI',
    capabilities: ['llm', 'embedding', 'image'],
    apiKeyUrl: 'https://fireworks.ai/account/api-keys',
    openAiBase: fixedBase('https://api.fireworks.ai/inference/v1'),
  },
  deepseek: {
    displayName: 'DeepSeek',
    capabilities: ['llm', 'embedding'],
    apiKeyUrl: 'https://platform.deepseek.com/api_keys',
    openAiBase: fixedBase('https://api.deepseek.com'),
    models: /^deepseek-/,
  },
  ollama: {
    displayName: 'Ollama',
    capabilities: ['llm', 'embedding'],
    noApiKey: true,
    openAiBase: (config) => `${trimSlash(config.baseUrl || 'http://localhost:11434')}/v1`,
    // The native listing works on every Ollama version, the /v1 one only on recent ones.
    probe: (config) => ({ url: `${trimSlash(config.baseUrl || 'http://localhost:11434')}/api/tags`, headers: bearer(config) }),
    async listModels(config, options) {
      const body = (await call({ url: `${trimSlash(config.baseUrl || 'http://localhost:11434')}/api/tags`, headers: bearer(config) }, options)) as {
        models?: unknown;
      } | null;
      return asArray(body?.models).map((model) => modelEntry(String(model.name ?? model.model)));
    },
  },
  openrouter: {
    displayName: 'OpenRouter',
    capabilities: ['llm', 'embedding', 'image'],
    apiKeyUrl: 'https://openrouter.ai/settings/keys',
    openAiBase: fixedBase('https://openrouter.ai/api/v1'),
    // Its model list is public; the key endpoint is what checks the key.
    probe: (config) => ({ url: 'https://openrouter.ai/api/v1/key', headers: bearer(config) }),
    async listModels(config, options) {
      const body = (await call({ url: 'https://openrouter.ai/api/v1/models', headers: bearer(config) }, options)) as { data?: unknown } | null;
      return asArray(body?.data).map((model) => {
        const id = String(model.id);
        const modalities = (model.architecture as { input_modalities?: unknown } | undefined)?.input_modalities;
        const vision = Array.isArray(modalities) ? modalities.includes('image') : undefined;
        return modelEntry(id, nonEmpty(model.name) ?? id, 'llm', vision);
      });
    },
  },
  cohere: {
    displayName: 'Cohere',
    capabilities: ['llm', 'embedding', 'rerank'],
    apiKeyUrl: 'https://dashboard.cohere.com/api-keys',
    openAiBase: fixedBase('https://api.cohere.ai/compatibility/v1'),
    models: /^(command|embed-|rerank-|c4ai-|aya-)/,
    probe: (config) => ({ url: 'https://api.cohere.com/v1/models?page_size=1', headers: bearer(config) }),
    async listModels(config, options) {
      const body = (await call({ url: 'https://api.cohere.com/v1/models?page_size=1000', headers: bearer(config) }, options)) as { models?: unknown } | null;
      return asArray(body?.models).flatMap((model) => {
        const endpoints = Array.isArray(model.endpoints) ? (model.endpoints as string[]) : [];
        const id = String(model.name);
        if (endpoints.includes('embed')) return [modelEntry(id, id, 'embedding')];
        if (endpoints.includes('rerank')) return [modelEntry(id, id, 'rerank')];
        if (endpoints.includes('chat')) return [modelEntry(id, id, 'llm')];
        return [];
      });
    },
  },
  xai: {
    displayName: 'xAI',
    capabilities: ['llm', 'embedding', 'image'],
    apiKeyUrl: 'https://console.x.ai',
    openAiBase: fixedBase('https://api.x.ai/v1'),
    models: /^grok-/,
  },
  tavily: {
    displayName: 'Tavily',
    capabilities: ['search'],
    apiKeyUrl: 'https://app.tavily.com/home',
    probe: (config) => ({ url: 'https://api.tavily.com/search', method: 'POST', headers: bearer(config), body: { query: 'kinbot', max_results: 1 } }),
    staticModels: [],
  },
  jina: {
    displayName: 'Jina AI',
    capabilities: ['embedding', 'rerank'],
    apiKeyUrl: 'https://jina.ai/api-dashboard',
    openAiBase: fixedBase('https://api.jina.ai/v1'),
    models: /^jina-/,
    probe: (config) => ({
      url: 'https://api.jina.ai/v1/embeddings',
      method: 'POST',
      headers: bearer(config),
      body: { model: 'jina-embeddings-v3', input: ['ping'] },
    }),
    staticModels: [
      ...staticList('embedding', ['jina-embeddings-v3', 'jina-embeddings-v4', 'jina-clip-v2']),
      ...staticList('rerank', ['jina-reranker-v2-base-multilingual', 'jina-reranker-m0']),
    ],
  },
  nomic: {
    displayName: 'Nomic',
    capabilities: ['embedding'],
    apiKeyUrl: 'https://atlas.nomic.ai/cli-login',
    models: /^nomic-/,
    probe: (config) => ({
      url: 'https://api-atlas.nomic.ai/v1/embedding/text',
      method: 'POST',
      headers: bearer(config),
      body: { model: 'nomic-embed-text-v1.5', texts: ['ping'] },
    }),
    staticModels: staticList('embedding', ['nomic-embed-text-v1.5', 'nomic-embed-text-v1']),
  },
  replicate: {
    displayName: 'Replicate',
    capabilities: ['image'],
    apiKeyUrl: 'https://replicate.com/account/api-tokens',
    probe: (config) => ({ url: 'https://api.replicate.com/v1/account', headers: bearer(config) }),
    staticModels: staticList('image', ['black-forest-labs/flux-schnell', 'black-forest-labs/flux-dev', 'stability-ai/sdxl']),
  },
  stability: {
    displayName: 'Stability AI',
    capabilities: ['image'],
    apiKeyUrl: 'https://platform.stability.ai/account/keys',
    probe: (config) => ({ url: 'https://api.stability.ai/v1/user/account', headers: bearer(config) }),
    staticModels: staticList('image', ['stable-image-core', 'stable-image-ultra', 'sd3.5-large']),
  },
  fal: {
    displayName: 'fal.ai',
    capabilities: ['image'],
    apiKeyUrl: 'https://fal.ai/dashboard/keys',
    probe: (config) => ({ url: 'https://api.fal.ai/v1/models?limit=1', headers: { authorization: `Key ${config.apiKey ?? ''}` } }),
    staticModels: staticList('image', ['fal-ai/flux/schnell', 'fal-ai/flux/dev', 'fal-ai/flux-pro']),
  },
  serper: {
    displayName: 'Serper',
    capabilities: ['search'],
    apiKeyUrl: 'https://serper.dev/api-key',
    probe: (config) => ({ url: 'https://google.serper.dev/search', method: 'POST', headers: { 'x-api-key': config.apiKey ?? '' }, body: { q: 'kinbot', num: 1 } }),
    staticModels: [],
  },
  perplexity: {
    displayName: 'Perplexity',
    capabilities: ['llm', 'search'],
    apiKeyUrl: 'https://www.perplexity.ai/settings/api',
    openAiBase: fixedBase('https://api.perplexity.ai'),
    models: /^(sonar|r1-)/,
    // No model listing: a one-token completion on the cheapest model is the cheapest real check.
    probe: (config) => ({
      url: 'https://api.perplexity.ai/chat/completions',
      method: 'POST',
      headers: bearer(config),
      body: { model: 'sonar', messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 },
    }),
    staticModels: staticList('llm', ['sonar', 'sonar-pro', 'sonar-reasoning', 'sonar-reasoning-pro', 'sonar-deep-research']),
  },
  'openai-compatible': {
    displayName: 'OpenAI-compatible',
    capabilities: ['llm', 'embedding'],
    noApiKey: true,
    requiresBaseUrl: true,
    openAiBase: (config) => trimSlash(config.baseUrl ?? ''),
  },
};

export const PROVIDER_TYPES = Object.keys(SPECS) as [string, ...string[]];

export const isProviderType = (type: string): boolean => Object.hasOwn(SPECS, type);

export const capabilitiesOf = (type: string): Capability[] => [...(SPECS[type]?.capabilities ?? [])];

/** Where its OpenAI-compatible API lives, for the types that have one. */
export const openAiBaseOf = (type: string, config: ProviderConfig): string | null => SPECS[type]?.openAiBase?.(config) ?? null;

/** Whether a provider of this type can serve the model id (gateways serve any id). */
export function servesModel(type: string, modelId: string): boolean {
  const spec = SPECS[type];
  if (!spec) return false;
  return spec.models ? spec.models.test(modelId) : true;
}

export type ProviderTypeInfo = {
  type: string;
  displayName: string;
  capabilities: Capability[];
  noApiKey: boolean;
  apiKeyUrl?: string;
  source: 'builtin' | 'plugin';
};

export const providerTypes = (): ProviderTypeInfo[] =>
  Object.entries(SPECS).map(([type, spec]) => ({
    type,
    displayName: spec.displayName,
    capabilities: [...spec.capabilities],
    noApiKey: spec.noApiKey ?? false,
    ...(spec.apiKeyUrl ? { apiKeyUrl: spec.apiKeyUrl } : {}),
    source: 'builtin' as const,
  }));

/** Why this config cannot work for the type, or null. Checked before anything is stored. */
export function configProblem(type: string, config: ProviderConfig): { path: string; message: string } | null {
  const spec = SPECS[type];
  if (!spec) return { path: 'type', message: `Unknown provider type: ${type}` };
  if (!spec.noApiKey && !config.apiKey) return { path: 'config.apiKey', message: `An API key is required for ${type}` };
  if (spec.requiresBaseUrl && !config.baseUrl) return { path: 'config.baseUrl', message: `A base URL is required for ${type}` };
  if (config.baseUrl) {
    let url: URL | null = null;
    try {
      url = new URL(config.baseUrl);
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      return { path: 'config.baseUrl', message: 'The base URL must be an http(s) URL' };
    }
  }
  return null;
}

/**
 * The live connection test: one real call with a timeout (10 s). Valid → the type's capabilities;
 * invalid → [] and the reason. Never throws.
 */
export async function testConnection(type: string, config: ProviderConfig, options: CallOptions = {}): Promise<ConnectionTest> {
  const spec = SPECS[type];
  const problem = configProblem(type, config);
  if (!spec || problem) return { valid: false, capabilities: [], error: problem?.message ?? `Unknown provider type: ${type}` };
  try {
    const base = spec.openAiBase?.(config);
    const probe = spec.probe ? await spec.probe(config) : { url: `${base}/models`, headers: bearer(config) };
    await call(probe, options);
    return { valid: true, capabilities: [...spec.capabilities], error: null };
  } catch (error) {
    return { valid: false, capabilities: [], error: error instanceof Error ? error.message : String(error) };
  }
}

/** The models a provider offers now (live where the vendor lists them), limited to `capabilities`. */
export async function listModels(
  type: string,
  config: ProviderConfig,
  capabilities: readonly string[],
  options: CallOptions = {},
): Promise<ProviderModel[]> {
  const spec = SPECS[type];
  if (!spec) return [];
  const base = spec.openAiBase?.(config);
  const models = spec.listModels
    ? await spec.listModels(config, options)
    : spec.staticModels
      ? [...spec.staticModels]
      : base
        ? await openAiModels(base, config, options)
        : [];
  return models.filter((model) => capabilities.includes(model.capability));
}
