import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, launchServer } from './process.js';

/**
 * The README's "First steps", run word for word with curl against a fresh server started as
 * `npm start` starts it (compiled JavaScript, NODE_ENV unset), on a port other than 3000.
 */
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function firstStepCommands(): string[] {
  const section = readme.split('## First steps')[1] ?? '';
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('curl '));
}

let server: ChildProcess;
let port: number;
let dataDir: string;
let workDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'kinbot-readme-'));
  workDir = mkdtempSync(join(tmpdir(), 'kinbot-readme-cwd-'));
  port = await freePort();
  server = await launchServer(dataDir, port, { NODE_ENV: '' }, 'npm start');
});

afterAll(() => {
  server?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(workDir, { recursive: true, force: true });
});

/** Runs one README command in the user's folder; `-sS -w` only adds the status after the body. */
function run(command: string): { status: number; body: any } {
  const output = execFileSync('bash', ['-c', `${command} -sS -w '\\n%{http_code}'`], { cwd: workDir, encoding: 'utf8' });
  const lines = output.trimEnd().split('\n');
  const status = Number(lines.pop());
  return { status, body: JSON.parse(lines.join('\n')) };
}

describe('the README first steps', () => {
  it('work verbatim one after the other on a fresh server', () => {
    const commands = firstStepCommands();
    expect(commands.length).toBeGreaterThanOrEqual(3);
    let apiKey = '';
    for (const written of commands) {
      const command = written.replaceAll('http://127.0.0.1:3000', `http://127.0.0.1:${port}`).replaceAll('kb_…', apiKey);
      const { status, body } = run(command);
      expect({ command: written, status, body }).toMatchObject({ command: written, status: expect.toSatisfy((s: number) => s >= 200 && s < 300) });
      if (typeof body?.key === 'string') apiKey = body.key;
    }
    expect(apiKey).toMatch(/^kb_/);
  });

  it('refuses a session used from a foreign page, with or without Better Auth in the way', async () => {
    const signIn = await fetch(`http://127.0.0.1:${port}/api/auth/sign-in/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', password: 'a long password' }),
    });
    expect(signIn.status).toBe(200);
    const cookie = signIn.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const foreign = { cookie, origin: 'http://evil.example', 'content-type': 'application/json' };
    const keyFromEvil = await fetch(`http://127.0.0.1:${port}/api/auth/api-key/create`, { method: 'POST', headers: foreign, body: '{"name":"x"}' });
    expect(keyFromEvil.status).toBe(403);
    const kinFromEvil = await fetch(`http://127.0.0.1:${port}/api/kins`, { method: 'POST', headers: foreign, body: '{"name":"X","role":"r","model":"m"}' });
    expect(kinFromEvil.status).toBe(403);
    expect((await kinFromEvil.json()).error.code).toBe('INVALID_ORIGIN');
    const own = { ...foreign, origin: `http://localhost:${port}` };
    expect((await fetch(`http://127.0.0.1:${port}/api/kins`, { method: 'POST', headers: own, body: '{"name":"Y","role":"r","model":"m"}' })).status).toBe(201);
  });

  it('serves a valid public OpenAPI document', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/api/openapi.json`);
    expect(response.status).toBe(200);
    const document = await response.json();
    // Throws on a dangling $ref or a schema that breaks the OpenAPI 3.1 specification.
    await expect(SwaggerParser.validate(structuredClone(document))).resolves.toBeTruthy();
    expect(JSON.stringify(document)).not.toContain('#/$defs/');
    expect(document.paths['/api/kins'].post).toBeTruthy();
  });
});
