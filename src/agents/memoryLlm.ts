import { generateText } from 'ai';
import type { Config } from '../config.js';
import type { ReadStore } from '../es/readStore.js';
import type { Secrets } from '../lib/secrets.js';
import type { KinDoc } from '../projections/kins.js';
import { readSettings } from '../projections/settings.js';
import { resolveLanguageModel, type ResolvedLanguageModel } from './providers.js';

/**
 * The language-model side of memory upkeep (memory-knowledge.md §3): which model each step uses,
 * the call, and reading the JSON the model was asked for out of its text.
 */

export type MemoryLlmDeps = { readStore: ReadStore; secrets: Secrets; config: Pick<Config, 'memory'> };

/** Importance scoring and consolidation: MEMORY_CONSOLIDATION_MODEL ?? COMPACTING_MODEL ?? gpt-4.1-nano, first provider serving it. */
export const maintenanceModel = (deps: MemoryLlmDeps): Promise<ResolvedLanguageModel | null> =>
  resolveLanguageModel(deps, { model: deps.config.memory.maintenanceModel });

/**
 * Extraction: the `extraction_model` setting → MEMORY_EXTRACTION_MODEL → the Kin's model (its own
 * provider preferred only in that last case, as for compaction).
 */
export async function extractionModel(deps: MemoryLlmDeps, kin: Pick<KinDoc, 'model' | 'providerId'>): Promise<ResolvedLanguageModel | null> {
  const configured = (await readSettings(deps.readStore)).extractionModel ?? deps.config.memory.extractionModel;
  return resolveLanguageModel(deps, configured ? { model: configured } : { providerId: kin.providerId, model: kin.model });
}

/** One non-streamed call; the answer's text. Throws what the provider throws. */
export async function ask(model: ResolvedLanguageModel, system: string, prompt: string, signal?: AbortSignal): Promise<string> {
  const result = await generateText({ model: model.model, system, prompt, maxRetries: 1, abortSignal: signal });
  return result.text;
}

/** The model's text without a Markdown code fence around it. */
const unfenced = (text: string) => text.replace(/```(?:json)?/gi, '');

function parseBetween(text: string, open: string, close: string): unknown {
  const body = unfenced(text);
  const start = body.indexOf(open);
  const end = body.lastIndexOf(close);
  if (start < 0 || end <= start) return undefined;
  try {
    return JSON.parse(body.slice(start, end + 1));
  } catch {
    return undefined;
  }
}

/** The JSON array in a model's answer, or null when there is none. */
export function jsonArrayIn(text: string): unknown[] | null {
  const value = parseBetween(text, '[', ']');
  return Array.isArray(value) ? value : null;
}

/** The JSON object in a model's answer, or null when there is none. */
export function jsonObjectIn(text: string): Record<string, unknown> | null {
  const value = parseBetween(text, '{', '}');
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** An importance as the spec stores a model's: rounded and clamped to 1–10; anything else null. */
export function importanceOf(value: unknown): number | null {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number)) return null;
  return Math.min(10, Math.max(1, Math.round(number)));
}

/** A trimmed non-empty string, else null. */
export const textOf = (value: unknown): string | null => (typeof value === 'string' && value.trim() ? value.trim() : null);
