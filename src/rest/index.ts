import type { Services } from '../services.js';
import type { Operation } from './operation.js';
import { compactingOperations } from './compacting.js';
import { fileOperations } from './files.js';
import { healthOperations } from './health.js';
import { kinOperations } from './kins.js';
import { knowledgeOperations } from './knowledge.js';
import { memoryOperations } from './memories.js';
import { messageOperations } from './messages.js';
import { notificationOperations } from './notifications.js';
import { openApiOperation } from './openapi.js';
import { docsOperations } from './docs.js';
import { metricsOperations } from './metrics.js';
import { promptOperations } from './prompts.js';
import { providerOperations } from './providers.js';
import { quickSessionOperations } from './quickSessions.js';
import { reactionOperations } from './reactions.js';
import { settingsOperations } from './settings.js';
import { sseOperations } from './sse.js';
import { userOperations } from './users.js';
import { invitationOperations } from './invitations.js';
import { onboardingOperations } from './onboarding.js';
import { webhookOperations } from './webhooks.js';
import { taskOperations } from './tasks.js';
import { cronOperations } from './crons.js';
import { vaultOperations } from './vault.js';
import { fileStorageOperations } from './fileStorage.js';
import { shareOperations } from './shares.js';
import { infoOperations } from './info.js';
import { logOperations } from './logs.js';
import { channelPlatformOperations } from './channelPlatforms.js';

/** The operation table: every documented route, declared once (REST, GraphQL and OpenAPI read it). */
export function operationTable(services: Services): Operation[] {
  const operations = [
    ...healthOperations(services),
    ...userOperations(services),
    ...invitationOperations(services),
    ...onboardingOperations(services),
    ...kinOperations(services),
    ...messageOperations(services),
    ...compactingOperations(services),
    ...quickSessionOperations(services),
    ...reactionOperations(services),
    ...fileOperations(services),
    ...notificationOperations(services),
    ...promptOperations(services),
    ...providerOperations(services),
    ...settingsOperations(services),
    ...sseOperations(services),
    ...knowledgeOperations(services),
    ...memoryOperations(services),
    ...webhookOperations(services),
    ...taskOperations(services),
    ...cronOperations(services),
    ...vaultOperations(services),
    ...fileStorageOperations(services),
    ...shareOperations(services),
    ...infoOperations(services),
    ...logOperations(services),
    ...channelPlatformOperations(),
  ];
  const documented = [...operations, ...docsOperations(), ...metricsOperations(services)];
  return [...documented, openApiOperation(documented)];
}
