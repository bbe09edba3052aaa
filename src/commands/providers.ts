import { v7 as uuidv7 } from 'uuid';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { badRequest, conflict, DomainError, notFound } from '../es/errors.js';
import { parseProviderEvent, providerSecretOwner, providerStream, type ConnectionTest, type ProviderEvent } from '../events/providers.js';
import type { Secrets } from '../lib/secrets.js';
import { KINS, type KinDoc } from '../projections/kins.js';
import { PROVIDERS, type ProviderDoc } from '../projections/providers.js';
import {
  capabilitiesOf,
  configProblem,
  decryptProviderConfig,
  encryptProviderConfig,
  testConnection,
  type ProviderConfig,
} from '../agents/providerCatalog.js';
import { updateKin, type KinDeps } from './kins.js';

// ── The provider stream ───────────────────────────────────────────────────────────────────────

export type ProviderFields = {
  name: string;
  providerType: string;
  configEncrypted: string;
  capabilities: string[];
  isValid: boolean;
  lastError: string | null;
};

export type ProviderState = { status: 'none' } | { status: 'active'; provider: ProviderFields } | { status: 'deleted' };

/** The outcome of the connection test arrives on the command: the test is I/O, `decide` stays pure. */
export type ProviderCommand =
  | { type: 'CreateProvider'; providerId: string; name: string; providerType: string; configEncrypted: string; test: ConnectionTest; now: Date }
  | {
      type: 'UpdateProvider';
      providerId: string;
      name?: string;
      /** A new config and the test it passed or failed; absent when only the name changes. */
      reconfigure?: { configEncrypted: string; test: ConnectionTest };
      now: Date;
    }
  | { type: 'RecordProviderTest'; providerId: string; test: ConnectionTest; now: Date }
  | { type: 'DeleteProvider'; providerId: string; now: Date };

export const providerNotFound = () => notFound('PROVIDER_NOT_FOUND', 'Provider not found');

export const initialProviderState = (): ProviderState => ({ status: 'none' });

/** A failed test keeps the capabilities the provider had (platform.md §2: refreshed only if valid). */
const afterTest = (provider: ProviderFields, test: ConnectionTest): ProviderFields => ({
  ...provider,
  isValid: test.valid,
  lastError: test.error,
  capabilities: test.valid ? test.capabilities : provider.capabilities,
});

export function evolveProvider(state: ProviderState, event: ProviderEvent): ProviderState {
  switch (event.type) {
    case 'ProviderCreated': {
      const { name, providerType, configEncrypted, test } = event.data;
      const provider = { name, providerType, configEncrypted, capabilities: [], isValid: false, lastError: null };
      return { status: 'active', provider: afterTest(provider, test) };
    }
    case 'ProviderUpdated': {
      if (state.status !== 'active') return state;
      const { name, configEncrypted, test } = event.data;
      const renamed = { ...state.provider, ...(name !== undefined ? { name } : {}), ...(configEncrypted !== undefined ? { configEncrypted } : {}) };
      return { status: 'active', provider: test ? afterTest(renamed, test) : renamed };
    }
    case 'ProviderTested':
      return state.status === 'active' ? { status: 'active', provider: afterTest(state.provider, event.data.test) } : state;
    case 'ProviderDeleted':
      return { status: 'deleted' };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export function decideProvider(command: ProviderCommand, state: ProviderState): ProviderEvent[] {
  const { providerId } = command;
  const at = command.now.toISOString();
  if (command.type === 'CreateProvider') {
    if (state.status !== 'none') throw conflict('PROVIDER_EXISTS', 'A provider with this id already exists');
    const { name, providerType, configEncrypted, test } = command;
    return [{ type: 'ProviderCreated', data: { providerId, name, providerType, configEncrypted, test, createdAt: at } }];
  }
  if (state.status !== 'active') throw providerNotFound();
  switch (command.type) {
    case 'UpdateProvider': {
      const name = command.name !== undefined && command.name !== state.provider.name ? command.name : undefined;
      const { reconfigure } = command;
      if (name === undefined && !reconfigure) return [];
      return [
        {
          type: 'ProviderUpdated',
          data: {
            providerId,
            ...(name !== undefined ? { name } : {}),
            ...(reconfigure ? { configEncrypted: reconfigure.configEncrypted } : {}),
            test: reconfigure?.test ?? null,
            updatedAt: at,
          },
        },
      ];
    }
    case 'RecordProviderTest':
      return [{ type: 'ProviderTested', data: { providerId, test: command.test, testedAt: at } }];
    case 'DeleteProvider':
      return [{ type: 'ProviderDeleted', data: { providerId, deletedAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const providerDecider: Decider<ProviderState, ProviderCommand, ProviderEvent> = {
  initialState: initialProviderState,
  evolve: evolveProvider,
  decide: decideProvider,
};

/** The capabilities a configuration must keep at least one provider for (platform.md §2). */
export const REQUIRED_CAPABILITIES = ['llm', 'embedding'] as const;

/**
 * Why deleting this provider is refused: it is the last one whose capability list holds `llm`
 * (or `embedding`). Pure, over the provider list of the read model.
 */
export function lastRequiredCapability(
  providerId: string,
  providers: readonly Pick<ProviderDoc, 'id' | 'capabilities'>[],
): (typeof REQUIRED_CAPABILITIES)[number] | null {
  const target = providers.find((provider) => provider.id === providerId);
  if (!target) return null;
  const others = providers.filter((provider) => provider.id !== providerId);
  return REQUIRED_CAPABILITIES.find((cap) => target.capabilities.includes(cap) && !others.some((p) => p.capabilities.includes(cap))) ?? null;
}

// ── Handlers: the decisions above, run against the stores ──────────────────────────────────────

export type ProviderDeps = KinDeps & {
  secrets: Secrets;
  /** The live connection test; tests of the handlers may replace it. */
  testConnection?: typeof testConnection;
};

const runProvider = (deps: ProviderDeps, command: ProviderCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: providerStream(command.providerId), decider: providerDecider, parse: parseProviderEvent, command, metadata });

const tester = (deps: ProviderDeps) => deps.testConnection ?? testConnection;

/** What a connection test finds when E2E_SKIP_PROVIDER_TEST is on: success, with the type's own capabilities. */
const assumedConnection = async (type: string): Promise<ConnectionTest> => ({ valid: true, capabilities: capabilitiesOf(type), error: null });

/**
 * The connection test the configuration asks for: live, or — with the test-only switch
 * E2E_SKIP_PROVIDER_TEST, which the web app's end-to-end suite relies on (webapp.md) — passed at
 * once without a network call, for every test the API runs (create, update, re-test, test a config).
 */
export const connectionTestFor = (config: { skipProviderTest: boolean }): typeof testConnection =>
  config.skipProviderTest ? assumedConnection : testConnection;

/** The provider's current state, from its stream (not the read model, which may lag a write). */
async function loadProvider(deps: ProviderDeps, providerId: string): Promise<ProviderFields> {
  const history = await deps.eventStore.readStream(providerStream(providerId));
  const state = history.map(parseProviderEvent).reduce(evolveProvider, initialProviderState());
  if (state.status !== 'active') throw providerNotFound();
  return state.provider;
}

function assertUsable(type: string, config: ProviderConfig): void {
  const problem = configProblem(type, config);
  if (problem) throw badRequest('VALIDATION_ERROR', `${problem.path}: ${problem.message}`, [{ path: problem.path, message: problem.message }]);
}

export type NewProvider = { name: string; type: string; config: ProviderConfig };

/** Tests the connection, then records the provider — valid or not (platform.md §2). */
export async function createProvider(deps: ProviderDeps, input: NewProvider, metadata: CommandMetadata) {
  assertUsable(input.type, input.config);
  const providerId = uuidv7();
  const test = await tester(deps)(input.type, input.config);
  const configEncrypted = await encryptProviderConfig(deps.secrets, providerId, input.config);
  const command = { type: 'CreateProvider', providerId, name: input.name, providerType: input.type, configEncrypted, test, now: metadata.now } as const;
  try {
    const result = await runProvider(deps, command, metadata);
    return { providerId, test, position: result.position };
  } catch (error) {
    await deps.secrets.shred(providerSecretOwner(providerId));
    throw error;
  }
}

/** `null` clears a config field; an absent one keeps the stored value. */
export type ConfigPatch = { apiKey?: string | null; baseUrl?: string | null };

export function mergeConfig(stored: ProviderConfig, patch: ConfigPatch): ProviderConfig {
  const merged: Record<string, string> = { ...stored };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (value === null || value === '') delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

/** Renames and/or merges the config over the stored one and re-tests it. */
export async function updateProvider(deps: ProviderDeps, providerId: string, patch: { name?: string; config?: ConfigPatch }, metadata: CommandMetadata) {
  const current = await loadProvider(deps, providerId);
  let reconfigure: { configEncrypted: string; test: ConnectionTest } | undefined;
  if (patch.config) {
    const stored = (await decryptProviderConfig(deps.secrets, providerId, current.configEncrypted)) ?? {};
    const config = mergeConfig(stored, patch.config);
    assertUsable(current.providerType, config);
    const test = await tester(deps)(current.providerType, config);
    reconfigure = { configEncrypted: await encryptProviderConfig(deps.secrets, providerId, config), test };
  }
  return runProvider(deps, { type: 'UpdateProvider', providerId, name: patch.name, reconfigure, now: metadata.now }, metadata);
}

/** Tests the stored config now and records the outcome. */
export async function testProvider(deps: ProviderDeps, providerId: string, metadata: CommandMetadata) {
  const current = await loadProvider(deps, providerId);
  const config = await decryptProviderConfig(deps.secrets, providerId, current.configEncrypted);
  const test: ConnectionTest = config
    ? await tester(deps)(current.providerType, config)
    : { valid: false, capabilities: [], error: 'The provider configuration is no longer readable' };
  const result = await runProvider(deps, { type: 'RecordProviderTest', providerId, test, now: metadata.now }, metadata);
  return { test, position: result.position };
}

/**
 * Deletes the provider (unless it is the last one with `llm` or `embedding`), shreds its data key,
 * then points the Kins that used it at no provider, through the Kin command so that each Kin's
 * stream records it. Returns the position of the last event written.
 *
 * The last-provider rule reads the read model: two concurrent deletions of the last two `llm`
 * providers could both pass. Admin-only and rare; a guard stream would close it if it mattered.
 */
export async function deleteProvider(deps: ProviderDeps, providerId: string, metadata: CommandMetadata) {
  await loadProvider(deps, providerId);
  const providers = await deps.readStore.collection<ProviderDoc>(PROVIDERS).find({});
  const required = lastRequiredCapability(providerId, providers);
  if (required) throw conflict('PROVIDER_REQUIRED', `Cannot delete: this is the last provider with "${required}" capability`);
  const deleted = await runProvider(deps, { type: 'DeleteProvider', providerId, now: metadata.now }, metadata);
  await deps.secrets.shred(providerSecretOwner(providerId));
  let position = deleted.position;
  const kins = await deps.readStore.collection<KinDoc>(KINS).find({ providerId });
  for (const kin of kins) {
    try {
      const result = await updateKin(deps, kin.id, kin.slug, { providerId: null }, metadata);
      position = result.position ?? position;
    } catch (error) {
      // A Kin deleted meanwhile no longer needs its provider cleared.
      if (!(error instanceof DomainError && error.code === 'KIN_NOT_FOUND')) throw error;
    }
  }
  return { position };
}
