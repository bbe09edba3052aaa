import { callMetadata, orError } from '../toolKit.js';
import { z } from 'zod';
import type { NativeTool, ToolContext } from '../tools.js';
import { filterProblem } from '../webhookFilter.js';
import { createWebhook, deleteWebhook, filterFieldsFor, updateWebhook, type FilterSettings } from '../../commands/webhooks.js';
import type { WebhookChanges } from '../../events/webhooks.js';
import { incomingUrl, WEBHOOKS, type WebhookDoc } from '../../projections/webhooks.js';

/**
 * A Kin manages its own incoming webhooks (kins.md, domain "webhooks"). Unlike the original,
 * create_webhook does not hand the token to the Kin: a tool result is recorded in the conversation,
 * and secrets never enter the event log in clear. A user reads the token once with "regenerate
 * token" (POST /api/webhooks/:id/regenerate-token).
 */

const filterInput = {
  filter_mode: z.enum(['simple', 'advanced']).nullable().optional().describe('"simple": a JSON field must hold one of the allowed values; "advanced": a regular expression must match the raw body; null: no filter'),
  filter_field: z.string().max(500).nullable().optional().describe('simple mode: dot path in the JSON payload, e.g. "action" or "event.type"'),
  filter_allowed_values: z.array(z.string().max(500)).max(100).nullable().optional().describe('simple mode: accepted values (case-insensitive)'),
  filter_expression: z.string().max(500).nullable().optional().describe('advanced mode: JavaScript regular expression tested against the raw body'),
};

type FilterArgs = { filter_mode?: 'simple' | 'advanced' | null; filter_field?: string | null; filter_allowed_values?: string[] | null; filter_expression?: string | null };

const settingsOf = (args: FilterArgs): FilterSettings => ({
  filterMode: args.filter_mode,
  filterField: args.filter_field,
  filterAllowedValues: args.filter_allowed_values,
  filterExpression: args.filter_expression,
});


const describe = (webhook: WebhookDoc, publicUrl: string) => ({
  id: webhook.id,
  name: webhook.name,
  description: webhook.description,
  isActive: webhook.isActive,
  triggerCount: webhook.triggerCount,
  lastTriggeredAt: webhook.lastTriggeredAt === null ? null : new Date(webhook.lastTriggeredAt).toISOString(),
  url: incomingUrl(publicUrl, webhook.id),
  filterMode: webhook.filterMode,
  filterField: webhook.filterField,
  filterAllowedValues: webhook.filterAllowedValues,
  filterExpression: webhook.filterExpression,
});

/** One of this Kin's webhooks, or null (another Kin's webhook is "not found" too). */
async function ownWebhook(context: ToolContext, webhookId: string): Promise<WebhookDoc | null> {
  const webhook = await context.readStore.collection<WebhookDoc>(WEBHOOKS).get(webhookId);
  return webhook && webhook.kinId === context.kinId && !webhook.kinDeleted ? webhook : null;
}


const createWebhookTool: NativeTool = {
  name: 'create_webhook',
  domain: 'webhooks',
  description:
    'Create an incoming webhook: payloads POSTed to its URL arrive in your conversation as messages. Optionally filter them. The token is not shown to you; a user gets it from the webhook settings ("regenerate token").',
  defaultDisabled: false,
  input: z.object({
    name: z.string().trim().min(1).max(200),
    description: z.string().max(1000).optional(),
    ...filterInput,
  }),
  execute: (async (args: { name: string; description?: string } & FilterArgs, context: ToolContext) => {
    const settings = settingsOf(args);
    const problem = filterProblem(settings);
    if (problem) return { error: problem.message };
    const { services } = context;
    return orError(async () => {
      const input = { kinId: context.kinId, name: args.name, description: args.description?.trim() || null, createdBy: 'kin' as const, filter: filterFieldsFor(settings) };
      const { webhookId, position } = await createWebhook(services, services.config.webhooks, input, callMetadata(context));
      await services.settle(position);
      return {
        webhookId,
        name: args.name,
        url: incomingUrl(services.config.publicUrl, webhookId),
        filterMode: input.filter.filterMode,
        note: 'Senders authenticate with the token (Authorization: Bearer <token> or ?token=). Ask a user to copy it from the webhook settings.',
      };
    });
  }) as NativeTool['execute'],
};

const updateWebhookTool: NativeTool = {
  name: 'update_webhook',
  domain: 'webhooks',
  description: 'Change one of your webhooks: name, description, active state, or payload filter (filter_mode null removes the filter).',
  defaultDisabled: false,
  input: z.object({
    webhook_id: z.string().min(1),
    name: z.string().trim().min(1).max(200).optional(),
    description: z.string().max(1000).nullable().optional(),
    is_active: z.boolean().optional(),
    ...filterInput,
  }),
  execute: (async (args: { webhook_id: string; name?: string; description?: string | null; is_active?: boolean } & FilterArgs, context: ToolContext) => {
    const webhook = await ownWebhook(context, args.webhook_id);
    if (!webhook) return { error: 'Webhook not found' };
    const settings = settingsOf(args);
    const problem = filterProblem(settings);
    if (problem) return { error: problem.message };
    const changes: WebhookChanges = {};
    if (args.name !== undefined) changes.name = args.name;
    if (args.description !== undefined) changes.description = args.description;
    if (args.is_active !== undefined) changes.isActive = args.is_active;
    if (args.filter_mode !== undefined) Object.assign(changes, filterFieldsFor(settings));
    const { services } = context;
    return orError(async () => {
      const result = await updateWebhook(services, webhook.id, changes, callMetadata(context));
      await services.settle(result.position);
      const updated = await ownWebhook(context, webhook.id);
      return updated ? { success: true, webhook: describe(updated, services.config.publicUrl) } : { error: 'Webhook not found' };
    });
  }) as NativeTool['execute'],
};

const deleteWebhookTool: NativeTool = {
  name: 'delete_webhook',
  domain: 'webhooks',
  description: 'Delete one of your webhooks for good; senders then get 404.',
  defaultDisabled: false,
  input: z.object({ webhook_id: z.string().min(1) }),
  execute: (async (args: { webhook_id: string }, context: ToolContext) => {
    const webhook = await ownWebhook(context, args.webhook_id);
    if (!webhook) return { error: 'Webhook not found' };
    return orError(async () => {
      const result = await deleteWebhook(context.services, webhook.id, callMetadata(context));
      await context.services.settle(result.position);
      return { success: true };
    });
  }) as NativeTool['execute'],
};

const listWebhooksTool: NativeTool = {
  name: 'list_webhooks',
  domain: 'webhooks',
  description: 'List your webhooks with their URL, activity and filter (tokens are never shown).',
  defaultDisabled: false,
  input: z.object({}),
  execute: (async (_args: unknown, context: ToolContext) => {
    const webhooks = await context.readStore
      .collection<WebhookDoc>(WEBHOOKS)
      .find({ kinId: context.kinId, kinDeleted: false }, { sort: { createdAt: 1, id: 1 } });
    return { webhooks: webhooks.map((webhook) => describe(webhook, context.services.config.publicUrl)) };
  }) as NativeTool['execute'],
};

export const webhookTools: readonly NativeTool[] = [createWebhookTool, updateWebhookTool, deleteWebhookTool, listWebhooksTool];
