import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/es/eventStore.js';
import type { ReadStore } from '../../src/es/readStore.js';
import { allProjections } from '../../src/projections/index.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const dir = mkdtempSync(join(tmpdir(), 'kinbot-projections-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const kinId = '01936d3c-0000-7000-8000-00000000000a';
const at = '2026-11-28T10:00:00.000Z';
const history: Omit<RecordedEvent, 'position' | 'revision' | 'id' | 'metadata' | 'recordedAt'>[] = [
  { stream: 'users-directory', type: 'UserSignedUp', data: { userId: 'u1', email: 'a@b.c', name: 'Ada', role: 'admin', createdAt: at } },
  { stream: 'users-directory', type: 'UserSignedUp', data: { userId: 'u2', email: 'b@b.c', name: 'Bob', role: 'member', createdAt: at } },
  {
    stream: `kin-${kinId}`,
    type: 'KinCreated',
    data: { kinId, slug: 'scout', name: 'Scout', role: 'r', character: '', expertise: '', model: 'gpt-4o', providerId: null, mcpServerIds: [], workspacePath: '/w', createdBy: 'u1', createdAt: at },
  },
  { stream: `kin-${kinId}`, type: 'KinUpdated', data: { kinId, changes: { name: 'Scout 2', toolConfig: { disabledNativeTools: ['x'] } }, updatedAt: at } },
  { stream: `kin-${kinId}`, type: 'KinAvatarChanged', data: { kinId, avatar: { hash: 'f'.repeat(64), ext: 'png', contentType: 'image/png' }, updatedAt: at } },
  { stream: 'users-directory', type: 'UserDeleted', data: { userId: 'u2' } },
];
const events: RecordedEvent[] = history.map((event, i) => ({
  ...event,
  id: `e${i}`,
  revision: i,
  position: i + 1,
  recordedAt: at,
  metadata: { actor: { kind: 'system', id: 'test' }, correlationId: 'c', causationId: 'c', occurredAt: at, schemaVersion: 1 },
}));

async function project(name: string, times: number): Promise<ReadStore> {
  const store = createSqliteReadStore(openSqlite(join(dir, `${name}.db`)));
  for (const projection of allProjections) await projection.setup?.(store);
  for (const event of events) {
    for (const projection of allProjections) {
      if (!projection.handles.includes(event.type)) continue;
      for (let i = 0; i < times; i++) await projection.apply(event, store);
    }
  }
  return store;
}

const dump = async (store: ReadStore) =>
  Object.fromEntries(
    await Promise.all(
      allProjections.flatMap((p) => p.collections).map(async (name) => [name, await store.collection(name).find({}, { sort: { id: 1 } })]),
    ),
  );

describe('projections', () => {
  it('are idempotent: applying every event twice gives the same read models as once', async () => {
    const once = await dump(await project('once', 1));
    const twice = await dump(await project('twice', 2));
    expect(twice).toEqual(once);
    expect(once.kins).toHaveLength(1);
    expect(once.kins[0]).toMatchObject({ name: 'Scout 2', slug: 'scout', toolConfig: { disabledNativeTools: ['x'] } });
    expect(once.users.map((u: { id: string }) => u.id)).toEqual(['u1']);
  });
});
