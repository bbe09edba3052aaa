import type { RunCommand } from '../es/commandRunner.js';
import { fold, type CommandMetadata, type Decider } from '../es/decider.js';
import { badRequest, conflict, notFound } from '../es/errors.js';
import { compactionStream, MAX_VISIBLE_SNAPSHOTS, parseCompactionEvent, type CompactionEvent } from '../events/compacting.js';

export type Boundary = { createdAt: string; id: string };

export type Snapshot = {
  snapshotId: string;
  summary: string;
  boundary: Boundary;
  messageCount: number;
  createdAt: string;
  rolledBack: boolean;
};

/** What the model is given instead of the messages up to `boundary`. */
export type ActiveCompaction = { snapshotId: string; summary: string; boundary: Boundary };

export type CompactionState = {
  /** Every event folded so far, in order: a rollback replays a prefix of it. */
  log: CompactionEvent[];
  /** In the order they were taken. */
  snapshots: Snapshot[];
  active: ActiveCompaction | null;
};

type Base = { kinId: string; now: Date };

export type CompactionCommand =
  | (Base & {
      type: 'TakeSnapshot';
      snapshotId: string;
      summary: string;
      upTo: Boundary;
      messageCount: number;
      model: string;
      /** The snapshot that was active when the summary was written (null: none); see decide. */
      basedOn: string | null;
    })
  | (Base & { type: 'RollBack'; toSnapshotId: string })
  | (Base & { type: 'Purge' });

export const initialCompactionState = (): CompactionState => ({ log: [], snapshots: [], active: null });

export const foldCompaction = (events: CompactionEvent[]): CompactionState => fold({ initialState: initialCompactionState, evolve: evolveCompaction }, events);

/**
 * A rollback is literally a replay: the active summary and boundary after `SnapshotsRolledBack`
 * are those of the stream folded up to (and including) the target's `SnapshotTaken`. The later
 * snapshots stay, marked rolled back; the target loses that mark if an earlier rollback set it.
 */
export function evolveCompaction(state: CompactionState, event: CompactionEvent): CompactionState {
  const log = [...state.log, event];
  switch (event.type) {
    case 'SnapshotTaken': {
      const { snapshotId, summary, upToMessageId, upToCreatedAt, messageCount, createdAt } = event.data;
      const boundary = { createdAt: upToCreatedAt, id: upToMessageId };
      return {
        log,
        snapshots: [...state.snapshots, { snapshotId, summary, boundary, messageCount, createdAt, rolledBack: false }],
        active: { snapshotId, summary, boundary },
      };
    }
    case 'SnapshotsRolledBack': {
      const { toSnapshotId, rolledBackIds } = event.data;
      const taken = state.log.findIndex((e) => e.type === 'SnapshotTaken' && e.data.snapshotId === toSnapshotId);
      if (taken < 0) return { ...state, log };
      const replayed = foldCompaction(state.log.slice(0, taken + 1));
      const marked = new Set(rolledBackIds);
      const snapshots = state.snapshots.map((snapshot) =>
        snapshot.snapshotId === toSnapshotId ? { ...snapshot, rolledBack: false } : marked.has(snapshot.snapshotId) ? { ...snapshot, rolledBack: true } : snapshot,
      );
      return { log, snapshots, active: replayed.active };
    }
    case 'CompactionPurged':
      return { ...state, log, active: null };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export const visibleSnapshots = (state: CompactionState): Snapshot[] => state.snapshots.slice(-MAX_VISIBLE_SNAPSHOTS);

export const snapshotNotFound = () => notFound('SNAPSHOT_NOT_FOUND', 'Snapshot not found');

export function decideCompaction(command: CompactionCommand, state: CompactionState): CompactionEvent[] {
  const { kinId } = command;
  const at = command.now.toISOString();
  switch (command.type) {
    case 'TakeSnapshot': {
      const { snapshotId, summary, upTo, messageCount, model } = command;
      if (state.snapshots.some((snapshot) => snapshot.snapshotId === snapshotId)) return [];
      // The summary merges the active one and starts at its boundary: if a rollback or a purge
      // happened while it was being written, it describes a state that no longer exists.
      if ((state.active?.snapshotId ?? null) !== command.basedOn) {
        throw conflict('COMPACTION_CHANGED', 'The compaction state changed while the summary was being written; run it again');
      }
      const data = { snapshotId, kinId, summary, upToMessageId: upTo.id, upToCreatedAt: upTo.createdAt, messageCount, model, createdAt: at };
      return [{ type: 'SnapshotTaken', data }];
    }
    case 'RollBack': {
      const snapshots = visibleSnapshots(state);
      const index = snapshots.findIndex((snapshot) => snapshot.snapshotId === command.toSnapshotId);
      if (index < 0) throw snapshotNotFound();
      if (state.active?.snapshotId === command.toSnapshotId) throw badRequest('ALREADY_ACTIVE', 'This snapshot is already active');
      const later = state.snapshots.slice(state.snapshots.indexOf(snapshots[index]!) + 1);
      const rolledBackIds = later.filter((snapshot) => !snapshot.rolledBack).map((snapshot) => snapshot.snapshotId);
      return [{ type: 'SnapshotsRolledBack', data: { kinId, toSnapshotId: command.toSnapshotId, rolledBackIds, at } }];
    }
    case 'Purge':
      return state.active ? [{ type: 'CompactionPurged', data: { kinId, at } }] : [];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const compactionDecider: Decider<CompactionState, CompactionCommand, CompactionEvent> = {
  initialState: initialCompactionState,
  evolve: evolveCompaction,
  decide: decideCompaction,
};

// ── Handlers ──────────────────────────────────────────────────────────────────────────────────

type Deps = { runCommand: RunCommand };

export const runCompactionCommand = (deps: Deps, command: CompactionCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: compactionStream(command.kinId), decider: compactionDecider, parse: parseCompactionEvent, command, metadata });

export const rollBackCompaction = (deps: Deps, kinId: string, toSnapshotId: string, metadata: CommandMetadata) =>
  runCompactionCommand(deps, { type: 'RollBack', kinId, toSnapshotId, now: metadata.now }, metadata);

export const purgeCompaction = (deps: Deps, kinId: string, metadata: CommandMetadata) =>
  runCompactionCommand(deps, { type: 'Purge', kinId, now: metadata.now }, metadata);
