import { pino } from 'pino';
import { chunkText } from '../src/agents/chunking.js';
import { loadConfig } from '../src/config.js';
import { extractText } from '../src/lib/textExtraction.js';
import { startServer } from '../src/server.js';
import { openServices } from '../src/services.js';
import { client } from '../tests/api/helpers.js';
import { openSse } from '../tests/api/sse.js';
import { markdownDocument } from '../tests/fakes/documents.js';
import { minimalPdf } from '../tests/fakes/pdf.js';
import { benchDuration, isMain, note, perSecond, printSections, round, withTempDir, type Row, type Section } from './lib.js';

/**
 * Knowledge ingestion throughput in chunks per second, without the embedding call (no embedding
 * provider is configured, so chunks are recorded without vectors, as when none is available):
 * - the chunker alone over a 2 MB Markdown document;
 * - PDF text extraction (pdf.js through unpdf) plus chunking, over a 200-page PDF;
 * - end to end: multipart upload of the 2 MB document → 201 → the knowledge reactor (extraction,
 *   chunking, chunk-batch events) → the projection (chunk documents and the full-text index) →
 *   `knowledge:source-updated {status:'ready'}` on /api/sse; a few sources one after the other.
 */

const MB = 1024 * 1024;
const END_TO_END_SOURCES = 3;

type Outcome = { runs: number; chunks: number; bytes: number; seconds: number };

const row = (benchmark: string, outcome: Outcome): Row => ({
  benchmark,
  runs: outcome.runs,
  chunks: outcome.chunks,
  seconds: round(outcome.seconds, 2),
  'chunks/s': perSecond(outcome.chunks, outcome.seconds),
  'MB/s': round(outcome.bytes / MB / outcome.seconds, 1),
});

/** Repeats `work` (which returns its chunk count) until `maxRuns` or the time budget. */
async function repeat(maxRuns: number, bytes: number, work: () => Promise<number> | number): Promise<Outcome> {
  const deadline = performance.now() + benchDuration() * 1000;
  const started = performance.now();
  let runs = 0;
  let chunks = 0;
  while (runs < maxRuns && (runs === 0 || performance.now() < deadline)) {
    chunks += await work();
    runs++;
  }
  return { runs, chunks, bytes: bytes * runs, seconds: (performance.now() - started) / 1000 };
}

function pdfDocument(pages: number): Buffer {
  const words = 'quokka island harbour lantern copper meadow granite beacon falcon willow'.split(' ');
  const line = (p: number, l: number) => Array.from({ length: 12 }, (_, w) => words[(p * 7 + l * 3 + w) % words.length]).join(' ');
  return minimalPdf(Array.from({ length: pages }, (_, p) => Array.from({ length: 6 }, (_, g) => Array.from({ length: 6 }, (_, l) => line(p, g * 6 + l)))));
}

/** The first account (admin), signed up as a browser would (Better Auth checks the Origin). */
async function signUp(url: string, origin: string) {
  const response = await fetch(`${url}/api/auth/sign-up/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ name: 'Bench', email: 'bench@example.com', password: 'correct horse battery' }),
  });
  if (response.status !== 200) throw new Error(`sign-up failed: ${response.status} ${await response.text()}`);
  const cookie = response.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  return { cookie, api: client(url, { cookie, origin }) };
}

async function endToEnd(markdown: Buffer): Promise<Outcome> {
  return withTempDir('knowledge', async (dataDir) => {
    const config = loadConfig({ ...process.env, KINBOT_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
    const services = await openServices(config, pino({ level: 'silent' }));
    const server = await startServer(services, 0);
    const url = `http://127.0.0.1:${server.port}`;
    try {
      const { api, cookie } = await signUp(url, config.publicUrl);
      const kin = (await api.post('/api/kins', { name: 'Bench', role: 'Reads', model: 'none' })).body.kin as { id: string };
      const sse = await openSse(url, { cookie });
      const deadline = performance.now() + Math.max(benchDuration(), 60) * 1000;
      const started = performance.now();
      let chunks = 0;
      let runs = 0;
      for (; runs < END_TO_END_SOURCES && (runs === 0 || performance.now() < started + benchDuration() * 1000); runs++) {
        const form = new FormData();
        form.append('file', new Blob([new Uint8Array(markdown)], { type: 'text/markdown' }), `doc-${runs}.md`);
        const response = await fetch(`${url}/api/kins/${kin.id}/knowledge`, { method: 'POST', body: form, headers: { cookie, origin: config.publicUrl } });
        if (response.status !== 201) throw new Error(`upload failed: ${response.status} ${await response.text()}`);
        const sourceId = ((await response.json()) as { source: { id: string } }).source.id;
        const done = () => sse.messages().find((m) => m.type === 'knowledge:source-updated' && m.data.sourceId === sourceId && ['ready', 'error'].includes(m.data.status));
        while (!done() && performance.now() < deadline) await sse.waitFor(() => Boolean(done()));
        const outcome = done();
        if (outcome?.data.status !== 'ready') throw new Error(`source ${sourceId} did not become ready: ${JSON.stringify(outcome?.data)}`);
        chunks += outcome.data.chunkCount as number;
      }
      const seconds = (performance.now() - started) / 1000;
      await sse.close();
      return { runs, chunks, bytes: markdown.length * runs, seconds };
    } finally {
      await server.close();
    }
  });
}

export async function benchKnowledge(): Promise<Section> {
  const markdown = Buffer.from(markdownDocument(2 * MB));
  const text = markdown.toString('utf8');
  note('knowledge: chunking 2 MB of Markdown…');
  const chunker = row('chunker only, 2 MB Markdown (512 / 50)', await repeat(20, markdown.length, () => chunkText(text).length));
  const pdf = pdfDocument(200);
  note('knowledge: extracting and chunking a 200-page PDF…');
  const pdfRow = row(`PDF extract + chunk, 200 pages (${round(pdf.length / MB, 2)} MB)`, await repeat(5, pdf.length, async () => chunkText(await extractText(pdf, 'pdf')).length));
  note(`knowledge: ${END_TO_END_SOURCES} uploads of 2 MB end to end…`);
  const e2e = row('end to end: upload → ready, 2 MB Markdown, one after another', await endToEnd(markdown));
  return { title: 'Knowledge ingestion without the embedding call (no embedding provider; SQLite stores)', rows: [chunker, pdfRow, e2e] };
}

if (isMain(import.meta.url)) printSections([await benchKnowledge()]);
