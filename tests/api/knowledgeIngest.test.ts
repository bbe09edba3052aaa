import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkText } from '../../src/agents/chunking.js';
import { processKnowledgeRequest } from '../../src/agents/knowledgeIngest.js';
import { addKnowledgeSource, deleteKnowledgeSource } from '../../src/commands/knowledge.js';
import { loadConfig } from '../../src/config.js';
import type { RunCommand } from '../../src/es/commandRunner.js';
import { knowledgeStream } from '../../src/events/knowledge.js';
import { chunksOfSource, knowledgeIndex, knowledgeSource } from '../../src/projections/knowledge.js';
import { openServices, type Services } from '../../src/services.js';

/**
 * Processing at the level of the services, without the reactor running, so that a test decides
 * when a request is processed and can cut a run short as a crash would.
 */

const dataDir = mkdtempSync(join(tmpdir(), 'kinbot-knowledge-ingest-'));
let services: Services;
const metadata = () => ({ actor: { kind: 'user' as const, id: 'u1' }, correlationId: uuidv7(), now: new Date() });

beforeAll(async () => {
  services = await openServices(loadConfig({ ...process.env, KINBOT_DATA_DIR: dataDir, LOG_LEVEL: 'silent' }), pino({ level: 'silent' }));
  await services.projections.start();
});
afterAll(async () => {
  await services.close();
  rmSync(dataDir, { recursive: true, force: true });
});

// Every paragraph alone fills a 16-token chunk: 2000 chunks, recorded in two batches.
const content = Array.from({ length: 2000 }, (_, i) => `Note ${i} about the little island quokka`).join('\n\n');

async function newSource(kinId: string) {
  const sourceId = uuidv7();
  const fields = { kinId, name: 'Notes', type: 'text' as const, originalFilename: null, mimeType: null, sourceUrl: null, rawContent: content, blob: null, chunkSize: 16, chunkOverlap: 10 };
  const added = await addKnowledgeSource(services, { sourceId, fields }, metadata());
  await services.settle(added.position);
  const [event] = await services.eventStore.readStream(knowledgeStream(sourceId), { limit: 1 });
  return { sourceId, requestId: (event!.data as { requestId: string }).requestId };
}

describe('processing a knowledge request', () => {
  it('starts a run cut short by a crash over, and skips a request already processed', async () => {
    const kinId = uuidv7();
    const { sourceId, requestId } = await newSource(kinId);
    const expected = chunkText(content, { maxTokens: 16, overlapTokens: 10 });
    expect(expected).toHaveLength(2000);

    // The process dies after recording the first batch of chunks.
    let batches = 0;
    const crashing: RunCommand = (request) => {
      if (request.stream.startsWith('knowledgechunks-') && ++batches === 2) return Promise.reject(new Error('kill -9'));
      return services.runCommand(request);
    };
    await expect(processKnowledgeRequest({ ...services, runCommand: crashing }, { sourceId, requestId })).rejects.toThrow('kill -9');
    const cut = await knowledgeSource(services.readStore, sourceId);
    expect(cut?.status).toBe('processing');
    expect((await chunksOfSource(services.readStore, sourceId)).length).toBe(1000);

    // The redelivered request starts a new run, whose chunks replace the dead run's.
    expect(await processKnowledgeRequest(services, { sourceId, requestId })).toBe('ready');
    const ready = await knowledgeSource(services.readStore, sourceId);
    expect(ready).toMatchObject({ status: 'ready', chunkCount: 2000, tokenCount: expected.reduce((sum, chunk) => sum + chunk.tokenCount, 0) });
    const chunks = await chunksOfSource(services.readStore, sourceId);
    expect(chunks.map((chunk) => chunk.content)).toEqual(expected.map((chunk) => chunk.content));
    expect(chunks.every((chunk) => chunk.runId === ready!.runId)).toBe(true);
    expect(await knowledgeIndex(services.readStore).count({ sourceId })).toBe(2000);

    // Delivered once more (the reactor's at-least-once): nothing happens.
    expect(await processKnowledgeRequest(services, { sourceId, requestId })).toBe('skipped');
    expect((await chunksOfSource(services.readStore, sourceId)).map((chunk) => chunk.id)).toEqual(chunks.map((chunk) => chunk.id));
  });

  it('stops a run whose source is deleted meanwhile, leaving nothing behind', async () => {
    const kinId = uuidv7();
    const { sourceId, requestId } = await newSource(kinId);
    // The deletion lands while the first batch is being recorded.
    const deleting: RunCommand = async (request) => {
      const result = await services.runCommand(request);
      if (request.stream.startsWith('knowledgechunks-')) await services.settle((await deleteKnowledgeSource(services, sourceId, metadata())).position);
      return result;
    };
    expect(await processKnowledgeRequest({ ...services, runCommand: deleting }, { sourceId, requestId })).toBe('superseded');
    expect(await knowledgeSource(services.readStore, sourceId)).toBeNull();
    expect(await chunksOfSource(services.readStore, sourceId)).toEqual([]);
    expect(await knowledgeIndex(services.readStore).count({ kinId })).toBe(0);
  });
});
