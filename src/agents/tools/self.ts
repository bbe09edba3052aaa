import { z } from 'zod';
import type { NativeTool, ToolContext } from '../tools.js';
import { isToolEnabled, nativeTools } from '../tools.js';
import { KINS, type KinDoc } from '../../projections/kins.js';
import { MESSAGES, type MessageDoc } from '../../projections/messages.js';
import { PROVIDERS, type ProviderDoc } from '../../projections/providers.js';
import { readSettings } from '../../projections/settings.js';
import { version } from '../../rest/health.js';
import { contextWindowOf } from '../contextWindow.js';

/** What a Kin can learn about itself and the platform it runs on (read-only, no secrets). */

const startedAt = Date.now();

async function ownKin(context: ToolContext): Promise<KinDoc | null> {
  return context.readStore.collection<KinDoc>(KINS).get(context.kinId);
}

export const getSystemInfoTool: NativeTool = {
  name: 'get_system_info',
  domain: 'system',
  description: 'Who and where you are: your identity, model, context window and enabled tools, and the platform version and uptime.',
  defaultDisabled: false,
  input: z.object({}),
  execute: (async (_input: unknown, context: ToolContext) => {
    const kin = await ownKin(context);
    if (!kin) return { error: 'This Kin no longer exists' };
    return {
      platform: { name: 'KinBot', version, uptimeSeconds: Math.round((Date.now() - startedAt) / 1000), now: new Date().toISOString() },
      kin: { id: kin.id, slug: kin.slug, name: kin.name, role: kin.role, model: kin.model, providerId: kin.providerId, createdAt: kin.createdAt },
      contextWindow: contextWindowOf(kin.model),
      enabledTools: nativeTools.filter((tool) => isToolEnabled(tool, kin.toolConfig)).map((tool) => tool.name),
    };
  }) as NativeTool['execute'],
};

export const getPlatformConfigTool: NativeTool = {
  name: 'get_platform_config',
  domain: 'system',
  description: 'The platform settings that shape your work: the hub Kin, compaction threshold, network policy and the model providers available (no secrets).',
  defaultDisabled: false,
  input: z.object({}),
  execute: (async (_input: unknown, context: ToolContext) => {
    const settings = await readSettings(context.readStore);
    const providers = await context.readStore.collection<ProviderDoc>(PROVIDERS).find({}, { sort: { createdAt: 1 } });
    return {
      hubKinId: settings.hubKinId,
      compactingThresholdPercent: settings.compactingThresholdPercent,
      extractionModel: settings.extractionModel,
      embeddingModel: settings.embeddingModel,
      allowPrivateNetworks: settings.allowPrivateNetworks,
      providers: providers.map(({ id, name, type, capabilities, isValid }) => ({ id, name, type, capabilities, isValid })),
    };
  }) as NativeTool['execute'],
};

/** Until full-text search exists (memory issue), the scan covers this many recent messages. */
const SCANNED_MESSAGES = 5000;
const EXCERPT_CHARS = 500;

const searchInput = z.object({
  query: z.string().trim().min(1).describe('words to look for (case-insensitive)'),
  limit: z.number().int().min(1).max(50).default(10),
});

export const searchHistoryTool: NativeTool = {
  name: 'search_history',
  domain: 'memory',
  description: 'Search your own main conversation for messages containing some text; newest first.',
  defaultDisabled: false,
  input: searchInput,
  execute: (async (input: z.output<typeof searchInput>, context: ToolContext) => {
    const needle = input.query.toLowerCase();
    const recent = await context.readStore
      .collection<MessageDoc>(MESSAGES)
      .find({ kinId: context.kinId, sessionId: null, taskId: null }, { sort: { createdAt: -1, id: -1 }, limit: SCANNED_MESSAGES });
    const found = recent.filter((message) => message.content?.toLowerCase().includes(needle)).slice(0, input.limit);
    return {
      results: found.map((message) => ({
        id: message.id,
        role: message.role,
        sourceType: message.sourceType,
        createdAt: message.createdAt,
        content: message.content!.length > EXCERPT_CHARS ? `${message.content!.slice(0, EXCERPT_CHARS)}…` : message.content,
      })),
    };
  }) as NativeTool['execute'],
};
