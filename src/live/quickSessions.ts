import type { LiveMapper } from './feed.js';
import { parseQuickSessionEvent } from '../events/quickSessions.js';

/** quick-session:closed {sessionId}, tagged with the Kin (platform.md §10), whoever closed it. */
export const quickSessionLiveMessages: LiveMapper = (recorded) => {
  if (recorded.type !== 'QuickSessionClosed') return [];
  const event = parseQuickSessionEvent(recorded);
  if (event.type !== 'QuickSessionClosed') return [];
  return [{ type: 'quick-session:closed', kinId: event.data.kinId, data: { sessionId: event.data.sessionId } }];
};
