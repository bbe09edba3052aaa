import type { Projection } from '../es/projections.js';
import type { Doc } from '../es/readStore.js';
import { kinEventTypes, parseKinEvent, type Avatar, type CompactingConfig, type ToolConfig } from '../events/kins.js';

export const KINS = 'kins';
/** Every slug in use, `{id: slug, kinId}`: small documents, so finding the free slugs of a name stays cheap. */
export const KIN_SLUGS = 'kin_slugs';

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
  version: 2,
  handles: kinEventTypes,
  collections: [KINS, KIN_SLUGS],
  async setup(store) {
    await store.collection(KINS).ensureIndex({ fields: { slug: 1 } });
  },
  async apply(recorded, store) {
    const kins = store.collection<KinDoc>(KINS);
    const slugs = store.collection<Doc & { id: string; kinId: string }>(KIN_SLUGS);
    const event = parseKinEvent(recorded);
    switch (event.type) {
      case 'KinCreated': {
        const { kinId, ...fields } = event.data;
        const doc = { id: kinId, ...fields, toolConfig: null, compactingConfig: null, avatar: null, updatedAt: fields.createdAt };
        await kins.replace(doc);
        await slugs.replace({ id: fields.slug, kinId });
        return;
      }
      case 'KinUpdated': {
        const { kinId, changes } = event.data;
        if (changes.slug !== undefined) {
          const before = await kins.get(kinId);
          if (before) await slugs.delete({ id: before.slug, kinId });
          await slugs.replace({ id: changes.slug, kinId });
        }
        await kins.update({ id: kinId }, { $set: { ...changes, updatedAt: event.data.updatedAt } });
        return;
      }
      case 'KinAvatarChanged':
        await kins.update({ id: event.data.kinId }, { $set: { avatar: event.data.avatar, updatedAt: event.data.updatedAt } });
        return;
      case 'KinDeleted': {
        const before = await kins.get(event.data.kinId);
        if (before) await slugs.delete({ id: before.slug, kinId: before.id });
        await kins.delete({ id: event.data.kinId });
        return;
      }
    }
  },
};
