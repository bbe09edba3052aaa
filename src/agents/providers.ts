import type { EmbeddingModel, LanguageModel } from 'ai';
import type { Secrets } from '../lib/secrets.js';
import type { ReadStore } from '../es/readStore.js';
import { PROVIDERS, type ProviderDoc } from '../projections/providers.js';
import { decryptProviderConfig, localClaudeToken, openAiBaseOf, servesModel, type Fetch, type ProviderConfig } from './providerCatalog.js';

/**
 * From a provider of the read model to an ai SDK model, for the conversation engine:
 * openai → @ai-sdk/openai, anthropic(-oauth) → @ai-sdk/anthropic, gemini → @ai-sdk/google, and
 * every vendor that speaks the OpenAI API (ollama at `${baseUrl}/v1`, openrouter, mistral, groq,
 * together, fireworks, deepseek, xai, perplexity, cohere, jina, openai-compatible) →
 * @ai-sdk/openai-compatible at its known base URL.
 *
 * Resolution is split in two so that it can be tested without a network: `chooseProvider` (pure:
 * which provider serves a request) and `languageModelFor` / `embeddingModelFor` (building the
 * model; `fetch` may be injected).
 */

export type ModelTarget = { providerId: string; providerType: string };
export type ResolvedLanguageModel = ModelTarget & { model: LanguageModel };
export type ResolvedEmbeddingModel = ModelTarget & { model: EmbeddingModel };

type Candidate = Pick<ProviderDoc, 'id' | 'type' | 'capabilities' | 'isValid' | 'createdAt'>;

/**
 * The provider to use: the preferred one if it is valid and has the capability, else the first
 * valid provider (oldest first) with the capability whose type can serve the model id (types
 * that are gateways — openai-compatible, ollama, openrouter, groq, together, fireworks — serve any id).
 */
export function chooseProvider<P extends Candidate>(
  providers: readonly P[],
  request: { providerId?: string | null; model: string; capability: 'llm' | 'embedding' },
): P | null {
  const usable = (provider: P) => provider.isValid && provider.capabilities.includes(request.capability);
  const preferred = request.providerId ? providers.find((provider) => provider.id === request.providerId) : undefined;
  if (preferred && usable(preferred)) return preferred;
  const ordered = [...providers].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  return ordered.find((provider) => usable(provider) && servesModel(provider.type, request.model)) ?? null;
}

export type ModelOptions = { fetch?: Fetch };

/**
 * Each provider SDK is loaded the first time a provider of its type is used: together they weigh
 * some 15 MB of heap that a server whose providers are all of one type (or none yet) never needs.
 */
const sdk = {
  openai: () => import('@ai-sdk/openai'),
  anthropic: () => import('@ai-sdk/anthropic'),
  google: () => import('@ai-sdk/google'),
  compatible: () => import('@ai-sdk/openai-compatible'),
};

const compatible = async (type: string, config: ProviderConfig, options: ModelOptions) => {
  const baseURL = openAiBaseOf(type, config);
  if (!baseURL) return null;
  const { createOpenAICompatible } = await sdk.compatible();
  return createOpenAICompatible({ name: type, baseURL, apiKey: config.apiKey, includeUsage: true, fetch: options.fetch });
};

/** The ai SDK chat model for this provider and model id; null when the type has no chat API. */
export async function languageModelFor(type: string, config: ProviderConfig, modelId: string, options: ModelOptions = {}): Promise<LanguageModel | null> {
  switch (type) {
    case 'openai': {
      const openai = (await sdk.openai()).createOpenAI({ apiKey: config.apiKey, baseURL: config.baseUrl, fetch: options.fetch });
      // A custom base URL is usually a proxy that speaks chat completions, not the Responses API.
      return config.baseUrl ? openai.chat(modelId) : openai(modelId);
    }
    case 'anthropic':
      return (await sdk.anthropic()).createAnthropic({ apiKey: config.apiKey, baseURL: config.baseUrl, fetch: options.fetch })(modelId);
    case 'anthropic-oauth': {
      const authToken = await localClaudeToken();
      if (!authToken) return null;
      return (await sdk.anthropic()).createAnthropic({ authToken, headers: { 'anthropic-beta': 'oauth-2025-04-20' }, fetch: options.fetch })(modelId);
    }
    case 'gemini':
      return (await sdk.google()).createGoogleGenerativeAI({ apiKey: config.apiKey, fetch: options.fetch })(modelId);
    case 'jina':
    case 'voyage':
    case 'nomic':
      return null;
    default:
      return (await compatible(type, config, options))?.chatModel(modelId) ?? null;
  }
}

/** The ai SDK embedding model for this provider and model id; null when the type has none we can drive. */
export async function embeddingModelFor(type: string, config: ProviderConfig, modelId: string, options: ModelOptions = {}): Promise<EmbeddingModel | null> {
  switch (type) {
    case 'openai':
      return (await sdk.openai()).createOpenAI({ apiKey: config.apiKey, baseURL: config.baseUrl, fetch: options.fetch }).embedding(modelId);
    case 'gemini':
      return (await sdk.google()).createGoogleGenerativeAI({ apiKey: config.apiKey, fetch: options.fetch }).embedding(modelId);
    // Their embeddings APIs are not OpenAI's: no ai SDK adapter is installed for them.
    case 'voyage':
    case 'nomic':
      return null;
    default:
      return (await compatible(type, config, options))?.embeddingModel(modelId) ?? null;
  }
}

type ResolveDeps = { readStore: ReadStore; secrets: Secrets };

type Request = { providerId?: string | null; model: string; capability: 'llm' | 'embedding' };

/**
 * Models already built, per service (keyed by its Secrets, which decrypt their configs), then by
 * capability, provider and model id. An entry serves while its provider keeps the type and the
 * sealed config it was built from: updating a config seals it anew (with a fresh IV), so the next
 * call builds the model again; a deleted provider is no longer chosen.
 */
const builtModels = new WeakMap<Secrets, Map<string, { version: string; model: unknown }>>();
/** Entries kept per service: far more than the providers × models in use. */
const BUILT_MODELS_KEPT = 256;

function builtModelsOf(secrets: Secrets) {
  let models = builtModels.get(secrets);
  if (!models) builtModels.set(secrets, (models = new Map()));
  return models;
}

/** A test's injected `fetch`, and a local OAuth token that may be renewed meanwhile: built at every call. */
const reusable = (type: string, options: ModelOptions) => options.fetch === undefined && type !== 'anthropic-oauth';

async function resolve<M>(
  deps: ResolveDeps,
  request: Request,
  options: ModelOptions,
  build: (type: string, config: ProviderConfig) => Promise<M | null> | M | null,
): Promise<(ModelTarget & { model: M }) | null> {
  const providers = await deps.readStore.collection<ProviderDoc>(PROVIDERS).find({});
  const models = builtModelsOf(deps.secrets);
  // A provider whose model cannot be built is skipped, and the choice is made again without it.
  let remaining = providers;
  for (;;) {
    const provider = chooseProvider(remaining, request);
    if (!provider) return null;
    const key = `${request.capability}\n${provider.id}\n${request.model}`;
    const version = `${provider.type}\n${provider.configEncrypted}`;
    const cacheable = reusable(provider.type, options);
    const built = cacheable ? models.get(key) : undefined;
    // An entry holds what `build` returned for its key: an M.
    let model = built?.version === version ? (built.model as M) : null;
    if (!model) {
      const config = await decryptProviderConfig(deps.secrets, provider.id, provider.configEncrypted);
      model = config ? await build(provider.type, config) : null;
      if (model && cacheable) {
        models.delete(key);
        if (models.size >= BUILT_MODELS_KEPT) models.delete(models.keys().next().value!);
        models.set(key, { version, model });
      }
    }
    if (model) return { model, providerId: provider.id, providerType: provider.type };
    remaining = remaining.filter((candidate) => candidate.id !== provider.id);
  }
}

/** The chat model for a Kin turn: its provider if valid, else the first valid `llm` provider that serves the model. */
export const resolveLanguageModel = (
  deps: ResolveDeps,
  request: { providerId?: string | null; model: string },
  options: ModelOptions = {},
): Promise<ResolvedLanguageModel | null> =>
  resolve(deps, { ...request, capability: 'llm' }, options, (type, config) => languageModelFor(type, config, request.model, options));

/** The embedding model: the first valid `embedding` provider that serves the model id. */
export const resolveEmbeddingModel = (
  deps: ResolveDeps,
  modelId: string,
  options: ModelOptions & { providerId?: string | null } = {},
): Promise<ResolvedEmbeddingModel | null> =>
  resolve(deps, { providerId: options.providerId, model: modelId, capability: 'embedding' }, options, (type, config) =>
    embeddingModelFor(type, config, modelId, options),
  );
