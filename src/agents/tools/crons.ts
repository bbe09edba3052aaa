import { callMetadata, orError } from '../toolKit.js';
import { z } from 'zod';
import type { NativeTool, ToolContext } from '../tools.js';
import { createCron, deleteCron, updateCron } from '../../commands/crons.js';
import type { CronChanges } from '../../events/crons.js';
import { CRONS, cronSummaries, type CronDoc, type CronSummary } from '../../projections/crons.js';

/**
 * A Kin schedules its own recurring work (kins.md, domain "crons"). What a Kin creates waits for a
 * human's approval (every user is notified), and so does any change a Kin makes to when or what
 * an approved cron runs: a Kin never starts or re-targets work on its own.
 */



/** What the Kin is told about a cron: its summary without avatars, dates as ISO strings. */
function present(summary: CronSummary) {
  const { kinName: _n, kinAvatarUrl: _a, targetKinAvatarUrl: _t, ...cron } = summary;
  return {
    ...cron,
    lastTriggeredAt: cron.lastTriggeredAt === null ? null : new Date(cron.lastTriggeredAt).toISOString(),
    createdAt: new Date(cron.createdAt).toISOString(),
    status: cron.requiresApproval ? 'pending_approval' : cron.isActive ? 'active' : 'inactive',
  };
}

/** One of this Kin's crons, or null (another Kin's cron is "not found" too). */
async function describeCron(context: ToolContext, cronId: string) {
  const doc = await context.readStore.collection<CronDoc>(CRONS).get(cronId);
  if (!doc || doc.kinId !== context.kinId) return null;
  const [summary] = await cronSummaries(context.readStore, [doc]);
  return present(summary!);
}

const scheduleHelp =
  'Cron expression in 5 fields (min hour day-of-month month day-of-week) or 6 with leading seconds, e.g. "0 9 * * 1-5"; nicknames such as @daily; or an ISO datetime in the future for a single run, e.g. "2030-01-31T09:00"';

const createCronTool: NativeTool = {
  name: 'create_cron',
  domain: 'crons',
  description:
    'Schedule a task that runs on a cron schedule (or once at a datetime): each firing starts a task with the description as its instructions. It starts only once a human approves it.',
  defaultDisabled: false,
  input: z.object({
    name: z.string().trim().min(1).max(200),
    schedule: z.string().trim().min(1).max(200).describe(scheduleHelp),
    task_description: z.string().trim().min(1).max(20_000).describe('What the task must do each time it runs'),
    timezone: z.string().min(1).max(100).optional().describe('IANA time zone of the schedule, e.g. "Europe/Paris" (default: the server\'s)'),
    target_kin_id: z.string().min(1).optional().describe('Another Kin to run the task (id or slug); default: you'),
    model: z.string().min(1).max(200).optional().describe('Model for the task (default: the executing Kin\'s)'),
    run_once: z.boolean().optional().describe('Switch the cron off after its first scheduled run'),
  }),
  execute: (async (
    args: { name: string; schedule: string; task_description: string; timezone?: string; target_kin_id?: string; model?: string; run_once?: boolean },
    context: ToolContext,
  ) => {
    const { services } = context;
    return orError(async () => {
      const input = {
        kinId: context.kinId,
        name: args.name,
        schedule: args.schedule,
        taskDescription: args.task_description,
        timezone: args.timezone ?? null,
        targetKinId: args.target_kin_id ?? null,
        model: args.model ?? null,
        runOnce: args.run_once ?? false,
        createdBy: 'kin' as const,
      };
      const { cronId, position } = await createCron(services, input, callMetadata(context));
      await services.settle(position);
      return { cron: await describeCron(context, cronId), note: 'The cron is pending approval: it will not run until a human approves it.' };
    });
  }) as NativeTool['execute'],
};

const updateCronTool: NativeTool = {
  name: 'update_cron',
  domain: 'crons',
  description:
    'Change one of your crons. Changing its schedule, time zone, task, target or model, or switching it back on, sends it back for human approval; renaming or switching it off does not.',
  defaultDisabled: false,
  input: z.object({
    cron_id: z.string().min(1),
    name: z.string().trim().min(1).max(200).optional(),
    schedule: z.string().trim().min(1).max(200).optional().describe(scheduleHelp),
    task_description: z.string().trim().min(1).max(20_000).optional(),
    timezone: z.string().min(1).max(100).nullable().optional().describe('IANA time zone; null: the server\'s'),
    target_kin_id: z.string().min(1).nullable().optional().describe('Kin that runs the task; null: you'),
    model: z.string().min(1).max(200).nullable().optional(),
    is_active: z.boolean().optional(),
    run_once: z.boolean().optional(),
  }),
  execute: (async (
    args: {
      cron_id: string;
      name?: string;
      schedule?: string;
      task_description?: string;
      timezone?: string | null;
      target_kin_id?: string | null;
      model?: string | null;
      is_active?: boolean;
      run_once?: boolean;
    },
    context: ToolContext,
  ) => {
    const changes: CronChanges = {
      name: args.name,
      schedule: args.schedule,
      taskDescription: args.task_description,
      timezone: args.timezone,
      targetKinId: args.target_kin_id,
      model: args.model,
      isActive: args.is_active,
      runOnce: args.run_once,
    };
    const { services } = context;
    return orError(async () => {
      const result = await updateCron(services, args.cron_id, changes, { by: 'kin', kinId: context.kinId }, callMetadata(context));
      await services.settle(result.position);
      const cron = await describeCron(context, args.cron_id);
      return cron ? { success: true, cron } : { error: 'Cron not found' };
    });
  }) as NativeTool['execute'],
};

const deleteCronTool: NativeTool = {
  name: 'delete_cron',
  domain: 'crons',
  description: 'Delete one of your crons; it will not run again.',
  defaultDisabled: false,
  input: z.object({ cron_id: z.string().min(1) }),
  execute: (async (args: { cron_id: string }, context: ToolContext) =>
    orError(async () => {
      const result = await deleteCron(context.services, args.cron_id, { by: 'kin', kinId: context.kinId }, callMetadata(context));
      await context.services.settle(result.position);
      return { success: true };
    })) as NativeTool['execute'],
};

const listCronsTool: NativeTool = {
  name: 'list_crons',
  domain: 'crons',
  description: 'List your crons: schedule, time zone, task, status (active, inactive, pending_approval) and last run.',
  defaultDisabled: false,
  input: z.object({}),
  execute: (async (_args: unknown, context: ToolContext) => {
    const docs = await context.readStore.collection<CronDoc>(CRONS).find({ kinId: context.kinId }, { sort: { createdAt: 1, id: 1 } });
    return { crons: (await cronSummaries(context.readStore, docs)).map(present) };
  }) as NativeTool['execute'],
};

export const cronTools: readonly NativeTool[] = [createCronTool, updateCronTool, deleteCronTool, listCronsTool];
