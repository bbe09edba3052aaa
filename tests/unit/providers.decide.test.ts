import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decideProvider,
  evolveProvider,
  initialProviderState,
  lastRequiredCapability,
  mergeConfig,
  type ProviderCommand,
} from '../../src/commands/providers.js';
import type { ProviderEvent } from '../../src/events/providers.js';
import type { DomainError } from '../../src/es/errors.js';
import { configProblem, listModels, servesModel, testConnection } from '../../src/agents/providerCatalog.js';
import { chooseProvider, embeddingModelFor, languageModelFor } from '../../src/agents/providers.js';

const now = new Date('2026-11-28T10:00:00.000Z');
const at = now.toISOString();
const providerId = '01936d3c-0000-7000-8000-0000000000p1';
const valid = { valid: true, capabilities: ['llm', 'embedding'], error: null };
const invalid = { valid: false, capabilities: [], error: 'HTTP 401: Invalid API key' };
const created: ProviderEvent = {
  type: 'ProviderCreated',
  data: { providerId, name: 'Local', providerType: 'openai-compatible', configEncrypted: 'c1', test: valid, createdAt: at },
};

/** Given events, when command, then events (or the error's code). */
function given(events: ProviderEvent[]) {
  const state = events.reduce(evolveProvider, initialProviderState());
  return {
    state,
    when: (command: ProviderCommand) => {
      try {
        return decideProvider(command, state);
      } catch (error) {
        return (error as DomainError).code;
      }
    },
  };
}

describe('Provider decider', () => {
  it('creates a provider once, valid or not', () => {
    const command: ProviderCommand = { type: 'CreateProvider', providerId, name: 'Local', providerType: 'openai-compatible', configEncrypted: 'c1', test: valid, now };
    expect(given([]).when(command)).toEqual([created]);
    expect(given([created]).when(command)).toBe('PROVIDER_EXISTS');
    const failing = given([]).when({ ...command, test: invalid }) as ProviderEvent[];
    expect(given(failing).state).toMatchObject({ status: 'active', provider: { isValid: false, capabilities: [], lastError: invalid.error } });
  });

  it('records a rename alone, and nothing when the name does not change', () => {
    expect(given([created]).when({ type: 'UpdateProvider', providerId, name: 'Renamed', now })).toEqual([
      { type: 'ProviderUpdated', data: { providerId, name: 'Renamed', test: null, updatedAt: at } },
    ]);
    expect(given([created]).when({ type: 'UpdateProvider', providerId, name: 'Local', now })).toEqual([]);
    expect(given([created]).when({ type: 'UpdateProvider', providerId, now })).toEqual([]);
  });

  it('records a new config with the test it ran, keeping capabilities when that test fails', () => {
    const events = given([created]).when({ type: 'UpdateProvider', providerId, reconfigure: { configEncrypted: 'c2', test: invalid }, now });
    expect(events).toEqual([{ type: 'ProviderUpdated', data: { providerId, configEncrypted: 'c2', test: invalid, updatedAt: at } }]);
    const state = given([created, ...(events as ProviderEvent[])]).state;
    expect(state).toMatchObject({ provider: { configEncrypted: 'c2', isValid: false, lastError: invalid.error, capabilities: ['llm', 'embedding'] } });
  });

  it('records a test outcome and refreshes capabilities only when valid', () => {
    const failed = given([created]).when({ type: 'RecordProviderTest', providerId, test: invalid, now }) as ProviderEvent[];
    expect(failed).toEqual([{ type: 'ProviderTested', data: { providerId, test: invalid, testedAt: at } }]);
    expect(given([created, ...failed]).state).toMatchObject({ provider: { isValid: false, capabilities: ['llm', 'embedding'] } });
    const passed = given([created, ...failed]).when({ type: 'RecordProviderTest', providerId, test: { ...valid, capabilities: ['llm'] }, now }) as ProviderEvent[];
    expect(given([created, ...failed, ...passed]).state).toMatchObject({ provider: { isValid: true, lastError: null, capabilities: ['llm'] } });
  });

  it('deletes once; a deleted or unknown provider is not found', () => {
    const deleted: ProviderEvent = { type: 'ProviderDeleted', data: { providerId, deletedAt: at } };
    expect(given([created]).when({ type: 'DeleteProvider', providerId, now })).toEqual([deleted]);
    for (const history of [[], [created, deleted]]) {
      expect(given(history).when({ type: 'DeleteProvider', providerId, now })).toBe('PROVIDER_NOT_FOUND');
      expect(given(history).when({ type: 'RecordProviderTest', providerId, test: valid, now })).toBe('PROVIDER_NOT_FOUND');
      expect(given(history).when({ type: 'UpdateProvider', providerId, name: 'x', now })).toBe('PROVIDER_NOT_FOUND');
    }
  });
});

describe('last provider rule', () => {
  const a = { id: 'a', capabilities: ['llm', 'embedding'] };
  const b = { id: 'b', capabilities: ['llm'] };
  const c = { id: 'c', capabilities: [] };

  it('refuses to delete the last provider with llm, then the last with embedding', () => {
    expect(lastRequiredCapability('a', [a, c])).toBe('llm');
    expect(lastRequiredCapability('a', [a, b, c])).toBe('embedding');
    expect(lastRequiredCapability('b', [a, b])).toBeNull();
    expect(lastRequiredCapability('c', [a, c])).toBeNull();
    expect(lastRequiredCapability('c', [c])).toBeNull();
  });
});

describe('config merge', () => {
  it('keeps absent fields, replaces given ones and clears null or blank ones', () => {
    const stored = { apiKey: 'k1', baseUrl: 'http://a/v1' };
    expect(mergeConfig(stored, { apiKey: 'k2' })).toEqual({ apiKey: 'k2', baseUrl: 'http://a/v1' });
    expect(mergeConfig(stored, { baseUrl: null })).toEqual({ apiKey: 'k1' });
    expect(mergeConfig(stored, { apiKey: '' })).toEqual({ baseUrl: 'http://a/v1' });
    expect(mergeConfig(stored, {})).toEqual(stored);
  });
});

describe('provider catalogue', () => {
  it('says which config a type needs', () => {
    expect(configProblem('openai', {})).toEqual({ path: 'config.apiKey', message: 'An API key is required for openai' });
    expect(configProblem('openai-compatible', {})).toMatchObject({ path: 'config.baseUrl' });
    expect(configProblem('openai-compatible', { baseUrl: 'ftp://x' })).toMatchObject({ message: 'The base URL must be an http(s) URL' });
    expect(configProblem('openai-compatible', { baseUrl: 'http://127.0.0.1:1234/v1' })).toBeNull();
    expect(configProblem('ollama', {})).toBeNull();
    expect(configProblem('nope', {})).toEqual({ path: 'type', message: 'Unknown provider type: nope' });
  });

  it('knows which model ids a vendor serves; gateways serve any', () => {
    expect(servesModel('anthropic', 'claude-sonnet-4-5')).toBe(true);
    expect(servesModel('anthropic', 'gpt-4o')).toBe(false);
    expect(servesModel('openai', 'gpt-4o')).toBe(true);
    expect(servesModel('gemini', 'gemini-2.5-flash')).toBe(true);
    expect(servesModel('openai-compatible', 'anything/at-all')).toBe(true);
    expect(servesModel('ollama', 'llama3.2')).toBe(true);
    expect(servesModel('unknown', 'gpt-4o')).toBe(false);
  });

  it('reports an unknown type as an invalid test without calling anyone', async () => {
    expect(await testConnection('nope', {})).toEqual({ valid: false, capabilities: [], error: 'Unknown provider type: nope' });
  });

  it('sends the bearer key and reports the vendor message on failure', async () => {
    const seen: string[] = [];
    const fake = (async (url: string | URL | Request, init?: RequestInit) => {
      seen.push(`${String(url)} ${new Headers(init?.headers).get('authorization')}`);
      return new Response(JSON.stringify({ error: { message: 'Incorrect API key provided' } }), { status: 401 });
    }) as typeof fetch;
    const result = await testConnection('groq', { apiKey: 'gsk-1' }, { fetch: fake });
    expect(result).toEqual({ valid: false, capabilities: [], error: 'HTTP 401: Incorrect API key provided' });
    expect(seen).toEqual(['https://api.groq.com/openai/v1/models Bearer gsk-1']);
  });

  it('lists OpenAI-style models, classified and limited to the capabilities asked', async () => {
    const fake = (async () =>
      new Response(JSON.stringify({ data: [{ id: 'gpt-4o' }, { id: 'text-embedding-3-small' }, { id: 'whisper-1' }, { id: 'dall-e-3' }] }))) as unknown as typeof fetch;
    const models = await listModels('openai', { apiKey: 'k' }, ['llm', 'embedding'], { fetch: fake });
    expect(models).toEqual([
      { id: 'gpt-4o', name: 'gpt-4o', capability: 'llm', supportsImageInput: true },
      { id: 'text-embedding-3-small', name: 'text-embedding-3-small', capability: 'embedding' },
    ]);
  });

  describe('with a server that never answers', () => {
    let server: Server;
    let url: string;
    beforeAll(async () => {
      server = createServer(() => {
        // never answers
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('gives up after the timeout', async () => {
      const started = Date.now();
      const result = await testConnection('openai-compatible', { baseUrl: url }, { timeoutMs: 200 });
      expect(result).toEqual({ valid: false, capabilities: [], error: 'Connection timed out after 0.2 s' });
      expect(Date.now() - started).toBeLessThan(3000);
    });
  });
});

describe('model resolution', () => {
  const provider = (id: string, type: string, capabilities: string[], isValid = true, createdAt = `2026-01-0${id.length}T00:00:00.000Z`) => ({
    id,
    type,
    capabilities,
    isValid,
    createdAt,
  });
  const anthropic = provider('a', 'anthropic', ['llm'], true, '2026-01-01T00:00:00.000Z');
  const openai = provider('o', 'openai', ['llm', 'embedding', 'image'], true, '2026-01-02T00:00:00.000Z');
  const local = provider('l', 'openai-compatible', ['llm', 'embedding'], true, '2026-01-03T00:00:00.000Z');
  const broken = provider('b', 'openai', [], false, '2025-01-01T00:00:00.000Z');

  it('takes the preferred provider when it is valid and has the capability', () => {
    expect(chooseProvider([anthropic, openai, local], { providerId: 'l', model: 'gpt-4o', capability: 'llm' })).toBe(local);
  });

  it('otherwise takes the oldest valid provider whose type serves the model', () => {
    expect(chooseProvider([local, openai, anthropic, broken], { providerId: 'b', model: 'gpt-4o', capability: 'llm' })).toBe(openai);
    expect(chooseProvider([local, openai, anthropic], { model: 'claude-opus-4', capability: 'llm' })).toBe(anthropic);
    expect(chooseProvider([anthropic, local], { model: 'qwen2.5-7b', capability: 'llm' })).toBe(local);
    expect(chooseProvider([anthropic, openai, local], { model: 'text-embedding-3-small', capability: 'embedding' })).toBe(openai);
    expect(chooseProvider([anthropic, broken], { model: 'gpt-4o', capability: 'llm' })).toBeNull();
  });

  it('builds the ai SDK model of the right package for each type', async () => {
    const chat = (await languageModelFor('openai-compatible', { baseUrl: 'http://127.0.0.1:1/v1' }, 'fake-chat')) as { provider: string; modelId: string };
    expect(chat).toMatchObject({ provider: 'openai-compatible.chat', modelId: 'fake-chat' });
    const ollama = (await languageModelFor('ollama', { baseUrl: 'http://127.0.0.1:11434' }, 'llama3')) as { provider: string };
    expect(ollama.provider).toBe('ollama.chat');
    expect(((await languageModelFor('anthropic', { apiKey: 'k' }, 'claude-sonnet-4-5')) as { provider: string }).provider).toMatch(/^anthropic/);
    expect(((await languageModelFor('gemini', { apiKey: 'k' }, 'gemini-2.5-flash')) as { provider: string }).provider).toMatch(/^google/);
    expect(((await languageModelFor('openai', { apiKey: 'k' }, 'gpt-4o')) as { provider: string }).provider).toMatch(/^openai/);
    expect(await languageModelFor('voyage', { apiKey: 'k' }, 'voyage-3')).toBeNull();
    expect(((await embeddingModelFor('mistral', { apiKey: 'k' }, 'mistral-embed')) as { provider: string }).provider).toBe('mistral.embedding');
  });
});
