import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/** All admin settings live in one stream: they are few, rarely written, and read together. */
export const SETTINGS_STREAM = 'settings-global';

const change = <K extends string, V extends z.ZodType>(key: K, value: V) =>
  z.object({ key: z.literal(key), value, changedAt: z.string() });

/**
 * One event type, `SettingChanged {key, value}`, discriminated on `key` so that each value keeps
 * its own schema. Settings are a flat key/value set that grows a key at a time: with one event
 * type, a new setting is one line here, and the projection and the decider stay a single case,
 * while a bad value for a known key still fails validation when read.
 */
export const settingChangeSchema = z.discriminatedUnion('key', [
  /** "" when unset. */
  change('globalPrompt', z.string()),
  change('extractionModel', z.string().nullable()),
  change('embeddingModel', z.string()),
  change('searchProviderId', z.string().nullable()),
  change('hubKinId', z.string().nullable()),
  /** The number as the admin sent it (the API echoes it); readers round it. */
  change('compactingThresholdPercent', z.number()),
  /** Whether Kin-triggered outbound fetches may reach loopback and private address ranges. */
  change('allowPrivateNetworks', z.boolean()),
]);

export type SettingChange = z.infer<typeof settingChangeSchema>;
export type SettingKey = SettingChange['key'];
/** A change as a command asks for it (the time comes from the command's metadata). */
export type SettingValue = { [K in SettingKey]: { key: K; value: Extract<SettingChange, { key: K }>['value'] } }[SettingKey];

export const settingsEventSchema = z.object({ type: z.literal('SettingChanged'), data: settingChangeSchema });
export type SettingsEvent = z.infer<typeof settingsEventSchema>;
export const settingsEventTypes = ['SettingChanged'] as const;

export const parseSettingsEvent = (recorded: RecordedEvent): SettingsEvent =>
  settingsEventSchema.parse({ type: recorded.type, data: recorded.data });
