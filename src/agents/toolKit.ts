import type { z } from 'zod';
import type { CommandMetadata } from '../es/decider.js';
import { DomainError } from '../es/errors.js';
import type { NativeTool, ToolContext } from './tools.js';

/**
 * The domains the web app knows (webapp.md §4, its TOOL_DOMAIN_META): the Tools tab looks each
 * listed domain up in that table and breaks on any other, so a tool's domain is one of these.
 */
export const TOOL_DOMAINS = [
  'search',
  'browse',
  'contacts',
  'memory',
  'vault',
  'tasks',
  'inter-kin',
  'crons',
  'custom',
  'images',
  'shell',
  'filesystem',
  'file-storage',
  'mcp',
  'kin-management',
  'webhooks',
  'channels',
  'system',
  'users',
  'database',
  'mini-apps',
  'plugins',
] as const;

export type ToolDomain = (typeof TOOL_DOMAINS)[number];

/** The metadata of a command a tool issues: the turn's actor and correlation, the time of the call. */
export const callMetadata = (context: ToolContext): CommandMetadata => ({ ...context.metadata, now: new Date() });

/** A refusal the model can act on (a DomainError) is a result; anything else fails the tool call. */
export async function orError<T>(work: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DomainError) return { error: error.message };
    throw error;
  }
}

/**
 * A definer for the tools of one domain, with their input typed from the schema. Tool modules use
 * it instead of tools.ts's own so that they need nothing from tools.ts at load time.
 */
export const toolsOf =
  (domain: ToolDomain, defaultDisabled = false) =>
  <I extends z.ZodType>(
    tool: Omit<NativeTool, 'input' | 'execute' | 'domain' | 'defaultDisabled'> & {
      input: I;
      execute: (input: z.output<I>, context: ToolContext) => Promise<unknown>;
    },
  ): NativeTool =>
    ({ domain, defaultDisabled, ...tool }) as NativeTool;
