import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** The real server in its own process (so that a test can SIGKILL it), ready when this resolves. */
export async function launchServer(
  dataDir: string,
  port: number,
  env: Record<string, string> = {},
  /** `npm start`'s script (compiled JavaScript, rebuilt when stale) instead of the TypeScript through tsx. */
  how: 'tsx' | 'npm start' = 'tsx',
): Promise<ChildProcess> {
  const args = how === 'tsx' ? ['--import', 'tsx', 'src/main.ts'] : ['scripts/start.mjs'];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, KINBOT_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'silent', ...env },
    stdio: 'ignore',
  });
  for (let i = 0; i < 400; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    if (up) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('server did not start');
}
