import { v7 as uuidv7 } from 'uuid';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { badRequest, conflict, notFound } from '../es/errors.js';
import {
  parsePromptEvent,
  promptStream,
  type PromptEvent,
  type PromptOption,
  type PromptResponse,
  type PromptType,
} from '../events/prompts.js';
import { KINS } from '../projections/kins.js';
import { PROMPTS } from '../projections/prompts.js';
import { kinNotFound } from './kins.js';
import { lastPosition, notify, type NotificationDeps } from './notifications.js';

export const MAX_PROMPT_OPTIONS = 20;

type PromptFacts = { kinId: string; taskId: string | null; promptType: PromptType; question: string; options: PromptOption[] };

export type PromptState =
  | { status: 'none' }
  | { status: 'pending' | 'answered' | 'cancelled'; prompt: PromptFacts };

export type NewPrompt = {
  kinId: string;
  taskId: string | null;
  messageId: string | null;
  promptType: PromptType;
  question: string;
  description: string | null;
  options: PromptOption[];
};

export type PromptCommand =
  | { type: 'CreatePrompt'; promptId: string; prompt: NewPrompt; now: Date }
  | { type: 'RespondToPrompt'; promptId: string; response: unknown; now: Date }
  | { type: 'CancelPrompt'; promptId: string; now: Date };

export const promptNotFound = () => notFound('PROMPT_NOT_FOUND', 'Prompt not found');
const promptError = (message: string) => badRequest('PROMPT_ERROR', message);

export const initialPromptState = (): PromptState => ({ status: 'none' });

export function evolvePrompt(state: PromptState, event: PromptEvent): PromptState {
  switch (event.type) {
    case 'PromptCreated': {
      const { kinId, taskId, promptType, question, options } = event.data;
      return { status: 'pending', prompt: { kinId, taskId, promptType, question, options } };
    }
    case 'PromptAnswered':
      return state.status === 'none' ? state : { status: 'answered', prompt: state.prompt };
    case 'PromptCancelled':
      return state.status === 'none' ? state : { status: 'cancelled', prompt: state.prompt };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

/** The response, checked against the prompt's options (messages of platform.md §7). */
function validResponse(prompt: PromptFacts, response: unknown): PromptResponse {
  const values = prompt.options.map((option) => option.value);
  const isOption = (value: unknown): value is string => typeof value === 'string' && values.includes(value);
  switch (prompt.promptType) {
    case 'confirm':
    case 'select': {
      if (isOption(response)) return response;
      const kind = prompt.promptType === 'confirm' ? 'Confirm' : 'Select';
      throw promptError(`${kind} response must be one of: ${values.join(', ')}`);
    }
    case 'multi_select':
      if (Array.isArray(response) && response.length > 0 && response.every(isOption)) return response;
      throw promptError('Multi-select response must be a non-empty array of valid values');
    default: {
      const unhandled: never = prompt.promptType;
      return unhandled;
    }
  }
}

/** `[Human response to "<question>"]: <label or comma-joined labels>` */
export function responseText(prompt: Pick<PromptFacts, 'question' | 'options'>, response: PromptResponse): string {
  const labels = new Map(prompt.options.map((option) => [option.value, option.label]));
  const chosen = (Array.isArray(response) ? response : [response]).map((value) => labels.get(value) ?? value);
  return `[Human response to "${prompt.question}"]: ${chosen.join(', ')}`;
}

function checkOptions(options: PromptOption[]): void {
  if (options.length < 1 || options.length > MAX_PROMPT_OPTIONS) {
    throw promptError(`A prompt needs between 1 and ${MAX_PROMPT_OPTIONS} options`);
  }
  if (new Set(options.map((option) => option.value)).size !== options.length) throw promptError('Option values must be unique');
}

export function decidePrompt(command: PromptCommand, state: PromptState): PromptEvent[] {
  const { promptId } = command;
  const at = command.now.toISOString();
  if (command.type === 'CreatePrompt') {
    if (state.status !== 'none') throw conflict('PROMPT_EXISTS', 'A prompt with this id already exists');
    const { prompt } = command;
    if (!prompt.question.trim()) throw promptError('Question is required');
    checkOptions(prompt.options);
    return [{ type: 'PromptCreated', data: { promptId, ...prompt, createdAt: at } }];
  }
  if (state.status === 'none') throw promptNotFound();
  const { kinId, taskId } = state.prompt;
  switch (command.type) {
    case 'RespondToPrompt': {
      if (state.status !== 'pending') throw conflict('PROMPT_NOT_PENDING', 'Prompt is no longer pending');
      const response = validResponse(state.prompt, command.response);
      const text = responseText(state.prompt, response);
      return [{ type: 'PromptAnswered', data: { promptId, kinId, taskId, response, responseText: text, answeredAt: at } }];
    }
    case 'CancelPrompt':
      if (state.status !== 'pending') return [];
      return [{ type: 'PromptCancelled', data: { promptId, kinId, taskId, cancelledAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const promptDecider: Decider<PromptState, PromptCommand, PromptEvent> = {
  initialState: initialPromptState,
  evolve: evolvePrompt,
  decide: decidePrompt,
};

// ── Handlers ──────────────────────────────────────────────────────────────────────────────────

export type PromptDeps = NotificationDeps;

const runPrompt = (deps: PromptDeps, command: PromptCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: promptStream(command.promptId), decider: promptDecider, parse: parsePromptEvent, command, metadata });

export type CreatePromptInput = {
  kinId: string;
  taskId?: string | null;
  messageId?: string | null;
  promptType: PromptType;
  question: string;
  description?: string | null;
  options: PromptOption[];
};

/**
 * Asks the humans a question on behalf of a Kin (the `prompt_human` tool): records the prompt
 * (SSE prompt:pending) and sends every user a `prompt:pending` notification.
 */
export async function createPrompt(deps: PromptDeps, input: CreatePromptInput, metadata: CommandMetadata) {
  if (!(await deps.readStore.collection(KINS).get(input.kinId))) throw kinNotFound();
  const promptId = uuidv7();
  const prompt: NewPrompt = {
    kinId: input.kinId,
    taskId: input.taskId ?? null,
    messageId: input.messageId ?? null,
    promptType: input.promptType,
    question: input.question,
    description: input.description ?? null,
    options: input.options,
  };
  const created = await runPrompt(deps, { type: 'CreatePrompt', promptId, prompt, now: metadata.now }, metadata);
  const notified = await notify(
    deps,
    { type: 'prompt:pending', title: 'Kin needs your input', body: input.question, kinId: input.kinId, relatedId: promptId, relatedType: 'prompt' },
    metadata,
  );
  return { promptId, position: lastPosition([created.position, notified.position]) };
}

/**
 * Records the human's answer. A prompt whose Kin was deleted is gone from the read model, and
 * is not found here either.
 */
export async function respondToPrompt(deps: PromptDeps, promptId: string, response: unknown, metadata: CommandMetadata) {
  if (!(await deps.readStore.collection(PROMPTS).get(promptId))) throw promptNotFound();
  return runPrompt(deps, { type: 'RespondToPrompt', promptId, response, now: metadata.now }, metadata);
}

/** For the tasks capability (a cancelled task cancels its pending prompts); SSE prompt:answered {cancelled:true}. */
export const cancelPrompt = (deps: PromptDeps, promptId: string, metadata: CommandMetadata) =>
  runPrompt(deps, { type: 'CancelPrompt', promptId, now: metadata.now }, metadata);
