import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHECKPOINTS, createProjectionRunner, type Projection } from '../../src/es/projections.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteEventStore } from '../../src/stores/sqlite/eventStore.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const dir = mkdtempSync(join(tmpdir(), 'kinbot-runner-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const meta = { actor: { kind: 'system' as const, id: 't' }, correlationId: 'c', causationId: 'c', occurredAt: '2026-11-28T10:00:00.000Z', schemaVersion: 1 };

describe('projection runner', () => {
  it('moves past events it does not handle without a transaction, applies the ones it does exactly once, and keeps its place on stop', async () => {
    const handle = openSqlite(join(dir, 'runner.db'));
    const eventStore = createSqliteEventStore(handle);
    const readStore = createSqliteReadStore(handle);
    let applied = 0;
    const counting: Projection = {
      name: 'counting',
      version: 1,
      handles: ['Counted'],
      collections: ['counted'],
      async apply(event, store) {
        applied++;
        await store.collection('counted').replace({ id: event.id, n: (event.data as { n: number }).n });
      },
    };
    const runner = createProjectionRunner({ eventStore, readStore, projections: [counting] });
    await runner.start();
    const ignored = await eventStore.append('other-1', Array.from({ length: 5 }, () => ({ type: 'Ignored', data: {}, metadata: meta })), 'any');
    expect(await runner.waitFor(ignored.position)).toBe(true);
    const stored = async () => (await readStore.collection(CHECKPOINTS).get('counting'))?.position;
    expect(await stored()).toBe(-1);
    const counted = await eventStore.append('count-1', [{ type: 'Counted', data: { n: 1 }, metadata: meta }], 'any');
    expect(await runner.waitFor(counted.position)).toBe(true);
    expect(await stored()).toBe(counted.position);
    const more = await eventStore.append('other-1', [{ type: 'Ignored', data: {}, metadata: meta }], 'any');
    await runner.waitFor(more.position);
    await runner.stop();
    expect(await stored()).toBe(more.position);
    expect(applied).toBe(1);

    // A restart neither re-applies nor misses anything.
    const again = createProjectionRunner({ eventStore, readStore, projections: [counting] });
    await again.start();
    const last = await eventStore.append('count-1', [{ type: 'Counted', data: { n: 2 }, metadata: meta }], 'any');
    await again.waitFor(last.position);
    await again.stop();
    expect(applied).toBe(2);
    expect(await readStore.collection('counted').count()).toBe(2);
  });
});

describe('a failing projection', () => {
  it('does not hold the others back, and catches up once it works again', async () => {
    const handle = openSqlite(join(dir, 'failing.db'));
    const eventStore = createSqliteEventStore(handle);
    const readStore = createSqliteReadStore(handle);
    let broken = true;
    const fragile: Projection = {
      name: 'fragile',
      version: 1,
      handles: ['Counted'],
      collections: ['fragile'],
      async apply(event, store) {
        if (broken) throw new Error('not today');
        await store.collection('fragile').replace({ id: event.id });
      },
    };
    const sturdy: Projection = {
      name: 'sturdy',
      version: 1,
      handles: ['Counted'],
      collections: ['sturdy'],
      async apply(event, store) {
        await store.collection('sturdy').replace({ id: event.id });
      },
    };
    const runner = createProjectionRunner({ eventStore, readStore, projections: [fragile, sturdy], batchSize: 2 });
    await runner.start();
    await eventStore.append('count-2', Array.from({ length: 7 }, (_, n) => ({ type: 'Counted', data: { n }, metadata: meta })), 'any');
    runner.notify();
    for (let i = 0; i < 100 && (await readStore.collection('sturdy').count()) < 7; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await readStore.collection('sturdy').count()).toBe(7);
    expect(await readStore.collection('fragile').count()).toBe(0);
    expect(runner.status().find((s) => s.name === 'fragile')!.error).toBe('not today');
    broken = false;
    for (let i = 0; i < 150 && (await readStore.collection('fragile').count()) < 7; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await readStore.collection('fragile').count()).toBe(7);
    await runner.stop();
  });
});
