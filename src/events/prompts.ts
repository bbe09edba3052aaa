import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

export const promptStream = (promptId: string) => `prompt-${promptId}`;

export const promptTypeSchema = z.enum(['confirm', 'select', 'multi_select']);
export type PromptType = z.infer<typeof promptTypeSchema>;

export const promptOptionSchema = z
  .object({
    label: z.string().min(1),
    value: z.string().min(1),
    description: z.string().optional(),
    variant: z.enum(['default', 'success', 'warning', 'destructive', 'primary']).optional(),
  })
  .meta({ id: 'PromptOption' });
export type PromptOption = z.infer<typeof promptOptionSchema>;

/** What the human answered: one option value (confirm, select) or several (multi_select). */
export const promptResponseSchema = z.union([z.string(), z.array(z.string())]);
export type PromptResponse = z.infer<typeof promptResponseSchema>;

export const promptEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('PromptCreated'),
    data: z.object({
      promptId: z.string(),
      kinId: z.string(),
      taskId: z.string().nullable(),
      messageId: z.string().nullable(),
      promptType: promptTypeSchema,
      question: z.string(),
      description: z.string().nullable(),
      options: z.array(promptOptionSchema),
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('PromptAnswered'),
    data: z.object({
      promptId: z.string(),
      kinId: z.string(),
      taskId: z.string().nullable(),
      response: promptResponseSchema,
      /** `[Human response to "<question>"]: <labels>`: what the Kin receives as a message. */
      responseText: z.string(),
      answeredAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('PromptCancelled'),
    data: z.object({ promptId: z.string(), kinId: z.string(), taskId: z.string().nullable(), cancelledAt: z.string() }),
  }),
]);

export type PromptEvent = z.infer<typeof promptEventSchema>;
export const promptEventTypes = ['PromptCreated', 'PromptAnswered', 'PromptCancelled'] as const;

export const parsePromptEvent = (recorded: RecordedEvent): PromptEvent =>
  promptEventSchema.parse({ type: recorded.type, data: recorded.data });
