import { createVectorCache, normalise, DEFAULT_VECTOR_TUNING } from '../src/stores/sqlite/vectorCache.js';
import { compileFieldFilter } from '../src/stores/sqlite/fieldMatcher.js';
const [N, D] = [Number(process.argv[2]), Number(process.argv[3])];
const cache = createVectorCache(D, null, { exactScanBudget: Infinity }, N);
for (let i = 0; i < N; i++) { const v = new Float32Array(D); for (let j = 0; j < D; j++) v[j] = Math.random() - 0.5; cache.put('e' + i, normalise(v), { kinId: 'kin-' + (i % 20), scope: i % 10 ? 'private' : 'shared', category: 'fact' }); }
const q = normalise(Array.from({ length: D }, () => Math.random() - 0.5));
const m = compileFieldFilter({ $or: [{ kinId: 'kin-3' }, { scope: 'shared' }] });
for (const [label, matcher] of [['nofilter', null], ['filter', m]] as const) {
  const t: number[] = [];
  for (let r = 0; r < 40; r++) { const s = performance.now(); cache.search(q, matcher, 20, -Infinity); t.push(performance.now() - s); }
  t.sort((a, b) => a - b); console.log(N, D, label, 'p50', t[20]!.toFixed(2), 'p95', t[38]!.toFixed(2));
}
