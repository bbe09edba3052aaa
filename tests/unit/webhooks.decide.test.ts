import { describe, expect, it } from 'vitest';
import {
  decideIngestion,
  decideWebhook,
  evolveWebhook,
  filterFieldsFor,
  hashToken,
  LOG_PAYLOAD_CHARS,
  NO_FILTER,
  newToken,
  tokenMatches,
  type WebhookCommand,
  type WebhookState,
} from '../../src/commands/webhooks.js';
import type { WebhookEvent } from '../../src/events/webhooks.js';
import { createRateLimiter } from '../../src/lib/rateLimiter.js';

const now = new Date('2026-11-28T10:00:00.000Z');
const at = now.toISOString();
const webhookId = 'w1';
const created: WebhookEvent = {
  type: 'WebhookCreated',
  data: { webhookId, kinId: 'k1', name: 'GitHub', description: null, tokenHash: 'h', filter: NO_FILTER, createdBy: 'user', createdAt: at },
};
const given = (...events: WebhookEvent[]): WebhookState => events.reduce(evolveWebhook, { status: 'none' } as WebhookState);
type Payload<C> = C extends WebhookCommand ? Omit<C, 'webhookId' | 'now'> : never;
const when = (state: WebhookState, command: Payload<WebhookCommand>) => decideWebhook({ webhookId, now, ...command } as WebhookCommand, state);

describe('webhook decider', () => {
  it('creates a webhook once', () => {
    const create = { type: 'CreateWebhook' as const, kinId: 'k1', name: 'GitHub', description: null, tokenHash: 'h', filter: NO_FILTER, createdBy: 'user' as const };
    expect(when(given(), create)).toEqual([created]);
    expect(() => when(given(created), create)).toThrow(expect.objectContaining({ status: 409 }));
  });

  it('records only the fields that change, and nothing when none does', () => {
    const state = given(created);
    expect(when(state, { type: 'UpdateWebhook', changes: { name: 'GitHub', isActive: false } })).toEqual([
      { type: 'WebhookUpdated', data: { webhookId, kinId: 'k1', changes: { isActive: false }, updatedAt: at } },
    ]);
    expect(when(state, { type: 'UpdateWebhook', changes: { name: 'GitHub', ...NO_FILTER } })).toEqual([]);
  });

  it('refuses every command on a webhook that does not exist or was deleted', () => {
    const deleted = given(created, { type: 'WebhookDeleted', data: { webhookId, kinId: 'k1', deletedAt: at } });
    for (const state of [given(), deleted]) {
      expect(() => when(state, { type: 'DeleteWebhook' })).toThrow(expect.objectContaining({ status: 404, code: 'NOT_FOUND', message: 'Webhook not found' }));
      expect(() => when(state, { type: 'RegenerateWebhookToken', tokenHash: 'x' })).toThrow(expect.objectContaining({ status: 404 }));
    }
  });

  it('records a new token hash and a pruning', () => {
    const state = given(created);
    expect(when(state, { type: 'RegenerateWebhookToken', tokenHash: 'h2' })).toEqual([
      { type: 'WebhookTokenRegenerated', data: { webhookId, kinId: 'k1', tokenHash: 'h2', regeneratedAt: at } },
    ]);
    expect(when(state, { type: 'PruneWebhookLogs', olderThan: 5, keepNewest: 500 })).toEqual([
      { type: 'WebhookLogsPruned', data: { webhookId, kinId: 'k1', olderThan: 5, keepNewest: 500, prunedAt: at } },
    ]);
  });
});

describe('filterFieldsFor', () => {
  it('keeps the fields of the mode and clears the others', () => {
    expect(filterFieldsFor({ filterMode: null, filterField: 'a' })).toEqual(NO_FILTER);
    expect(filterFieldsFor({ filterMode: 'simple', filterField: ' action ', filterExpression: 'x' })).toEqual({
      filterMode: 'simple',
      filterField: 'action',
      filterAllowedValues: null,
      filterExpression: null,
    });
    expect(filterFieldsFor({ filterMode: 'advanced', filterExpression: ' ^a ', filterAllowedValues: ['x'] })).toEqual({
      filterMode: 'advanced',
      filterField: null,
      filterAllowedValues: null,
      filterExpression: '^a',
    });
  });
});

describe('decideIngestion', () => {
  const webhook = { id: webhookId, kinId: 'k1', name: 'GitHub', ...NO_FILTER };
  const ids = { logId: 'l1', queueItemId: 'q1' };

  it('logs an accepted payload, cut to the log size, and makes it a message with the whole payload', () => {
    const payload = 'x'.repeat(LOG_PAYLOAD_CHARS + 10);
    const { event, message } = decideIngestion(webhook, { payload, sourceIp: '1.2.3.4' }, ids, now);
    expect(event).toEqual({
      type: 'WebhookPayloadAccepted',
      data: { webhookId, kinId: 'k1', logId: 'l1', payload: payload.slice(0, LOG_PAYLOAD_CHARS), sourceIp: '1.2.3.4', receivedAt: at, queueItemId: 'q1' },
    });
    expect(message).toBe(`[Webhook: GitHub]\n${payload}`);
  });

  it('stores an empty payload as null', () => {
    expect(decideIngestion(webhook, { payload: '', sourceIp: 'unknown' }, ids, now).event.data.payload).toBeNull();
  });

  it('logs a payload the filter turns away, with what it read, and makes no message', () => {
    const filtered = { ...webhook, filterMode: 'simple' as const, filterField: 'action', filterAllowedValues: ['opened'] };
    const { event, message } = decideIngestion(filtered, { payload: '{"action":"closed"}', sourceIp: 'unknown' }, ids, now);
    expect(event).toEqual({
      type: 'WebhookPayloadFiltered',
      data: { webhookId, kinId: 'k1', logId: 'l1', payload: '{"action":"closed"}', sourceIp: 'unknown', receivedAt: at, extractedValue: 'closed' },
    });
    expect(message).toBeNull();
  });
});

describe('tokens', () => {
  it('are 64 lowercase hex characters, kept only as a hash, and compared by hash', () => {
    const token = newToken();
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    const hash = hashToken(token);
    expect(hash).not.toContain(token);
    expect(tokenMatches(token, hash)).toBe(true);
    expect(tokenMatches(token.toUpperCase(), hash)).toBe(false);
    expect(tokenMatches('', hash)).toBe(false);
    expect(tokenMatches('x'.repeat(10_000), hash)).toBe(false);
  });
});

describe('rate limiter', () => {
  it('allows `max` hits in any window, does not count refusals, and says how long to wait', () => {
    const limiter = createRateLimiter({ max: 3, windowMs: 60_000 });
    expect([0, 1000, 2000].map((t) => limiter.hit('a', t))).toEqual([0, 0, 0]);
    expect(limiter.hit('a', 30_000)).toBe(30_000);
    expect(limiter.hit('b', 30_000)).toBe(0);
    // The first hit leaves the window at 60 s; the refusal at 30 s did not take a place.
    expect(limiter.hit('a', 60_000)).toBe(0);
    expect(limiter.hit('a', 60_500)).toBe(500);
    expect(limiter.hit('a', 61_000)).toBe(0);
  });

  it('forgets keys whose window emptied', () => {
    const limiter = createRateLimiter({ max: 1, windowMs: 1000 });
    for (let i = 0; i < 1000; i++) limiter.hit(`key-${i}`, 0);
    expect(limiter.hit('key-0', 500)).toBe(500);
    expect(limiter.hit('key-0', 2000)).toBe(0);
  });
});
