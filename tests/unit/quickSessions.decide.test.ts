import { describe, expect, it } from 'vitest';
import {
  assertCanSend,
  assertSessionOwner,
  decideQuickSession,
  decideSlots,
  evolveQuickSession,
  evolveSlots,
  quickSessionDecider,
  slotsDecider,
  QUICK_SESSION_RETENTION_MS,
  QUICK_SESSION_TTL_MS,
  type QuickSessionCommand,
  type SlotsCommand,
} from '../../src/commands/quickSessions.js';
import type { QuickSessionEvent, QuickSessionSlotEvent } from '../../src/events/quickSessions.js';
import { DomainError } from '../../src/es/errors.js';

const now = new Date('2026-11-28T10:00:00.000Z');
const sessionId = '01936d3c-0000-7000-8000-0000000000a1';
const kinId = '01936d3c-0000-7000-8000-0000000000b1';
const owner = 'user-ada';
const stranger = 'user-bob';
const at = (ms: number) => new Date(now.getTime() + ms);

const created: QuickSessionEvent = {
  type: 'QuickSessionCreated',
  data: { sessionId, kinId, createdBy: owner, title: 'Side', createdAt: now.toISOString(), expiresAt: at(QUICK_SESSION_TTL_MS).toISOString() },
};
const closed = (reason: 'user' | 'expired' = 'user', when = at(1000)): QuickSessionEvent => ({
  type: 'QuickSessionClosed',
  data: { sessionId, kinId, closedAt: when.toISOString(), reason },
});

const stateOf = (events: QuickSessionEvent[]) => events.reduce(evolveQuickSession, quickSessionDecider.initialState());

/** Given events, when command, then events (or the error's code). */
function given(events: QuickSessionEvent[]) {
  const state = stateOf(events);
  return {
    when: (command: QuickSessionCommand) => {
      try {
        return decideQuickSession(command, state);
      } catch (error) {
        return (error as DomainError).code;
      }
    },
  };
}

const close = (by: string | null, extra: Partial<Extract<QuickSessionCommand, { type: 'CloseQuickSession' }>> = {}): QuickSessionCommand => ({
  type: 'CloseQuickSession',
  sessionId,
  by,
  reason: by === null ? 'expired' : 'user',
  saveMemory: false,
  now: at(1000),
  ...extra,
});

const codeOf = (work: () => unknown) => {
  try {
    work();
    return null;
  } catch (error) {
    return (error as DomainError).code;
  }
};

describe('quick session decider', () => {
  it('creates a session that expires 24 hours after its creation time', () => {
    const command: QuickSessionCommand = { type: 'CreateQuickSession', sessionId, kinId, createdBy: owner, title: 'Side', now };
    expect(given([]).when(command)).toEqual([created]);
    expect(given([created]).when(command)).toBe('SESSION_EXISTS');
  });

  it('lets only the owner close a session: unknown → SESSION_NOT_FOUND, another user → FORBIDDEN', () => {
    expect(given([]).when(close(owner))).toBe('SESSION_NOT_FOUND');
    expect(given([created]).when(close(stranger))).toBe('FORBIDDEN');
    expect(given([created, closed()]).when(close(stranger))).toBe('FORBIDDEN');
    expect(given([created]).when(close(owner))).toEqual([closed()]);
  });

  it('closes once: closing again changes nothing and ignores the body', () => {
    expect(given([created, closed()]).when(close(owner, { saveMemory: true }))).toEqual([]);
    expect(given([created, closed()]).when(close(owner, { memorySummary: 'x'.repeat(6000) }))).toEqual([]);
  });

  it('records the trimmed summary only when asked to save it, within 5000 characters', () => {
    const saved = given([created]).when(close(owner, { saveMemory: true, memorySummary: `  ${'a'.repeat(5000)}  ` }));
    expect(saved).toEqual([{ ...closed(), data: { ...closed().data, memorySummary: 'a'.repeat(5000) } }]);
    expect(given([created]).when(close(owner, { memorySummary: 'kept out' }))).toEqual([closed()]);
    expect(given([created]).when(close(owner, { memorySummary: 'a'.repeat(5001) }))).toBe('SUMMARY_TOO_LONG');
    expect(given([created]).when(close(owner, { saveMemory: true, memorySummary: '   ' }))).toBe('SUMMARY_REQUIRED');
    expect(given([created]).when(close(owner, { saveMemory: true }))).toBe('SUMMARY_REQUIRED');
  });

  it('lets the platform close an expired session without an owner check', () => {
    expect(given([created]).when(close(null))).toEqual([closed('expired')]);
    expect(given([]).when(close(null))).toBe('SESSION_NOT_FOUND');
  });

  it('purges a session only when it has been closed for longer than the retention period', () => {
    const purge = (ms: number): QuickSessionCommand => ({ type: 'PurgeQuickSession', sessionId, now: at(1000 + ms) });
    expect(given([created]).when(purge(QUICK_SESSION_RETENTION_MS + 1))).toEqual([]);
    expect(given([created, closed()]).when(purge(QUICK_SESSION_RETENTION_MS))).toEqual([]);
    const purged = given([created, closed()]).when(purge(QUICK_SESSION_RETENTION_MS + 1));
    expect(purged).toEqual([{ type: 'QuickSessionPurged', data: { sessionId, kinId, purgedAt: at(1000 + QUICK_SESSION_RETENTION_MS + 1).toISOString() } }]);
    const gone = stateOf([created, closed(), (purged as QuickSessionEvent[])[0]!]);
    expect(gone).toEqual({ status: 'purged' });
    expect(codeOf(() => decideQuickSession(close(owner), gone))).toBe('SESSION_NOT_FOUND');
  });
});

describe('who may send to a session', () => {
  it('is the owner (404 for an unknown session, 403 for another user’s)', () => {
    expect(codeOf(() => assertSessionOwner(null, owner))).toBe('SESSION_NOT_FOUND');
    expect(codeOf(() => assertSessionOwner({ createdBy: owner }, stranger))).toBe('FORBIDDEN');
    expect(assertSessionOwner({ createdBy: owner }, owner)).toEqual({ createdBy: owner });
    expect(codeOf(() => assertCanSend(stateOf([]), owner, now))).toBe('SESSION_NOT_FOUND');
    expect(codeOf(() => assertCanSend(stateOf([created]), stranger, now))).toBe('FORBIDDEN');
  });

  it('while the session is open and its expiry has not passed', () => {
    expect(assertCanSend(stateOf([created]), owner, at(QUICK_SESSION_TTL_MS)).sessionId).toBe(sessionId);
    expect(codeOf(() => assertCanSend(stateOf([created]), owner, at(QUICK_SESSION_TTL_MS + 1)))).toBe('SESSION_EXPIRED');
    expect(codeOf(() => assertCanSend(stateOf([created, closed()]), owner, now))).toBe('SESSION_CLOSED');
    expect(codeOf(() => assertCanSend(stateOf([created, closed('expired')]), owner, now))).toBe('SESSION_EXPIRED');
  });
});

describe('quick session slots of a (Kin, user)', () => {
  const slot = { kinId, userId: owner, now };
  const claimed = (id: string): QuickSessionSlotEvent => ({ type: 'QuickSessionSlotClaimed', data: { kinId, userId: owner, sessionId: id, claimedAt: now.toISOString() } });
  const released = (id: string): QuickSessionSlotEvent => ({ type: 'QuickSessionSlotReleased', data: { kinId, userId: owner, sessionId: id, releasedAt: now.toISOString() } });
  const claim = (id: string, releasing: string[] = []): SlotsCommand => ({ type: 'ClaimQuickSessionSlot', ...slot, sessionId: id, max: 1, releasing });
  const when = (events: QuickSessionSlotEvent[], command: SlotsCommand) => {
    const state = events.reduce(evolveSlots, slotsDecider.initialState());
    try {
      return decideSlots(command, state);
    } catch (error) {
      return (error as DomainError).code;
    }
  };

  it('claims a free slot, and refuses a second one with MAX_QUICK_SESSIONS', () => {
    expect(when([], claim('s1'))).toEqual([claimed('s1')]);
    expect(when([claimed('s1')], claim('s2'))).toBe('MAX_QUICK_SESSIONS');
    expect(when([claimed('s1'), released('s1')], claim('s2'))).toEqual([claimed('s2')]);
  });

  it('is idempotent for the same session', () => {
    expect(when([claimed('s1')], claim('s1'))).toEqual([]);
  });

  it('releases stale holders in the same decision, ignoring ids it does not hold', () => {
    expect(when([claimed('s1')], claim('s2', ['s1', 's9']))).toEqual([released('s1'), claimed('s2')]);
    expect(when([claimed('s1')], claim('s2', ['s9']))).toBe('MAX_QUICK_SESSIONS');
  });

  it('releases a slot once', () => {
    const release: SlotsCommand = { type: 'ReleaseQuickSessionSlot', ...slot, sessionId: 's1' };
    expect(when([claimed('s1')], release)).toEqual([released('s1')]);
    expect(when([claimed('s1'), released('s1')], release)).toEqual([]);
  });
});
