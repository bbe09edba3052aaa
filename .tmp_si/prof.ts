import { createVectorCache, normalise } from '../src/stores/sqlite/vectorCache.js';
import { compileFieldFilter } from '../src/stores/sqlite/fieldMatcher.js';
const [N, D] = [100000, 384];
const cache = createVectorCache(D, null, { exactScanBudget: Infinity }, N);
for (let i = 0; i < N; i++) { const v = new Float32Array(D); for (let j = 0; j < D; j++) v[j] = Math.random() - 0.5; cache.put('e' + i, normalise(v), { kinId: 'kin-' + (i % 20), scope: i % 10 ? 'private' : 'shared', category: 'fact' }); }
const q = normalise(Array.from({ length: D }, () => Math.random() - 0.5));
const m = compileFieldFilter({ $or: [{ kinId: 'kin-3' }, { scope: 'shared' }] });
const none = compileFieldFilter({ kinId: 'nobody' });
for (const [label, f] of [['none-match (mask only)', none], ['filter', m], ['nofilter', null]] as const) {
  const t: number[] = [];
  for (let r = 0; r < 60; r++) { const s = performance.now(); cache.search(q, f, 20, -Infinity); t.push(performance.now() - s); }
  t.sort((a, b) => a - b); console.log(label, 'p50', t[30]!.toFixed(2), 'min', t[0]!.toFixed(2));
}
