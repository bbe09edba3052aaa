import type { Projection } from '../es/projections.js';
import type { Doc, ReadStore } from '../es/readStore.js';
import { parseSettingsEvent, settingsEventTypes } from '../events/settings.js';
import { KINS } from './kins.js';

export const SETTINGS = 'settings';
const GLOBAL = 'global';

export const DEFAULT_COMPACTING_THRESHOLD_PERCENT = 75;

/** One document holding every admin setting that was ever set (absent keys take their default). */
export type SettingsDoc = Doc & {
  id: typeof GLOBAL;
  globalPrompt?: string;
  extractionModel?: string | null;
  embeddingModel?: string;
  searchProviderId?: string | null;
  hubKinId?: string | null;
  /** Stored rounded (platform.md §8). */
  compactingThresholdPercent?: number;
  allowPrivateNetworks?: boolean;
};

export const settingsProjection: Projection = {
  name: 'settings',
  version: 1,
  handles: settingsEventTypes,
  collections: [SETTINGS],
  async apply(recorded, store) {
    const { data } = parseSettingsEvent(recorded);
    const value = data.key === 'compactingThresholdPercent' ? Math.round(data.value) : data.value;
    await store.collection<SettingsDoc>(SETTINGS).update({ id: GLOBAL }, { $set: { [data.key]: value } }, { upsert: true });
  },
};

export type Settings = {
  globalPrompt: string;
  extractionModel: string | null;
  embeddingModel: string | null;
  searchProviderId: string | null;
  /** null when unset or when that Kin no longer exists. */
  hubKinId: string | null;
  compactingThresholdPercent: number;
  allowPrivateNetworks: boolean;
};

export const readSettingsDoc = async (readStore: ReadStore): Promise<SettingsDoc | null> =>
  readStore.collection<SettingsDoc>(SETTINGS).get(GLOBAL);

/**
 * The admin settings with their defaults, for any capability that needs one. A hub id whose Kin
 * was deleted reads as null (the setting is not rewritten: the Kin's deletion already says it all).
 */
export async function readSettings(readStore: ReadStore): Promise<Settings> {
  const doc = await readSettingsDoc(readStore);
  const hubKinId = doc?.hubKinId ?? null;
  const hubExists = hubKinId !== null && (await readStore.collection(KINS).get(hubKinId)) !== null;
  return {
    globalPrompt: doc?.globalPrompt ?? '',
    extractionModel: doc?.extractionModel ?? null,
    embeddingModel: doc?.embeddingModel ?? null,
    searchProviderId: doc?.searchProviderId ?? null,
    hubKinId: hubExists ? hubKinId : null,
    compactingThresholdPercent: doc?.compactingThresholdPercent ?? DEFAULT_COMPACTING_THRESHOLD_PERCENT,
    allowPrivateNetworks: doc?.allowPrivateNetworks ?? false,
  };
}
