import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { CHECKPOINTS } from '../../src/es/projections.js';
import type { Doc } from '../../src/es/readStore.js';
import { allProjections } from '../../src/projections/index.js';
import { KINS } from '../../src/projections/kins.js';
import { USERS } from '../../src/projections/users.js';
import { startServer } from '../../src/server.js';
import { openServices, openStores } from '../../src/services.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The embedded stores only: a replay test must not rebuild read models in a shared MongoDB. */
function testEnv(dataDir: string): NodeJS.ProcessEnv {
  const { EVENTSTORE_CONNECTION_STRING: _es, MONGODB_URI: _mongo, ...env } = process.env;
  return { ...env, KINBOT_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent' };
}

type Snapshot = Record<typeof KINS | typeof USERS, Doc[]>;

async function withStores<T>(config: Config, work: (stores: Awaited<ReturnType<typeof openStores>>) => Promise<T>): Promise<T> {
  const stores = await openStores(config);
  try {
    return await work(stores);
  } finally {
    await stores.close();
  }
}

const snapshot = (config: Config): Promise<Snapshot> =>
  withStores(config, async ({ readStore }) => ({
    [KINS]: await readStore.collection(KINS).find({}, { sort: { id: 1 } }),
    [USERS]: await readStore.collection(USERS).find({}, { sort: { id: 1 } }),
  }));

type Run = { code: number; stdout: string; stderr: string };

function replay(dataDir: string, args: string[] = []): Promise<Run> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'src/replay.ts', ...args], { cwd: root, env: testEnv(dataDir), timeout: 25_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run replay', () => {
  let dataDir: string;
  let config: Config;
  let before: Snapshot;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinbot-replay-'));
    config = loadConfig(testEnv(dataDir));
    const server = await startServer(await openServices(config, pino({ level: 'silent' })), 0);
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const signUp = await fetch(`${base}/api/auth/sign-up/email`, {
        method: 'POST',
        // Better Auth wants a trusted Origin on state-changing calls.
        headers: { 'content-type': 'application/json', origin: config.publicUrl },
        body: JSON.stringify({ name: 'Ada', email: 'ada@example.com', password: 'correct-horse-battery' }),
      });
      expect(signUp.status).toBe(200);
      const cookie = signUp.headers
        .getSetCookie()
        .map((header) => header.split(';', 1)[0])
        .join('; ');
      const send = async (method: string, route: string, body?: unknown) => {
        const response = await fetch(base + route, {
          method,
          headers: { 'content-type': 'application/json', cookie },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        expect(response.status, `${method} ${route}: ${await response.clone().text()}`).toBeLessThan(300);
        return (await response.json()) as { kin: { id: string } };
      };
      const ids: string[] = [];
      for (let n = 1; n <= 5; n++) {
        ids.push((await send('POST', '/api/kins', { name: `Kin ${n}`, role: `role ${n}`, model: 'gpt-4o' })).kin.id);
      }
      // Updates and a deletion, so that the rebuild has more to do than inserts.
      await send('PATCH', `/api/kins/${ids[0]}`, { name: 'Renamed', character: 'Calm' });
      await send('PATCH', `/api/kins/${ids[1]}`, { slug: 'second-kin' });
      await send('DELETE', `/api/kins/${ids[2]}`);
    } finally {
      await server.close();
    }
    before = await snapshot(config);
    expect(before[KINS]).toHaveLength(4);
    expect(before[USERS]).toHaveLength(1);
  });

  afterAll(() => {
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** Damages the read models, so that only a real rebuild can make them equal to the snapshot. */
  const tamper = () =>
    withStores(config, async ({ readStore }) => {
      await readStore.collection(KINS).update({}, { $set: { name: 'tampered' } });
      await readStore.collection(KINS).delete({ id: before[KINS][0]!.id });
      await readStore.collection(USERS).delete({});
    });

  it('rebuilds every projection from the log into the same read models, then exits 0', async () => {
    await tamper();
    const run = await replay(dataDir);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^Rebuilt ${allProjections.length} projection\\(s\\): `, 'm'));
    expect(run.stdout).toMatch(/^Rebuilt \d+ projection\(s\): [\d,]+ events in \d+\.\d\d s \([\d,]+ events\/s\)$/m);
    expect(run.stderr).toContain('100.0%');
    expect(await snapshot(config)).toEqual(before);
    const head = await withStores(config, ({ eventStore }) => eventStore.headPosition());
    const checkpoints = await withStores(config, ({ readStore }) => readStore.collection(CHECKPOINTS).find({}, { sort: { id: 1 } }));
    expect(checkpoints).toEqual(
      allProjections
        .map((projection) => ({ id: projection.name, version: projection.version, position: head }))
        // The store sorts by code unit (`fileStorage` before `files`), not by locale.
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    );
  });

  it('rebuilds only the projection named with --projection', async () => {
    await tamper();
    const run = await replay(dataDir, ['--projection', 'kins']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^Rebuilt 1 projection\(s\): /m);
    const after = await snapshot(config);
    expect(after[KINS]).toEqual(before[KINS]);
    // Left alone: still as tampered.
    expect(after[USERS]).toEqual([]);
  });

  it('lists the projections and exits 1 when the name is unknown', async () => {
    const run = await replay(dataDir, ['--projection', 'nonexistent']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Unknown projection "nonexistent"');
    for (const projection of allProjections) expect(run.stderr).toContain(projection.name);
    expect(run.stdout).toBe('');
  });
});
