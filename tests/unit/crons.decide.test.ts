import { describe, expect, it } from 'vitest';
import {
  decideCron,
  decideCronRun,
  evolveCron,
  evolveCronRun,
  scheduledRunId,
  type CronCommand,
  type CronRunState,
  type CronState,
  type NewCron,
} from '../../src/commands/crons.js';
import type { CronEvent, CronRunEvent } from '../../src/events/crons.js';
import { readSchedule, slotOf, validateSchedule } from '../../src/lib/cronSchedule.js';
import { cronsProjection, CRONS } from '../../src/projections/crons.js';
import type { RecordedEvent } from '../../src/es/eventStore.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const now = new Date('2026-11-28T10:00:00.000Z');
const at = now.toISOString();
const cronId = 'c1';
const newCron: NewCron = { kinId: 'k1', name: 'Digest', schedule: '0 9 * * *', timezone: null, taskDescription: 'Summarise', targetKinId: null, model: null, runOnce: false };
const createdBy = (by: 'user' | 'kin'): CronEvent => ({
  type: 'CronCreated',
  data: { cronId, ...newCron, isActive: by === 'user', requiresApproval: by === 'kin', createdBy: by, createdAt: at },
});
const given = (...events: CronEvent[]): CronState => events.reduce(evolveCron, { status: 'none' } as CronState);
type Payload<C> = C extends CronCommand ? Omit<C, 'cronId' | 'now' | 'serverTimezone'> : never;
const when = (state: CronState, command: Payload<CronCommand>) =>
  decideCron({ cronId, now, serverTimezone: 'Europe/Paris', ...command } as CronCommand, state);
const approved: CronEvent = { type: 'CronApproved', data: { cronId, kinId: 'k1', approvedAt: at } };

describe('cron decider', () => {
  it("creates a user's cron active and a Kin's pending approval, once", () => {
    expect(when(given(), { type: 'CreateCron', cron: newCron, createdBy: 'user' })).toEqual([createdBy('user')]);
    expect(when(given(), { type: 'CreateCron', cron: newCron, createdBy: 'kin' })).toEqual([createdBy('kin')]);
    expect(() => when(given(createdBy('user')), { type: 'CreateCron', cron: newCron, createdBy: 'user' })).toThrow(expect.objectContaining({ status: 409 }));
  });

  it('refuses a bad schedule or time zone with the create and update codes', () => {
    const create = (cron: Partial<NewCron>) => () => when(given(), { type: 'CreateCron', cron: { ...newCron, ...cron }, createdBy: 'user' });
    expect(create({ schedule: '* *' })).toThrow(expect.objectContaining({ status: 400, code: 'CRON_CREATE_ERROR', message: 'Invalid schedule: "* *" — Expected 5 fields (or 6 with seconds), got 2' }));
    expect(create({ schedule: '2026-11-28T09:00' })).toThrow(expect.objectContaining({ code: 'CRON_CREATE_ERROR', message: 'Invalid schedule: "2026-11-28T09:00" — Datetime must be in the future' }));
    expect(create({ timezone: 'Europe/Atlantis' })).toThrow(expect.objectContaining({ code: 'CRON_CREATE_ERROR', message: expect.stringMatching(/^Invalid timezone: "Europe\/Atlantis"/) }));
    // The wall clock of a zone: 11:00 in Paris is 10:00 UTC, not in the future at 10:00 UTC.
    expect(create({ schedule: '2026-11-28T11:00', timezone: 'Europe/Paris' })).toThrow(expect.objectContaining({ message: expect.stringMatching(/must be in the future/) }));
    expect(create({ schedule: '2026-11-28T11:00', timezone: 'UTC' })).not.toThrow();
    const state = given(createdBy('user'));
    expect(() => when(state, { type: 'UpdateCron', changes: { schedule: '99 * * * *' }, editor: { by: 'user' } })).toThrow(expect.objectContaining({ code: 'CRON_UPDATE_ERROR' }));
    expect(() => when(state, { type: 'UpdateCron', changes: { timezone: 'nope' }, editor: { by: 'user' } })).toThrow(expect.objectContaining({ code: 'CRON_UPDATE_ERROR' }));
  });

  it('stores the canonical zone name and records only what changes', () => {
    const state = given(createdBy('user'));
    expect(when(state, { type: 'UpdateCron', changes: { name: 'Digest', timezone: 'asia/tokyo', isActive: true }, editor: { by: 'user' } })).toEqual([
      { type: 'CronUpdated', data: { cronId, kinId: 'k1', changes: { timezone: 'Asia/Tokyo' }, reason: 'edit', updatedAt: at } },
    ]);
    expect(when(state, { type: 'UpdateCron', changes: { name: 'Digest', targetKinId: null }, editor: { by: 'user' } })).toEqual([]);
  });

  it("sends a Kin's edit of when or what an approved cron runs back for approval, but not a rename", () => {
    const state = given(createdBy('kin'), approved);
    const kin = { by: 'kin' as const, kinId: 'k1' };
    expect(when(state, { type: 'UpdateCron', changes: { name: 'New name' }, editor: kin })).toEqual([
      { type: 'CronUpdated', data: { cronId, kinId: 'k1', changes: { name: 'New name' }, reason: 'edit', updatedAt: at } },
    ]);
    expect(when(state, { type: 'UpdateCron', changes: { schedule: '0 10 * * *' }, editor: kin })).toEqual([
      { type: 'CronUpdated', data: { cronId, kinId: 'k1', changes: { schedule: '0 10 * * *', requiresApproval: true, isActive: false }, reason: 'edit', updatedAt: at } },
    ]);
    // A user's edit does not need approval.
    expect(when(state, { type: 'UpdateCron', changes: { schedule: '0 10 * * *' }, editor: { by: 'user' } })[0]!.data).toMatchObject({ changes: { schedule: '0 10 * * *' } });
    // Switching a pending cron on is not a way around approval.
    expect(when(given(createdBy('kin')), { type: 'UpdateCron', changes: { isActive: true }, editor: kin })).toEqual([]);
  });

  it("hides another Kin's cron from a Kin", () => {
    const state = given(createdBy('user'));
    const other = { by: 'kin' as const, kinId: 'k2' };
    expect(() => when(state, { type: 'UpdateCron', changes: { name: 'x' }, editor: other })).toThrow(expect.objectContaining({ status: 404, code: 'NOT_FOUND', message: 'Cron not found' }));
    expect(() => when(state, { type: 'DeleteCron', editor: other })).toThrow(expect.objectContaining({ status: 404 }));
  });

  it('approves a pending cron once', () => {
    expect(when(given(createdBy('kin')), { type: 'ApproveCron' })).toEqual([approved]);
    expect(() => when(given(createdBy('kin'), approved), { type: 'ApproveCron' })).toThrow(
      expect.objectContaining({ status: 409, code: 'ALREADY_APPROVED', message: 'This cron does not require approval' }),
    );
    expect(given(createdBy('kin'), approved)).toMatchObject({ status: 'active', cron: { isActive: true, requiresApproval: false } });
  });

  it('switches a run-once cron off once, and clears a deleted target only if it is the target', () => {
    const state = given(createdBy('user'));
    expect(when(state, { type: 'CompleteRunOnce' })).toEqual([
      { type: 'CronUpdated', data: { cronId, kinId: 'k1', changes: { isActive: false }, reason: 'ran-once', updatedAt: at } },
    ]);
    expect(when(given(createdBy('user'), { type: 'CronUpdated', data: { cronId, kinId: 'k1', changes: { isActive: false }, reason: 'ran-once', updatedAt: at } }), { type: 'CompleteRunOnce' })).toEqual([]);
    expect(when(state, { type: 'ClearCronTarget', targetKinId: 'k9' })).toEqual([]);
    const targeted = given(createdBy('user'), { type: 'CronUpdated', data: { cronId, kinId: 'k1', changes: { targetKinId: 'k9' }, reason: 'edit', updatedAt: at } });
    expect(when(targeted, { type: 'ClearCronTarget', targetKinId: 'k9' })[0]!.data).toMatchObject({ changes: { targetKinId: null }, reason: 'target-deleted' });
  });

  it('refuses every command on a deleted cron', () => {
    const deleted = given(createdBy('user'), { type: 'CronDeleted', data: { cronId, kinId: 'k1', deletedAt: at } });
    for (const command of [{ type: 'DeleteCron', editor: { by: 'user' } }, { type: 'ApproveCron' }, { type: 'CompleteRunOnce' }] as const) {
      expect(() => when(deleted, command)).toThrow(expect.objectContaining({ status: 404 }));
    }
  });
});

describe('cron run decider', () => {
  const runId = 'r1';
  const claim = { type: 'ClaimCronRun' as const, runId, cronId, kinId: 'k1', trigger: 'schedule' as const, slot: new Date('2026-11-28T09:00:00Z'), now };
  const claimed: CronRunEvent = { type: 'CronRunClaimed', data: { runId, cronId, kinId: 'k1', trigger: 'schedule', slot: '2026-11-28T09:00:00.000Z', claimedAt: at } };
  const givenRun = (...events: CronRunEvent[]): CronRunState => events.reduce(evolveCronRun, { status: 'none' } as CronRunState);

  it('claims a slot once and refuses a second claim', () => {
    expect(decideCronRun(claim, givenRun())).toEqual([claimed]);
    expect(() => decideCronRun(claim, givenRun(claimed))).toThrow(expect.objectContaining({ status: 409, code: 'CRON_RUN_DUPLICATE' }));
  });

  it('records the task once, or the failure', () => {
    const task = { type: 'RecordCronRunTask' as const, runId, taskId: 't1', now };
    const triggered: CronRunEvent = { type: 'CronTriggered', data: { runId, cronId, kinId: 'k1', taskId: 't1', triggeredAt: at } };
    expect(decideCronRun(task, givenRun(claimed))).toEqual([triggered]);
    expect(decideCronRun(task, givenRun(claimed, triggered))).toEqual([]);
    expect(decideCronRun({ type: 'RecordCronRunFailure', runId, error: 'Max concurrent tasks (10) reached', now }, givenRun(claimed))).toEqual([
      { type: 'CronRunFailed', data: { runId, cronId, kinId: 'k1', error: 'Max concurrent tasks (10) reached', failedAt: at } },
    ]);
  });

  it('derives one run id per (cron, slot)', () => {
    const slot = new Date('2026-11-28T09:00:00Z');
    expect(scheduledRunId('c1', slot)).toBe(scheduledRunId('c1', new Date(slot)));
    expect(scheduledRunId('c1', slot)).not.toBe(scheduledRunId('c2', slot));
    expect(scheduledRunId('c1', slot)).not.toBe(scheduledRunId('c1', new Date(slot.getTime() + 1000)));
  });
});

describe('cron schedules', () => {
  it('gives a run the latest slot not after its start, in the cron zone', () => {
    const daily = readSchedule('0 9 * * *', 'Europe/Paris');
    expect(slotOf(daily, new Date('2026-11-28T08:00:00.000Z')).toISOString()).toBe('2026-11-28T08:00:00.000Z');
    expect(slotOf(daily, new Date('2026-11-28T08:00:00.750Z')).toISOString()).toBe('2026-11-28T08:00:00.000Z');
    // Missed for hours: the latest missed slot.
    expect(slotOf(daily, new Date('2026-11-30T07:59:59.000Z')).toISOString()).toBe('2026-11-29T08:00:00.000Z');
    const everySecond = readSchedule('* * * * * *', 'UTC');
    expect(slotOf(everySecond, new Date('2026-11-28T10:00:05.400Z')).toISOString()).toBe('2026-11-28T10:00:05.000Z');
    const once = validateSchedule('2026-12-01T09:30', 'America/New_York', now);
    expect(slotOf(once, new Date('2026-12-02T00:00:00Z')).toISOString()).toBe('2026-12-01T14:30:00.000Z');
  });

  it('reads nicknames and six fields, and names the reason of a refusal', () => {
    expect(readSchedule('@weekly', 'UTC')).toEqual({ kind: 'cron', expression: '@weekly', timezone: 'UTC' });
    expect(readSchedule('*/15 * * * * *', 'UTC').kind).toBe('cron');
    expect(() => readSchedule('0 0 30 2 *', 'UTC')).toThrow(/day of month/);
    expect(() => readSchedule('2026-02-30', 'UTC')).toThrow('Not a valid datetime');
  });
});

describe('crons projection', () => {
  it('applies every event idempotently', async () => {
    const handle = openSqlite(':memory:');
    const store = createSqliteReadStore(handle);
    await cronsProjection.setup!(store);
    let position = 0;
    const record = (stream: string, event: { type: string; data: unknown }): RecordedEvent => ({
      id: `e${++position}`,
      stream,
      type: event.type,
      revision: position,
      position,
      data: event.data,
      metadata: { actor: { kind: 'system', id: 't' }, correlationId: 'c', causationId: 'c', occurredAt: at, schemaVersion: 1 },
      recordedAt: at,
    });
    const events = [
      record('cron-c1', createdBy('kin')),
      record('cron-c1', approved),
      record('cron-c1', { type: 'CronUpdated', data: { cronId, kinId: 'k1', changes: { name: 'Renamed', timezone: 'UTC' }, reason: 'edit', updatedAt: at } }),
      record('cronrun-r1', { type: 'CronRunClaimed', data: { runId: 'r1', cronId, kinId: 'k1', trigger: 'manual', slot: null, claimedAt: '2026-11-28T10:00:01.000Z' } }),
    ];
    for (const event of events) {
      await cronsProjection.apply(event, store);
      await cronsProjection.apply(event, store);
    }
    expect(await store.collection(CRONS).get(cronId)).toMatchObject({
      name: 'Renamed',
      timezone: 'UTC',
      isActive: true,
      requiresApproval: false,
      createdBy: 'kin',
      lastTriggeredAt: Date.parse('2026-11-28T10:00:01.000Z'),
      createdAt: now.getTime(),
    });
    const deleted = record('cron-c1', { type: 'CronDeleted', data: { cronId, kinId: 'k1', deletedAt: at } });
    await cronsProjection.apply(deleted, store);
    await cronsProjection.apply(deleted, store);
    expect(await store.collection(CRONS).get(cronId)).toBeNull();
    handle.db.close();
  });
});
