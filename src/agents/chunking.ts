/**
 * The knowledge base's chunker (memory-knowledge.md §5): paragraphs packed greedily into chunks of
 * at most `maxTokens` estimated tokens, each chunk after the first starting with the last words of
 * the one before it. Pure and linear in the size of the text.
 */

export const DEFAULT_CHUNK_TOKENS = 512;
export const DEFAULT_CHUNK_OVERLAP = 50;

/** Words per estimated token: estimate = ceil(words / 0.75). */
const WORDS_PER_TOKEN = 0.75;

export type ChunkOptions = { maxTokens?: number; overlapTokens?: number };
export type Chunk = { position: number; content: string; tokenCount: number };

const WORD = /\S+/g;
const countWords = (text: string): number => text.match(WORD)?.length ?? 0;

/** The spec's token estimate: ceil(wordCount / 0.75), words being runs of non-whitespace. */
export const estimateTokens = (text: string): number => Math.ceil(countWords(text) / WORDS_PER_TOKEN);

const tokensOfWords = (words: number): number => Math.ceil(words / WORDS_PER_TOKEN);

/**
 * Paragraphs: the text split on blank lines (two or more line breaks, whitespace-only lines
 * counting as blank), each trimmed, empty ones dropped.
 */
export function paragraphsOf(text: string): string[] {
  return text
    .replace(/\r\n?/g, '\n')
    .split(/\n[^\S\n]*\n\s*/)
    .map((paragraph) => paragraph.trim())
    .filter((paragraph) => paragraph.length > 0);
}

/** The last `count` words of the paragraphs, read from the end so a long chunk is not re-split whole. */
function lastWords(paragraphs: readonly string[], count: number): string {
  const words: string[] = [];
  for (let i = paragraphs.length - 1; i >= 0 && words.length < count; i--) {
    const own = paragraphs[i]!.match(WORD) ?? [];
    words.unshift(...own.slice(Math.max(0, own.length - (count - words.length))));
  }
  return words.join(' ');
}

/**
 * Greedy packing: a paragraph joins the current chunk (after a blank line) while the chunk's
 * estimate stays within `maxTokens`; otherwise the chunk is emitted and the next one starts with
 * the last ceil(overlap × 0.75) words of it, a blank line, then the paragraph. A paragraph larger
 * than `maxTokens` is never split (it becomes one oversized chunk). Empty text gives no chunk.
 */
export function chunkText(text: string, options: ChunkOptions = {}): Chunk[] {
  const maxTokens = options.maxTokens ?? DEFAULT_CHUNK_TOKENS;
  const overlapWords = Math.ceil((options.overlapTokens ?? DEFAULT_CHUNK_OVERLAP) * WORDS_PER_TOKEN);
  const chunks: Chunk[] = [];
  let current: string[] = [];
  let currentWords = 0;
  const emit = () => {
    chunks.push({ position: chunks.length, content: current.join('\n\n'), tokenCount: tokensOfWords(currentWords) });
  };
  for (const paragraph of paragraphsOf(text)) {
    const words = countWords(paragraph);
    if (current.length > 0 && tokensOfWords(currentWords + words) > maxTokens) {
      emit();
      const overlap = overlapWords > 0 ? lastWords(current, overlapWords) : '';
      current = overlap ? [overlap, paragraph] : [paragraph];
      currentWords = countWords(overlap) + words;
    } else {
      current.push(paragraph);
      currentWords += words;
    }
  }
  if (current.length > 0) emit();
  return chunks;
}

/** Bounds of a chunk size a source may ask for. */
export const MIN_CHUNK_TOKENS = 16;
export const MAX_CHUNK_TOKENS = 8192;
