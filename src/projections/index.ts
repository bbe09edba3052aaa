import type { Projection } from '../es/projections.js';
import { compactingProjection } from './compacting.js';
import { filesProjection } from './files.js';
import { kinsProjection } from './kins.js';
import { knowledgeProjection } from './knowledge.js';
import { memoriesProjection } from './memories.js';
import { messagesProjection } from './messages.js';
import { notificationsProjection } from './notifications.js';
import { promptsProjection } from './prompts.js';
import { providersProjection } from './providers.js';
import { quickSessionsProjection } from './quickSessions.js';
import { reactionsProjection } from './reactions.js';
import { settingsProjection } from './settings.js';
import { usersProjection } from './users.js';
import { invitationsProjection } from './invitations.js';
import { webhooksProjection } from './webhooks.js';
import { tasksProjection } from './tasks.js';
import { interKinProjection } from './interKin.js';
import { cronsProjection } from './crons.js';
import { vaultProjection } from './vault.js';
import { fileStorageProjection } from './fileStorage.js';

/** Every read model of the application, one per line (each has its own checkpoint). */
export const allProjections: readonly Projection[] = [
  usersProjection,
  invitationsProjection,
  kinsProjection,
  messagesProjection,
  notificationsProjection,
  promptsProjection,
  providersProjection,
  settingsProjection,
  reactionsProjection,
  filesProjection,
  quickSessionsProjection,
  compactingProjection,
  knowledgeProjection,
  memoriesProjection,
  webhooksProjection,
  tasksProjection,
  interKinProjection,
  cronsProjection,
  vaultProjection,
  fileStorageProjection,
];
