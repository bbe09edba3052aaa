import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

export const providerStream = (providerId: string) => `provider-${providerId}`;

/** The owner of a provider's data key (src/lib/secrets.ts): shredding it makes the config unreadable. */
export const providerSecretOwner = (providerId: string) => `provider-${providerId}`;

/** What a live connection test found. `capabilities` is the type's static list when valid, else []. */
export const connectionTestSchema = z.object({
  valid: z.boolean(),
  capabilities: z.array(z.string()),
  error: z.string().nullable(),
});
export type ConnectionTest = z.infer<typeof connectionTestSchema>;

/**
 * `configEncrypted` is the provider's config (`{apiKey?, baseUrl?}` as JSON) sealed with the
 * provider's data key: the plaintext key never enters the log.
 *
 * Every event that ran a connection test carries its outcome, so one request records one event
 * (and the live feed sends one `provider:*` message per request).
 */
export const providerEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('ProviderCreated'),
    data: z.object({
      providerId: z.string(),
      name: z.string(),
      providerType: z.string(),
      configEncrypted: z.string(),
      test: connectionTestSchema,
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('ProviderUpdated'),
    data: z.object({
      providerId: z.string(),
      name: z.string().optional(),
      configEncrypted: z.string().optional(),
      /** Present when the config changed: a PATCH of the config re-tests the connection. */
      test: connectionTestSchema.nullable(),
      updatedAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('ProviderTested'),
    data: z.object({ providerId: z.string(), test: connectionTestSchema, testedAt: z.string() }),
  }),
  z.object({
    type: z.literal('ProviderDeleted'),
    data: z.object({ providerId: z.string(), deletedAt: z.string() }),
  }),
]);

export type ProviderEvent = z.infer<typeof providerEventSchema>;
export const providerEventTypes = ['ProviderCreated', 'ProviderUpdated', 'ProviderTested', 'ProviderDeleted'] as const;

export const parseProviderEvent = (recorded: RecordedEvent): ProviderEvent =>
  providerEventSchema.parse({ type: recorded.type, data: recorded.data });
