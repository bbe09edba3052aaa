import { callMetadata, orError, toolsOf } from './toolKit.js';
import { z } from 'zod';
import { replyToKinMessage, sendKinMessage } from '../commands/interKin.js';
import type { NativeTool } from './tools.js';

/**
 * Inter-Kin messages (kins.md, domain "inter-kin"; list_kins lives in tools.ts). A request carries a
 * correlation id (request_id) and gets at most one reply; an "inform" gets none. Replies are
 * informational: the turn that reads one runs without these tools, so two Kins cannot ping-pong.
 */

const interKinTool = toolsOf('inter-kin');



export const interKinTools: readonly NativeTool[] = [
  interKinTool({
    name: 'send_message',
    description:
      'Send a message to another Kin. "request": you expect an answer (the Kin gets a turn and answers with reply; the answer comes back to you as a message). "inform": for information only, no answer, no turn.',
    input: z.object({
      slug: z.string().trim().min(1).describe('Slug (or id) of the Kin, see list_kins'),
      message: z.string().trim().min(1).max(32_000),
      type: z.enum(['request', 'inform']),
    }),
    execute: ({ slug, message, type }, context) =>
      orError(async () => {
        const sent = await sendKinMessage(
          context.services,
          { fromKinId: context.kinId, to: slug, fromTaskId: context.taskId ?? null, messageType: type, content: message },
          callMetadata(context),
        );
        const note = type === 'request' ? 'The reply will arrive as a new message.' : 'Delivered for information; no reply will come.';
        return { success: true, requestId: sent.requestId, note };
      }),
  }),
  interKinTool({
    name: 'reply',
    description: 'Answer a request another Kin sent you, with the request_id it came with. Replies are informational: the other Kin cannot answer them.',
    input: z.object({ request_id: z.string().trim().min(1).describe('Correlation id of the request'), message: z.string().trim().min(1).max(32_000) }),
    execute: ({ request_id, message }, context) =>
      orError(async () => {
        await replyToKinMessage(context.services, { fromKinId: context.kinId, requestId: request_id, content: message }, callMetadata(context));
        return { success: true };
      }),
  }),
];
