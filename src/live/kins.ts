import type { LiveMapper } from './feed.js';
import { parseKinEvent } from '../events/kins.js';
import { avatarUrlOf, KINS, type KinDoc } from '../projections/kins.js';

/** kin:created / kin:updated / kin:deleted, with the payloads of platform.md §10. */
export const kinLiveMessages: LiveMapper = async (recorded, readStore) => {
  if (!recorded.type.startsWith('Kin') || recorded.type.startsWith('KinSlug')) return [];
  const event = parseKinEvent(recorded);
  const kinId = event.data.kinId;
  if (event.type === 'KinDeleted') return [{ type: 'kin:deleted', kinId, data: { kinId } }];
  if (event.type === 'KinCreated') {
    const { slug, name, role, model, providerId, createdAt } = event.data;
    return [{ type: 'kin:created', kinId, data: { kinId, slug, name, role, model, providerId, avatarUrl: null, createdAt } }];
  }
  // Later changes are reported with the Kin's current state, which the read model holds.
  const kin = await readStore.collection<KinDoc>(KINS).get(kinId);
  if (!kin) return [];
  // The web app takes every one of these fields from any kin:updated (webapp.md §3), so all are sent.
  const { slug, name, role, model, providerId } = kin;
  return [{ type: 'kin:updated', kinId, data: { kinId, slug, name, role, model, providerId, avatarUrl: avatarUrlOf(kin) } }];
};
