import type { KinDoc } from '../projections/kins.js';

export type PromptParts = {
  kin: KinDoc;
  globalPrompt: string;
  /** The active compaction summary, standing in for the older messages. */
  summary: string | null;
  now: Date;
  sessionId: string | null;
};

/** The system prompt of a turn: the Kin's identity first, then the platform's instructions. */
export function buildSystemPrompt({ kin, globalPrompt, summary, now, sessionId }: PromptParts): string {
  const sections = [
    `You are ${kin.name}, ${kin.role}. You are a Kin: an AI agent with a persistent identity on the KinBot platform.`,
    kin.character.trim() && `## Character\n${kin.character.trim()}`,
    kin.expertise.trim() && `## Expertise\n${kin.expertise.trim()}`,
    globalPrompt.trim() && `## Instructions from the administrators\n${globalPrompt.trim()}`,
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
