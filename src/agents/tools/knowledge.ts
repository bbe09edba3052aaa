import { z } from 'zod';
import type { NativeTool, ToolContext } from '../tools.js';
import { knowledgeSource, knowledgeSourcesOf } from '../../projections/knowledge.js';
import { searchKnowledge } from '../knowledgeSearch.js';

/**
 * The knowledge-base tools of kins.md §tools: search the Kin's documents, list them. The original
 * gives them no domain and leaves them out of GET /api/kins/:id/tools; here they are listed, so
 * that they can be switched off, under `search`: the web app knows no knowledge domain (webapp.md
 * §4), these tools search a corpus (the Kin's documents rather than the web), and `memory` keeps
 * exactly the original's memory tools.
 */

const searchInput = z.object({
  query: z.string().trim().min(1).describe('What to look for in your knowledge base, in a few words or a question'),
  limit: z.number().int().min(1).max(20).optional().describe('Default: 5'),
});

export const searchKnowledgeTool: NativeTool = {
  name: 'search_knowledge',
  domain: 'search',
  description: 'Search the documents of your knowledge base (texts, files and web pages added for you) and read the most relevant passages.',
  defaultDisabled: false,
  input: searchInput,
  execute: (async (input: z.output<typeof searchInput>, context: ToolContext) => {
    const { results, mode } = await searchKnowledge(context.services, context.kinId, input.query, input.limit ?? 5);
    const names = new Map<string, string>();
    for (const hit of results) {
      if (!names.has(hit.sourceId)) names.set(hit.sourceId, (await knowledgeSource(context.readStore, hit.sourceId))?.name ?? 'Unknown source');
    }
    return {
      results: results.map((hit) => ({ content: hit.content, source: names.get(hit.sourceId), sourceId: hit.sourceId, position: hit.position, score: hit.score })),
      mode,
    };
  }) as NativeTool['execute'],
};

export const listKnowledgeSourcesTool: NativeTool = {
  name: 'list_knowledge_sources',
  domain: 'search',
  description: 'List the documents of your knowledge base: name, type, processing status and size in chunks.',
  defaultDisabled: false,
  input: z.object({}),
  execute: (async (_input: unknown, context: ToolContext) => {
    const sources = await knowledgeSourcesOf(context.readStore, context.kinId);
    return {
      sources: sources.map(({ id, name, type, status, errorMessage, sourceUrl, originalFilename, chunkCount, tokenCount, createdAt }) => ({
        id,
        name,
        type,
        status,
        ...(errorMessage ? { errorMessage } : {}),
        ...(sourceUrl ? { sourceUrl } : {}),
        ...(originalFilename ? { originalFilename } : {}),
        chunkCount,
        tokenCount,
        createdAt,
      })),
    };
  }) as NativeTool['execute'],
};

export const knowledgeTools: readonly NativeTool[] = [searchKnowledgeTool, listKnowledgeSourcesTool];
