import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { APICallError, embed, embedMany, generateText, stepCountIs, streamText, tool, type TextStreamPart, type ToolSet } from 'ai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fakeEmbedding, lastUserText, startFakeLlm, toolResults, type FakeLlm } from '../fakes/fakeLlm.js';

const API_KEY = 'sk-fake-test';

function dot(a: number[], b: number[]): number {
  return a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0);
}

async function collect<T extends ToolSet>(stream: AsyncIterable<TextStreamPart<T>>): Promise<TextStreamPart<T>[]> {
  const parts: TextStreamPart<T>[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

describe('fake OpenAI-compatible LLM server', () => {
  let fake: FakeLlm;
  let provider: ReturnType<typeof createOpenAICompatible>;

  beforeEach(async () => {
    fake = await startFakeLlm({ apiKey: API_KEY, synonyms: { pet: 'cat', kitten: 'cat' } });
    provider = createOpenAICompatible({ name: 'fake', baseURL: fake.baseUrl, apiKey: API_KEY, includeUsage: true });
  });

  afterEach(async () => {
    await fake.close();
  });

  it('listens on 127.0.0.1 under /v1 and lists models', async () => {
    expect(fake.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const res = await fetch(`${fake.baseUrl}/models`, { headers: { Authorization: `Bearer ${API_KEY}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      object: 'list',
      data: [
        { id: 'fake-chat', object: 'model' },
        { id: 'fake-embed', object: 'model' },
      ],
    });
  });

  it('rejects missing or wrong bearer keys with an OpenAI-style 401', async () => {
    const missing = await fetch(`${fake.baseUrl}/models`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: { message: expect.any(String), type: 'invalid_request_error' } });

    const wrong = await fetch(`${fake.baseUrl}/models`, { headers: { Authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: { code: 'invalid_api_key' } });

    const bad = createOpenAICompatible({ name: 'fake', baseURL: fake.baseUrl, apiKey: 'nope' });
    const error = await generateText({ model: bad('fake-chat'), prompt: 'hi', maxRetries: 0 }).catch((e: unknown) => e);
    expect(APICallError.isInstance(error)).toBe(true);
    expect((error as APICallError).statusCode).toBe(401);
    expect((error as APICallError).message).toBe('Incorrect API key provided.');
  });

  it('runs a two-step streamed tool turn through streamText', async () => {
    fake.script(
      { text: 'Let me check the clock.', toolCalls: [{ name: 'get_current_datetime', args: { timezone: 'Europe/Paris' } }] },
      { text: 'It is late, almost midnight.' },
    );
    const executed: unknown[] = [];
    const result = streamText({
      model: provider('fake-chat'),
      system: 'You are Kin, a helpful agent.',
      prompt: 'What time is it?',
      maxRetries: 0,
      stopWhen: stepCountIs(5),
      tools: {
        get_current_datetime: tool({
          description: 'Current date and time',
          inputSchema: z.object({ timezone: z.string() }),
          execute: async (input) => {
            executed.push(input);
            return { iso: '2024-01-01T23:59:00+01:00', timezone: input.timezone };
          },
        }),
      },
    });

    const parts = await collect(result.fullStream);

    // v6 part names, in order (the first step's text-end is only emitted when the provider stream flushes).
    expect(parts.map((p) => p.type)).toEqual([
      'start',
      'start-step',
      'text-start',
      'text-delta', 'text-delta', 'text-delta', 'text-delta', 'text-delta',
      'tool-input-start',
      'tool-input-delta', 'tool-input-delta', 'tool-input-delta',
      'text-end',
      'tool-input-end',
      'tool-call',
      'tool-result',
      'finish-step',
      'start-step',
      'text-start',
      'text-delta', 'text-delta', 'text-delta', 'text-delta', 'text-delta',
      'text-end',
      'finish-step',
      'finish',
    ]);

    // Text streams in several deltas; v6 text-delta carries `text`.
    const deltas = parts.flatMap((p) => (p.type === 'text-delta' ? [p.text] : []));
    expect(deltas.length).toBeGreaterThanOrEqual(4);
    expect(deltas.join('')).toBe('Let me check the clock.It is late, almost midnight.');

    // The tool call carries the scripted args, and the tool actually ran.
    const call = parts.find((p) => p.type === 'tool-call');
    expect(call).toMatchObject({ type: 'tool-call', toolName: 'get_current_datetime', input: { timezone: 'Europe/Paris' } });
    expect(executed).toEqual([{ timezone: 'Europe/Paris' }]);
    const toolCallId = call?.type === 'tool-call' ? call.toolCallId : '';
    expect(toolCallId).toMatch(/^call_fake_/);
    expect(parts.find((p) => p.type === 'tool-result')).toMatchObject({
      toolCallId,
      output: { iso: '2024-01-01T23:59:00+01:00', timezone: 'Europe/Paris' },
    });

    const stepFinishes = parts.filter((p) => p.type === 'finish-step');
    expect(stepFinishes.map((p) => (p.type === 'finish-step' ? [p.finishReason, p.rawFinishReason] : []))).toEqual([
      ['tool-calls', 'tool_calls'],
      ['stop', 'stop'],
    ]);

    // Final text and usage.
    expect(await result.text).toBe('It is late, almost midnight.');
    expect(await result.finishReason).toBe('stop');
    const usage = await result.totalUsage;
    expect(usage.inputTokens).toBeGreaterThan(0);
    expect(usage.outputTokens).toBeGreaterThan(0);
    expect(usage.totalTokens).toBe((usage.inputTokens ?? 0) + (usage.outputTokens ?? 0));
    const finish = parts.at(-1);
    expect(finish?.type === 'finish' ? finish.totalUsage.totalTokens : undefined).toBe(usage.totalTokens);

    // What the model received.
    const [first, second] = fake.chatRequests();
    expect(fake.chatRequests()).toHaveLength(2);
    expect(fake.remainingTurns()).toBe(0);
    expect(first).toMatchObject({
      model: 'fake-chat',
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: 'You are Kin, a helpful agent.' },
        { role: 'user', content: 'What time is it?' },
      ],
      tools: [{ type: 'function', function: { name: 'get_current_datetime', description: 'Current date and time' } }],
    });
    expect(second?.messages).toContainEqual({
      role: 'assistant',
      content: 'Let me check the clock.',
      tool_calls: [{ id: toolCallId, type: 'function', function: { name: 'get_current_datetime', arguments: '{"timezone":"Europe/Paris"}' } }],
    });
    expect(second?.messages).toContainEqual({
      role: 'tool',
      tool_call_id: toolCallId,
      content: JSON.stringify({ iso: '2024-01-01T23:59:00+01:00', timezone: 'Europe/Paris' }),
    });
    expect(toolResults(second!)).toEqual([
      { toolCallId, toolName: 'get_current_datetime', content: '{"iso":"2024-01-01T23:59:00+01:00","timezone":"Europe/Paris"}' },
    ]);
    const chatRecord = fake.requests.find((r) => r.path === '/v1/chat/completions');
    expect(chatRecord?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(chatRecord?.status).toBe(200);
  });

  it('lets a function turn answer from the tool results in the request', async () => {
    fake.script(
      { toolCalls: [{ name: 'add', args: { a: 2, b: 3 } }, { name: 'add', args: { a: 10, b: 20 } }] },
      (request) => ({ text: `Sums: ${toolResults(request).map((r) => (JSON.parse(r.content) as { sum: number }).sum).join(', ')}` }),
    );
    const { text, steps } = await generateText({
      model: provider('fake-chat'),
      prompt: 'add things',
      maxRetries: 0,
      stopWhen: stepCountIs(5),
      tools: { add: tool({ inputSchema: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => ({ sum: a + b }) }) },
    });
    expect(text).toBe('Sums: 5, 30');
    expect(steps).toHaveLength(2);
    expect(steps[0]?.toolCalls.map((c) => c.input)).toEqual([{ a: 2, b: 3 }, { a: 10, b: 20 }]);
    expect(fake.chatRequests()[1]?.stream).toBeUndefined(); // generateText → non-streamed chat.completion
  });

  it('echoes the last user message by default, and setDefault overrides it', async () => {
    const echoed = await generateText({ model: provider('fake-chat'), prompt: 'ping pong', maxRetries: 0 });
    expect(echoed.text).toBe('You said: ping pong');
    expect(echoed.usage.inputTokens).toBeGreaterThan(0);

    fake.setDefault((request) => ({ text: `upper: ${lastUserText(request).toUpperCase()}` }));
    const streamed = streamText({ model: provider('fake-chat'), prompt: 'quiet words', maxRetries: 0 });
    expect(await streamed.text).toBe('upper: QUIET WORDS');
  });

  it('returns deterministic, normalised bag-of-words embeddings', async () => {
    const texts = ['the cat sat on the mat', 'a cat sat on a mat today', 'quantum chromodynamics lecture notes', 'my pet sat'];
    const { embeddings, usage } = await embedMany({ model: provider.embeddingModel('fake-embed'), values: texts, maxRetries: 0 });
    expect(embeddings).toHaveLength(4);
    for (const vector of embeddings) {
      expect(vector).toHaveLength(64);
      expect(Math.sqrt(dot(vector, vector))).toBeCloseTo(1, 10);
    }
    const [catMat, catMat2, physics, pet] = embeddings as [number[], number[], number[], number[]];
    // 4 shared words out of 8 tokens each ("the"/"a" twice): cosine 4/sqrt(8*9) ≈ 0.47, unrelated ≈ 0.
    expect(dot(catMat, catMat2)).toBeGreaterThan(0.4);
    expect(dot(catMat, catMat2)).toBeGreaterThan(dot(catMat, physics) + 0.3);
    expect(dot(pet, catMat)).toBeGreaterThan(dot(pet, physics));
    // Synonym folding: "pet" is hashed as "cat".
    expect(pet).toEqual(fakeEmbedding('my cat sat'));
    expect(usage.tokens).toBeGreaterThan(0);

    const again = await embed({ model: provider.embeddingModel('fake-embed'), value: texts[0]!, maxRetries: 0 });
    expect(again.embedding).toEqual(catMat);
    expect(fake.requests.filter((r) => r.path === '/v1/embeddings').map((r) => r.body)).toContainEqual(
      expect.objectContaining({ model: 'fake-embed', input: [texts[0]] }),
    );
  });

  it('failNext(500) surfaces as an APICallError and does not consume the scripted turn', async () => {
    fake.script({ text: 'after the failure' });
    fake.failNext(500);

    const error = await generateText({ model: provider('fake-chat'), prompt: 'hi', maxRetries: 0 }).catch((e: unknown) => e);
    expect(APICallError.isInstance(error)).toBe(true);
    expect((error as APICallError).statusCode).toBe(500);
    expect((error as APICallError).isRetryable).toBe(true);

    fake.failNext(503, { error: { message: 'overloaded', type: 'server_error', code: 'overloaded' } });
    const errors: unknown[] = [];
    const streamed = streamText({ model: provider('fake-chat'), prompt: 'hi', maxRetries: 0, onError: ({ error: e }) => void errors.push(e) });
    const parts = await collect(streamed.fullStream);
    expect(parts.map((p) => p.type)).toEqual(['start', 'error']);
    const streamError = parts[1]?.type === 'error' ? parts[1].error : undefined;
    expect(APICallError.isInstance(streamError)).toBe(true);
    expect((streamError as APICallError).statusCode).toBe(503);
    expect((streamError as APICallError).message).toBe('overloaded');
    expect(errors).toHaveLength(1);
    await expect(streamed.text).rejects.toThrow(/No output generated/);

    expect((await generateText({ model: provider('fake-chat'), prompt: 'hi', maxRetries: 0 })).text).toBe('after the failure');
    expect(fake.requests.filter((r) => r.path === '/v1/chat/completions').map((r) => r.status)).toEqual([500, 503, 200]);
  });

  it('hangNext() never answers, so an AbortSignal timeout cuts the call', async () => {
    fake.hangNext();
    const started = Date.now();
    const error = await generateText({
      model: provider('fake-chat'),
      prompt: 'are you there?',
      maxRetries: 0,
      abortSignal: AbortSignal.timeout(250),
    }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('TimeoutError');
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(fake.chatRequests()).toHaveLength(1);
    expect(fake.requests[0]?.status).toBeUndefined();

    // The server keeps working afterwards.
    expect((await generateText({ model: provider('fake-chat'), prompt: 'now?', maxRetries: 0 })).text).toBe('You said: now?');
  });

  it('hangNext({ afterFrames }) stalls mid-stream; streamText reports an abort part', async () => {
    fake.script({ text: 'one two three four' });
    fake.hangNext({ afterFrames: 2 }); // role frame + "one"
    const result = streamText({ model: provider('fake-chat'), prompt: 'count', maxRetries: 0, abortSignal: AbortSignal.timeout(300) });
    const parts = await collect(result.fullStream);
    expect(parts.map((p) => p.type)).toEqual(['start', 'start-step', 'text-start', 'text-delta', 'abort']);
    expect(parts[3]).toMatchObject({ type: 'text-delta', text: 'one' });
    await expect(result.text).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('close() ends hung requests', async () => {
    const other = await startFakeLlm();
    other.hangNext();
    const p = createOpenAICompatible({ name: 'other', baseURL: other.baseUrl });
    const pending = generateText({ model: p('fake-chat'), prompt: 'hello', maxRetries: 0 }).catch((e: unknown) => e);
    await expect.poll(() => other.chatRequests().length).toBe(1);
    await other.close();
    expect(await pending).toBeInstanceOf(Error);
  });

  it('streams with a token delay and can always send usage', async () => {
    const slow = await startFakeLlm({ tokenDelayMs: 20, streamUsage: 'always' });
    try {
      const p = createOpenAICompatible({ name: 'slow', baseURL: slow.baseUrl }); // no includeUsage
      slow.script({ text: 'a b c d e' });
      const result = streamText({ model: p('fake-chat'), prompt: 'go', maxRetries: 0 });
      const times: number[] = [];
      for await (const _delta of result.textStream) times.push(Date.now());
      expect(times).toHaveLength(5);
      expect((times.at(-1) ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(60);
      expect(slow.chatRequests()[0]?.stream_options).toBeUndefined();
      expect((await result.totalUsage).outputTokens).toBeGreaterThan(0);
    } finally {
      await slow.close();
    }
  });
});
