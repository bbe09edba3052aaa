import type { Projection } from '../es/projections.js';
import type { Doc } from '../es/readStore.js';
import { parseProviderEvent, providerEventTypes } from '../events/providers.js';

/** Also read by src/commands/kins.ts (a Kin's providerId must name a provider of this collection). */
export const PROVIDERS = 'providers';

export type ProviderDoc = Doc & {
  id: string;
  name: string;
  type: string;
  /** Sealed with the provider's data key; never sent to a client. */
  configEncrypted: string;
  capabilities: string[];
  isValid: boolean;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
};

export const providersProjection: Projection = {
  name: 'providers',
  version: 1,
  handles: providerEventTypes,
  collections: [PROVIDERS],
  async apply(recorded, store) {
    const providers = store.collection<ProviderDoc>(PROVIDERS);
    const event = parseProviderEvent(recorded);
    switch (event.type) {
      case 'ProviderCreated': {
        const { providerId, name, providerType, configEncrypted, test, createdAt } = event.data;
        await providers.replace({
          id: providerId,
          name,
          type: providerType,
          configEncrypted,
          capabilities: test.valid ? test.capabilities : [],
          isValid: test.valid,
          lastError: test.error,
          createdAt,
          updatedAt: createdAt,
        });
        return;
      }
      case 'ProviderUpdated': {
        const { providerId, name, configEncrypted, test, updatedAt } = event.data;
        await providers.update(
          { id: providerId },
          {
            $set: {
              ...(name !== undefined ? { name } : {}),
              ...(configEncrypted !== undefined ? { configEncrypted } : {}),
              ...(test ? testFields(test) : {}),
              updatedAt,
            },
          },
        );
        return;
      }
      case 'ProviderTested':
        await providers.update({ id: event.data.providerId }, { $set: { ...testFields(event.data.test), updatedAt: event.data.testedAt } });
        return;
      case 'ProviderDeleted':
        await providers.delete({ id: event.data.providerId });
        return;
    }
  },
};

/** A failed test keeps the capabilities the provider had (platform.md §2: refreshed only if valid). */
const testFields = (test: { valid: boolean; capabilities: string[]; error: string | null }) => ({
  isValid: test.valid,
  lastError: test.error,
  ...(test.valid ? { capabilities: test.capabilities } : {}),
});
