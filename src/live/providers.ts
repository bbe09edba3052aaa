import type { LiveMapper } from './feed.js';
import { parseProviderEvent, providerEventTypes } from '../events/providers.js';
import { PROVIDERS, type ProviderDoc } from '../projections/providers.js';

const handled: readonly string[] = providerEventTypes;

/**
 * provider:created / provider:updated / provider:deleted, with the payloads of platform.md §10.
 * A PATCH and a test each record one event, hence one `provider:updated`. The `kin:updated` that
 * follow a deletion come from the Kins' own streams (src/live/kins.ts).
 */
export const providerLiveMessages: LiveMapper = async (recorded, readStore) => {
  if (!handled.includes(recorded.type)) return [];
  const event = parseProviderEvent(recorded);
  const providerId = event.data.providerId;
  switch (event.type) {
    case 'ProviderCreated': {
      const { name, providerType, test } = event.data;
      return [{ type: 'provider:created', data: { providerId, name, providerType, capabilities: test.capabilities, isValid: test.valid } }];
    }
    case 'ProviderDeleted':
      return [{ type: 'provider:deleted', data: { providerId } }];
    case 'ProviderUpdated':
    case 'ProviderTested': {
      const provider = await readStore.collection<ProviderDoc>(PROVIDERS).get(providerId);
      if (!provider) return [];
      const { name, type, capabilities, isValid, lastError } = provider;
      return [{ type: 'provider:updated', data: { providerId, name, providerType: type, capabilities, isValid, lastError } }];
    }
  }
};
