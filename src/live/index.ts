import type { LiveMapper } from './feed.js';
import { compactingLiveMessages } from './compacting.js';
import { kinLiveMessages } from './kins.js';
import { knowledgeLiveMessages } from './knowledge.js';
import { memoryLiveMessages } from './memories.js';
import { messageLiveMessages } from './messages.js';
import { notificationLiveMessages } from './notifications.js';
import { promptLiveMessages } from './prompts.js';
import { providerLiveMessages } from './providers.js';
import { quickSessionLiveMessages } from './quickSessions.js';
import { reactionLiveMessages } from './reactions.js';
import { settingsLiveMessages } from './settings.js';
import { webhookLiveMessages } from './webhooks.js';
import { taskLiveMessages } from './tasks.js';
import { cronLiveMessages } from './crons.js';

/** Every event → live-feed mapping, one per line. */
export const allLiveMappers: readonly LiveMapper[] = [
  kinLiveMessages,
  messageLiveMessages,
  notificationLiveMessages,
  promptLiveMessages,
  providerLiveMessages,
  settingsLiveMessages,
  reactionLiveMessages,
  quickSessionLiveMessages,
  compactingLiveMessages,
  knowledgeLiveMessages,
  memoryLiveMessages,
  webhookLiveMessages,
  taskLiveMessages,
  cronLiveMessages,
];
