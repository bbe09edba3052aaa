function dotAt(m: Float32Array, offset: number, q: Float32Array, d: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, j = 0;
  for (; j + 3 < d; j += 4) { s0 += m[offset + j]! * q[j]!; s1 += m[offset + j + 1]! * q[j + 1]!; s2 += m[offset + j + 2]! * q[j + 2]!; s3 += m[offset + j + 3]! * q[j + 3]!; }
  for (; j < d; j++) s0 += m[offset + j]! * q[j]!;
  return s0 + s1 + s2 + s3;
}
const [N, D] = [Number(process.argv[2]), Number(process.argv[3])];
const m = new Float32Array(N * D); for (let i = 0; i < m.length; i++) m[i] = Math.random() - 0.5;
const q = new Float32Array(D); for (let i = 0; i < D; i++) q[i] = Math.random() - 0.5;
const live = new Uint8Array(N).fill(1);
function scan() { let best = -Infinity; for (let s = 0; s < N; s++) { if (live[s] === 0) continue; const x = dotAt(m, s * D, q, D); if (x > best) best = x; } return best; }
function scanInline() { let best = -Infinity; for (let s = 0; s < N; s++) { const o = s * D; let s0 = 0, s1 = 0, s2 = 0, s3 = 0; for (let j = 0; j < D; j += 4) { s0 += m[o + j]! * q[j]!; s1 += m[o + j + 1]! * q[j + 1]!; s2 += m[o + j + 2]! * q[j + 2]!; s3 += m[o + j + 3]! * q[j + 3]!; } const x = s0 + s1 + s2 + s3; if (x > best) best = x; } return best; }
for (const [name, f] of [['dotAt', scan], ['inline', scanInline], ['dotAt', scan]] as const) {
  const t: number[] = []; for (let r = 0; r < 30; r++) { const s = performance.now(); f(); t.push(performance.now() - s); }
  t.sort((a, b) => a - b); console.log(name, N, D, t[15]!.toFixed(2));
}
