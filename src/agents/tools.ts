import { callMetadata, type ToolDomain } from './toolKit.js';
import { zodSchema, type Schema } from 'ai';
import { z } from 'zod';
import { getCurrentDatetimeTool } from './tools/datetime.js';
import { httpRequestTool } from './tools/httpRequest.js';
import { getPlatformConfigTool, getSystemInfoTool, searchHistoryTool } from './tools/self.js';
import { memoryTools } from './tools/memory.js';
import { knowledgeTools } from './tools/knowledge.js';
import { webhookTools } from './tools/webhooks.js';
import { taskTools } from './taskTools.js';
import { interKinTools } from './interKin.js';
import { cronTools } from './tools/crons.js';
import type { CommandMetadata } from '../es/decider.js';
import type { ReadStore } from '../es/readStore.js';
import { KINS, type KinDoc } from '../projections/kins.js';
import type { ToolConfig } from '../events/kins.js';
import type { Services } from '../services.js';
import { promptOptionSchema, promptTypeSchema } from '../events/prompts.js';
import { notify } from '../commands/notifications.js';
import { createPrompt, MAX_PROMPT_OPTIONS } from '../commands/prompts.js';

/**
 * The native tool catalogue. Each tool is real (zod input, an implementation over the stores);
 * the catalogue grows as capabilities land, and GET /api/kins/:id/tools lists what is here.
 * `domain` groups tools in that listing, in registration order; opt-in tools (`defaultDisabled`)
 * must be enabled per Kin through toolConfig.enabledOptInTools.
 */
export type ToolContext = {
  /** The Kin whose turn calls the tool. */
  kinId: string;
  readStore: ReadStore;
  /** For tools that change something (notify, prompt_human): they issue commands like a route does. */
  services: Pick<Services, 'runCommand' | 'readStore' | 'secrets' | 'settle' | 'config' | 'eventStore'>;
  /**
   * Actor and correlation of the commands a tool issues (the turn's); a tool takes `now` at the
   * moment it runs (`callMetadata`), so a long turn does not backdate what its tools record.
   */
  metadata: CommandMetadata;
  /** The task whose sub-run calls the tool, if any: a prompt is attached to it. */
  taskId?: string | null;
  /** The assistant message that holds the tool call, when the loop knows it. */
  messageId?: string | null;
};

export type NativeTool = {
  name: string;
  domain: ToolDomain;
  description: string;
  defaultDisabled: boolean;
  input: z.ZodType;
  execute: (input: never, context: ToolContext) => Promise<unknown>;
};

const defineTool = <I extends z.ZodType>(tool: Omit<NativeTool, 'input' | 'execute'> & {
  input: I;
  execute: (input: z.output<I>, context: ToolContext) => Promise<unknown>;
}): NativeTool => tool as NativeTool;


const confirmOptions = [
  { label: 'Yes', value: 'yes', variant: 'success' as const },
  { label: 'No', value: 'no', variant: 'destructive' as const },
];

const kinDirectoryEntry = (kin: KinDoc) => ({ id: kin.id, slug: kin.slug, name: kin.name, role: kin.role });

export const nativeTools: readonly NativeTool[] = [
  defineTool({
    name: 'list_kins',
    domain: 'inter-kin',
    description: 'List the other Kins of this platform (id, slug, name, role) to find one to talk to.',
    defaultDisabled: false,
    input: z.object({}),
    async execute(_input, { kinId, readStore }) {
      const kins = await readStore.collection<KinDoc>(KINS).find({ id: { $ne: kinId } }, { sort: { name: 1 } });
      return { kins: kins.map(kinDirectoryEntry) };
    },
  }),
  defineTool({
    name: 'get_kin_details',
    domain: 'kin-management',
    description: "Read another Kin's identity and configuration by id or slug.",
    defaultDisabled: true,
    input: z.object({ kin: z.string().min(1).describe('id or slug') }),
    async execute({ kin }, { readStore }) {
      const found = await readStore.collection<KinDoc>(KINS).findOne({ $or: [{ id: kin }, { slug: kin }] });
      if (!found) return { error: 'Kin not found' };
      const { avatar: _avatar, ...details } = found;
      return { kin: details };
    },
  }),
  defineTool({
    name: 'notify',
    domain: 'tasks',
    description: 'Send every user a notification (an alert from you), for something that needs their attention.',
    defaultDisabled: false,
    input: z.object({
      title: z.string().trim().min(1).max(200).describe('Short headline'),
      body: z.string().max(2000).optional().describe('Details'),
    }),
    async execute({ title, body }, context) {
      const { notifications } = await notify(
        context.services,
        { type: 'kin:alert', title, body, kinId: context.kinId },
        callMetadata(context),
      );
      return { success: true, notified: notifications.length };
    },
  }),
  defineTool({
    name: 'prompt_human',
    domain: 'tasks',
    description:
      'Ask the humans a question they answer by choosing: confirm (yes/no unless you give options), select (one option) or multi_select (several). Their answer arrives later as a new message.',
    defaultDisabled: false,
    input: z
      .object({
        promptType: promptTypeSchema,
        question: z.string().trim().min(1).max(2000),
        description: z.string().max(5000).optional(),
        options: z.array(promptOptionSchema).min(1).max(MAX_PROMPT_OPTIONS).optional().describe('Required for select and multi_select'),
      })
      .refine((input) => input.promptType === 'confirm' || input.options !== undefined, {
        message: 'options are required for select and multi_select',
        path: ['options'],
      }),
    async execute({ promptType, question, description, options }, context) {
      const { promptId } = await createPrompt(
        context.services,
        {
          kinId: context.kinId,
          taskId: context.taskId,
          messageId: context.messageId,
          promptType,
          question,
          description,
          options: options ?? confirmOptions,
        },
        callMetadata(context),
      );
      return { promptId, status: 'pending', note: 'The human will answer later; their answer will arrive as a new message.' };
    },
  }),
  getCurrentDatetimeTool,
  httpRequestTool,
  getSystemInfoTool,
  getPlatformConfigTool,
  ...memoryTools,
  ...knowledgeTools,
  searchHistoryTool,
  ...webhookTools,
  ...taskTools,
  ...interKinTools,
  ...cronTools,
];

const inputSchemas = new WeakMap<NativeTool, Schema>();

/**
 * A tool's input as the model is told it (JSON schema), converted from zod at its first use and
 * kept: the catalogue is fixed while the process runs, and the conversion is most of the cost of
 * handing a Kin its tools (the ai SDK's schema object keeps the JSON schema it computed).
 */
export function modelInputSchema(tool: NativeTool): Schema {
  let schema = inputSchemas.get(tool);
  if (!schema) inputSchemas.set(tool, (schema = zodSchema(tool.input)));
  return schema;
}

export function isToolEnabled(tool: NativeTool, config: ToolConfig | null): boolean {
  return tool.defaultDisabled
    ? (config?.enabledOptInTools ?? []).includes(tool.name)
    : !(config?.disabledNativeTools ?? []).includes(tool.name);
}

export function toolListing(config: ToolConfig | null) {
  const domains = new Map<ToolDomain, { name: string; enabled: boolean; defaultDisabled: boolean }[]>();
  for (const tool of nativeTools) {
    const entry = { name: tool.name, enabled: isToolEnabled(tool, config), defaultDisabled: tool.defaultDisabled };
    domains.set(tool.domain, [...(domains.get(tool.domain) ?? []), entry]);
  }
  return [...domains].map(([domain, tools]) => ({ domain, tools }));
}
