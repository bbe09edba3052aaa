import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { createFolderBlobStore } from '../../src/stores/blobs/folderBlobStore.js';
import { createGridFsBlobStore } from '../../src/stores/blobs/gridFsBlobStore.js';
import { blobStoreContract } from './blobStoreContract.js';

const makeTempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'kinbot-blobs-'));

/** Everything in the blob's shard folder named after it except its sidecar, so leftover temp files count too. */
function folderCopiesOf(dir: string, hash: string): number {
  const shard = path.join(dir, hash.slice(0, 2));
  if (!fs.existsSync(shard)) return 0;
  return fs.readdirSync(shard).filter((name) => name.startsWith(hash) && name !== `${hash}.json`).length;
}

blobStoreContract('folder', async () => {
  const dir = makeTempDir();
  return {
    store: createFolderBlobStore(path.join(dir, 'blobs')),
    copiesOf: async (hash) => folderCopiesOf(path.join(dir, 'blobs'), hash),
    cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});

describe('folder blob store', () => {
  it('lays a blob out as <dir>/<hash[0..2]>/<hash> with a sidecar and no temp files left', async () => {
    const dir = makeTempDir();
    try {
      const info = await createFolderBlobStore(dir).put(Buffer.from('avatar'), 'image/png');
      const shard = path.join(dir, info.hash.slice(0, 2));
      expect(fs.readdirSync(shard).sort()).toEqual([info.hash, `${info.hash}.json`]);
      expect(fs.readFileSync(path.join(shard, info.hash), 'utf8')).toBe('avatar');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('creates its folder only when something is stored', async () => {
    const dir = path.join(makeTempDir(), 'not-yet');
    try {
      const store = createFolderBlobStore(dir);
      expect(await store.stat('0'.repeat(64))).toBeNull();
      expect(fs.existsSync(dir)).toBe(false);
      await store.put(Buffer.from('x'), 'text/plain');
      expect(fs.existsSync(dir)).toBe(true);
    } finally {
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  });
});

const mongoUri = process.env['MONGODB_URI'];
if (mongoUri) {
  blobStoreContract('GridFS', async () => {
    const client = await MongoClient.connect(mongoUri);
    const db = client.db(`kinbot_test_blobs_${randomBytes(6).toString('hex')}`);
    return {
      store: createGridFsBlobStore(db),
      copiesOf: (hash) => db.collection('blobs.files').countDocuments({ filename: hash }),
      cleanup: async () => {
        await db.dropDatabase();
        await client.close();
      },
    };
  });
} else {
  console.warn('GridFS conformance skipped: MONGODB_URI is not set');
  describe.skip('BlobStore contract: GridFS', () => {
    it('needs MONGODB_URI', () => {});
  });
}
