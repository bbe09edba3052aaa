import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/**
 * One stream per inter-Kin message, `kinmessage-<messageId>`: sent (a request expecting a reply,
 * or an "inform"), then at most one reply. The message id is the request's correlation id.
 */
export const kinMessageStream = (messageId: string) => `kinmessage-${messageId}`;

export const kinMessageTypeSchema = z.enum(['request', 'inform']);
export type KinMessageType = z.infer<typeof kinMessageTypeSchema>;

export const interKinEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('KinMessageSent'),
    data: z.object({
      messageId: z.string(),
      fromKinId: z.string(),
      toKinId: z.string(),
      /** Sent from a task's turn: the reply resumes that task instead of the Kin's conversation. */
      fromTaskId: z.string().nullable(),
      messageType: kinMessageTypeSchema,
      content: z.string(),
      sentAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('KinMessageReplied'),
    data: z.object({
      messageId: z.string(),
      /** The Kin that replies (the request's addressee) and the one that receives the reply. */
      fromKinId: z.string(),
      toKinId: z.string(),
      toTaskId: z.string().nullable(),
      content: z.string(),
      repliedAt: z.string(),
    }),
  }),
]);
export type InterKinEvent = z.infer<typeof interKinEventSchema>;
export const interKinEventTypes = ['KinMessageSent', 'KinMessageReplied'] as const;

export const parseInterKinEvent = (recorded: RecordedEvent): InterKinEvent =>
  interKinEventSchema.parse({ type: recorded.type, data: recorded.data });
