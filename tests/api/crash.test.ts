import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apiKeyClient, client, kinInput, signUp } from './helpers.js';
import { freePort, launchServer as launch } from './process.js';

const dataDir = mkdtempSync(join(tmpdir(), 'kinbot-crash-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('kill -9 while Kins are being created', () => {
  it('loses none of the creations that were answered 201', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const first = await launch(dataDir, port);
    children.push(first);
    const { cookie } = await signUp(url);
    const { key } = await apiKeyClient(url, cookie);
    const api = client(url, { 'x-api-key': key });

    const confirmed: string[] = [];
    let killed = false;
    const attempts = Array.from({ length: 200 }, (_, i) =>
      api.post('/api/kins', kinInput({ name: `Crash ${i}` })).then(
        (response) => {
          if (response.status === 201) confirmed.push(response.body.kin.id);
          if (confirmed.length >= 60 && !killed) {
            killed = true;
            first.kill('SIGKILL');
          }
        },
        () => undefined, // cut off by the kill: the client never heard back
      ),
    );
    await Promise.all(attempts);
    expect(killed).toBe(true);
    expect(confirmed.length).toBeGreaterThanOrEqual(60);
    expect(confirmed.length).toBeLessThan(200);

    const second = await launch(dataDir, port);
    children.push(second);
    const after = client(url, { 'x-api-key': key });
    for (const id of confirmed) {
      const { status } = await after.get(`/api/kins/${id}`);
      expect(status, `Kin ${id} was answered 201 before the crash`).toBe(200);
    }
    const listed = (await after.get('/api/kins')).body.kins as { slug: string }[];
    expect(listed.length).toBeGreaterThanOrEqual(confirmed.length);
    expect(new Set(listed.map((k) => k.slug)).size).toBe(listed.length);
    second.kill('SIGTERM');
  }, 120_000);
});
