import { z } from 'zod';
import { respondToPrompt } from '../commands/prompts.js';
import { promptOptionSchema, promptTypeSchema } from '../events/prompts.js';
import { PROMPTS, type PromptDoc } from '../projections/prompts.js';
import type { Services } from '../services.js';
import { findKin } from './kins.js';
import { defineOperation, type Operation } from './operation.js';

// ── Input ─────────────────────────────────────────────────────────────────────────────────────

const kinIdRequired = 'kinId is required';

const pendingQuery = z.object({
  kinId: z.string({ error: kinIdRequired }).min(1, kinIdRequired).describe('Kin id or slug'),
  taskId: z.string().optional(),
});

const respondInput = z
  .object({
    // Its shape is checked against the prompt's type and options, which only the prompt knows.
    response: z.custom<unknown>((value) => value !== undefined && value !== null, 'Response is required'),
  })
  .meta({ id: 'RespondToPromptInput' });

// ── Output ────────────────────────────────────────────────────────────────────────────────────

const prompt = z
  .object({
    id: z.string(),
    kinId: z.string(),
    taskId: z.string().nullable(),
    promptType: promptTypeSchema,
    question: z.string(),
    description: z.string().nullable(),
    options: z.array(promptOptionSchema),
    response: z.union([z.string(), z.array(z.string())]).nullable(),
    status: z.enum(['pending', 'answered', 'cancelled']),
    createdAt: z.number().describe('epoch ms'),
    respondedAt: z.number().nullable().describe('epoch ms'),
  })
  .meta({ id: 'Prompt' });

const present = (doc: PromptDoc): z.input<typeof prompt> => ({
  id: doc.id,
  kinId: doc.kinId,
  taskId: doc.taskId,
  promptType: doc.promptType,
  question: doc.question,
  description: doc.description,
  options: doc.options,
  response: doc.response,
  status: doc.status,
  createdAt: doc.createdAt,
  respondedAt: doc.respondedAt,
});

// ── Operations ────────────────────────────────────────────────────────────────────────────────

export function promptOperations(services: Services): Operation[] {
  const tags = ['Prompts'];
  // Both messages are the spec's, without the field prefix of a generic VALIDATION_ERROR.
  const errorCodes = { kinId: 'VALIDATION_ERROR', response: 'VALIDATION_ERROR' };

  return [
    defineOperation({
      name: 'pendingPrompts',
      summary: "List a Kin's pending human prompts, oldest first",
      method: 'get',
      path: '/api/prompts/pending',
      auth: 'user',
      tags,
      query: pendingQuery,
      errorCodes,
      output: z.object({ prompts: z.array(prompt) }),
      async handler({ query }) {
        const kin = await findKin(services, query.kinId);
        const filter = { kinId: kin.id, status: 'pending', ...(query.taskId ? { taskId: query.taskId } : {}) };
        const prompts = await services.readStore.collection<PromptDoc>(PROMPTS).find(filter, { sort: { createdAt: 1, id: 1 } });
        return { prompts: prompts.map(present) };
      },
    }),
    defineOperation({
      name: 'respondToPrompt',
      summary: 'Answer a pending prompt (SSE prompt:answered); the answer reaches the Kin as a message',
      method: 'post',
      path: '/api/prompts/:id/respond',
      auth: 'user',
      tags,
      params: z.object({ id: z.string().min(1) }),
      body: respondInput,
      errorCodes,
      output: z.object({ success: z.literal(true) }),
      async handler({ params, body }, ctx) {
        const result = await respondToPrompt(services, params.id, body.response, ctx.commandMetadata());
        await services.settle(result.position);
        return { success: true as const };
      },
    }),
  ];
}
