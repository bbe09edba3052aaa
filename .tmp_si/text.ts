import { openSqlite } from '../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../src/stores/sqlite/readStore.js';
import { makeEntries, WORDS, random } from '../bench/search.js';
import { existsSync } from 'node:fs';
const file = '/tmp/si/text.db';
const fresh = !existsSync(file);
const handle = openSqlite(file);
const store = createSqliteReadStore(handle);
if (fresh) {
  const { entries } = makeEntries(100_000, 4);
  let batch: any[] = [];
  const flush = () => store.transaction(async (tx) => { for (const e of batch) await tx.searchIndex('bench').upsert(e); batch = []; });
  for (const e of entries()) { batch.push(e); if (batch.length === 1000) await flush(); }
  await flush();
}
const db = handle.db;
const queryText = (n: number) => { const next = random(9_000_000 + n); return Array.from({ length: 1 + (n % 2) }, () => WORDS[8 + Math.floor(next() * 200)]!); };
const variants: Record<string, string> = {
  count: `SELECT count(*) FROM "si_bench:fts" WHERE "si_bench:fts" MATCH ?`,
  rankOnly: `SELECT rowid, rank FROM "si_bench:fts" WHERE "si_bench:fts" MATCH ? ORDER BY rank LIMIT 20`,
  joinNoFilter: `SELECT s.id, -f.rank FROM "si_bench:fts" f JOIN "si_bench" s ON s.docid = f.rowid WHERE "si_bench:fts" MATCH ? ORDER BY f.rank, s.id LIMIT 20`,
  joinFilter: `SELECT s.id, -f.rank FROM "si_bench:fts" f JOIN "si_bench" s ON s.docid = f.rowid WHERE "si_bench:fts" MATCH ? AND ((json_extract(fields,'$.kinId') = 'kin-3' AND json_type(fields,'$.kinId')='text') OR (json_extract(fields,'$.scope') = 'shared' AND json_type(fields,'$.scope')='text')) ORDER BY f.rank, s.id LIMIT 20`,
  joinFilterRankOnly: `SELECT s.id, -f.rank FROM "si_bench:fts" f JOIN "si_bench" s ON s.docid = f.rowid WHERE "si_bench:fts" MATCH ? AND ((json_extract(fields,'$.kinId') = 'kin-3' AND json_type(fields,'$.kinId')='text') OR (json_extract(fields,'$.scope') = 'shared' AND json_type(fields,'$.scope')='text')) ORDER BY f.rank LIMIT 20`,
};
for (const [name, sql] of Object.entries(variants)) {
  const st = db.prepare(sql);
  const t: number[] = []; let rows = 0;
  for (let n = 0; n < 60; n++) { const terms = queryText(n); const m = terms.map((x) => `"${x}"*`).join(' AND '); const s = performance.now(); const r = st.all(m); t.push(performance.now() - s); rows += name === 'count' ? (Object.values(r[0] as object)[0] as number) : r.length; }
  t.sort((a, b) => a - b); console.log(name.padEnd(14), 'p50', t[30]!.toFixed(2), 'p95', t[57]!.toFixed(2), 'avg rows', (rows / 60).toFixed(0));
}
console.log(db.prepare(`EXPLAIN QUERY PLAN ${variants.joinFilterRankOnly}`).all('"x"*').map((r: any) => r.detail));
