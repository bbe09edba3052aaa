import { embedMany } from 'ai';
import type { ReadStore } from '../es/readStore.js';
import type { Secrets } from '../lib/secrets.js';
import { readSettings } from '../projections/settings.js';
import { resolveEmbeddingModel, type ModelOptions } from './providers.js';

/** memory-knowledge.md §1: the settings value, else this. */
export const DEFAULT_EMBEDDING_MODEL = 'text-embedding-3-small';
/** An embedding call that takes longer is given up (the text stays searchable by full text). */
const EMBEDDING_TIMEOUT_MS = 30_000;

export type EmbeddingDeps = { readStore: ReadStore; secrets: Secrets };

export type EmbeddingOutcome =
  | { ok: true; model: string; vectors: number[][] }
  | { ok: false; model: string; reason: 'no-embedding-provider' | 'embedding-failed'; error?: string };

export async function embeddingModelId(readStore: ReadStore): Promise<string> {
  return (await readSettings(readStore)).embeddingModel ?? DEFAULT_EMBEDDING_MODEL;
}

/**
 * Embeds `texts` with the configured embedding model through the first valid provider able to
 * serve it. Never throws: the outcome says why there are no vectors, and callers carry on without
 * them (memory-knowledge.md §1, "embedding failures are swallowed").
 */
export async function embedTexts(deps: EmbeddingDeps, texts: string[], options: ModelOptions = {}): Promise<EmbeddingOutcome> {
  const model = await embeddingModelId(deps.readStore);
  try {
    const resolved = await resolveEmbeddingModel(deps, model, options);
    if (!resolved) return { ok: false, model, reason: 'no-embedding-provider' };
    if (texts.length === 0) return { ok: true, model, vectors: [] };
    const { embeddings } = await embedMany({
      model: resolved.model,
      values: texts,
      maxRetries: 1,
      abortSignal: AbortSignal.timeout(EMBEDDING_TIMEOUT_MS),
    });
    // The index refuses an empty or non-finite vector: such an answer is a failure, not a vector.
    const usable = embeddings.length === texts.length && embeddings.every((v) => v.length > 0 && v.every(Number.isFinite));
    if (!usable) return { ok: false, model, reason: 'embedding-failed', error: 'The provider returned no usable vectors' };
    return { ok: true, model, vectors: embeddings };
  } catch (error) {
    return { ok: false, model, reason: 'embedding-failed', error: error instanceof Error ? error.message : String(error) };
  }
}

/** One text's vector and the model that made it, or nulls when it could not be embedded. */
export async function embedText(deps: EmbeddingDeps, text: string): Promise<{ embedding: number[] | null; embeddingModel: string | null }> {
  const outcome = await embedTexts(deps, [text]);
  return outcome.ok && outcome.vectors[0] ? { embedding: outcome.vectors[0], embeddingModel: outcome.model } : { embedding: null, embeddingModel: null };
}
