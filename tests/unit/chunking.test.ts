import { describe, expect, it } from 'vitest';
import { chunkText, estimateTokens, paragraphsOf } from '../../src/agents/chunking.js';

/** A paragraph of `count` distinct words: w<start>, w<start+1>, … */
const words = (count: number, start = 0) => Array.from({ length: count }, (_, i) => `w${start + i}`).join(' ');

describe('estimateTokens', () => {
  it('is ceil(words / 0.75), words being runs of non-whitespace', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('   \n ')).toBe(0);
    expect(estimateTokens('one')).toBe(2);
    expect(estimateTokens('one two three')).toBe(4);
    expect(estimateTokens('a  b\tc\nd')).toBe(6);
  });
});

describe('paragraphsOf', () => {
  it('splits on blank lines, drops blank paragraphs and trims each one', () => {
    expect(paragraphsOf('  first line\nsame paragraph\n\n\n second \r\n\r\nthird\n  \t \nfourth\n\n\n\n')).toEqual([
      'first line\nsame paragraph',
      'second',
      'third',
      'fourth',
    ]);
    expect(paragraphsOf('\n\n  \n')).toEqual([]);
  });
});

describe('chunkText', () => {
  it('gives no chunk for empty or blank text', () => {
    expect(chunkText('')).toEqual([]);
    expect(chunkText(' \n\n \t')).toEqual([]);
  });

  it('keeps paragraphs together, joined by a blank line, while the estimate stays within 512', () => {
    const text = `${words(100)}\n\n${words(100, 100)}\n\n${words(100, 200)}`;
    const chunks = chunkText(text);
    expect(chunks).toEqual([{ position: 0, content: `${words(100)}\n\n${words(100, 100)}\n\n${words(100, 200)}`, tokenCount: 400 }]);
  });

  it('starts the next chunk with the last 38 words of the previous one, then a blank line', () => {
    // 300 words = 400 tokens; two of them would be 800 > 512.
    const text = `${words(300)}\n\n${words(300, 300)}`;
    const [first, second, ...rest] = chunkText(text);
    expect(rest).toEqual([]);
    expect(first).toEqual({ position: 0, content: words(300), tokenCount: 400 });
    expect(second!.position).toBe(1);
    expect(second!.content).toBe(`${words(38, 262)}\n\n${words(300, 300)}`);
    expect(second!.tokenCount).toBe(Math.ceil(338 / 0.75));
  });

  it('emits exactly at the boundary: 384 words (512 tokens) fit, 385 do not', () => {
    expect(chunkText(`${words(200)}\n\n${words(184, 200)}`)).toHaveLength(1);
    expect(chunkText(`${words(200)}\n\n${words(185, 200)}`)).toHaveLength(2);
  });

  it('never splits a paragraph larger than the limit', () => {
    const big = words(1000);
    const chunks = chunkText(`${words(10)}\n\n${big}\n\n${words(10, 2000)}`);
    expect(chunks.map((chunk) => chunk.content)).toEqual([words(10), `${words(10)}\n\n${big}`, `${words(38, 962)}\n\n${words(10, 2000)}`]);
    expect(chunks[1]!.tokenCount).toBe(Math.ceil(1010 / 0.75));
  });

  it('takes the overlap across paragraph boundaries of the emitted chunk', () => {
    const text = `${words(250)}\n\n${words(20, 250)}\n\n${words(300, 1000)}`;
    const [, second] = chunkText(text);
    // The last 38 words: 18 from the first paragraph, 20 from the second.
    expect(second!.content.startsWith(`${words(38, 232)}\n\n`)).toBe(true);
  });

  it('honours another chunk size and overlap: a smaller size gives more chunks', () => {
    const text = Array.from({ length: 40 }, (_, i) => words(30, i * 30)).join('\n\n');
    const standard = chunkText(text);
    const small = chunkText(text, { maxTokens: 128, overlapTokens: 10 });
    expect(small.length).toBeGreaterThan(standard.length);
    for (const chunk of small) expect(chunk.tokenCount).toBeLessThanOrEqual(128);
    // ceil(10 × 0.75) = 8 words of overlap.
    expect(small[1]!.content.split('\n\n')[0]!.split(' ')).toHaveLength(8);
    const noOverlap = chunkText(text, { maxTokens: 128, overlapTokens: 0 });
    expect(noOverlap.map((chunk) => chunk.content).join('\n\n')).toBe(paragraphsOf(text).join('\n\n'));
  });

  it('numbers chunks from 0 and sums to the source token count', () => {
    const text = Array.from({ length: 100 }, (_, i) => words(50, i * 50)).join('\n\n');
    const chunks = chunkText(text);
    expect(chunks.map((chunk) => chunk.position)).toEqual(chunks.map((_, i) => i));
    for (const chunk of chunks) expect(chunk.tokenCount).toBe(estimateTokens(chunk.content));
  });
});
