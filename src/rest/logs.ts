import { z } from 'zod';
import { LOG_BUFFER_CAPACITY, logLevelNames } from '../lib/logBuffer.js';
import type { Services } from '../services.js';
import { defineOperation, type Operation } from './operation.js';

const DEFAULT_LIMIT = 200;

const logsQuery = z.object({
  limit: z.coerce
    .number()
    .int()
    .optional()
    .describe(`Newest entries to return, default ${DEFAULT_LIMIT}, clamped to [1, ${LOG_BUFFER_CAPACITY}]`),
  level: z.enum(logLevelNames).optional().describe('This level and the more severe ones'),
  module: z.string().trim().min(1).optional(),
  search: z.string().trim().min(1).optional().describe('Case-insensitive, in the message and the data'),
});

const logEntry = z
  .object({
    level: z.enum(logLevelNames),
    module: z.string(),
    message: z.string(),
    data: z.record(z.string(), z.unknown()).optional(),
    timestamp: z.number().describe('epoch ms'),
  })
  .meta({ id: 'LogEntry' });

/** The server's recent log entries (src/lib/logBuffer.ts), for the admins' logs page; live as SSE `log:entry`. */
export function logOperations(services: Services): Operation[] {
  const tags = ['Operations'];
  return [
    defineOperation({
      name: 'logs',
      summary: `Recent server log entries (the last ${LOG_BUFFER_CAPACITY} in memory), oldest first; credentials are redacted`,
      method: 'get',
      path: '/api/logs',
      auth: 'admin',
      tags,
      query: logsQuery,
      output: z.object({ logs: z.array(logEntry) }),
      handler: async ({ query }) => ({
        logs: services.logs.query({ ...query, limit: Math.min(Math.max(query.limit ?? DEFAULT_LIMIT, 1), LOG_BUFFER_CAPACITY) }),
      }),
    }),
    defineOperation({
      name: 'logModules',
      summary: 'The modules that have logged since start-up',
      method: 'get',
      path: '/api/logs/modules',
      auth: 'admin',
      tags,
      output: z.object({ modules: z.array(z.string()) }),
      handler: async () => ({ modules: services.logs.modules() }),
    }),
  ];
}
