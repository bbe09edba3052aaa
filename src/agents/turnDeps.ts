import type { ModelMessage } from 'ai';
import { notify } from '../commands/notifications.js';
import { loadFileBytes } from '../projections/files.js';
import { readSettings } from '../projections/settings.js';
import type { Services } from '../services.js';
import { resolveLanguageModel } from './providers.js';
import type { TurnDeps } from './turn.js';
import type { ContextUsage } from './contextUsage.js';
import { recallForTurn, recallScope } from './memorySearch.js';
import { MEMORIES } from '../projections/memories.js';
import { knowledgeForTurn } from './knowledgeSearch.js';

type UserParts = Exclude<Extract<ModelMessage, { role: 'user' }>['content'], string>;

/** Text files are given to the model inline, up to this many characters. */
const INLINE_TEXT_CHARS = 100_000;
const isText = (mimeType: string) => mimeType.startsWith('text/') || /json|xml|yaml|csv|markdown/.test(mimeType);

/** Images as image parts, PDFs as file parts, text inline; anything else is named only. */
async function attachmentParts(services: Services, fileIds: string[]): Promise<UserParts> {
  const parts: UserParts = [];
  for (const fileId of fileIds) {
    const loaded = await loadFileBytes(services, fileId);
    if (!loaded) continue;
    const { file, bytes } = loaded;
    if (file.mimeType.startsWith('image/')) parts.push({ type: 'image', image: bytes, mediaType: file.mimeType });
    else if (file.mimeType === 'application/pdf') parts.push({ type: 'file', data: bytes, mediaType: file.mimeType, filename: file.name });
    else if (isText(file.mimeType)) {
      const text = bytes.toString('utf8');
      const shown = text.length > INLINE_TEXT_CHARS ? `${text.slice(0, INLINE_TEXT_CHARS)}\n… [truncated]` : text;
      parts.push({ type: 'text', text: `Attached file "${file.name}":\n${shown}` });
    } else parts.push({ type: 'text', text: `Attached file "${file.name}" (${file.mimeType}, ${file.size} bytes).` });
  }
  return parts;
}

export type TurnTuning = { idleTimeoutMs: number; maxSteps: number };

/**
 * Everything a turn needs, from the capabilities that own it: model resolution (providers), the
 * global prompt (settings), attachments (files), compaction (compacting) and error notifications.
 */
export function createTurnDeps(
  services: Services,
  tuning: TurnTuning,
  extra: { compaction: TurnDeps['compaction']; afterTurn: TurnDeps['afterTurn']; contextUsage: Map<string, ContextUsage> },
): TurnDeps {
  return {
    services,
    resolveModel: async (kin) => {
      const resolved = await resolveLanguageModel(services, { providerId: kin.providerId, model: kin.model });
      return resolved ? { model: resolved.model, modelId: kin.model, providerId: resolved.providerId } : null;
    },
    globalPrompt: async () => (await readSettings(services.readStore)).globalPrompt,
    compaction: extra.compaction,
    afterTurn: extra.afterTurn,
    attachments: (fileIds) => attachmentParts(services, fileIds),
    rememberContextUsage: (kinId, usage) => extra.contextUsage.set(kinId, usage),
    async recall(kin, userText, retrievalId) {
      try {
        // Nothing to recall, nothing to embed: a retrieval of no memory records nothing either.
        if (!(await services.readStore.collection(MEMORIES).findOne(recallScope(kin.id)))) return [];
        return await recallForTurn(services, { kinId: kin.id, text: userText, retrievalId });
      } catch (error) {
        // Memories help a turn; a failing search must not stop it.
        services.log.warn({ err: error, kinId: kin.id }, 'memory recall failed; the turn goes on without memories');
        return [];
      }
    },
    async knowledge(kin, userText) {
      try {
        return await knowledgeForTurn(services, kin.id, userText);
      } catch (error) {
        services.log.warn({ err: error, kinId: kin.id }, 'knowledge search failed; the turn goes on without it');
        return [];
      }
    },
    async onKinError(kin, kinId, error) {
      await notify(
        services,
        { type: 'kin:error', title: `${kin?.name ?? 'A Kin'} ran into an error`, body: error, kinId: kin ? kinId : undefined },
        { actor: { kind: 'system', id: 'turn-runner' }, correlationId: kinId, now: new Date() },
      );
    },
    ...tuning,
  };
}
