import { createVectorCache, normalise } from '../src/stores/sqlite/vectorCache.js';
function dotAt(m: Float32Array, offset: number, q: Float32Array, d: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, j = 0;
  for (; j + 3 < d; j += 4) { s0 += m[offset + j]! * q[j]!; s1 += m[offset + j + 1]! * q[j + 1]!; s2 += m[offset + j + 2]! * q[j + 2]!; s3 += m[offset + j + 3]! * q[j + 3]!; }
  for (; j < d; j++) s0 += m[offset + j]! * q[j]!;
  return s0 + s1 + s2 + s3;
}
function main() {
  const [N, D] = [100000, 384];
  const m = new Float32Array(N * D);
  const cache = createVectorCache(D, null, { exactScanBudget: Infinity }, N);
  for (let i = 0; i < N; i++) { const v = new Float32Array(D); for (let j = 0; j < D; j++) v[j] = Math.random() - 0.5; const n = normalise(v); m.set(n, i * D); cache.put('e' + i, n, { kinId: 'x' }); }
  const q = normalise(Array.from({ length: D }, () => Math.random() - 0.5));
  const scanAll = () => { let best = -Infinity; for (let s = 0; s < N; s++) { const x = dotAt(m, s * D, q, D); if (x > best) best = x; } return best; };
  const viaCache = () => cache.search(q, null, 20, -Infinity);
  for (const [name, f] of [['raw', scanAll], ['cache', viaCache], ['raw', scanAll], ['cache', viaCache]] as const) {
    const t: number[] = []; for (let r = 0; r < 30; r++) { const s = performance.now(); f(); t.push(performance.now() - s); }
    t.sort((a, b) => a - b); console.log(name, t[15]!.toFixed(2), 'min', t[0]!.toFixed(2));
  }
}
main();
