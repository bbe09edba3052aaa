import type { ContextUsage } from '../agents/contextUsage.js';
import type { LiveMessage } from './feed.js';

/**
 * The data of a `message` event on /api/sse (DECISIONS 20): `type`, `kinId` when the message
 * concerns a Kin, the payload's fields at the top level, where the web app reads them, and the
 * same payload under `data`, the documented nested form. `type` always names the event, so a
 * payload key `type` (a knowledge source's type) is flattened as `sourceType`; a payload key
 * `data` stays under `data` only. A payload `kinId` overrides the envelope's (platform.md §10).
 */
export function sseEnvelope({ type, kinId, data }: LiveMessage): Record<string, unknown> {
  const flattened: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (value === undefined || key === 'data') continue;
    if (key === 'type') flattened.sourceType ??= value;
    else flattened[key] = value;
  }
  const { kinId: own, ...fields } = flattened;
  const concerned = own ?? kinId;
  return { type, ...(concerned ? { kinId: concerned } : {}), ...fields, data };
}

/**
 * A main queue's `queue:update` carries the context figures of the Kin's last turn when the
 * server has them (the web app shows them next to the queue); the turn's own figures win.
 */
export function withContextFigures(message: LiveMessage, usageOf: (kinId: string) => ContextUsage | undefined): LiveMessage {
  if (message.type !== 'queue:update' || !message.kinId) return message;
  const usage = usageOf(message.kinId);
  return usage ? { ...message, data: { ...usage, ...message.data } } : message;
}
