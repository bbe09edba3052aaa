/**
 * The BlobStore contract: every adapter runs this suite (see blobStore.test.ts). Each test gets a
 * fresh, empty store.
 */
import { createHash, randomBytes } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../src/es/blobStore.js';

export type BlobStoreFixture = {
  store: BlobStore;
  cleanup(): Promise<void>;
  /** How many stored copies the adapter holds under this hash; lets the suite check "stored once". */
  copiesOf?(hash: string): Promise<number>;
};

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const everyByteValue = () => Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const UNKNOWN_HASH = sha256(Buffer.from('never stored'));
/** Near misses of a stored blob's hash, so a store that skipped validation would find something. */
const malformedVariantsOf = (hash: string) => [
  '',
  'abc',
  hash.toUpperCase(),
  `${hash}0`,
  `${hash}\n`,
  ` ${hash}`,
  `${hash.slice(0, 63)}g`,
  `${hash.slice(0, 2)}/${hash}`,
  `../${hash.slice(0, 2)}/${hash}`,
  '../../../../../../../../etc/passwd',
];

export function blobStoreContract(name: string, make: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let fixture: BlobStoreFixture;
    let store: BlobStore;

    beforeEach(async () => {
      fixture = await make();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it('answers a ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('addresses a blob by the sha256 of its bytes', async () => {
      const bytes = everyByteValue();
      const info = await store.put(bytes, 'application/octet-stream');
      expect(info).toEqual({ hash: sha256(bytes), size: 256, contentType: 'application/octet-stream' });
    });

    it('gives back exactly the binary bytes that were put, with their info', async () => {
      const bytes = everyByteValue();
      const info = await store.put(bytes, 'image/png');
      const blob = await store.get(info.hash);
      expect(blob?.info).toEqual(info);
      expect(blob?.bytes.equals(bytes)).toBe(true);
    });

    it('round-trips a 3 MB random buffer', async () => {
      const bytes = randomBytes(3 * 1024 * 1024);
      const info = await store.put(bytes, 'application/octet-stream');
      expect(info.hash).toBe(sha256(bytes));
      expect(info.size).toBe(bytes.length);
      const blob = await store.get(info.hash);
      expect(blob?.bytes.length).toBe(bytes.length);
      expect(blob?.bytes.equals(bytes)).toBe(true);
    });

    it('round-trips an empty blob', async () => {
      const info = await store.put(Buffer.alloc(0), 'text/plain');
      expect(info).toEqual({ hash: sha256(Buffer.alloc(0)), size: 0, contentType: 'text/plain' });
      const blob = await store.get(info.hash);
      expect(blob?.bytes.length).toBe(0);
    });

    it('keeps the content type', async () => {
      const info = await store.put(Buffer.from('<svg/>'), 'image/svg+xml');
      expect((await store.stat(info.hash))?.contentType).toBe('image/svg+xml');
      expect((await store.get(info.hash))?.info.contentType).toBe('image/svg+xml');
    });

    it('stores the same bytes once and returns the same hash', async () => {
      const bytes = randomBytes(1024);
      const first = await store.put(bytes, 'image/png');
      const second = await store.put(Buffer.from(bytes), 'image/png');
      expect(second).toEqual(first);
      if (fixture.copiesOf) expect(await fixture.copiesOf(first.hash)).toBe(1);
      expect(await store.delete(first.hash)).toBe(true);
      expect(await store.get(first.hash)).toBeNull();
    });

    it('keeps the first content type when the same bytes are put again', async () => {
      const bytes = Buffer.from('same bytes, another label');
      await store.put(bytes, 'text/plain');
      const again = await store.put(bytes, 'application/json');
      expect(again.contentType).toBe('text/plain');
      expect((await store.stat(again.hash))?.contentType).toBe('text/plain');
    });

    it('stores different bytes under different hashes', async () => {
      const a = await store.put(Buffer.from('a'), 'text/plain');
      const b = await store.put(Buffer.from('b'), 'text/plain');
      expect(a.hash).not.toBe(b.hash);
      expect((await store.get(a.hash))?.bytes.toString()).toBe('a');
      expect((await store.get(b.hash))?.bytes.toString()).toBe('b');
    });

    it('survives concurrent puts of the same bytes', async () => {
      const bytes = randomBytes(64 * 1024);
      const infos = await Promise.all(Array.from({ length: 5 }, () => store.put(bytes, 'image/jpeg')));
      expect(new Set(infos.map((info) => info.hash))).toEqual(new Set([sha256(bytes)]));
      expect((await store.get(sha256(bytes)))?.bytes.equals(bytes)).toBe(true);
    });

    it('stats a blob without reading it', async () => {
      const info = await store.put(Buffer.from('hello'), 'text/plain');
      expect(await store.stat(info.hash)).toEqual({ hash: sha256(Buffer.from('hello')), size: 5, contentType: 'text/plain' });
    });

    it('streams a blob through open', async () => {
      const bytes = randomBytes(600 * 1024);
      const info = await store.put(bytes, 'application/pdf');
      const opened = await store.open(info.hash);
      expect(opened?.info).toEqual(info);
      expect(opened && (await buffer(opened.stream)).equals(bytes)).toBe(true);
    });

    it('deletes a blob, after which it is gone', async () => {
      const info = await store.put(Buffer.from('to delete'), 'text/plain');
      expect(await store.delete(info.hash)).toBe(true);
      expect(await store.get(info.hash)).toBeNull();
      expect(await store.stat(info.hash)).toBeNull();
      expect(await store.open(info.hash)).toBeNull();
      expect(await store.delete(info.hash)).toBe(false);
    });

    it('stores bytes again after they were deleted', async () => {
      const bytes = Buffer.from('phoenix');
      const info = await store.put(bytes, 'text/plain');
      await store.delete(info.hash);
      await store.put(bytes, 'text/markdown');
      expect((await store.get(info.hash))?.info).toEqual({ ...info, contentType: 'text/markdown' });
    });

    it('answers null or false for an unknown hash', async () => {
      expect(await store.get(UNKNOWN_HASH)).toBeNull();
      expect(await store.stat(UNKNOWN_HASH)).toBeNull();
      expect(await store.open(UNKNOWN_HASH)).toBeNull();
      expect(await store.delete(UNKNOWN_HASH)).toBe(false);
    });

    it('answers null or false for a malformed hash, without throwing', async () => {
      const stored = await store.put(Buffer.from('stored'), 'text/plain');
      for (const hash of malformedVariantsOf(stored.hash)) {
        await expect(store.get(hash), hash).resolves.toBeNull();
        await expect(store.stat(hash), hash).resolves.toBeNull();
        await expect(store.open(hash), hash).resolves.toBeNull();
        await expect(store.delete(hash), hash).resolves.toBe(false);
      }
      expect(await store.stat(stored.hash)).toEqual(stored);
    });
  });
}
