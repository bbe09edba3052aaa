import type { Services } from '../services.js';
import type { Operation } from './operation.js';
import { healthOperations } from './health.js';
import { kinOperations } from './kins.js';
import { userOperations } from './users.js';
import { openApiOperation } from './openapi.js';
import { sseOperations } from './sse.js';

/** The operation table: every documented route, declared once (REST, GraphQL and OpenAPI read it). */
export function operationTable(services: Services): Operation[] {
  const operations = [...healthOperations(services), ...userOperations(services), ...kinOperations(services), ...sseOperations(services)];
  return [...operations, openApiOperation(operations)];
}
