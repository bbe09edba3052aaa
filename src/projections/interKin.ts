import type { Projection } from '../es/projections.js';
import type { Doc } from '../es/readStore.js';
import { interKinEventTypes, parseInterKinEvent, type KinMessageType } from '../events/interKin.js';

export const KIN_MESSAGES = 'kin_messages';

/** Inter-Kin messages: the rate limit counts them, a reply finds its request here. */
export type KinMessageDoc = Doc & {
  id: string;
  fromKinId: string;
  toKinId: string;
  fromTaskId: string | null;
  messageType: KinMessageType;
  content: string;
  sentAt: string;
  reply: string | null;
  repliedAt: string | null;
};

export const interKinProjection: Projection = {
  name: 'inter-kin',
  version: 1,
  handles: interKinEventTypes,
  collections: [KIN_MESSAGES],
  async setup(store) {
    await store.collection(KIN_MESSAGES).ensureIndex({ fields: { fromKinId: 1, toKinId: 1, sentAt: 1 } });
  },
  async apply(recorded, store) {
    const messages = store.collection<KinMessageDoc>(KIN_MESSAGES);
    const event = parseInterKinEvent(recorded);
    switch (event.type) {
      case 'KinMessageSent': {
        const { messageId, ...fields } = event.data;
        await messages.replace({ id: messageId, ...fields, reply: null, repliedAt: null });
        return;
      }
      case 'KinMessageReplied':
        await messages.update({ id: event.data.messageId }, { $set: { reply: event.data.content, repliedAt: event.data.repliedAt } });
        return;
    }
  },
};
