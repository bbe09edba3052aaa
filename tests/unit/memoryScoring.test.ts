import { describe, expect, it } from 'vitest';
import {
  adaptiveK,
  categoryBoost,
  detectIntent,
  ftsTerms,
  fuseRanks,
  importanceWeight,
  recencyBoost,
  retrievalBoost,
  subjectBoost,
  temporalDecay,
  weightedScore,
} from '../../src/agents/memoryScoring.js';

const scores = (...values: number[]) => values.map((score, i) => ({ id: `m${i}`, score }));

describe('full-text terms', () => {
  it('turns FTS syntax into spaces and drops terms shorter than 3 characters', () => {
    expect(ftsTerms("what is my pet's name?")).toEqual(['what', 'pet', 'name?']);
    expect(ftsTerms('"deploy" (kubernetes) AND a:b ~x^y')).toEqual(['deploy', 'kubernetes', 'AND']);
    expect(ftsTerms('  ')).toEqual([]);
  });
});

describe('reciprocal-rank fusion', () => {
  it('adds weight/(K+i+1) per list and accumulates across lists', () => {
    const fused = fuseRanks([
      { ids: ['a', 'b'], weight: 1 },
      { ids: ['b', 'c'], weight: 0.5 },
    ]);
    expect(fused.get('a')).toBeCloseTo(1 / 61);
    expect(fused.get('b')).toBeCloseTo(1 / 62 + 0.5 / 61);
    expect(fused.get('c')).toBeCloseTo(0.5 / 62);
  });

  it('ranks an item found by both searches above one found by either', () => {
    const fused = fuseRanks([
      { ids: ['vector-only', 'both'], weight: 1 },
      { ids: ['both', 'text-only'], weight: 0.5 },
    ]);
    expect(fused.get('both')!).toBeGreaterThan(fused.get('vector-only')!);
    expect(fused.get('vector-only')!).toBeGreaterThan(fused.get('text-only')!);
  });
});

describe('weights', () => {
  it('decays slowly for facts, fast for decisions, never below 0.7', () => {
    expect(temporalDecay('fact', 5, 0)).toBe(1);
    expect(temporalDecay('fact', 5, 100)).toBeCloseTo(Math.exp(-0.01 * 0.1 * 1 * 100));
    expect(temporalDecay('decision', 5, 10)).toBeCloseTo(Math.exp(-0.01 * 2 * 1 * 10));
    expect(temporalDecay('decision', 5, 1000)).toBe(0.7);
    expect(temporalDecay('other', null, 20)).toBeCloseTo(Math.exp(-0.01 * 1 * 1 * 20));
    // More important memories decay more slowly.
    expect(temporalDecay('preference', 10, 60)).toBeGreaterThan(temporalDecay('preference', 1, 60));
  });

  it('weighs importance (unscored counts as 5) and retrievals', () => {
    expect(importanceWeight(null)).toBe(1);
    expect(importanceWeight(10)).toBe(1.5);
    expect(importanceWeight(1)).toBeCloseTo(0.6);
    expect(retrievalBoost(0)).toBe(1);
    expect(retrievalBoost(3)).toBeCloseTo(1.1);
  });

  it('boosts a subject named in the query, case-insensitively', () => {
    expect(subjectBoost('Ada', 'what does ada like?')).toBe(1.3);
    expect(subjectBoost('Bob', 'what does ada like?')).toBe(1);
    expect(subjectBoost(null, 'anything')).toBe(1);
  });

  it('detects the intent of a query in English and French; fact is never boosted', () => {
    expect(detectIntent('What is my favorite color?')).toBe('preference');
    expect(detectIntent("Qu'est-ce que je préfère manger ?")).toBe('preference');
    expect(detectIntent('What did we decide about the launch?')).toBe('decision');
    expect(detectIntent('Quelle décision a été prise ?')).toBe('decision');
    expect(detectIntent('How to deploy the app')).toBe('knowledge');
    expect(detectIntent('Quelles sont les étapes ?')).toBe('knowledge');
    expect(detectIntent('Where do I live?')).toBeNull();
    expect(categoryBoost('preference', 'preference')).toBe(1.25);
    expect(categoryBoost('fact', null)).toBe(1);
  });

  it('boosts recent changes', () => {
    expect(recencyBoost(0.5)).toBe(1.5);
    expect(recencyBoost(3)).toBe(1.25);
    expect(recencyBoost(20)).toBe(1.1);
    expect(recencyBoost(90)).toBe(1);
  });

  it('multiplies a fused score by every weight', () => {
    const now = new Date('2026-06-01T00:00:00Z');
    const memory = { category: 'preference', subject: 'Ada', importance: 8, retrievalCount: 1, updatedAt: '2026-05-27T00:00:00Z' };
    const days = 5;
    const expected =
      0.02 * Math.max(0.7, Math.exp(-0.01 * 0.5 * (1.5 - 0.8) * days)) * 1.3 * (1 + 0.05 * Math.log2(2)) * 1.3 * 1.25 * 1.25;
    expect(weightedScore(0.02, memory, 'Does Ada like tea?', 'preference', now)).toBeCloseTo(expected, 10);
  });
});

describe('adaptive-K', () => {
  it('keeps an evenly descending list', () => {
    expect(adaptiveK(scores(10, 9.5, 9, 8.5, 8)).length).toBe(5);
  });

  it('cuts at a cliff', () => {
    expect(adaptiveK(scores(10, 9.8, 9.6, 4, 3.9)).map((m) => m.id)).toEqual(['m0', 'm1', 'm2']);
  });

  it('cuts what scores under 0.3 × the top', () => {
    expect(adaptiveK(scores(10, 2)).map((m) => m.id)).toEqual(['m0']);
    expect(adaptiveK(scores(10, 8)).length).toBe(2);
  });

  it('always keeps one', () => {
    expect(adaptiveK(scores(1))).toHaveLength(1);
    expect(adaptiveK([])).toEqual([]);
    expect(adaptiveK(scores(0, 0))).toHaveLength(1);
  });
});
