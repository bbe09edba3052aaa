import type { Projection } from '../es/projections.js';
import type { Doc } from '../es/readStore.js';
import { kinEventTypes, parseKinEvent, type Avatar, type CompactingConfig, type ToolConfig } from '../events/kins.js';

export const KINS = 'kins';

export type KinDoc = Doc & {
  id: string;
  slug: string;
  name: string;
  role: string;
  character: string;
  expertise: string;
  model: string;
  providerId: string | null;
  mcpServerIds: string[];
  workspacePath: string;
  toolConfig: ToolConfig | null;
  compactingConfig: CompactingConfig | null;
  avatar: Avatar | null;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
};

/** The URL a Kin's avatar is served at; `v` changes with every update so caches refresh. */
export const avatarUrlOf = (kin: KinDoc): string | null =>
  kin.avatar ? `/api/uploads/kins/${kin.id}/avatar.${kin.avatar.ext}?v=${Date.parse(kin.updatedAt)}` : null;

export const kinsProjection: Projection = {
  name: 'kins',
  version: 1,
  handles: kinEventTypes,
  collections: [KINS],
  async setup(store) {
    await store.collection(KINS).ensureIndex({ fields: { slug: 1 } });
  },
  async apply(recorded, store) {
    const kins = store.collection<KinDoc>(KINS);
    const event = parseKinEvent(recorded);
    switch (event.type) {
      case 'KinCreated': {
        const { kinId, ...fields } = event.data;
        const doc = { id: kinId, ...fields, toolConfig: null, compactingConfig: null, avatar: null, updatedAt: fields.createdAt };
        await kins.replace(doc);
        return;
      }
      case 'KinUpdated':
        await kins.update({ id: event.data.kinId }, { $set: { ...event.data.changes, updatedAt: event.data.updatedAt } });
        return;
      case 'KinAvatarChanged':
        await kins.update({ id: event.data.kinId }, { $set: { avatar: event.data.avatar, updatedAt: event.data.updatedAt } });
        return;
      case 'KinDeleted':
        await kins.delete({ id: event.data.kinId });
        return;
    }
  },
};
