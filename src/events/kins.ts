import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

export const kinStream = (kinId: string) => `kin-${kinId}`;
/** One stream per slug: claiming it with an expected revision is what keeps slugs unique. */
export const kinSlugStream = (slug: string) => `kinslug-${slug}`;

export const toolConfigSchema = z
  .object({
    disabledNativeTools: z.array(z.string()).optional(),
    mcpAccess: z.record(z.string(), z.array(z.string())).optional(),
    enabledOptInTools: z.array(z.string()).optional(),
    searchProviderId: z.string().optional(),
  })
  .meta({ id: 'KinToolConfig' });

export const compactingConfigSchema = z
  .object({
    thresholdPercent: z.number().min(1).max(100).nullable().optional(),
    tokenThreshold: z.number().int().positive().nullable().optional(),
  })
  .meta({ id: 'KinCompactingConfig' });

export type ToolConfig = z.infer<typeof toolConfigSchema>;
export type CompactingConfig = z.infer<typeof compactingConfigSchema>;

export const avatarSchema = z.object({ hash: z.string(), ext: z.string(), contentType: z.string() });
export type Avatar = z.infer<typeof avatarSchema>;

/** The fields a PATCH may change; a KinUpdated event carries only those that did change. */
export const kinChangesSchema = z.object({
  name: z.string().optional(),
  role: z.string().optional(),
  character: z.string().optional(),
  expertise: z.string().optional(),
  model: z.string().optional(),
  providerId: z.string().nullable().optional(),
  slug: z.string().optional(),
  toolConfig: toolConfigSchema.nullable().optional(),
  compactingConfig: compactingConfigSchema.nullable().optional(),
  mcpServerIds: z.array(z.string()).optional(),
});
export type KinChanges = z.infer<typeof kinChangesSchema>;

export const kinEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('KinCreated'),
    data: z.object({
      kinId: z.string(),
      slug: z.string(),
      name: z.string(),
      role: z.string(),
      character: z.string(),
      expertise: z.string(),
      model: z.string(),
      providerId: z.string().nullable(),
      mcpServerIds: z.array(z.string()),
      workspacePath: z.string(),
      createdBy: z.string().nullable(),
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('KinUpdated'),
    data: z.object({ kinId: z.string(), changes: kinChangesSchema, updatedAt: z.string() }),
  }),
  z.object({
    type: z.literal('KinAvatarChanged'),
    data: z.object({ kinId: z.string(), avatar: avatarSchema, updatedAt: z.string() }),
  }),
  z.object({
    type: z.literal('KinDeleted'),
    data: z.object({ kinId: z.string(), deletedAt: z.string() }),
  }),
]);

export type KinEvent = z.infer<typeof kinEventSchema>;
export const kinEventTypes = ['KinCreated', 'KinUpdated', 'KinAvatarChanged', 'KinDeleted'] as const;

export const parseKinEvent = (recorded: RecordedEvent): KinEvent =>
  kinEventSchema.parse({ type: recorded.type, data: recorded.data });

export const slugEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('KinSlugClaimed'),
    data: z.object({ slug: z.string(), kinId: z.string(), claimedAt: z.string() }),
  }),
  z.object({ type: z.literal('KinSlugReleased'), data: z.object({ slug: z.string(), kinId: z.string() }) }),
]);
export type SlugEvent = z.infer<typeof slugEventSchema>;

export const parseSlugEvent = (recorded: RecordedEvent): SlugEvent =>
  slugEventSchema.parse({ type: recorded.type, data: recorded.data });
