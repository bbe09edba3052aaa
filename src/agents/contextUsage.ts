import type { ModelMessage, ToolSet } from 'ai';
import { contextWindowOf, estimateTokens } from './contextWindow.js';

export type ContextUsage = {
  contextTokens: number;
  contextWindow: number;
  contextBreakdown: { systemPrompt: number; messages: number; tools: number; summary: number; total: number };
  pipelineStatus: Record<string, unknown> | null;
};

const toolText = (tools: ToolSet) =>
  Object.entries(tools)
    .map(([name, t]) => `${name} ${t.description ?? ''}`)
    .join('\n');

/** What a turn sends to the model, in estimated tokens (about four characters a token). */
export function contextBreakdown(input: { system: string; messages: ModelMessage[]; tools: ToolSet; summary: string | null; model: string }): ContextUsage {
  const summary = input.summary ? estimateTokens(input.summary) : 0;
  const systemPrompt = estimateTokens(input.system) - summary;
  const messages = estimateTokens(JSON.stringify(input.messages));
  const tools = estimateTokens(toolText(input.tools));
  const total = systemPrompt + summary + messages + tools;
  return {
    contextTokens: total,
    contextWindow: contextWindowOf(input.model),
    contextBreakdown: { systemPrompt, messages, tools, summary, total },
    pipelineStatus: null,
  };
}
