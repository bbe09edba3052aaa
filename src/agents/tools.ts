import { z } from 'zod';
import type { ReadStore } from '../es/readStore.js';
import { KINS, type KinDoc } from '../projections/kins.js';
import type { ToolConfig } from '../events/kins.js';

/**
 * The native tool catalogue. Each tool is real (zod input, an implementation over the stores);
 * the catalogue grows as capabilities land, and GET /api/kins/:id/tools lists what is here.
 * `domain` groups tools in that listing, in registration order; opt-in tools (`defaultDisabled`)
 * must be enabled per Kin through toolConfig.enabledOptInTools.
 */
export type ToolContext = { kinId: string; readStore: ReadStore };

export type NativeTool = {
  name: string;
  domain: string;
  description: string;
  defaultDisabled: boolean;
  input: z.ZodType;
  execute: (input: never, context: ToolContext) => Promise<unknown>;
};

const defineTool = <I extends z.ZodType>(tool: Omit<NativeTool, 'input' | 'execute'> & {
  input: I;
  execute: (input: z.output<I>, context: ToolContext) => Promise<unknown>;
}): NativeTool => tool as NativeTool;

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
];

export function isToolEnabled(tool: NativeTool, config: ToolConfig | null): boolean {
  return tool.defaultDisabled
    ? (config?.enabledOptInTools ?? []).includes(tool.name)
    : !(config?.disabledNativeTools ?? []).includes(tool.name);
}

export function toolListing(config: ToolConfig | null) {
  const domains = new Map<string, { name: string; enabled: boolean; defaultDisabled: boolean }[]>();
  for (const tool of nativeTools) {
    const entry = { name: tool.name, enabled: isToolEnabled(tool, config), defaultDisabled: tool.defaultDisabled };
    domains.set(tool.domain, [...(domains.get(tool.domain) ?? []), entry]);
  }
  return [...domains].map(([domain, tools]) => ({ domain, tools }));
}
