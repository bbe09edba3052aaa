import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import type { RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { badRequest, conflict, DomainError, notFound } from '../es/errors.js';
import type { EventStore } from '../es/eventStore.js';
import type { ReadStore } from '../es/readStore.js';
import {
  kinSlugStream,
  kinStream,
  parseKinEvent,
  parseSlugEvent,
  type Avatar,
  type KinChanges,
  type KinEvent,
  type SlugEvent,
} from '../events/kins.js';
import { KIN_SLUGS } from '../projections/kins.js';
import { Mutex } from '../lib/mutex.js';

// ── The Kin stream ────────────────────────────────────────────────────────────────────────────

export type KinFields = {
  slug: string;
  name: string;
  role: string;
  character: string;
  expertise: string;
  model: string;
  providerId: string | null;
  mcpServerIds: string[];
  toolConfig: KinChanges['toolConfig'] | null;
  compactingConfig: KinChanges['compactingConfig'] | null;
  avatar: Avatar | null;
};

export type KinState = { status: 'none' } | { status: 'active'; kin: KinFields } | { status: 'deleted' };

export type NewKinFields = Omit<KinFields, 'avatar' | 'toolConfig' | 'compactingConfig'>;

export type KinCommand =
  | { type: 'CreateKin'; kinId: string; fields: NewKinFields; workspacePath: string; createdBy: string | null; now: Date }
  | { type: 'UpdateKin'; kinId: string; changes: KinChanges; now: Date }
  | { type: 'SetKinAvatar'; kinId: string; avatar: Avatar; now: Date }
  | { type: 'DeleteKin'; kinId: string; now: Date };

export const kinNotFound = () => notFound('KIN_NOT_FOUND', 'Kin not found');

export const initialKinState = (): KinState => ({ status: 'none' });

export function evolveKin(state: KinState, event: KinEvent): KinState {
  switch (event.type) {
    case 'KinCreated': {
      const { slug, name, role, character, expertise, model, providerId, mcpServerIds } = event.data;
      const kin = { slug, name, role, character, expertise, model, providerId, mcpServerIds };
      return { status: 'active', kin: { ...kin, toolConfig: null, compactingConfig: null, avatar: null } };
    }
    case 'KinUpdated':
      return state.status === 'active' ? { status: 'active', kin: { ...state.kin, ...event.data.changes } } : state;
    case 'KinAvatarChanged':
      return state.status === 'active' ? { status: 'active', kin: { ...state.kin, avatar: event.data.avatar } } : state;
    case 'KinDeleted':
      return { status: 'deleted' };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

const sameValue = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** Keeps only the fields whose value differs from the current one. */
function changedFields(changes: KinChanges, kin: KinFields): KinChanges {
  return Object.fromEntries(
    Object.entries(changes).filter(([key, value]) => value !== undefined && !sameValue(value, kin[key as keyof KinFields])),
  );
}

export function decideKin(command: KinCommand, state: KinState): KinEvent[] {
  const { kinId } = command;
  const at = command.now.toISOString();
  if (command.type === 'CreateKin') {
    if (state.status !== 'none') throw conflict('KIN_EXISTS', 'A Kin with this id already exists');
    const { fields, workspacePath, createdBy } = command;
    return [{ type: 'KinCreated', data: { kinId, ...fields, workspacePath, createdBy, createdAt: at } }];
  }
  if (state.status !== 'active') throw kinNotFound();
  switch (command.type) {
    case 'UpdateKin': {
      const changes = changedFields(command.changes, state.kin);
      if (Object.keys(changes).length === 0) return [];
      return [{ type: 'KinUpdated', data: { kinId, changes, updatedAt: at } }];
    }
    case 'SetKinAvatar':
      return [{ type: 'KinAvatarChanged', data: { kinId, avatar: command.avatar, updatedAt: at } }];
    case 'DeleteKin':
      return [{ type: 'KinDeleted', data: { kinId, deletedAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const kinDecider: Decider<KinState, KinCommand, KinEvent> = {
  initialState: initialKinState,
  evolve: evolveKin,
  decide: decideKin,
};

// ── Slug claims ───────────────────────────────────────────────────────────────────────────────

/** A claim whose Kin never came into existence (a crash between the two appends) can be taken
 * over after this long; a younger one may belong to a creation still in progress. */
export const ORPHAN_CLAIM_MS = 60_000;

export type SlugState = { holder: string | null; claimedAt: number };

export type SlugCommand =
  | { type: 'ClaimSlug'; slug: string; kinId: string; now: Date; replacingOrphanOf?: string }
  | { type: 'ReleaseSlug'; slug: string; kinId: string };

export const slugTaken = (holder: string) => {
  const error = conflict('SLUG_TAKEN', 'This slug is already in use');
  return Object.assign(error, { holder });
};

export function evolveSlug(state: SlugState, event: SlugEvent): SlugState {
  switch (event.type) {
    case 'KinSlugClaimed':
      return { holder: event.data.kinId, claimedAt: Date.parse(event.data.claimedAt) };
    case 'KinSlugReleased':
      return state.holder === event.data.kinId ? { holder: null, claimedAt: 0 } : state;
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export function decideSlug(command: SlugCommand, state: SlugState): SlugEvent[] {
  const { slug, kinId } = command;
  if (command.type === 'ReleaseSlug') {
    return state.holder === kinId ? [{ type: 'KinSlugReleased', data: { slug, kinId } }] : [];
  }
  if (state.holder === kinId) return [];
  const orphanTakeover =
    state.holder !== null &&
    command.replacingOrphanOf === state.holder &&
    command.now.getTime() - state.claimedAt > ORPHAN_CLAIM_MS;
  if (state.holder !== null && !orphanTakeover) throw slugTaken(state.holder);
  return [{ type: 'KinSlugClaimed', data: { slug, kinId, claimedAt: command.now.toISOString() } }];
}

export const slugDecider: Decider<SlugState, SlugCommand, SlugEvent> = {
  initialState: () => ({ holder: null, claimedAt: 0 }),
  evolve: evolveSlug,
  decide: decideSlug,
};

// ── Slug text ─────────────────────────────────────────────────────────────────────────────────

export const SLUG_MAX = 50;
const MAX_SLUG_ATTEMPTS = 1_000_000;
export const SLUG_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$/;

/** Lower-case, no diacritics, runs of other characters become one dash, at most 50 chars. */
export function slugify(source: string): string {
  const slug = source
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, SLUG_MAX)
    .replace(/-+$/, '');
  return slug || 'kin';
}

/** `base`, then `base-2`, `base-3`…, shortening the base so the result stays within 50 chars. */
export function slugCandidate(base: string, attempt: number): string {
  if (attempt === 1) return base;
  const suffix = `-${attempt}`;
  return base.slice(0, SLUG_MAX - suffix.length).replace(/-+$/, '') + suffix;
}

// ── Handlers: the decisions above, run against the stores ──────────────────────────────────────

export type KinDeps = {
  runCommand: RunCommand;
  eventStore: EventStore;
  readStore: ReadStore;
  dataDir: string;
};

export type KinInput = {
  name: string;
  role: string;
  model: string;
  character: string;
  expertise: string;
  slug?: string;
  providerId: string | null;
  mcpServerIds: string[];
};

const PROVIDERS = 'providers';

async function assertProviderExists(readStore: ReadStore, providerId: string | null | undefined): Promise<void> {
  if (providerId == null) return;
  if (!(await readStore.collection(PROVIDERS).get(providerId))) throw badRequest('INVALID_PROVIDER', 'Provider not found');
}

const runSlug = (deps: KinDeps, command: SlugCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: kinSlugStream(command.slug), decider: slugDecider, parse: parseSlugEvent, command, metadata });

const runKin = (deps: KinDeps, command: KinCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: kinStream(command.kinId), decider: kinDecider, parse: parseKinEvent, command, metadata });

/** Claims `slug` for the Kin; takes over a claim whose Kin never came to exist. */
async function claimSlug(deps: KinDeps, slug: string, kinId: string, metadata: CommandMetadata): Promise<void> {
  const claim = { type: 'ClaimSlug', slug, kinId, now: metadata.now } as const;
  try {
    await runSlug(deps, claim, metadata);
  } catch (error) {
    const holder = (error as { holder?: string }).holder;
    if (!holder) throw error;
    const holderExists = (await deps.eventStore.readStream(kinStream(holder), { limit: 1 })).length > 0;
    if (holderExists) throw error;
    await runSlug(deps, { ...claim, replacingOrphanOf: holder }, metadata);
  }
}

/**
 * Claims are made one at a time in this process: concurrent creations of one name would otherwise
 * all read the same taken set and race for the same candidate, each loser trying the next.
 */
const slugClaims = new Mutex();

/** The first free slug among `base`, `base-2`, `base-3`… (one read-model query, then claims). */
const claimFreeSlug = (deps: KinDeps, base: string, kinId: string, metadata: CommandMetadata) =>
  slugClaims.run(() => claimFirstFreeSlug(deps, base, kinId, metadata));

async function claimFirstFreeSlug(deps: KinDeps, base: string, kinId: string, metadata: CommandMetadata): Promise<string> {
  // Every candidate starts with this much of the base, however long its numeric suffix.
  const prefix = base.slice(0, SLUG_MAX - 8);
  const similar = await deps.readStore.collection(KIN_SLUGS).find({ id: { $gte: prefix, $lt: `${prefix}\uffff` } });
  const taken = new Set(similar.map((claim) => claim.id));
  for (let attempt = 1; attempt <= MAX_SLUG_ATTEMPTS; attempt++) {
    const candidate = slugCandidate(base, attempt);
    if (taken.has(candidate)) continue;
    try {
      await claimSlug(deps, candidate, kinId, metadata);
      return candidate;
    } catch (error) {
      if (!(error instanceof DomainError && error.code === 'SLUG_TAKEN')) throw error;
    }
  }
  throw conflict('SLUG_TAKEN', 'No free slug could be found for this name');
}

const releaseSlug = (deps: KinDeps, slug: string, kinId: string, metadata: CommandMetadata) =>
  runSlug(deps, { type: 'ReleaseSlug', slug, kinId }, metadata);

export async function createKin(deps: KinDeps, input: KinInput, metadata: CommandMetadata) {
  await assertProviderExists(deps.readStore, input.providerId);
  const kinId = uuidv7();
  const slug = await claimFreeSlug(deps, slugify(input.slug?.trim() || input.name), kinId, metadata);
  const workspacePath = join(deps.dataDir, 'workspaces', kinId);
  const { name, role, model, character, expertise, providerId, mcpServerIds } = input;
  const fields = { slug, name, role, model, character, expertise, providerId, mcpServerIds };
  try {
    const createdBy = metadata.actor.kind === 'system' ? null : metadata.actor.id;
    const result = await runKin(deps, { type: 'CreateKin', kinId, fields, workspacePath, createdBy, now: metadata.now }, metadata);
    // The workspace is a convenience folder for tools; recreating it is harmless, so no reactor.
    await mkdir(join(workspacePath, 'tools'), { recursive: true });
    return { kinId, position: result.position };
  } catch (error) {
    await releaseSlug(deps, slug, kinId, metadata);
    throw error;
  }
}

export async function updateKin(deps: KinDeps, kinId: string, currentSlug: string, changes: KinChanges, metadata: CommandMetadata) {
  await assertProviderExists(deps.readStore, changes.providerId);
  const newSlug = changes.slug !== undefined && changes.slug !== currentSlug ? changes.slug : null;
  if (newSlug) await claimSlug(deps, newSlug, kinId, metadata);
  try {
    const result = await runKin(deps, { type: 'UpdateKin', kinId, changes, now: metadata.now }, metadata);
    if (newSlug) await releaseSlug(deps, currentSlug, kinId, metadata);
    return result;
  } catch (error) {
    if (newSlug) await releaseSlug(deps, newSlug, kinId, metadata);
    throw error;
  }
}

export const setKinAvatar = (deps: KinDeps, kinId: string, avatar: Avatar, metadata: CommandMetadata) =>
  runKin(deps, { type: 'SetKinAvatar', kinId, avatar, now: metadata.now }, metadata);

export async function deleteKin(deps: KinDeps, kin: { id: string; slug: string }, metadata: CommandMetadata) {
  const result = await runKin(deps, { type: 'DeleteKin', kinId: kin.id, now: metadata.now }, metadata);
  await releaseSlug(deps, kin.slug, kin.id, metadata);
  await rm(join(deps.dataDir, 'workspaces', kin.id), { recursive: true, force: true });
  return result;
}
