/**
 * The KeyStore contract: every adapter runs this suite (see keyStore.test.ts). Each test gets a
 * fresh, empty store.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KeyStore } from '../../src/es/keyStore.js';

export type KeyStoreFixture = {
  store: KeyStore;
  /** Opens a second handle on the same storage, as a restarted process would. */
  reopen(): Promise<KeyStore>;
  cleanup(): Promise<void>;
};

const wrapped = () => randomBytes(60).toString('base64');

export function keyStoreContract(name: string, make: () => Promise<KeyStoreFixture>): void {
  describe(`KeyStore contract: ${name}`, () => {
    let fixture: KeyStoreFixture;
    let store: KeyStore;

    beforeEach(async () => {
      fixture = await make();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it('returns null for an owner that never had a key', async () => {
      expect(await store.get('provider-unknown')).toBeNull();
    });

    it('stores a key for a new owner and gives it back', async () => {
      const key = wrapped();
      expect(await store.insertIfAbsent('vault-1', key)).toBe(key);
      expect(await store.get('vault-1')).toBe(key);
    });

    it('keeps the first key of an owner and returns it to a later insert', async () => {
      const first = wrapped();
      await store.insertIfAbsent('vault-1', first);
      expect(await store.insertIfAbsent('vault-1', wrapped())).toBe(first);
      expect(await store.get('vault-1')).toBe(first);
    });

    it('gives every concurrent first insert the same winning key', async () => {
      const candidates = Array.from({ length: 20 }, wrapped);
      const results = await Promise.all(candidates.map((key) => store.insertIfAbsent('vault-race', key)));
      expect(new Set(results).size).toBe(1);
      expect(candidates).toContain(results[0]);
      expect(await store.get('vault-race')).toBe(results[0]);
    });

    it('keeps owners apart', async () => {
      const a = wrapped();
      const b = wrapped();
      await store.insertIfAbsent('vault-a', a);
      await store.insertIfAbsent('vault-b', b);
      expect(await store.get('vault-a')).toBe(a);
      expect(await store.get('vault-b')).toBe(b);
    });

    it('deletes a key for good, says whether there was one, and lets the owner get a new key', async () => {
      const old = wrapped();
      await store.insertIfAbsent('vault-1', old);
      await store.insertIfAbsent('vault-2', wrapped());
      expect(await store.delete('vault-1')).toBe(true);
      expect(await store.delete('vault-1')).toBe(false);
      expect(await store.get('vault-1')).toBeNull();
      expect(await store.get('vault-2')).not.toBeNull();
      const fresh = wrapped();
      expect(await store.insertIfAbsent('vault-1', fresh)).toBe(fresh);
    });

    it('keeps keys, and forgets deleted ones, across a reopen', async () => {
      const kept = wrapped();
      await store.insertIfAbsent('vault-kept', kept);
      await store.insertIfAbsent('vault-gone', wrapped());
      await store.delete('vault-gone');
      const reopened = await fixture.reopen();
      try {
        expect(await reopened.get('vault-kept')).toBe(kept);
        expect(await reopened.get('vault-gone')).toBeNull();
      } finally {
        await reopened.close();
      }
    });

    it('accepts owners with any characters, as stored text', async () => {
      const owner = `vault-${"'; DROP TABLE data_keys; --"}-ü`;
      const key = wrapped();
      await store.insertIfAbsent(owner, key);
      expect(await store.get(owner)).toBe(key);
      expect(await store.get('vault-')).toBeNull();
    });
  });
}
