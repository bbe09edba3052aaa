import usearch from 'usearch';
const [N, D] = [20000, 1536];
const m = new Float32Array(N * D); for (let i = 0; i < m.length; i++) m[i] = Math.random() - 0.5;
for (let i = 0; i < N; i++) { let s = 0; for (let j = 0; j < D; j++) s += m[i*D+j]! ** 2; s = Math.sqrt(s); for (let j = 0; j < D; j++) m[i*D+j]! /= s; }
for (const [chunk, threads] of [[32, 0], [128, 0], [512, 0], [128, 1], [2000, 0]] as const) {
  const idx = new usearch.Index({ metric: usearch.MetricKind.IP, dimensions: D, connectivity: 16, quantization: usearch.ScalarKind.I8, expansion_add: 64, expansion_search: 64, multi: false });
  const t = performance.now(); let worst = 0;
  for (let s = 0; s < N; s += chunk) { const c = performance.now(); const e = Math.min(N, s + chunk); idx.add(BigUint64Array.from({ length: e - s }, (_, i) => BigInt(s + i)), m.subarray(s * D, e * D), threads); worst = Math.max(worst, performance.now() - c); }
  console.log('chunk', chunk, 'threads', threads, 'total s', ((performance.now() - t) / 1000).toFixed(1), 'worst ms', worst.toFixed(0));
}
