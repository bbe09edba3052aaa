import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decideSettings, evolveSettings, initialSettingsState, type SettingsCommand } from '../../src/commands/settings.js';
import type { RecordedEvent } from '../../src/es/eventStore.js';
import type { SettingsEvent, SettingValue } from '../../src/events/settings.js';
import { readSettings, settingsProjection } from '../../src/projections/settings.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const now = new Date('2026-11-28T10:00:00.000Z');
const at = now.toISOString();
const set = (change: SettingValue): SettingsCommand => ({ type: 'ChangeSetting', change, now });
const changed = (change: SettingValue): SettingsEvent => ({ type: 'SettingChanged', data: { ...change, changedAt: at } as SettingsEvent['data'] });

const given = (events: SettingsEvent[]) => ({ when: (command: SettingsCommand) => decideSettings(command, events.reduce(evolveSettings, initialSettingsState())) });

describe('Settings decider', () => {
  it('records a change', () => {
    expect(given([]).when(set({ key: 'globalPrompt', value: 'Be kind.' }))).toEqual([changed({ key: 'globalPrompt', value: 'Be kind.' })]);
  });

  it('records nothing when the value is already set', () => {
    const history = [changed({ key: 'hubKinId', value: 'k1' })];
    expect(given(history).when(set({ key: 'hubKinId', value: 'k1' }))).toEqual([]);
    expect(given(history).when(set({ key: 'hubKinId', value: null }))).toEqual([changed({ key: 'hubKinId', value: null })]);
  });

  it('records a first value even when it equals the default', () => {
    expect(given([]).when(set({ key: 'compactingThresholdPercent', value: 75 }))).toHaveLength(1);
    expect(given([]).when(set({ key: 'allowPrivateNetworks', value: false }))).toHaveLength(1);
  });

  it('keeps each key separate', () => {
    const history = [changed({ key: 'extractionModel', value: 'm' })];
    expect(given(history).when(set({ key: 'embeddingModel', value: 'm' }))).toHaveLength(1);
  });
});

describe('settings projection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kinbot-settings-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const recorded = (event: SettingsEvent, position: number): RecordedEvent => ({
    ...event,
    id: `e${position}`,
    stream: 'settings-global',
    revision: position - 1,
    position,
    recordedAt: at,
    metadata: { actor: { kind: 'system', id: 'test' }, correlationId: 'c', causationId: 'c', occurredAt: at, schemaVersion: 1 },
  });

  it('gives the defaults before anything is set', async () => {
    const store = createSqliteReadStore(openSqlite(join(dir, 'empty.db')));
    expect(await readSettings(store)).toEqual({
      globalPrompt: '',
      extractionModel: null,
      embeddingModel: null,
      searchProviderId: null,
      hubKinId: null,
      compactingThresholdPercent: 75,
      allowPrivateNetworks: false,
    });
  });

  it('stores the threshold rounded, ignores a hub whose Kin is gone, and is idempotent', async () => {
    const store = createSqliteReadStore(openSqlite(join(dir, 'applied.db')));
    const events = [
      changed({ key: 'compactingThresholdPercent', value: 70.6 }),
      changed({ key: 'globalPrompt', value: 'Be brief.' }),
      changed({ key: 'hubKinId', value: 'a-kin-that-does-not-exist' }),
      changed({ key: 'allowPrivateNetworks', value: true }),
    ].map(recorded);
    for (let pass = 0; pass < 2; pass++) for (const event of events) await settingsProjection.apply(event, store);
    expect(await readSettings(store)).toMatchObject({
      compactingThresholdPercent: 71,
      globalPrompt: 'Be brief.',
      hubKinId: null,
      allowPrivateNetworks: true,
    });
  });
});
