import { describe, expect, it } from 'vitest';
import {
  decidePrompt,
  evolvePrompt,
  initialPromptState,
  responseText,
  type NewPrompt,
  type PromptCommand,
} from '../../src/commands/prompts.js';
import type { PromptEvent } from '../../src/events/prompts.js';
import type { DomainError } from '../../src/es/errors.js';

const now = new Date('2026-11-28T10:00:00.000Z');
const promptId = '01936d3c-0000-7000-8000-0000000000p1';
const kinId = '01936d3c-0000-7000-8000-000000000001';
const colours = [
  { label: 'Red', value: 'r' },
  { label: 'Green', value: 'g', variant: 'success' as const },
  { label: 'Blue', value: 'b' },
];
const prompt = (overrides: Partial<NewPrompt> = {}): NewPrompt => ({
  kinId,
  taskId: null,
  messageId: null,
  promptType: 'select',
  question: 'Which colour?',
  description: null,
  options: colours,
  ...overrides,
});
const created = (overrides: Partial<NewPrompt> = {}): PromptEvent => ({
  type: 'PromptCreated',
  data: { promptId, ...prompt(overrides), createdAt: now.toISOString() },
});

/** Given events, when command, then events (or the error's status, code and message). */
function given(events: PromptEvent[]) {
  const state = events.reduce(evolvePrompt, initialPromptState());
  return {
    when: (command: PromptCommand) => {
      try {
        return decidePrompt(command, state);
      } catch (error) {
        const { status, code, message } = error as DomainError;
        return { status, code, message };
      }
    },
  };
}

const respond = (response: unknown): PromptCommand => ({ type: 'RespondToPrompt', promptId, response, now });
const answered = (response: string | string[], text: string): PromptEvent => ({
  type: 'PromptAnswered',
  data: { promptId, kinId, taskId: null, response, responseText: text, answeredAt: now.toISOString() },
});

describe('Prompt decider', () => {
  it('creates a prompt once, with between 1 and 20 distinct options', () => {
    const create = (overrides: Partial<NewPrompt> = {}): PromptCommand => ({ type: 'CreatePrompt', promptId, prompt: prompt(overrides), now });
    expect(given([]).when(create())).toEqual([created()]);
    expect(given([created()]).when(create())).toMatchObject({ status: 409, code: 'PROMPT_EXISTS' });
    expect(given([]).when(create({ options: [] }))).toMatchObject({ status: 400, code: 'PROMPT_ERROR' });
    const many = Array.from({ length: 21 }, (_, i) => ({ label: `O${i}`, value: `o${i}` }));
    expect(given([]).when(create({ options: many }))).toMatchObject({ status: 400, code: 'PROMPT_ERROR' });
    expect(given([]).when(create({ options: [colours[0]!, colours[0]!] }))).toMatchObject({ message: 'Option values must be unique' });
  });

  it('answers a select prompt with the label in the text for the Kin', () => {
    expect(given([created()]).when(respond('g'))).toEqual([answered('g', '[Human response to "Which colour?"]: Green')]);
  });

  it('answers a multi_select prompt with comma-joined labels', () => {
    expect(given([created({ promptType: 'multi_select' })]).when(respond(['r', 'b']))).toEqual([
      answered(['r', 'b'], '[Human response to "Which colour?"]: Red, Blue'),
    ]);
  });

  it.each([
    ['confirm', 'maybe', 'Confirm response must be one of: r, g, b'],
    ['confirm', ['r'], 'Confirm response must be one of: r, g, b'],
    ['select', 'purple', 'Select response must be one of: r, g, b'],
    ['select', 42, 'Select response must be one of: r, g, b'],
    ['multi_select', [], 'Multi-select response must be a non-empty array of valid values'],
    ['multi_select', ['r', 'x'], 'Multi-select response must be a non-empty array of valid values'],
    ['multi_select', 'r', 'Multi-select response must be a non-empty array of valid values'],
  ] as const)('refuses a %s response %j with PROMPT_ERROR', (promptType, response, message) => {
    expect(given([created({ promptType })]).when(respond(response))).toEqual({ status: 400, code: 'PROMPT_ERROR', message });
  });

  it('refuses an unknown prompt (404) and one that is no longer pending (409)', () => {
    expect(given([]).when(respond('r'))).toEqual({ status: 404, code: 'PROMPT_NOT_FOUND', message: 'Prompt not found' });
    const done = answered('g', 'x');
    expect(given([created(), done]).when(respond('r'))).toEqual({ status: 409, code: 'PROMPT_NOT_PENDING', message: 'Prompt is no longer pending' });
    const cancelled: PromptEvent = { type: 'PromptCancelled', data: { promptId, kinId, taskId: null, cancelledAt: now.toISOString() } };
    expect(given([created(), cancelled]).when(respond('r'))).toMatchObject({ status: 409 });
  });

  it('cancels a pending prompt once and leaves an answered one alone', () => {
    const cancel: PromptCommand = { type: 'CancelPrompt', promptId, now };
    const cancelled: PromptEvent = { type: 'PromptCancelled', data: { promptId, kinId, taskId: null, cancelledAt: now.toISOString() } };
    expect(given([created()]).when(cancel)).toEqual([cancelled]);
    expect(given([created(), cancelled]).when(cancel)).toEqual([]);
    expect(given([created(), answered('g', 'x')]).when(cancel)).toEqual([]);
    expect(given([]).when(cancel)).toMatchObject({ status: 404 });
  });

  it('formats values without a label as themselves', () => {
    expect(responseText({ question: 'Q', options: [] }, 'raw')).toBe('[Human response to "Q"]: raw');
  });
});
