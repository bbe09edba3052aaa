import { v7 as uuidv7 } from 'uuid';
import { expireStoredFile, type FileStorageDeps } from '../commands/fileStorage.js';
import type { CommandMetadata } from '../es/decider.js';
import { STORED_FILES, type StoredFileDoc } from '../projections/fileStorage.js';
import type { Services } from '../services.js';
import type { RecurringJob } from './recurringJobs.js';

/** platform.md §5 (`FILE_STORAGE_CLEANUP_INTERVAL`). */
const HOUR_MS = 60 * 60 * 1000;

type CleanupDeps = FileStorageDeps & Pick<Services, 'log'>;

/**
 * Expires every stored file past its expiry: an event each, then its token key is shredded and its
 * bytes deleted unless other files share them. A share link refuses an expired file whether or
 * not this ran, so a late run changes nothing a client can see but the list.
 */
export async function cleanUpExpiredFiles(deps: CleanupDeps, now = new Date()) {
  const due = await deps.readStore.collection<StoredFileDoc>(STORED_FILES).find({ expiresAt: { $lte: now.getTime() } });
  const metadata: CommandMetadata = { actor: { kind: 'system', id: 'file-storage-cleanup' }, correlationId: uuidv7(), now };
  let expired = 0;
  for (const file of due) {
    try {
      if ((await expireStoredFile(deps, file.id, metadata)).expired) expired++;
    } catch (error) {
      deps.log.error({ err: error, fileId: file.id }, 'expiring a stored file failed');
    }
  }
  return { expired };
}

export const fileStorageCleanupJob = (services: Services): RecurringJob => ({
  name: 'file-storage-cleanup',
  intervalMs: HOUR_MS,
  run: () => cleanUpExpiredFiles(services),
});
