import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/** One stream per uploaded file (messages.md §9); the bytes live in the blob store under `hash`. */
export const fileStream = (fileId: string) => `file-${fileId}`;

export const fileEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('FileUploaded'),
    data: z.object({
      fileId: z.string(),
      /** As the client sent it; not checked for existence (messages.md §9). */
      kinId: z.string(),
      name: z.string(),
      mimeType: z.string(),
      size: z.number().int().nonnegative(),
      /** sha256 of the bytes: their address in the blob store. */
      hash: z.string(),
      uploadedBy: z.string().nullable(),
      uploadedAt: z.string(),
    }),
  }),
]);

export type FileEvent = z.infer<typeof fileEventSchema>;
export const fileEventTypes = ['FileUploaded'] as const;

export const parseFileEvent = (recorded: RecordedEvent): FileEvent => fileEventSchema.parse({ type: recorded.type, data: recorded.data });
