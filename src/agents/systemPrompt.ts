import type { KinDoc } from '../projections/kins.js';
import type { InjectedMemory } from './memorySearch.js';
import type { TurnKnowledge } from './knowledgeSearch.js';

export type PromptParts = {
  kin: KinDoc;
  globalPrompt: string;
  /** The active compaction summary, standing in for the older messages. */
  summary: string | null;
  now: Date;
  sessionId: string | null;
  /** Memories relevant to the incoming message (main conversation only). */
  memories?: readonly InjectedMemory[];
  /** Knowledge-base passages relevant to the incoming message (main conversation only). */
  knowledge?: readonly TurnKnowledge[];
};

const memoryLine = (memory: InjectedMemory) => `- [${memory.category}]${memory.subject ? ` (${memory.subject})` : ''} ${memory.content}`;

/** The system prompt of a turn: the Kin's identity first, then the platform's instructions. */
export function buildSystemPrompt({ kin, globalPrompt, summary, now, sessionId, memories = [], knowledge = [] }: PromptParts): string {
  const sections = [
    `You are ${kin.name}, ${kin.role}. You are a Kin: an AI agent with a persistent identity on the KinBot platform.`,
    kin.character.trim() && `## Character\n${kin.character.trim()}`,
    kin.expertise.trim() && `## Expertise\n${kin.expertise.trim()}`,
    globalPrompt.trim() && `## Instructions from the administrators\n${globalPrompt.trim()}`,
    memories.length > 0 &&
      [
        '## What you remember',
        'Memories from earlier conversations that may be relevant (they may be outdated; recall, update_memory and forget manage them):',
        ...memories.map(memoryLine),
      ].join('\n'),
    knowledge.length > 0 &&
      [
        '## From your knowledge base',
        'Passages of your documents that may be relevant to this message (search_knowledge finds more):',
        ...knowledge.map((passage) => `### ${passage.sourceName}\n${passage.content}`),
      ].join('\n\n'),
    summary && `## Summary of the earlier conversation\n${summary}`,
    [
      '## Context',
      `Current date and time: ${now.toISOString()}.`,
      'Messages from people start with their name in brackets, e.g. "[Ada] hello". Do not add such a prefix to your own answers.',
      sessionId ? 'This is a quick side session: it is short-lived and separate from your main conversation.' : '',
    ]
      .filter(Boolean)
      .join('\n'),
  ];
  return sections.filter(Boolean).join('\n\n');
}
