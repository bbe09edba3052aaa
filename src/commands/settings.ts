import type { RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { parseSettingsEvent, SETTINGS_STREAM, type SettingKey, type SettingsEvent, type SettingValue } from '../events/settings.js';

/** The value each setting was last set to (absent: never set, the default applies). */
export type SettingsState = Partial<Record<SettingKey, unknown>>;

export type SettingsCommand = { type: 'ChangeSetting'; change: SettingValue; now: Date };

export const initialSettingsState = (): SettingsState => ({});

export function evolveSettings(state: SettingsState, event: SettingsEvent): SettingsState {
  switch (event.type) {
    case 'SettingChanged':
      return { ...state, [event.data.key]: event.data.value };
    default: {
      const unhandled: never = event.type;
      return unhandled;
    }
  }
}

/** Setting a value to what it already is records nothing. */
export function decideSettings(command: SettingsCommand, state: SettingsState): SettingsEvent[] {
  const { key, value } = command.change;
  if (key in state && state[key] === value) return [];
  return [{ type: 'SettingChanged', data: { ...command.change, changedAt: command.now.toISOString() } as SettingsEvent['data'] }];
}

export const settingsDecider: Decider<SettingsState, SettingsCommand, SettingsEvent> = {
  initialState: initialSettingsState,
  evolve: evolveSettings,
  decide: decideSettings,
};

export const changeSetting = (deps: { runCommand: RunCommand }, change: SettingValue, metadata: CommandMetadata) =>
  deps.runCommand({
    stream: SETTINGS_STREAM,
    decider: settingsDecider,
    parse: parseSettingsEvent,
    command: { type: 'ChangeSetting', change, now: metadata.now },
    metadata,
  });
