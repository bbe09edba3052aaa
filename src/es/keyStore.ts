/**
 * The KeyStore port: where the wrapped data keys of src/lib/secrets.ts live. It is neither an
 * event store nor a read model: the keys are not in the log (that is what makes crypto-shredding
 * work), so nothing can rebuild them, and wiping or replaying the read models must not touch them.
 * Adapters: src/stores/sqlite/keyStore.ts (`<data>/keys.db`, the default) and
 * src/stores/mongodb/keyStore.ts (a database of its own). Both pass tests/conformance/keyStore.test.ts.
 */
export interface KeyStore {
  /** The owner's wrapped key, or null when it never existed or was deleted. */
  get(owner: string): Promise<string | null>;
  /**
   * Stores the wrapped key unless the owner already has one, and returns the one that is stored:
   * of two concurrent first uses, both get the winner's key.
   */
  insertIfAbsent(owner: string, wrappedKey: string): Promise<string>;
  /** Forgets the owner's key for good; returns whether there was one. */
  delete(owner: string): Promise<boolean>;
  close(): Promise<void>;
}
