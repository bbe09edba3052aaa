import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import type { EventStore, NewEvent } from '../src/es/eventStore.js';
import { rebuildProjections, type Projection } from '../src/es/projections.js';
import type { ReadStore } from '../src/es/readStore.js';
import { kinEventSchema, kinStream, type KinChanges, type KinEvent } from '../src/events/kins.js';
import { allProjections } from '../src/projections/index.js';
import { KINS, kinsProjection } from '../src/projections/kins.js';
import { openSqlite } from '../src/stores/sqlite/database.js';
import { createSqliteEventStore } from '../src/stores/sqlite/eventStore.js';
import { createSqliteReadStore } from '../src/stores/sqlite/readStore.js';
import { isMain, note, perSecond, printSections, round, withTempDir, type Row, type Section } from './lib.js';

/**
 * How fast read models are rebuilt from the log (`npm run replay`): 100k Kin events (each Kin is
 * created, then updated) in a fresh SQLite store, replayed into every projection, then into `kins`
 * alone.
 */

const KINS_COUNT = 10_000;
export const EVENTS_PER_KIN = 10;
const TOTAL_EVENTS = KINS_COUNT * EVENTS_PER_KIN;

const CHANGES: ((n: number) => KinChanges)[] = [
  (n) => ({ name: `Kin ${n} (renamed)` }),
  (n) => ({ role: `assistant #${n}` }),
  (n) => ({ character: `Patient and precise; revision ${n}.` }),
  (n) => ({ expertise: `Topic ${n % 37}, event sourcing, TypeScript` }),
  (n) => ({ model: n % 2 ? 'gpt-4o-mini' : 'gpt-4o' }),
  (n) => ({ providerId: n % 3 ? null : uuidv7() }),
  () => ({ toolConfig: { disabledNativeTools: ['web_search'], enabledOptInTools: ['run_shell'] } }),
  (n) => ({ compactingConfig: { thresholdPercent: 50 + (n % 40), tokenThreshold: null } }),
  (n) => ({ slug: `kin-${n}-renamed` }),
];

/** One Kin's history (EVENTS_PER_KIN events), checked against the same schemas the kins projection parses with. */
export function kinHistory(index: number, start: number): NewEvent[] {
  const kinId = uuidv7();
  const at = (n: number) => new Date(start + index * 1000 + n).toISOString();
  const events: KinEvent[] = [
    {
      type: 'KinCreated',
      data: {
        kinId,
        slug: `kin-${index}`,
        name: `Kin ${index}`,
        role: 'assistant',
        character: 'Friendly and concise.',
        expertise: 'General knowledge',
        model: 'gpt-4o',
        providerId: null,
        mcpServerIds: [],
        workspacePath: `/data/workspaces/${kinId}`,
        createdBy: null,
        createdAt: at(0),
      },
    },
    ...Array.from({ length: EVENTS_PER_KIN - 1 }, (_, i): KinEvent => ({
      type: 'KinUpdated',
      data: { kinId, changes: CHANGES[i % CHANGES.length]!(index), updatedAt: at(i + 1) },
    })),
  ];
  const correlationId = uuidv7();
  return events.map((event, n) => {
    const { type, data } = kinEventSchema.parse(event);
    return {
      type,
      data,
      metadata: { actor: { kind: 'system', id: 'bench' }, correlationId, causationId: correlationId, occurredAt: at(n), schemaVersion: 1 },
    };
  });
}

export async function seed(eventStore: EventStore): Promise<number> {
  const started = performance.now();
  const start = Date.parse('2026-01-01T00:00:00Z');
  // One append per Kin: its whole history as a batch, the fast path of the adapter.
  for (let index = 0; index < KINS_COUNT; index++) {
    await eventStore.append(kinStream(`bench-${index}`), kinHistory(index, start), 'no_stream');
  }
  return (performance.now() - started) / 1000;
}

/** Seconds of CPU this process used since `since`: steadier than wall time on a shared machine. */
function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

async function rebuild(label: string, stores: { eventStore: EventStore; readStore: ReadStore }, projections: readonly Projection[]): Promise<Row> {
  note(`replay: rebuilding ${label}…`);
  const cpu = process.cpuUsage();
  const { events, seconds } = await rebuildProjections({ ...stores, projections });
  const cpuUsed = cpuSeconds(cpu);
  const kins = await stores.readStore.collection(KINS).count();
  return {
    rebuild: label,
    projections: projections.length,
    events,
    seconds: round(seconds, 2),
    'events/s': perSecond(events, seconds),
    'cpu seconds': round(cpuUsed, 2),
    'events/cpu s': perSecond(events, cpuUsed),
    'kins docs': kins,
  };
}

export async function benchReplay(): Promise<Section> {
  return withTempDir('replay', async (dir) => {
    const handle = openSqlite(path.join(dir, 'kinbot.db'));
    const eventStore = createSqliteEventStore(handle);
    const readStore = createSqliteReadStore(handle);
    try {
      note(`replay: writing ${TOTAL_EVENTS} events (${KINS_COUNT} Kins × ${EVENTS_PER_KIN})…`);
      const seedSeconds = await seed(eventStore);
      const stores = { eventStore, readStore };
      const rows = [
        await rebuild('all projections', stores, allProjections),
        await rebuild('kins only', stores, [kinsProjection]),
      ];
      return {
        // Each projection reads the whole log, so "events" is the log length times the projections.
        title:
          `Projection rebuild, SQLite, ${TOTAL_EVENTS.toLocaleString('en-US')} Kin events ` +
          `(seeded as ${KINS_COUNT.toLocaleString('en-US')} appends of ${EVENTS_PER_KIN} in ${round(seedSeconds, 2)} s)`,
        rows,
      };
    } finally {
      await eventStore.close();
      await readStore.close();
      handle.db.close();
    }
  });
}

if (isMain(import.meta.url)) printSections([await benchReplay()]);
