import type { ReadStore } from '../es/readStore.js';
import type { LogBuffer } from '../lib/logBuffer.js';
import { USERS, type UserDoc } from '../projections/users.js';
import type { LiveFeed } from './feed.js';

/** How long the list of admins is reused before it is read again. */
const ADMINS_TTL_MS = 2000;

/**
 * `log:entry` (platform.md §10) for each new server log entry, to admins only: the logs are an
 * admin page. A live message goes to one user or to everyone, so each admin gets a copy. Log entries
 * are not events, so this does not go through the event mappers. Returns the unsubscribe function.
 */
export function streamLogEntriesToAdmins(logs: LogBuffer, live: LiveFeed, readStore: ReadStore): () => void {
  let admins: { ids: string[]; readAt: number } | null = null;
  let delivered = Promise.resolve();

  async function adminIds(): Promise<string[]> {
    if (!admins || Date.now() - admins.readAt > ADMINS_TTL_MS) {
      const docs = await readStore.collection<UserDoc>(USERS).find({ role: 'admin' });
      admins = { ids: docs.map((doc) => doc.id), readAt: Date.now() };
    }
    return admins.ids;
  }

  return logs.subscribe((entry) => {
    // Chained, so that entries keep their order while the admin list is being read.
    delivered = delivered
      .then(async () => {
        for (const userId of await adminIds()) live.publish({ type: 'log:entry', userId, data: { ...entry } });
      })
      // The store is closing (shutdown): the entry stays in the buffer. Logging this would loop.
      .catch(() => undefined);
  });
}
