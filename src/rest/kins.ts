import { z } from 'zod';
import { avatarUploadOpenApi, receiveAvatar } from './multipart.js';
import { createKin, deleteKin, kinNotFound, setKinAvatar, SLUG_PATTERN, updateKin } from '../commands/kins.js';
import { DomainError } from '../es/errors.js';
import { compactingConfigSchema, toolConfigSchema } from '../events/kins.js';
import { avatarUrlOf, KINS, kinsProjection, type KinDoc } from '../projections/kins.js';
import { messagesProjection, QUEUE, type QueueItemDoc } from '../projections/messages.js';
import { readSettings, settingsProjection } from '../projections/settings.js';
import type { ReadStore } from '../es/readStore.js';
import { toolListing } from '../agents/tools.js';
import { TOOL_DOMAINS } from '../agents/toolKit.js';
import { contextUsageOf } from '../agents/compacting.js';
import type { Services } from '../services.js';
import { defineOperation, defineRawOperation, type Operation } from './operation.js';
import { listCache } from './listCache.js';

// ── Input ─────────────────────────────────────────────────────────────────────────────────────

/** A required-on-create text field with the spec's messages ("Name is required" / "… cannot be empty"). */
const textField = (label: string, max: number, required: boolean) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? `${label} is required` : `${label} cannot be empty`) })
    .trim()
    .min(1, required ? `${label} is required` : `${label} cannot be empty`)
    .max(max, `${label} must be under ${max} characters`);

const longText = (label: string) =>
  z.string({ error: `${label} must be a string` }).max(50_000, `${label} must be under 50000 characters`);

const slugMessage = 'Slug must be 2-50 chars, lowercase alphanumeric and hyphens';

const kinErrorCodes = {
  name: 'INVALID_NAME',
  role: 'INVALID_ROLE',
  model: 'INVALID_MODEL',
  character: 'INVALID_CHARACTER',
  expertise: 'INVALID_EXPERTISE',
  providerId: 'INVALID_PROVIDER',
  slug: 'INVALID_SLUG',
};

const createKinInput = z
  .object({
    name: textField('Name', 100, true),
    role: textField('Role', 200, true),
    model: textField('Model', 200, true),
    character: longText('Character').default(''),
    expertise: longText('Expertise').default(''),
    providerId: z.string({ error: 'Provider not found' }).nullable().default(null),
    slug: z.string({ error: slugMessage }).max(200, slugMessage).optional(),
    mcpServerIds: z.array(z.string()).max(100).default([]),
  })
  .meta({ id: 'CreateKinInput' });

const updateKinInput = z
  .object({
    name: textField('Name', 100, false).optional(),
    role: textField('Role', 200, false).optional(),
    model: textField('Model', 200, false).optional(),
    character: longText('Character').optional(),
    expertise: longText('Expertise').optional(),
    providerId: z.string({ error: 'Provider not found' }).nullable().optional(),
    slug: z
      .string({ error: slugMessage })
      .regex(SLUG_PATTERN, slugMessage)
      .refine((slug) => !slug.includes('--'), slugMessage)
      .optional(),
    toolConfig: toolConfigSchema.nullable().optional(),
    compactingConfig: compactingConfigSchema.nullable().optional(),
    mcpServerIds: z.array(z.string()).max(100).optional(),
  })
  .meta({ id: 'UpdateKinInput' });

const kinRef = z.object({ id: z.string().min(1).describe('Kin id or slug') });

// ── Output ────────────────────────────────────────────────────────────────────────────────────

const mcpServerRef = z.object({ id: z.string(), name: z.string() }).meta({ id: 'McpServerRef' });

const kinDetail = z
  .object({
    id: z.string(),
    slug: z.string(),
    name: z.string(),
    role: z.string(),
    avatarUrl: z.string().nullable(),
    character: z.string(),
    expertise: z.string(),
    model: z.string(),
    providerId: z.string().nullable(),
    workspacePath: z.string(),
    toolConfig: toolConfigSchema.nullable(),
    compactingConfig: compactingConfigSchema.nullable(),
    mcpServers: z.array(mcpServerRef),
    queueSize: z.number().int(),
    isProcessing: z.boolean(),
    isCompacting: z.boolean(),
    createdAt: z.string(),
  })
  .meta({ id: 'Kin' });

const kinSummary = kinDetail
  .pick({ id: true, slug: true, name: true, role: true, avatarUrl: true, model: true, providerId: true, createdAt: true, isProcessing: true, queueSize: true })
  .extend({ isHub: z.boolean() })
  .meta({ id: 'KinSummary' });

const createdKin = kinDetail.omit({ toolConfig: true, compactingConfig: true, isCompacting: true }).meta({ id: 'CreatedKin' });
const updatedKin = kinDetail.omit({ isCompacting: true }).meta({ id: 'UpdatedKin' });

const contextUsage = z
  .object({
    contextTokens: z.number().int(),
    contextWindow: z.number().int(),
    contextBreakdown: z.object({
      systemPrompt: z.number().int(),
      messages: z.number().int(),
      tools: z.number().int(),
      summary: z.number().int(),
      total: z.number().int(),
    }),
    pipelineStatus: z.record(z.string(), z.unknown()).nullable(),
    compactingMessages: z.number().int(),
    compactingMessageThreshold: z.number().int(),
  })
  .meta({ id: 'KinContextUsage' });

const toolsListing = z
  .object({
    nativeTools: z.array(
      z.object({
        domain: z.enum(TOOL_DOMAINS),
        tools: z.array(z.object({ name: z.string(), enabled: z.boolean(), defaultDisabled: z.boolean() })),
      }),
    ),
    mcpTools: z.array(
      z.object({
        serverId: z.string(),
        serverName: z.string(),
        autoEnabled: z.boolean(),
        tools: z.array(z.object({ name: z.string(), description: z.string(), enabled: z.boolean() })),
      }),
    ),
  })
  .meta({ id: 'KinTools' });

// ── Presentation ──────────────────────────────────────────────────────────────────────────────

/** Creating and updating a Kin answer an idle queue, as the spec's responses do (kins.md §2). */
const idle = { queueSize: 0, isProcessing: false, isCompacting: false };

type QueueState = { queueSize: number; isProcessing: boolean };

/**
 * Per Kin, from the turn read model: messages waiting (main conversation and quick sessions) and
 * whether one of them is being answered. A task's turns belong to the task, not to the Kin's queue.
 */
async function queueStates(readStore: ReadStore, kinId?: string): Promise<Map<string, QueueState>> {
  const items = await readStore
    .collection<QueueItemDoc>(QUEUE)
    .find({ ...(kinId ? { kinId } : {}), status: { $in: ['pending', 'processing'] }, taskId: null });
  const states = new Map<string, QueueState>();
  for (const item of items) {
    const state = states.get(item.kinId) ?? { queueSize: 0, isProcessing: false };
    if (item.status === 'pending') state.queueSize++;
    else state.isProcessing = true;
    states.set(item.kinId, state);
  }
  return states;
}

const queueStateOf = (states: Map<string, QueueState>, kinId: string): QueueState =>
  states.get(kinId) ?? { queueSize: 0, isProcessing: false };

const presentDetail = (kin: KinDoc): z.input<typeof kinDetail> => ({
  id: kin.id,
  slug: kin.slug,
  name: kin.name,
  role: kin.role,
  avatarUrl: avatarUrlOf(kin),
  character: kin.character,
  expertise: kin.expertise,
  model: kin.model,
  providerId: kin.providerId,
  workspacePath: kin.workspacePath,
  toolConfig: kin.toolConfig,
  compactingConfig: kin.compactingConfig,
  mcpServers: [],
  ...idle,
  createdAt: kin.createdAt,
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Kin routes accept the id or the slug. */
export async function findKin(services: Pick<Services, 'readStore'>, idOrSlug: string): Promise<KinDoc> {
  const kins = services.readStore.collection<KinDoc>(KINS);
  const kin = UUID.test(idOrSlug) ? await kins.get(idOrSlug) : await kins.findOne({ slug: idOrSlug });
  if (!kin) throw kinNotFound();
  return kin;
}

// ── Operations ────────────────────────────────────────────────────────────────────────────────

export function kinOperations(services: Services): Operation[] {
  const { readStore, blobs } = services;
  const kinDeps = { ...services, dataDir: services.config.dataDir };
  const tags = ['Kins'];
  // The list reads Kins, the hub setting and the queue.
  const cachedList = listCache(readStore, { dependsOn: [kinsProjection, settingsProjection, messagesProjection] });

  return [
    defineOperation({
      name: 'kins',
      summary: 'List all Kins',
      method: 'get',
      path: '/api/kins',
      auth: 'user',
      tags,
      output: z.object({ kins: z.array(kinSummary) }),
      handler: () =>
        cachedList('', async () => {
          const [kins, { hubKinId }, queues] = await Promise.all([
            readStore.collection<KinDoc>(KINS).find({}, { sort: { createdAt: 1 } }),
            readSettings(readStore),
            queueStates(readStore),
          ]);
          return {
            kins: kins.map((kin) => ({
              id: kin.id,
              slug: kin.slug,
              name: kin.name,
              role: kin.role,
              avatarUrl: avatarUrlOf(kin),
              model: kin.model,
              providerId: kin.providerId,
              createdAt: kin.createdAt,
              isHub: kin.id === hubKinId,
              ...queueStateOf(queues, kin.id),
            })),
          };
        }),
    }),
    defineOperation({
      name: 'kin',
      summary: 'Get Kin details',
      method: 'get',
      path: '/api/kins/:id',
      auth: 'user',
      tags,
      params: kinRef,
      output: kinDetail,
      async handler({ params }) {
        const kin = await findKin(services, params.id);
        const queue = queueStateOf(await queueStates(readStore, kin.id), kin.id);
        return { ...presentDetail(kin), ...queue, isCompacting: services.compacting.isCompacting(kin.id) };
      },
    }),
    defineOperation({
      name: 'createKin',
      summary: 'Create a new Kin',
      method: 'post',
      path: '/api/kins',
      auth: 'user',
      tags,
      body: createKinInput,
      errorCodes: kinErrorCodes,
      status: 201,
      output: z.object({ kin: createdKin }),
      async handler({ body }, ctx) {
        const { kinId, position } = await createKin(kinDeps, body, ctx.commandMetadata());
        await services.settle(position);
        const { toolConfig: _t, compactingConfig: _c, isCompacting: _i, ...kin } = presentDetail(await findKin(services, kinId));
        return { kin };
      },
    }),
    defineOperation({
      name: 'updateKin',
      summary: 'Update a Kin',
      method: 'patch',
      path: '/api/kins/:id',
      auth: 'user',
      tags,
      params: kinRef,
      body: updateKinInput,
      errorCodes: kinErrorCodes,
      output: z.object({ kin: updatedKin }),
      async handler({ params, body }, ctx) {
        const current = await findKin(services, params.id);
        const result = await updateKin(kinDeps, current.id, current.slug, body, ctx.commandMetadata());
        await services.settle(result.position);
        const { isCompacting: _i, ...kin } = presentDetail(await findKin(services, current.id));
        return { kin };
      },
    }),
    defineOperation({
      name: 'deleteKin',
      summary: 'Delete a Kin',
      method: 'delete',
      path: '/api/kins/:id',
      auth: 'user',
      tags,
      params: kinRef,
      output: z.object({ success: z.literal(true) }),
      async handler({ params }, ctx) {
        const kin = await findKin(services, params.id);
        const result = await deleteKin(kinDeps, kin, ctx.commandMetadata());
        await services.settle(result.position);
        return { success: true as const };
      },
    }),
    defineOperation({
      name: 'kinTools',
      summary: 'List available tools (grouped by domain)',
      method: 'get',
      path: '/api/kins/:id/tools',
      auth: 'user',
      tags,
      params: kinRef,
      output: toolsListing,
      async handler({ params }) {
        const kin = await findKin(services, params.id);
        return { nativeTools: toolListing(kin.toolConfig), mcpTools: [] };
      },
    }),
    defineOperation({
      name: 'kinContextUsage',
      summary: 'Get context window usage',
      method: 'get',
      path: '/api/kins/:id/context-usage',
      auth: 'user',
      tags,
      params: kinRef,
      output: contextUsage,
      handler: async ({ params }) => contextUsageOf(services, await findKin(services, params.id)),
    }),
    defineRawOperation({
      name: 'uploadKinAvatar',
      summary: 'Upload avatar (multipart, field `file`: PNG, JPEG, GIF or WebP, at most 10 MB)',
      method: 'post',
      path: '/api/kins/:id/avatar',
      auth: 'user',
      tags,
      params: kinRef,
      openapi: avatarUploadOpenApi,
      async raw(req, res, ctx) {
        const kin = await findKin(services, String(req.params.id));
        const avatar = await receiveAvatar(req, res, blobs);
        const result = await setKinAvatar(kinDeps, kin.id, avatar, ctx.commandMetadata());
        await services.settle(result.position);
        res.json({ avatarUrl: avatarUrlOf(await findKin(services, kin.id)) });
      },
    }),
    defineRawOperation({
      name: 'kinAvatarFile',
      summary: "Download a Kin's avatar image",
      method: 'get',
      path: '/api/uploads/kins/:id/:file',
      auth: 'user',
      tags,
      params: z.object({ id: z.string(), file: z.string() }),
      openapi: { responses: { '200': { description: 'The image', content: { 'image/*': {} } } } },
      async raw(req, res) {
        const kin = await findKin(services, String(req.params.id));
        const stored = kin.avatar ? await blobs.get(kin.avatar.hash) : null;
        if (!kin.avatar || !stored || req.params.file !== `avatar.${kin.avatar.ext}`) {
          throw new DomainError(404, 'NOT_FOUND', 'Avatar not found');
        }
        res.setHeader('Cache-Control', 'private, max-age=31536000, immutable');
        res.setHeader('X-Content-Type-Options', 'nosniff');
        res.type(stored.info.contentType).send(stored.bytes);
      },
    }),
  ];
}
