import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { runningInDocker } from '../lib/docker.js';
import { CRONS } from '../projections/crons.js';
import { KINS } from '../projections/kins.js';
import { MEMORIES } from '../projections/memories.js';
import { PROVIDERS } from '../projections/providers.js';
import { USERS } from '../projections/users.js';
import type { Services } from '../services.js';
import { version } from './health.js';
import { defineOperation, type Operation } from './operation.js';

/** The repository's CHANGELOG.md (the Docker image copies it next to package.json). */
const CHANGELOG = new URL('../../CHANGELOG.md', import.meta.url);

const stats = z
  .object({
    kins: z.number().int(),
    providers: z.number().int(),
    channels: z.number().int(),
    crons: z.number().int(),
    memories: z.number().int(),
    mcpServers: z.number().int(),
    contacts: z.number().int(),
    users: z.number().int(),
  })
  .meta({ id: 'PlatformStats' });

/** "" when the file is missing: the web app's "What's new" dialog then shows nothing. */
async function changelogText(): Promise<string> {
  try {
    return await readFile(CHANGELOG, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

/** `GET /api/info` and `GET /api/changelog` (auth.md §0): the web app's footers and "What's new". */
export function infoOperations(services: Services): Operation[] {
  const { readStore } = services;
  const count = (collection: string, filter = {}) => readStore.collection(collection).count(filter);
  const tags = ['Operations'];
  return [
    defineOperation({
      name: 'info',
      summary: 'Version, whether KinBot runs in Docker, process start and uptime, and how many of each thing exist',
      method: 'get',
      path: '/api/info',
      auth: 'user',
      tags,
      output: z.object({
        version: z.string(),
        isDocker: z.boolean(),
        startedAt: z.number().describe('epoch ms: when the server process started'),
        uptimeMs: z.number(),
        stats,
      }),
      async handler() {
        const uptimeMs = Math.round(process.uptime() * 1000);
        const [kins, providers, crons, memories, users] = await Promise.all([
          count(KINS),
          count(PROVIDERS),
          count(CRONS),
          count(MEMORIES),
          // As GET /api/users lists them: an account still in onboarding is not a user yet.
          count(USERS, { hasProfile: true }),
        ]);
        return {
          version,
          isDocker: runningInDocker,
          startedAt: Date.now() - uptimeMs,
          uptimeMs,
          // Channels, MCP servers and contacts are not built yet: none exist.
          stats: { kins, providers, channels: 0, crons, memories, mcpServers: 0, contacts: 0, users },
        };
      },
    }),
    defineOperation({
      name: 'changelog',
      summary: "The project's changelog (Markdown; empty when there is none)",
      method: 'get',
      path: '/api/changelog',
      auth: 'user',
      tags,
      output: z.object({ content: z.string() }),
      handler: async () => ({ content: await changelogText() }),
    }),
  ];
}
