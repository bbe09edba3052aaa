import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decideCompaction, foldCompaction, type CompactionCommand } from '../../src/commands/compacting.js';
import type { RecordedEvent } from '../../src/es/eventStore.js';
import { compactionStream, type CompactionEvent } from '../../src/events/compacting.js';
import { activeCompaction, compactingProjection, COMPACTING_SNAPSHOTS, visibleSnapshotDocs, type SnapshotDoc } from '../../src/projections/compacting.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const dir = mkdtempSync(join(tmpdir(), 'kinbot-compacting-'));
const readStore = createSqliteReadStore(openSqlite(join(dir, 'read.db')));
afterAll(async () => {
  await readStore.close();
  rmSync(dir, { recursive: true, force: true });
});

const kinId = 'kin-1';
const now = new Date('2026-11-28T10:00:00.000Z');
const take = (n: number, basedOn: string | null): CompactionCommand => ({
  type: 'TakeSnapshot',
  kinId,
  snapshotId: `s${String(n).padStart(2, '0')}`,
  summary: `summary ${n}`,
  upTo: { createdAt: `2026-11-28T09:${String(n).padStart(2, '0')}:00.000Z`, id: `m${n}` },
  messageCount: 20,
  model: 'fake-chat',
  basedOn,
  now,
});

function recorded(events: CompactionEvent[]): RecordedEvent[] {
  return events.map((event, revision) => ({
    id: `e${revision}`,
    stream: compactionStream(kinId),
    type: event.type,
    revision,
    position: revision,
    data: event.data,
    metadata: { actor: { kind: 'system', id: 't' }, correlationId: 'c', causationId: 'c', occurredAt: now.toISOString(), schemaVersion: 1 },
    recordedAt: now.toISOString(),
  }));
}

describe('compacting projection', () => {
  it('applies every event twice without changing the outcome, and agrees with the fold', async () => {
    const commands: CompactionCommand[] = [];
    for (let n = 1; n <= 12; n++) commands.push(take(n, n === 1 ? null : `s${String(n - 1).padStart(2, '0')}`));
    commands.push({ type: 'RollBack', kinId, toSnapshotId: 's05', now });
    commands.push({ type: 'Purge', kinId, now });
    commands.push({ type: 'RollBack', kinId, toSnapshotId: 's04', now });
    const events = commands.reduce<CompactionEvent[]>((all, command) => [...all, ...decideCompaction(command, foldCompaction(all))], []);
    await compactingProjection.setup!(readStore);
    for (const event of recorded(events)) {
      await compactingProjection.apply(event, readStore);
      await compactingProjection.apply(event, readStore);
    }
    const state = foldCompaction(events);
    expect(await activeCompaction(readStore, kinId)).toEqual(state.active);
    const visible = await visibleSnapshotDocs(readStore, kinId);
    expect(visible.map((doc) => doc.id)).toEqual(['s12', 's11', 's10', 's09', 's08', 's07', 's06', 's05', 's04', 's03']);
    expect(visible.filter((doc) => doc.isActive).map((doc) => doc.id)).toEqual(['s04']);
    expect(visible.filter((doc) => doc.rolledBack).map((doc) => doc.id)).toEqual(state.snapshots.filter((s) => s.rolledBack).map((s) => s.snapshotId).reverse());
    // Retired, not deleted.
    const all = await readStore.collection<SnapshotDoc>(COMPACTING_SNAPSHOTS).find({ kinId }, { sort: { seq: 1 } });
    expect(all.map((doc) => [doc.id, doc.retired])).toEqual(state.snapshots.map((s, i) => [s.snapshotId, i < 2]));
  });
});
