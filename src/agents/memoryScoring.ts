/**
 * The pure parts of memory retrieval (memory-knowledge.md §4): query terms, rank fusion, the
 * weights applied to a fused score, and the adaptive cut of the result list. No I/O here, so each
 * rule is tested on its own (tests/unit/memoryScoring.test.ts); src/agents/memorySearch.ts runs
 * them over the search index.
 */

export const RETRIEVAL = {
  maxRelevantMemories: 10,
  similarityThreshold: 0.7,
  rrfK: 60,
  ftsBoost: 0.5,
  subjectBoost: 1.3,
  categoryBoost: 1.25,
  decayLambda: 0.01,
  decayFloor: 0.7,
  adaptiveKMinScoreRatio: 0.3,
  adaptiveKGapRatio: 0.4,
} as const;

const DAY_MS = 86_400_000;

/**
 * Full-text terms of a query: FTS syntax characters become spaces, terms shorter than 3
 * characters are dropped.
 */
export function ftsTerms(query: string): string[] {
  return query
    .replace(/['"*(){}[\]:^~!@#$%&]/g, ' ')
    .split(/\s+/)
    .filter((term) => term.length >= 3);
}

/**
 * Reciprocal-rank fusion: the item at 0-based position i of a list adds weight/(K+i+1) to its
 * score; scores accumulate across lists (vector lists weigh 1, full-text lists `ftsBoost`).
 */
export function fuseRanks(lists: readonly { ids: readonly string[]; weight: number }[], k: number = RETRIEVAL.rrfK): Map<string, number> {
  const scores = new Map<string, number>();
  for (const { ids, weight } of lists) {
    ids.forEach((id, i) => scores.set(id, (scores.get(id) ?? 0) + weight / (k + i + 1)));
  }
  return scores;
}

const CATEGORY_DECAY: Record<string, number> = { fact: 0.1, knowledge: 0.1, preference: 0.5, decision: 2.0 };

/** Unscored memories count as 5. */
export const effectiveImportance = (importance: number | null): number => importance ?? 5;

/** `max(0.7, exp(−λ_eff × days))` with λ_eff = 0.01 × category factor × (1.5 − importance/10). */
export function temporalDecay(category: string, importance: number | null, daysSinceUpdate: number): number {
  const lambda = RETRIEVAL.decayLambda * (CATEGORY_DECAY[category] ?? 1) * (1.5 - effectiveImportance(importance) / 10);
  return Math.max(RETRIEVAL.decayFloor, Math.exp(-lambda * Math.max(0, daysSinceUpdate)));
}

export const importanceWeight = (importance: number | null): number => 0.5 + effectiveImportance(importance) / 10;

export const retrievalBoost = (retrievalCount: number): number => 1 + 0.05 * Math.log2(1 + Math.max(0, retrievalCount));

/** 1.3 when the memory's subject appears in the query (case-insensitive). */
export function subjectBoost(subject: string | null, query: string): number {
  const needle = subject?.trim().toLowerCase();
  return needle && query.toLowerCase().includes(needle) ? RETRIEVAL.subjectBoost : 1;
}

/** Whole words only; `\b` would not see the edges of accented words (é is not a `\w` character). */
const keywords = (alternatives: string) => new RegExp(`(?<![\\p{L}\\p{N}])(?:${alternatives})(?![\\p{L}\\p{N}])`, 'iu');

/** Keyword sets (English and French) that reveal what kind of memory a query is after. */
const INTENTS: readonly { category: string; pattern: RegExp }[] = [
  {
    category: 'preference',
    pattern: keywords(
      'prefers?|preferred|preferences?|likes?|liked|loves?|loved|enjoys?|enjoyed|favou?rites?|hates?|dislikes?|pr[ée]f[èée]r\\p{L}*|aim(?:e[rsz]?|ent|ons|ai[st]?|ait|é\\p{L}*)|ador\\p{L}*|d[ée]test\\p{L}*|favori\\p{L}*|go[ûu]ts?',
    ),
  },
  {
    category: 'decision',
    pattern: keywords(
      'decided?|decides|decisions?|chose|chosen|choose|plans?|planned|agreed?|agreements?|d[ée]cid\\p{L}*|d[ée]cision\\p{L}*|choisi\\p{L}*|pr[ée]vu\\p{L}*|convenu\\p{L}*|accords?',
    ),
  },
  {
    category: 'knowledge',
    pattern: keywords(
      'how to|how do|explain\\p{L}*|tutorials?|guides?|methods?|procedures?|steps?|comment faire|comment|expliqu\\p{L}*|tutoriels?|m[ée]thodes?|proc[ée]dures?|[ée]tapes?',
    ),
  },
];

/** The memory category a query asks about, if any (`fact` is never detected). */
export function detectIntent(query: string): string | null {
  return INTENTS.find((intent) => intent.pattern.test(query))?.category ?? null;
}

export const categoryBoost = (category: string, intent: string | null): number =>
  intent !== null && category === intent ? RETRIEVAL.categoryBoost : 1;

export function recencyBoost(daysSinceUpdate: number): number {
  if (daysSinceUpdate <= 1) return 1.5;
  if (daysSinceUpdate <= 7) return 1.25;
  if (daysSinceUpdate <= 30) return 1.1;
  return 1;
}

export type Scorable = {
  category: string;
  subject: string | null;
  importance: number | null;
  retrievalCount: number;
  updatedAt: string;
};

/** A fused score times every weight of step 2. */
export function weightedScore(fused: number, memory: Scorable, query: string, intent: string | null, now: Date): number {
  const days = (now.getTime() - Date.parse(memory.updatedAt)) / DAY_MS;
  return (
    fused *
    temporalDecay(memory.category, memory.importance, days) *
    importanceWeight(memory.importance) *
    retrievalBoost(memory.retrievalCount) *
    subjectBoost(memory.subject, query) *
    categoryBoost(memory.category, intent) *
    recencyBoost(days)
  );
}

/**
 * Adaptive-K over a list sorted by score (desc): cut at the first cliff, then before the first item
 * scoring under 0.3 × top; at least one item is kept.
 *
 * A cliff is a drop between neighbours larger than 40 % of the list's whole spread (top − lowest).
 * The original measures the drop against `top − current` instead, which is the drop itself at the
 * second item: any second item below the top was cut, so retrieval returned one memory whenever
 * two scored differently. Measured against the whole spread, a list that descends evenly is kept
 * and a real gap still cuts.
 */
export function adaptiveK<T extends { score: number }>(sorted: readonly T[]): T[] {
  if (sorted.length <= 1) return [...sorted];
  const top = sorted[0]!.score;
  if (top <= 0) return sorted.slice(0, 1);
  const spread = top - sorted[sorted.length - 1]!.score;
  let cut = sorted.length;
  // Two items are one gap: nothing to compare it with.
  if (sorted.length > 2 && spread > 0) {
    for (let i = 1; i < sorted.length; i++) {
      if ((sorted[i - 1]!.score - sorted[i]!.score) / spread > RETRIEVAL.adaptiveKGapRatio) {
        cut = i;
        break;
      }
    }
  }
  const floor = top * RETRIEVAL.adaptiveKMinScoreRatio;
  for (let i = 1; i < cut; i++) {
    if (sorted[i]!.score < floor) {
      cut = i;
      break;
    }
  }
  return sorted.slice(0, Math.max(1, cut));
}
