function dotAt(m: Float32Array, offset: number, q: Float32Array, d: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, j = 0;
  for (; j + 3 < d; j += 4) { s0 += m[offset + j]! * q[j]!; s1 += m[offset + j + 1]! * q[j + 1]!; s2 += m[offset + j + 2]! * q[j + 2]!; s3 += m[offset + j + 3]! * q[j + 3]!; }
  for (; j < d; j++) s0 += m[offset + j]! * q[j]!;
  return s0 + s1 + s2 + s3;
}
function main() {
  const [N, D] = [100000, 384];
  const m = new Float32Array(N * D); for (let i = 0; i < m.length; i++) m[i] = (Math.random() - 0.5) * 0.1;
  const q = new Float32Array(D); for (let i = 0; i < D; i++) q[i] = Math.random() - 0.5;
  const mask = new Uint8Array(N); for (let i = 0; i < N; i++) mask[i] = (i % 20 === 3 || i % 10 === 0) ? 1 : 0;
  const list = new Int32Array(N); let n = 0; for (let i = 0; i < N; i++) if (mask[i]) list[n++] = i;
  const scanMask = () => { let best = -Infinity; for (let s = 0; s < N; s++) { if (mask[s] === 0) continue; const x = dotAt(m, s * D, q, D); if (x > best) best = x; } return best; };
  const scanList = () => { let best = -Infinity; for (let k = 0; k < n; k++) { const x = dotAt(m, list[k]! * D, q, D); if (x > best) best = x; } return best; };
  const scanAll = () => { let best = -Infinity; for (let s = 0; s < N; s++) { const x = dotAt(m, s * D, q, D); if (x > best) best = x; } return best; };
  for (const [name, f] of [['mask', scanMask], ['list', scanList], ['all', scanAll], ['mask', scanMask]] as const) {
    const t: number[] = []; for (let r = 0; r < 40; r++) { const s = performance.now(); f(); t.push(performance.now() - s); }
    t.sort((a, b) => a - b); console.log(name, t[20]!.toFixed(2), 'min', t[0]!.toFixed(2));
  }
}
main();
