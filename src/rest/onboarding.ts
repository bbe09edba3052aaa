import { z } from 'zod';
import { completeProfile } from '../commands/users.js';
import { LANGUAGES } from '../events/users.js';
import { PROVIDERS, type ProviderDoc } from '../projections/providers.js';
import { USERS, type UserDoc } from '../projections/users.js';
import type { Services } from '../services.js';
import { defineOperation, type Operation } from './operation.js';
import { checkNewProfile } from './users.js';

const profileInput = z
  .object({
    firstName: z.string().optional().describe('Required; trimmed, at most 100 characters'),
    lastName: z.string().optional().describe('Required; trimmed, at most 100 characters'),
    pseudonym: z.string().optional().describe('Required; 2-30 letters, digits, _ or -'),
    language: z.string().optional().describe(`one of ${LANGUAGES.join(', ')}; default en`),
    invitationToken: z.string().nullable().optional().describe('Required once an admin exists'),
  })
  .meta({ id: 'OnboardingProfileInput' });

const createdProfile = z.object({
  userId: z.string(),
  firstName: z.string(),
  lastName: z.string(),
  pseudonym: z.string(),
  language: z.string(),
  role: z.enum(['admin', 'member']),
});

/** The web app's onboarding (webapp.md; auth.md §2): its first request, and the invited user's profile step. */
export function onboardingOperations(services: Services): Operation[] {
  const tags = ['Onboarding'];
  return [
    defineOperation({
      name: 'onboardingStatus',
      summary: 'Whether an admin and the required providers exist (public)',
      method: 'get',
      path: '/api/onboarding/status',
      auth: 'public',
      tags,
      output: z.object({ completed: z.boolean(), hasAdmin: z.boolean(), hasLlm: z.boolean(), hasEmbedding: z.boolean() }),
      async handler() {
        const admin = (await services.readStore.collection<UserDoc>(USERS).count({ role: 'admin', hasProfile: true })) > 0;
        const providers = await services.readStore.collection<ProviderDoc>(PROVIDERS).find({});
        const hasLlm = providers.some((provider) => provider.capabilities.includes('llm'));
        const hasEmbedding = providers.some((provider) => provider.capabilities.includes('embedding'));
        return { completed: admin && hasLlm && hasEmbedding, hasAdmin: admin, hasLlm, hasEmbedding };
      },
    }),
    defineOperation({
      name: 'completeOnboardingProfile',
      summary: 'Create the profile of a signed-up account (an invitation token is required once an admin exists)',
      method: 'post',
      path: '/api/onboarding/profile',
      auth: 'user',
      tags,
      status: 201,
      body: profileInput.optional(),
      output: createdProfile,
      async handler({ body }, ctx) {
        // The rules are checked here, not by the schema, so that every violation is reported at once.
        const profile = checkNewProfile((body ?? {}) as Record<string, unknown>);
        const userId = ctx.principal!.userId;
        const input = { userId, profile, invitationToken: body?.invitationToken || null };
        const { role } = await completeProfile(services, input, ctx.commandMetadata());
        return { userId, ...profile, role };
      },
    }),
  ];
}
