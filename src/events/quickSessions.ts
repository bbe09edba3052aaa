import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/** One stream per quick session: created, closed (by its owner or by expiry), then purged. */
export const quickSessionStream = (sessionId: string) => `quicksession-${sessionId}`;

/**
 * One stream per (Kin, user): the active sessions it holds. Claiming a slot there with an expected
 * revision is what keeps "at most N active sessions per user per Kin" true under concurrent creates.
 */
export const quickSessionSlotsStream = (kinId: string, userId: string) => `quicksessionslots-${kinId}:${userId}`;

export const closeReasonSchema = z.enum(['user', 'expired']);
export type CloseReason = z.infer<typeof closeReasonSchema>;

export const quickSessionEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('QuickSessionCreated'),
    data: z.object({
      sessionId: z.string(),
      kinId: z.string(),
      createdBy: z.string(),
      title: z.string().nullable(),
      createdAt: z.string(),
      expiresAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('QuickSessionClosed'),
    data: z.object({
      sessionId: z.string(),
      /** Carried so that the live feed can tag `quick-session:closed` without a lookup. */
      kinId: z.string(),
      closedAt: z.string(),
      reason: closeReasonSchema,
      /**
       * What the owner asked to remember (saveMemory). Memories do not exist yet in this codebase;
       * the memories capability will turn this into a memory when it lands (it can replay it).
       */
      memorySummary: z.string().optional(),
    }),
  }),
  z.object({
    type: z.literal('QuickSessionPurged'),
    data: z.object({ sessionId: z.string(), kinId: z.string(), purgedAt: z.string() }),
  }),
]);

export type QuickSessionEvent = z.infer<typeof quickSessionEventSchema>;
export const quickSessionEventTypes = ['QuickSessionCreated', 'QuickSessionClosed', 'QuickSessionPurged'] as const;

export const parseQuickSessionEvent = (recorded: RecordedEvent): QuickSessionEvent =>
  quickSessionEventSchema.parse({ type: recorded.type, data: recorded.data });

export const quickSessionSlotEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('QuickSessionSlotClaimed'),
    data: z.object({ kinId: z.string(), userId: z.string(), sessionId: z.string(), claimedAt: z.string() }),
  }),
  z.object({
    type: z.literal('QuickSessionSlotReleased'),
    data: z.object({ kinId: z.string(), userId: z.string(), sessionId: z.string(), releasedAt: z.string() }),
  }),
]);

export type QuickSessionSlotEvent = z.infer<typeof quickSessionSlotEventSchema>;

export const parseQuickSessionSlotEvent = (recorded: RecordedEvent): QuickSessionSlotEvent =>
  quickSessionSlotEventSchema.parse({ type: recorded.type, data: recorded.data });
