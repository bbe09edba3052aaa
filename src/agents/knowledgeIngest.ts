import { v7 as uuidv7 } from 'uuid';
import type { BlobStore } from '../es/blobStore.js';
import type { RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata } from '../es/decider.js';
import { badRequest, DomainError } from '../es/errors.js';
import type { ReadStore } from '../es/readStore.js';
import { recordChunkBatch, runKnowledgeCommand, type KnowledgeCommand, type KnowledgeSourceFields } from '../commands/knowledge.js';
import { encodeVector, type RecordedChunk } from '../events/knowledge.js';
import { knowledgeSource } from '../projections/knowledge.js';
import { readSettings } from '../projections/settings.js';
import type { Secrets } from '../lib/secrets.js';
import { guardedFetch, SsrfError } from '../lib/ssrf.js';
import { detectKind, extractText, ExtractionError, htmlToText } from '../lib/textExtraction.js';
import { chunkText } from './chunking.js';
import { embedTexts } from './embeddings.js';

/**
 * Processing a knowledge source (memory-knowledge.md §5): its text (by kind: plain, Markdown, HTML,
 * PDF), chunks, embeddings, then events — the run's start, its chunks in batches, and the outcome.
 * Run by the knowledge reactor (src/reactors/knowledge.ts) once per request (creation or reprocess).
 */

export const MAX_KNOWLEDGE_FILE_BYTES = 50 * 1024 * 1024;
/** Texts per embedding call. */
export const EMBEDDING_BATCH = 64;
/** A chunk-batch event stays well under EventStoreDB's default 1 MiB append limit. */
const BATCH_BYTES = 512 * 1024;
const BATCH_CHUNKS = 1000;
/** After this many single-text embedding failures in a row, the provider is taken to be down. */
const MAX_SINGLE_FAILURES = 3;

export const NO_TEXT = 'No text content to process';

export type IngestDeps = {
  runCommand: RunCommand;
  readStore: ReadStore;
  blobs: BlobStore;
  secrets: Secrets;
  settle: (position: number | null) => Promise<void>;
};

// ── URLs ──────────────────────────────────────────────────────────────────────────────────────

export type FetchedDocument = { bytes: Buffer; contentType: string; url: string };

/**
 * Fetches a URL for a new source through the SSRF guard, before anything is recorded: a refused
 * or failing URL is the request's error (4xx) and leaves no source behind.
 */
export async function fetchKnowledgeUrl(readStore: ReadStore, url: string): Promise<FetchedDocument> {
  const { allowPrivateNetworks } = await readSettings(readStore);
  let response: Response;
  try {
    response = await guardedFetch(url, { headers: { accept: 'text/html, text/markdown, text/plain, application/pdf;q=0.9, */*;q=0.5' } }, {
      allowPrivateNetworks,
      maxBytes: MAX_KNOWLEDGE_FILE_BYTES,
      timeoutMs: 30_000,
    });
  } catch (error) {
    if (!(error instanceof SsrfError)) throw error;
    switch (error.code) {
      case 'INVALID_URL':
      case 'BLOCKED_SCHEME':
        throw badRequest('INVALID_URL', error.message);
      case 'BLOCKED_ADDRESS':
        throw badRequest('URL_NOT_ALLOWED', error.message);
      case 'RESPONSE_TOO_LARGE':
        throw badRequest('FILE_TOO_LARGE', 'The document at this URL is too large: max 50 MB');
      default:
        throw new DomainError(422, 'URL_FETCH_FAILED', error.message);
    }
  }
  if (!response.ok) throw new DomainError(422, 'URL_FETCH_FAILED', `The URL answered ${response.status} ${response.statusText}`.trim());
  const bytes = Buffer.from(await response.arrayBuffer());
  return { bytes, contentType: response.headers.get('content-type') ?? 'application/octet-stream', url: response.url || url };
}

// ── Processing ────────────────────────────────────────────────────────────────────────────────

/** The source's text: the request's text (HTML made text), or the stored bytes extracted by kind. */
async function sourceText(deps: Pick<IngestDeps, 'blobs'>, source: KnowledgeSourceFields): Promise<string> {
  if (source.rawContent !== null) {
    const html = /html/i.test(source.mimeType ?? '') || /\.x?html?$/i.test(source.originalFilename ?? '');
    return html ? htmlToText(source.rawContent) : source.rawContent;
  }
  if (!source.blob) throw new ExtractionError(NO_TEXT);
  const stored = await deps.blobs.get(source.blob.hash);
  if (!stored) throw new ExtractionError('The stored document is missing');
  const kind = detectKind(stored.bytes, source.blob.contentType, source.originalFilename ?? source.sourceUrl);
  if (!kind) throw new ExtractionError(`Unsupported document type: ${source.blob.contentType}`);
  return extractText(stored.bytes, kind, source.blob.contentType);
}

/** Vectors for the texts (null where embedding failed), or null when there is no embedding model. */
async function embedBatch(deps: IngestDeps, texts: string[], health: { down: boolean }): Promise<{ vectors: (number[] | null)[]; model: string } | null> {
  const none = texts.map(() => null);
  if (health.down) return { vectors: none, model: '' };
  const outcome = await embedTexts(deps, texts);
  if (outcome.ok) return { vectors: outcome.vectors, model: outcome.model };
  if (outcome.reason === 'no-embedding-provider') return null;
  // One text the provider refuses (too long…) must not cost the others their vectors.
  const vectors: (number[] | null)[] = [];
  let failures = 0;
  for (const text of texts) {
    if (failures >= MAX_SINGLE_FAILURES) {
      health.down = true;
      vectors.push(null);
      continue;
    }
    const single = texts.length > 1 ? await embedTexts(deps, [text]) : outcome;
    const vector = single.ok ? single.vectors[0] ?? null : null;
    failures = vector ? 0 : failures + 1;
    vectors.push(vector);
  }
  return { vectors, model: outcome.model };
}

const isSuperseded = (error: unknown) => error instanceof DomainError && error.code === 'RUN_SUPERSEDED';

export type IngestOutcome = 'skipped' | 'superseded' | 'ready' | 'error';

/**
 * Processes one request for a source, idempotently: a request already processed (a redelivered
 * event), superseded by a newer one, or for a deleted source is skipped; a run that was cut short
 * (a crash, a shutdown) is started over by the next delivery, the new run replacing its chunks.
 * Errors of the document itself end the run as `error`; others are thrown (and retried).
 */
export async function processKnowledgeRequest(
  deps: IngestDeps,
  request: { sourceId: string; requestId: string; causationId?: string },
  signal: AbortSignal = new AbortController().signal,
): Promise<IngestOutcome> {
  const { sourceId, requestId } = request;
  const runId = uuidv7();
  const metadata = (): CommandMetadata => ({
    actor: { kind: 'system', id: 'knowledge-ingestion' },
    correlationId: requestId,
    causationId: request.causationId,
    now: new Date(),
  });
  const started = await runKnowledgeCommand(deps, { type: 'StartProcessing', sourceId, requestId, runId, now: new Date() }, metadata());
  if (started.events.length === 0 || started.state.status !== 'active') return 'skipped';
  const { source } = started.state;
  // The read model then holds this run, so that a later run or a deletion shows there.
  await deps.settle(started.position);
  // A reprocess request sets the source back to pending; a newer run takes `runId`; a deletion removes it.
  const stillCurrent = async () => {
    const doc = await knowledgeSource(deps.readStore, sourceId);
    return doc?.runId === runId && doc.status === 'processing';
  };

  /** Ends the run (visible in the read model on return); a run superseded meanwhile just stops. */
  const end = async (command: KnowledgeCommand): Promise<IngestOutcome> => {
    try {
      const ended = await runKnowledgeCommand(deps, command, metadata());
      await deps.settle(ended.position);
      return command.type === 'FailProcessing' ? 'error' : 'ready';
    } catch (error) {
      if (isSuperseded(error)) return 'superseded';
      throw error;
    }
  };
  const fail = (errorMessage: string) => end({ type: 'FailProcessing', sourceId, runId, errorMessage, now: new Date() });

  let text: string;
  try {
    text = await sourceText(deps, source);
  } catch (error) {
    if (error instanceof ExtractionError) return fail(error.message);
    throw error;
  }
  const chunks = chunkText(text, { maxTokens: source.chunkSize, overlapTokens: source.chunkOverlap });
  if (chunks.length === 0) return fail(NO_TEXT);

  let batch = 0;
  let pending: RecordedChunk[] = [];
  let pendingBytes = 0;
  let embeddedCount = 0;
  let embeddingModel: string | null = null;
  let embeddings = true;
  const health = { down: false };
  const flush = async () => {
    if (pending.length === 0) return;
    const command = { type: 'RecordChunkBatch' as const, sourceId, kinId: source.kinId, runId, batch, chunks: pending, now: new Date() };
    await recordChunkBatch(deps, command, metadata());
    batch++;
    pending = [];
    pendingBytes = 0;
  };

  for (let from = 0; from < chunks.length; from += EMBEDDING_BATCH) {
    if (signal.aborted) throw signal.reason ?? new Error('aborted');
    // A newer request or a deletion: this run's work is no longer wanted.
    if (from > 0 && !(await stillCurrent())) return 'superseded';
    const slice = chunks.slice(from, from + EMBEDDING_BATCH);
    const embedded = embeddings ? await embedBatch(deps, slice.map((chunk) => chunk.content), health) : null;
    if (!embedded) embeddings = false;
    for (const [i, chunk] of slice.entries()) {
      const vector = embedded?.vectors[i] ?? null;
      if (vector && embedded) {
        embeddedCount++;
        embeddingModel = embedded.model;
      }
      const recorded = {
        chunkId: uuidv7(),
        position: chunk.position,
        content: chunk.content,
        tokenCount: chunk.tokenCount,
        embedding: vector ? encodeVector(vector) : null,
        embeddingModel: vector && embedded ? embedded.model : null,
      };
      const bytes = Buffer.byteLength(recorded.content) + (recorded.embedding?.length ?? 0) + 128;
      if (pendingBytes + bytes > BATCH_BYTES || pending.length >= BATCH_CHUNKS) await flush();
      pending.push(recorded);
      pendingBytes += bytes;
    }
  }
  await flush();
  const tokenCount = chunks.reduce((sum, chunk) => sum + chunk.tokenCount, 0);
  return end({ type: 'FinishProcessing', sourceId, runId, chunkCount: chunks.length, tokenCount, batchCount: batch, embeddedCount, embeddingModel, now: new Date() });
}
