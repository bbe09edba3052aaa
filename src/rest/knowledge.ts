import type { Request, Response } from 'express';
import { v7 as uuidv7 } from 'uuid';
import { z } from 'zod';
import { DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_TOKENS, MAX_CHUNK_TOKENS, MIN_CHUNK_TOKENS } from '../agents/chunking.js';
import { fetchKnowledgeUrl, MAX_KNOWLEDGE_FILE_BYTES } from '../agents/knowledgeIngest.js';
import { DEFAULT_SEARCH_LIMIT, searchKnowledge } from '../agents/knowledgeSearch.js';
import { cleanFileName, normalizeMimeType } from '../commands/files.js';
import {
  addKnowledgeSource,
  deleteKnowledgeSource,
  knowledgeSourceNotFound,
  requestKnowledgeReprocess,
  type KnowledgeSourceFields,
} from '../commands/knowledge.js';
import { badRequest } from '../es/errors.js';
import type { KnowledgeSourceType } from '../events/knowledge.js';
import type { KinDoc } from '../projections/kins.js';
import {
  addedSource,
  chunksOfSource,
  knowledgeSource,
  knowledgeSourcesOf,
  presentChunk,
  presentSource,
  type KnowledgeSourceDoc,
} from '../projections/knowledge.js';
import { detectKind, isBlankText, mimeTypeOfKind } from '../lib/textExtraction.js';
import type { Services } from '../services.js';
import { findKin } from './kins.js';
import { singleFileUpload } from './multipart.js';
import { defineOperation, defineRawOperation, type Operation, type RequestContext } from './operation.js';
import { parseInput } from './validation.js';

// ── Input ─────────────────────────────────────────────────────────────────────────────────────

const REQUIRED = 'name and type are required';

const chunkSizeField = z.coerce
  .number({ error: `chunkSize must be an integer between ${MIN_CHUNK_TOKENS} and ${MAX_CHUNK_TOKENS}` })
  .int(`chunkSize must be an integer between ${MIN_CHUNK_TOKENS} and ${MAX_CHUNK_TOKENS}`)
  .min(MIN_CHUNK_TOKENS, `chunkSize must be an integer between ${MIN_CHUNK_TOKENS} and ${MAX_CHUNK_TOKENS}`)
  .max(MAX_CHUNK_TOKENS, `chunkSize must be an integer between ${MIN_CHUNK_TOKENS} and ${MAX_CHUNK_TOKENS}`)
  .describe('Largest chunk in estimated tokens (default 512)');
const chunkOverlapField = z.coerce
  .number({ error: 'chunkOverlap must be a non-negative integer' })
  .int('chunkOverlap must be a non-negative integer')
  .min(0, 'chunkOverlap must be a non-negative integer')
  .max(MAX_CHUNK_TOKENS, 'chunkOverlap must be smaller than chunkSize')
  .describe('Estimated tokens repeated from one chunk at the start of the next (default 50; less than chunkSize)');

const chunkingInput = { chunkSize: chunkSizeField.optional(), chunkOverlap: chunkOverlapField.optional() };

const createJsonInput = z.object({
  name: z.string({ error: REQUIRED }).trim().min(1, REQUIRED).max(255, 'name must be under 255 characters'),
  type: z.enum(['text', 'url', 'file'], { error: (issue) => (issue.input === undefined ? REQUIRED : 'type must be text, url or file') }),
  content: z.string({ error: 'content must be a string' }).optional(),
  sourceUrl: z.string({ error: 'sourceUrl must be a string' }).optional(),
  originalFilename: z.string().max(255).nullable().optional(),
  mimeType: z.string().max(255).nullable().optional(),
  ...chunkingInput,
});

const multipartFields = z.object({
  name: z.string().trim().max(255, 'name must be under 255 characters').optional(),
  ...chunkingInput,
});

const reprocessInput = z.object(chunkingInput).optional().meta({ id: 'ReprocessKnowledgeInput' });

const INPUT_CODES = { name: 'INVALID_INPUT', type: 'INVALID_INPUT', content: 'INVALID_INPUT', sourceUrl: 'INVALID_INPUT', chunkSize: 'INVALID_INPUT', chunkOverlap: 'INVALID_INPUT', originalFilename: 'INVALID_INPUT', mimeType: 'INVALID_INPUT' };

const kinParams = z.object({ kinId: z.string().min(1).describe('Kin id or slug') });
const sourceParams = kinParams.extend({ sourceId: z.string().min(1) });

// ── Output ────────────────────────────────────────────────────────────────────────────────────

const sourceSchema = z
  .object({
    id: z.string(),
    kinId: z.string(),
    name: z.string(),
    type: z.enum(['file', 'text', 'url']),
    status: z.enum(['pending', 'processing', 'ready', 'error']),
    errorMessage: z.string().nullable(),
    originalFilename: z.string().nullable(),
    mimeType: z.string().nullable(),
    storedPath: z.null(),
    sourceUrl: z.string().nullable(),
    rawContent: z.string().nullable(),
    chunkCount: z.number().int(),
    tokenCount: z.number().int(),
    metadata: z.object({
      chunkSize: z.number().int(),
      chunkOverlap: z.number().int(),
      size: z.number().int().nullable(),
      embeddingModel: z.string().nullable(),
      embeddedCount: z.number().int(),
    }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'KnowledgeSource' });

const chunkSchema = z
  .object({
    id: z.string(),
    sourceId: z.string(),
    kinId: z.string(),
    content: z.string(),
    position: z.number().int(),
    tokenCount: z.number().int(),
    metadata: z.object({ embedded: z.boolean() }),
    createdAt: z.string(),
  })
  .meta({ id: 'KnowledgeChunk' });

const hitSchema = z
  .object({ id: z.string(), content: z.string(), sourceId: z.string(), position: z.number().int(), score: z.number() })
  .meta({ id: 'KnowledgeSearchResult' });

// ── Creation ──────────────────────────────────────────────────────────────────────────────────

const emptyContent = (message = 'Content is empty: there is no text to add') => badRequest('EMPTY_CONTENT', message);

type NewSource = Omit<KnowledgeSourceFields, 'kinId' | 'chunkSize' | 'chunkOverlap'>;

/** Chunk size and overlap of a new source: the defaults unless given; the overlap stays below the size. */
function chunkingOf(input: { chunkSize?: number; chunkOverlap?: number }) {
  const chunkSize = input.chunkSize ?? DEFAULT_CHUNK_TOKENS;
  if (input.chunkOverlap !== undefined && input.chunkOverlap >= chunkSize) throw badRequest('INVALID_INPUT', 'chunkOverlap must be smaller than chunkSize');
  return { chunkSize, chunkOverlap: Math.min(input.chunkOverlap ?? DEFAULT_CHUNK_OVERLAP, chunkSize - 1) };
}

/** A JSON body: text (or a file's text) in `content`, or a URL fetched now, through the SSRF guard. */
async function sourceFromJson(services: Services, body: unknown): Promise<{ source: NewSource; chunking: ReturnType<typeof chunkingOf> }> {
  const input = parseInput(createJsonInput, body ?? {}, INPUT_CODES);
  const chunking = chunkingOf(input);
  const base = { name: input.name, type: input.type as KnowledgeSourceType, originalFilename: input.originalFilename ?? null, sourceUrl: null, blob: null };
  if (input.type === 'url') {
    const url = input.sourceUrl?.trim();
    if (!url) throw badRequest('INVALID_INPUT', 'sourceUrl is required for a url source');
    const fetched = await fetchKnowledgeUrl(services.readStore, url);
    const mimeType = normalizeMimeType(fetched.contentType);
    if (fetched.bytes.length === 0) throw emptyContent('The URL returned no content');
    const kind = detectKind(fetched.bytes, fetched.contentType, new URL(fetched.url).pathname);
    if (!kind) throw badRequest('UNSUPPORTED_FILE_TYPE', `Unsupported content type at this URL: ${mimeType}. Supported: plain text, Markdown, HTML and PDF`);
    if (kind !== 'pdf' && isBlankText(fetched.bytes)) throw emptyContent('The URL returned no text');
    const blob = await services.blobs.put(fetched.bytes, fetched.contentType);
    return {
      source: { ...base, mimeType, sourceUrl: url, rawContent: null, blob: { hash: blob.hash, size: fetched.bytes.length, contentType: fetched.contentType } },
      chunking,
    };
  }
  if (input.content === undefined || input.content.trim() === '') throw emptyContent();
  return { source: { ...base, mimeType: input.mimeType ?? null, rawContent: input.content }, chunking };
}

/** A multipart body: the document in `file` (plain text, Markdown, HTML or PDF, at most 50 MB). */
async function sourceFromUpload(services: Services, req: Request): Promise<{ source: NewSource; chunking: ReturnType<typeof chunkingOf> }> {
  const file = req.file;
  if (!file) throw badRequest('INVALID_FILE', 'A file is required (multipart field "file")');
  const fields = parseInput(multipartFields, req.body ?? {}, INPUT_CODES);
  const chunking = chunkingOf(fields);
  if (file.size === 0) throw emptyContent('File is empty');
  const originalFilename = cleanFileName(file.originalname);
  const kind = detectKind(file.buffer, file.mimetype, originalFilename);
  if (!kind) throw badRequest('UNSUPPORTED_FILE_TYPE', 'Unsupported file type. Supported: plain text, Markdown, HTML and PDF');
  if (kind !== 'pdf' && isBlankText(file.buffer)) throw emptyContent('File is empty: it has no text');
  const declared = normalizeMimeType(file.mimetype);
  const mimeType = declared === 'application/octet-stream' ? mimeTypeOfKind(kind) : declared;
  const blob = await services.blobs.put(file.buffer, mimeType);
  return {
    source: {
      name: fields.name || originalFilename,
      type: 'file',
      originalFilename,
      mimeType,
      sourceUrl: null,
      rawContent: null,
      blob: { hash: blob.hash, size: file.size, contentType: mimeType },
    },
    chunking,
  };
}

// ── Operations ────────────────────────────────────────────────────────────────────────────────

/** memory-knowledge.md §5: a Kin's knowledge base (`:kinId` is an id or a slug). */
export function knowledgeOperations(services: Services): Operation[] {
  const { readStore } = services;
  const tags = ['Knowledge'];
  const base = '/api/kins/:kinId/knowledge';
  const parseMultipart = singleFileUpload(MAX_KNOWLEDGE_FILE_BYTES);

  /** The source, if it belongs to this Kin. */
  async function findSource(kin: KinDoc, sourceId: string): Promise<KnowledgeSourceDoc> {
    const source = await knowledgeSource(readStore, sourceId);
    if (!source || source.kinId !== kin.id) throw knowledgeSourceNotFound();
    return source;
  }

  async function create(req: Request, res: Response, ctx: RequestContext) {
    const kin = await findKin(services, String(req.params.kinId));
    const multipart = req.is('multipart/form-data') === 'multipart/form-data';
    if (multipart) await parseMultipart(req, res);
    const { source, chunking } = multipart ? await sourceFromUpload(services, req) : await sourceFromJson(services, req.body);
    const sourceId = uuidv7();
    const result = await addKnowledgeSource(services, { sourceId, fields: { ...source, kinId: kin.id, ...chunking } }, ctx.commandMetadata());
    await services.settle(result.position);
    const [added] = result.events;
    if (added?.type !== 'KnowledgeSourceAdded') throw new Error(`Knowledge source ${sourceId} was not created`);
    // As created (pending): processing may already have begun in the background.
    res.status(201).json({ source: presentSource(addedSource(added.data)) });
  }

  return [
    defineOperation({
      name: 'knowledgeSources',
      summary: "List a Kin's knowledge sources (newest first)",
      method: 'get',
      path: base,
      auth: 'user',
      tags,
      params: kinParams,
      output: z.object({ sources: z.array(sourceSchema) }),
      async handler({ params }) {
        const kin = await findKin(services, params.kinId);
        return { sources: (await knowledgeSourcesOf(readStore, kin.id)).map(presentSource) };
      },
    }),
    defineRawOperation({
      name: 'createKnowledgeSource',
      summary:
        'Add a knowledge source: JSON {name, type: text|url|file, content?, sourceUrl?, chunkSize?, chunkOverlap?} (a URL is fetched now, through the SSRF guard), or multipart (field `file`: plain text, Markdown, HTML or PDF, at most 50 MB; `name?`, `chunkSize?`, `chunkOverlap?`). Processed in the background.',
      method: 'post',
      path: base,
      auth: 'user',
      tags,
      params: kinParams,
      openapi: {
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['name', 'type'],
                properties: {
                  name: { type: 'string' },
                  type: { type: 'string', enum: ['text', 'url', 'file'] },
                  content: { type: 'string' },
                  sourceUrl: { type: 'string' },
                  originalFilename: { type: 'string' },
                  mimeType: { type: 'string' },
                  chunkSize: { type: 'integer', minimum: MIN_CHUNK_TOKENS, maximum: MAX_CHUNK_TOKENS },
                  chunkOverlap: { type: 'integer', minimum: 0 },
                },
              },
            },
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: ['file'],
                properties: {
                  file: { type: 'string', format: 'binary' },
                  name: { type: 'string' },
                  chunkSize: { type: 'integer' },
                  chunkOverlap: { type: 'integer' },
                },
              },
            },
          },
        },
        responses: {
          '201': {
            description: 'The source, status pending',
            content: { 'application/json': { schema: { type: 'object', properties: { source: { $ref: '#/components/schemas/KnowledgeSource' } } } } },
          },
        },
      },
      raw: create,
    }),
    defineOperation({
      name: 'searchKnowledge',
      summary: "Search a Kin's knowledge base (hybrid: vectors and full text; full text alone without an embedding model)",
      method: 'get',
      path: `${base}/search`,
      auth: 'user',
      tags,
      params: kinParams,
      query: z.object({
        q: z.string({ error: 'q query parameter is required' }).trim().min(1, 'q query parameter is required'),
        limit: z.coerce
          .number({ error: 'limit must be an integer between 1 and 50' })
          .int('limit must be an integer between 1 and 50')
          .min(1, 'limit must be an integer between 1 and 50')
          .max(50, 'limit must be an integer between 1 and 50')
          .default(DEFAULT_SEARCH_LIMIT),
      }),
      errorCodes: { q: 'INVALID_INPUT', limit: 'INVALID_INPUT' },
      output: z.object({ results: z.array(hitSchema), metadata: z.object({ mode: z.enum(['hybrid', 'full-text']) }) }),
      async handler({ params, query }) {
        const kin = await findKin(services, params.kinId);
        const { results, mode } = await searchKnowledge(services, kin.id, query.q, query.limit);
        return { results, metadata: { mode } };
      },
    }),
    defineOperation({
      name: 'knowledgeSource',
      summary: 'Get a knowledge source and its chunks (by position; no vectors)',
      method: 'get',
      path: `${base}/:sourceId`,
      auth: 'user',
      tags,
      params: sourceParams,
      output: z.object({ source: sourceSchema, chunks: z.array(chunkSchema) }),
      async handler({ params }) {
        const source = await findSource(await findKin(services, params.kinId), params.sourceId);
        return { source: presentSource(source), chunks: (await chunksOfSource(readStore, source.id)).map(presentChunk) };
      },
    }),
    defineOperation({
      name: 'deleteKnowledgeSource',
      summary: 'Delete a knowledge source and its chunks',
      method: 'delete',
      path: `${base}/:sourceId`,
      auth: 'user',
      tags,
      params: sourceParams,
      output: z.object({ success: z.literal(true) }),
      async handler({ params }, ctx) {
        const source = await findSource(await findKin(services, params.kinId), params.sourceId);
        const result = await deleteKnowledgeSource(services, source.id, ctx.commandMetadata());
        await services.settle(result.position);
        return { success: true as const };
      },
    }),
    defineOperation({
      name: 'reprocessKnowledgeSource',
      summary: 'Process a source again (in the background), optionally with a new chunk size and overlap, which the source keeps',
      method: 'post',
      path: `${base}/:sourceId/reprocess`,
      auth: 'user',
      tags,
      params: sourceParams,
      body: reprocessInput,
      errorCodes: { chunkSize: 'INVALID_INPUT', chunkOverlap: 'INVALID_INPUT' },
      output: z.object({ success: z.literal(true), message: z.string() }),
      async handler({ params, body }, ctx) {
        const source = await findSource(await findKin(services, params.kinId), params.sourceId);
        const chunkSize = body?.chunkSize ?? source.metadata.chunkSize;
        if (body?.chunkOverlap !== undefined && body.chunkOverlap >= chunkSize) throw badRequest('INVALID_INPUT', 'chunkOverlap must be smaller than chunkSize');
        const result = await requestKnowledgeReprocess(services, source.id, { chunkSize: body?.chunkSize, chunkOverlap: body?.chunkOverlap }, ctx.commandMetadata());
        await services.settle(result.position);
        return { success: true as const, message: 'Reprocessing started' };
      },
    }),
  ];
}
