import type { Projection } from '../es/projections.js';
import type { Doc } from '../es/readStore.js';
import { parseQuickSessionEvent, quickSessionEventTypes, type CloseReason } from '../events/quickSessions.js';

export const QUICK_SESSIONS = 'quick_sessions';

/** A quick session; timestamps are epoch ms, as the API gives them and as the cleanup compares them. */
export type QuickSessionDoc = Doc & {
  id: string;
  kinId: string;
  createdBy: string;
  title: string | null;
  status: 'active' | 'closed';
  createdAt: number;
  closedAt: number | null;
  expiresAt: number;
  closeReason: CloseReason | null;
};

/** Sessions, until they are purged (closed for longer than the retention period). */
export const quickSessionsProjection: Projection = {
  name: 'quickSessions',
  version: 1,
  handles: quickSessionEventTypes,
  collections: [QUICK_SESSIONS],
  async setup(store) {
    const sessions = store.collection(QUICK_SESSIONS);
    await sessions.ensureIndex({ fields: { kinId: 1, createdBy: 1, status: 1, createdAt: -1 } });
    await sessions.ensureIndex({ fields: { status: 1, expiresAt: 1 } });
    await sessions.ensureIndex({ fields: { status: 1, closedAt: 1 } });
  },
  async apply(recorded, store) {
    const sessions = store.collection<QuickSessionDoc>(QUICK_SESSIONS);
    const event = parseQuickSessionEvent(recorded);
    switch (event.type) {
      case 'QuickSessionCreated': {
        const { sessionId, kinId, createdBy, title, createdAt, expiresAt } = event.data;
        await sessions.replace({
          id: sessionId,
          kinId,
          createdBy,
          title,
          status: 'active',
          createdAt: Date.parse(createdAt),
          closedAt: null,
          expiresAt: Date.parse(expiresAt),
          closeReason: null,
        });
        return;
      }
      case 'QuickSessionClosed':
        await sessions.update(
          { id: event.data.sessionId },
          { $set: { status: 'closed', closedAt: Date.parse(event.data.closedAt), closeReason: event.data.reason } },
        );
        return;
      case 'QuickSessionPurged':
        await sessions.delete({ id: event.data.sessionId });
        return;
    }
  },
};
