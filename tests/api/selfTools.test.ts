import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeTools, type ToolContext } from '../../src/agents/tools.js';
import { kinInput, signUp, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
let kinId: string;
let context: ToolContext;

const run = (name: string, input: unknown) => nativeTools.find((t) => t.name === name)!.execute(input as never, context);

beforeAll(async () => {
  server = await startTestServer();
  const { api } = await signUp(server.url);
  kinId = (await api.post('/api/kins', kinInput({ name: 'Self', model: 'gpt-4o', toolConfig: undefined }))).body.kin.id;
  await api.patch(`/api/kins/${kinId}`, { toolConfig: { disabledNativeTools: ['http_request'] } });
  const { services } = server;
  context = { kinId, readStore: services.readStore, services, metadata: { actor: { kind: 'kin', id: kinId }, correlationId: 'c', now: new Date() } };
  // Two messages in the Kin's history, recorded the way the engine records them.
  const at = '2026-11-28T10:00:00.000Z';
  const meta = { actor: { kind: 'system' as const, id: 't' }, correlationId: 'c', causationId: 'c', occurredAt: at, schemaVersion: 1 };
  const { position } = await services.eventStore.append('turn-q1', [
    { type: 'MessageQueued', data: { queueItemId: 'q1', kinId, sessionId: null, content: 'My cat is called Misu', fileIds: [], sourceType: 'user', sourceId: null, priority: 100, queuedAt: at }, metadata: meta },
    { type: 'TurnStarted', data: { queueItemId: 'q1', kinId, userMessageId: 'm1', startedAt: at }, metadata: meta },
  ], 'no_stream');
  await services.settle(position);
});
afterAll(() => server.cleanup());

describe('self-knowledge tools', () => {
  it('get_system_info tells the Kin who it is and which tools it has', async () => {
    const info = (await run('get_system_info', {})) as { kin: { name: string }; contextWindow: number; enabledTools: string[] };
    expect(info.kin.name).toBe('Self');
    expect(info.contextWindow).toBe(128_000);
    expect(info.enabledTools).toContain('get_system_info');
    expect(info.enabledTools).not.toContain('http_request');
  });

  it('get_platform_config shows settings and providers without secrets', async () => {
    const config = (await run('get_platform_config', {})) as Record<string, unknown>;
    expect(config).toMatchObject({ compactingThresholdPercent: 75, allowPrivateNetworks: false, providers: [] });
  });

  it('search_history finds the Kin’s own messages, case-insensitively', async () => {
    const found = (await run('search_history', { query: 'misu', limit: 5 })) as { results: { id: string; content: string }[] };
    expect(found.results).toEqual([expect.objectContaining({ id: 'm1', content: 'My cat is called Misu' })]);
    expect(((await run('search_history', { query: 'dog', limit: 5 })) as { results: unknown[] }).results).toEqual([]);
  });
});
