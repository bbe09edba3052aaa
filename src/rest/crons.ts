import { z } from 'zod';
import { approveCron, createCron, deleteCron, findKinRef, triggerCron, updateCron } from '../commands/crons.js';
import type { CronChanges } from '../events/crons.js';
import { CRONS, cronsProjection, cronSummaries, type CronDoc } from '../projections/crons.js';
import { kinsProjection } from '../projections/kins.js';
import type { Services } from '../services.js';
import { defineOperation, type Operation } from './operation.js';
import { listCache } from './listCache.js';

// ── Input ─────────────────────────────────────────────────────────────────────────────────────

const REQUIRED = 'kinId, name, schedule, and taskDescription are required';
const required = z.string({ error: REQUIRED }).trim().min(1, REQUIRED);

const optionalText = (field: string) => z.string({ error: `${field} must be a string` });

const timezoneField = z
  .string({ error: 'timezone must be a string' })
  .min(1, 'timezone cannot be empty')
  .describe('IANA time zone the schedule is evaluated in (default: the server\'s)');

const createCronInput = z
  .object({
    kinId: required.describe('Owner Kin (id or slug)'),
    name: required,
    schedule: required.describe('Cron expression (5 fields, or 6 with seconds; nicknames such as @daily) or a future ISO-8601 datetime for a single run'),
    taskDescription: required,
    targetKinId: optionalText('targetKinId').nullable().optional().describe('Kin that executes the task (default: the owner)'),
    model: optionalText('model').nullable().optional(),
    runOnce: z.boolean({ error: 'runOnce must be a boolean' }).optional(),
    timezone: timezoneField.nullable().optional(),
  })
  .meta({ id: 'CreateCronInput' });

const nonEmpty = (field: string) => optionalText(field).trim().min(1, `${field} cannot be empty`);

/** The spec's whitelist: other body fields are ignored, never written through. */
const updateCronInput = z
  .object({
    name: nonEmpty('name').optional(),
    schedule: nonEmpty('schedule').optional(),
    taskDescription: nonEmpty('taskDescription').optional(),
    targetKinId: optionalText('targetKinId').nullable().optional(),
    model: optionalText('model').nullable().optional(),
    isActive: z.boolean({ error: 'isActive must be a boolean' }).optional(),
    runOnce: z.boolean({ error: 'runOnce must be a boolean' }).optional(),
    timezone: timezoneField.nullable().optional().describe('IANA time zone; null: the server\'s'),
  })
  .meta({ id: 'UpdateCronInput' });

/** Every validation failure is VALIDATION_ERROR with the field's own message (the spec's for the four required fields). */
const errorCodes = Object.fromEntries(
  [...new Set([...Object.keys(createCronInput.shape), ...Object.keys(updateCronInput.shape)])].map((field) => [field, 'VALIDATION_ERROR']),
);

const cronRef = z.object({ id: z.string().min(1) });

// ── Output ────────────────────────────────────────────────────────────────────────────────────

const cronSummary = z
  .object({
    id: z.string(),
    kinId: z.string(),
    kinName: z.string(),
    kinAvatarUrl: z.string().nullable(),
    name: z.string(),
    schedule: z.string(),
    timezone: z.string().describe('The IANA time zone the schedule is evaluated in'),
    taskDescription: z.string(),
    targetKinId: z.string().nullable(),
    targetKinName: z.string().nullable(),
    targetKinAvatarUrl: z.string().nullable(),
    model: z.string().nullable(),
    runOnce: z.boolean(),
    isActive: z.boolean(),
    requiresApproval: z.boolean(),
    lastTriggeredAt: z.number().nullable().describe('epoch ms'),
    createdBy: z.enum(['user', 'kin']),
    createdAt: z.number().describe('epoch ms'),
  })
  .meta({ id: 'CronSummary' });

const cronEnvelope = z.object({ cron: cronSummary });

// ── Operations ────────────────────────────────────────────────────────────────────────────────

export function cronOperations(services: Services): Operation[] {
  const tags = ['Crons'];
  const crons = () => services.readStore.collection<CronDoc>(CRONS);
  // Summaries carry the names and avatars of the Kins involved.
  const cachedList = listCache(services.readStore, { dependsOn: [cronsProjection, kinsProjection] });

  /** The cron as the read model has it once the command's events are applied. */
  async function present(cronId: string) {
    const doc = await crons().get(cronId);
    if (!doc) throw new Error(`Cron ${cronId} is missing from the read model after its command`);
    const [cron] = await cronSummaries(services.readStore, [doc]);
    return { cron: cron! };
  }

  return [
    defineOperation({
      name: 'crons',
      summary: 'List crons, optionally those of one Kin (by id or slug)',
      method: 'get',
      path: '/api/crons',
      auth: 'user',
      tags,
      query: z.object({ kinId: z.string().optional() }),
      output: z.object({ crons: z.array(cronSummary) }),
      handler: ({ query }) =>
        cachedList(query.kinId ?? '', async () => {
          let filter = {};
          if (query.kinId) {
            const kin = await findKinRef(services, query.kinId);
            filter = { kinId: kin?.id ?? query.kinId };
          }
          const docs = await crons().find(filter, { sort: { createdAt: 1, id: 1 } });
          return { crons: await cronSummaries(services.readStore, docs) };
        }),
    }),
    defineOperation({
      name: 'createCron',
      summary: 'Create a cron (active at once, scheduled; SSE cron:created)',
      method: 'post',
      path: '/api/crons',
      auth: 'user',
      tags,
      body: createCronInput,
      errorCodes,
      status: 201,
      output: cronEnvelope,
      async handler({ body }, ctx) {
        const { cronId, position } = await createCron(services, { ...body, createdBy: 'user' }, ctx.commandMetadata());
        await services.settle(position);
        return present(cronId);
      },
    }),
    defineOperation({
      name: 'updateCron',
      summary: 'Update a cron; a new schedule or time zone re-schedules it (SSE cron:updated)',
      method: 'patch',
      path: '/api/crons/:id',
      auth: 'user',
      tags,
      params: cronRef,
      body: updateCronInput,
      errorCodes,
      output: cronEnvelope,
      async handler({ params, body }, ctx) {
        const changes: CronChanges = body;
        const result = await updateCron(services, params.id, changes, { by: 'user' }, ctx.commandMetadata());
        await services.settle(result.position);
        return present(params.id);
      },
    }),
    defineOperation({
      name: 'triggerCron',
      summary: 'Run a cron now, even an inactive one, outside its concurrency group (SSE cron:triggered)',
      method: 'post',
      path: '/api/crons/:id/trigger',
      auth: 'user',
      tags,
      params: cronRef,
      output: z.object({ taskId: z.string() }),
      async handler({ params }, ctx) {
        const { taskId, position } = await triggerCron({ ...services, spawn: services.crons.spawn }, params.id, ctx.commandMetadata());
        await services.settle(position);
        return { taskId };
      },
    }),
    defineOperation({
      name: 'approveCron',
      summary: "Approve a Kin's cron: it becomes active and is scheduled (SSE cron:updated)",
      method: 'post',
      path: '/api/crons/:id/approve',
      auth: 'user',
      tags,
      params: cronRef,
      output: cronEnvelope,
      async handler({ params }, ctx) {
        const result = await approveCron(services, params.id, ctx.commandMetadata());
        await services.settle(result.position);
        return present(params.id);
      },
    }),
    defineOperation({
      name: 'deleteCron',
      summary: 'Delete a cron and stop its job (SSE cron:deleted)',
      method: 'delete',
      path: '/api/crons/:id',
      auth: 'user',
      tags,
      params: cronRef,
      output: z.object({ success: z.literal(true) }),
      async handler({ params }, ctx) {
        const result = await deleteCron(services, params.id, { by: 'user' }, ctx.commandMetadata());
        await services.settle(result.position);
        return { success: true as const };
      },
    }),
  ];
}
