import { describe, expect, it } from 'vitest';
import {
  decideKin,
  decideSlug,
  evolveKin,
  evolveSlug,
  initialKinState,
  ORPHAN_CLAIM_MS,
  slugCandidate,
  slugify,
  type KinCommand,
} from '../../src/commands/kins.js';
import type { KinEvent, SlugEvent } from '../../src/events/kins.js';
import { DomainError } from '../../src/es/errors.js';

const now = new Date('2026-11-28T10:00:00.000Z');
const kinId = '01936d3c-0000-7000-8000-000000000001';
const fields = {
  slug: 'scout',
  name: 'Scout',
  role: 'Finds things',
  character: '',
  expertise: '',
  model: 'gpt-4o',
  providerId: null,
  mcpServerIds: [],
};
const created: KinEvent = {
  type: 'KinCreated',
  data: { kinId, ...fields, workspacePath: '/w', createdBy: 'u1', createdAt: now.toISOString() },
};

/** Given events, when command, then events (or the error's code). */
function given(events: KinEvent[]) {
  const state = events.reduce(evolveKin, initialKinState());
  return {
    when: (command: KinCommand) => {
      try {
        return decideKin(command, state);
      } catch (error) {
        return (error as DomainError).code;
      }
    },
    state,
  };
}

describe('Kin decider', () => {
  it('creates a Kin once', () => {
    const command: KinCommand = { type: 'CreateKin', kinId, fields, workspacePath: '/w', createdBy: 'u1', now };
    expect(given([]).when(command)).toEqual([created]);
    expect(given([created]).when(command)).toBe('KIN_EXISTS');
  });

  it('records only the fields that change, and nothing when none does', () => {
    const update = (changes: object): KinCommand => ({ type: 'UpdateKin', kinId, changes, now });
    expect(given([created]).when(update({ name: 'Scout', role: 'Explores' }))).toEqual([
      { type: 'KinUpdated', data: { kinId, changes: { role: 'Explores' }, updatedAt: now.toISOString() } },
    ]);
    expect(given([created]).when(update({ name: 'Scout' }))).toEqual([]);
    expect(given([created]).when(update({ toolConfig: null }))).toEqual([]);
  });

  it('refuses to touch a Kin that does not exist or was deleted', () => {
    const deleted: KinEvent = { type: 'KinDeleted', data: { kinId, deletedAt: now.toISOString() } };
    for (const history of [[], [created, deleted]]) {
      expect(given(history).when({ type: 'UpdateKin', kinId, changes: { name: 'x' }, now })).toBe('KIN_NOT_FOUND');
      expect(given(history).when({ type: 'DeleteKin', kinId, now })).toBe('KIN_NOT_FOUND');
    }
  });

  it('folds updates and avatar changes into the state', () => {
    const avatar = { hash: 'a'.repeat(64), ext: 'png', contentType: 'image/png' };
    const { state } = given([
      created,
      { type: 'KinUpdated', data: { kinId, changes: { name: 'Renamed' }, updatedAt: now.toISOString() } },
      { type: 'KinAvatarChanged', data: { kinId, avatar, updatedAt: now.toISOString() } },
    ]);
    expect(state).toMatchObject({ status: 'active', kin: { name: 'Renamed', role: 'Finds things', avatar } });
  });
});

describe('slug claims', () => {
  const claimed: SlugEvent = { type: 'KinSlugClaimed', data: { slug: 'scout', kinId: 'a', claimedAt: now.toISOString() } };
  const state = (events: SlugEvent[]) => events.reduce(evolveSlug, { holder: null, claimedAt: 0 });
  const later = (ms: number) => new Date(now.getTime() + ms);

  it('lets one Kin claim a free slug and refuses it to others', () => {
    expect(decideSlug({ type: 'ClaimSlug', slug: 'scout', kinId: 'a', now }, state([]))).toEqual([claimed]);
    expect(decideSlug({ type: 'ClaimSlug', slug: 'scout', kinId: 'a', now }, state([claimed]))).toEqual([]);
    expect(() => decideSlug({ type: 'ClaimSlug', slug: 'scout', kinId: 'b', now }, state([claimed]))).toThrow('already in use');
  });

  it('frees a released slug, but only its holder can release it', () => {
    expect(decideSlug({ type: 'ReleaseSlug', slug: 'scout', kinId: 'b' }, state([claimed]))).toEqual([]);
    const released = decideSlug({ type: 'ReleaseSlug', slug: 'scout', kinId: 'a' }, state([claimed]));
    expect(released).toEqual([{ type: 'KinSlugReleased', data: { slug: 'scout', kinId: 'a' } }]);
    expect(decideSlug({ type: 'ClaimSlug', slug: 'scout', kinId: 'b', now }, state([claimed, ...released]))).toHaveLength(1);
  });

  it('takes over an orphaned claim only after the grace period', () => {
    const young = { type: 'ClaimSlug', slug: 'scout', kinId: 'b', now: later(1000), replacingOrphanOf: 'a' } as const;
    expect(() => decideSlug(young, state([claimed]))).toThrow('already in use');
    const old = { ...young, now: later(ORPHAN_CLAIM_MS + 1) };
    expect(decideSlug(old, state([claimed]))[0]).toMatchObject({ type: 'KinSlugClaimed', data: { kinId: 'b' } });
  });
});

describe('slug text', () => {
  it.each([
    ['Héllo Wörld', 'hello-world'],
    ['  --Ünïcödé__Name!! ', 'unicode-name'],
    ['!!!', 'kin'],
    ['a'.repeat(60), 'a'.repeat(50)],
  ])('slugify(%j) is %j', (source, slug) => expect(slugify(source)).toBe(slug));

  it('numbers candidates and keeps them within 50 characters', () => {
    expect(slugCandidate('scout', 1)).toBe('scout');
    expect(slugCandidate('scout', 3)).toBe('scout-3');
    expect(slugCandidate('a'.repeat(50), 12)).toBe(`${'a'.repeat(47)}-12`);
  });
});
