/** Context window sizes by model id prefix; the longest matching prefix wins. */
const windows: [prefix: string, tokens: number][] = [
  ['claude-', 200_000],
  ['gpt-4o', 128_000],
  ['gpt-4.1', 1_047_576],
  ['gpt-4-turbo', 128_000],
  ['gpt-4', 8_192],
  ['gpt-5', 400_000],
  ['o1', 200_000],
  ['o3', 200_000],
  ['o4', 200_000],
  ['gemini-1.5', 1_000_000],
  ['gemini-2', 1_000_000],
  ['mistral-large', 128_000],
  ['llama-3', 128_000],
  ['deepseek', 128_000],
];

export const DEFAULT_CONTEXT_WINDOW = 128_000;

export function contextWindowOf(model: string): number {
  let best: [string, number] | undefined;
  for (const entry of windows) {
    if (model.startsWith(entry[0]) && (!best || entry[0].length > best[0].length)) best = entry;
  }
  return best?.[1] ?? DEFAULT_CONTEXT_WINDOW;
}

/** The rough estimate used before any real turn: about four characters a token. */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4);
