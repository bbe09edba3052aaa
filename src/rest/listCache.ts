import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { CHECKPOINTS, type Checkpoint, type Projection } from '../es/projections.js';
import type { ReadStore } from '../es/readStore.js';

/**
 * Answers of list routes, serialized once and reused until the read models they come from change
 * (issue 12, "fast lists").
 *
 * An answer is keyed on the stored checkpoints of the projections that write what it reads. A
 * projection writes its checkpoint in the same read-store transaction as the documents of a batch,
 * so the checkpoint moves exactly when a write becomes visible: a POST that settled is seen by the
 * next GET (settle waits for that same checkpoint), in this process and in any other one sharing
 * the read store. Nothing is bumped on the write path, so replays and appends pay nothing.
 */

/** A JSON answer serialized once, with its strong ETag (a hash of the bytes). */
export type Serialized = { bytes: Buffer; etag: string };

const serializedBodies = new WeakMap<object, Serialized>();

/** The bytes a list cache keeps for this answer, if it came from one (src/app.ts sends those). */
export const serializedFormOf = (body: unknown): Serialized | undefined =>
  typeof body === 'object' && body !== null ? serializedBodies.get(body) : undefined;

/**
 * Sends a cached answer: its ETag, and 304 without a body when the client already holds it.
 * `no-cache` makes browsers revalidate every time (read-your-writes), `private` keeps shared caches
 * from storing an answer that needed credentials.
 */
export function sendSerialized(req: Request, res: Response, status: number, { bytes, etag }: Serialized): void {
  res.status(status).setHeader('ETag', etag);
  res.setHeader('Cache-Control', 'private, no-cache');
  if ((req.method === 'GET' || req.method === 'HEAD') && status === 200 && holds(req.get('if-none-match'), etag)) {
    return void res.status(304).end();
  }
  res.type('application/json').send(bytes);
}

/**
 * If-None-Match, with the weak comparison RFC 9110 §13.1.2 asks for. Express's `req.fresh` is not
 * used: it ignores the header when the request says `Cache-Control: no-cache`, which fetch() adds to
 * every conditional request, though that directive is meant for caches, not for the origin.
 */
function holds(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

function serialize(body: object): Serialized {
  const bytes = Buffer.from(JSON.stringify(body));
  return { bytes, etag: `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 32)}"` };
}

/**
 * `key` names the answer among those of the route: the query, and the caller's id whenever the
 * answer depends on who asks (an answer is only ever served under the key it was computed for).
 */
export type ListCache = <T extends object>(key: string, compute: () => Promise<T>) => Promise<T>;

type Entry = { version: string; body: object };

/** Answers kept per route: per-user lists keep one per recent caller and query. */
const DEFAULT_MAX_ENTRIES = 200;

export function listCache(readStore: ReadStore, options: { dependsOn: readonly Projection[]; maxEntries?: number }): ListCache {
  const names = options.dependsOn.map((projection) => projection.name);
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const entries = new Map<string, Entry>();

  /** Where the projections stand, or null while one is missing or being rebuilt (nothing is kept then). */
  async function currentVersion(): Promise<string | null> {
    const stored = await readStore.collection<Checkpoint>(CHECKPOINTS).find({ id: { $in: names } });
    const byName = new Map(stored.map((checkpoint) => [checkpoint.id, checkpoint]));
    const parts: string[] = [];
    for (const name of names) {
      const checkpoint = byName.get(name);
      if (!checkpoint || checkpoint.resetting) return null;
      parts.push(`${checkpoint.version}@${checkpoint.position}`);
    }
    return parts.join(',');
  }

  return async function cached<T extends object>(key: string, compute: () => Promise<T>): Promise<T> {
    const version = await currentVersion();
    const entry = entries.get(key);
    if (version !== null && entry?.version === version) return entry.body as T;
    const body = await compute();
    serializedBodies.set(body, serialize(body));
    // Kept only if no projection moved while it was computed, so that it is exactly the state at `version`.
    if (version !== null && (await currentVersion()) === version) {
      entries.delete(key);
      entries.set(key, { version, body });
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    }
    return body;
  };
}
