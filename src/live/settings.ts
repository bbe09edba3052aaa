import type { LiveMapper } from './feed.js';
import { parseSettingsEvent } from '../events/settings.js';
import { readSettingsDoc } from '../projections/settings.js';

/**
 * settings:hub-changed and settings:compacting-threshold-changed (platform.md §10); the other
 * settings have no live message. Deleting the hub Kin also announces `settings:hub-changed
 * {hubKinId:null}` (kins.md §delete): the stored hub id then names a Kin that no longer exists.
 */
export const settingsLiveMessages: LiveMapper = async (recorded, readStore) => {
  if (recorded.type === 'KinDeleted') {
    const kinId = (recorded.data as { kinId?: unknown }).kinId;
    const doc = await readSettingsDoc(readStore);
    return doc?.hubKinId && doc.hubKinId === kinId ? [{ type: 'settings:hub-changed', data: { hubKinId: null } }] : [];
  }
  if (recorded.type !== 'SettingChanged') return [];
  const { data } = parseSettingsEvent(recorded);
  switch (data.key) {
    case 'hubKinId':
      return [{ type: 'settings:hub-changed', data: { hubKinId: data.value } }];
    case 'compactingThresholdPercent':
      return [{ type: 'settings:compacting-threshold-changed', data: { thresholdPercent: data.value } }];
    default:
      return [];
  }
};
