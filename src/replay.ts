import { parseArgs } from 'node:util';
import { loadConfig } from './config.js';
import { rebuildProjections, type Projection } from './es/projections.js';
import { allProjections } from './projections/index.js';
import { openStores } from './services.js';

/**
 * `npm run replay [-- --projection NAME]`: rebuilds read models from the event log without starting
 * the server. A server running on the same stores may stay up: the checkpoints let its projection
 * lanes notice the reset and carry on from wherever the rebuild got to, so the read models end up
 * the same. Until then it answers from partly rebuilt read models.
 */

const REFRESH_MS = 100;
const BAR_WIDTH = 30;

function chooseProjections(args: string[]): readonly Projection[] {
  const { values } = parseArgs({ args, options: { projection: { type: 'string', short: 'p' } } });
  if (values.projection === undefined) return allProjections;
  const chosen = allProjections.find((projection) => projection.name === values.projection);
  if (chosen) return [chosen];
  const names = allProjections.map((projection) => projection.name).join(', ');
  throw new UsageError(`Unknown projection "${values.projection}". Projections: ${names}`);
}

class UsageError extends Error {}

type Progress = { projection: string; position: number; head: number; events: number };

/**
 * One self-overwriting line per projection on stderr, redrawn at most every REFRESH_MS; a
 * projection's line is completed with its final figures when the next one starts, and at the end.
 */
function progressBar(started: number) {
  let drawnAt = 0;
  let width = 0;
  let last: Progress | null = null;

  function draw(progress: Progress): void {
    const now = performance.now();
    drawnAt = now;
    // Positions grow with the log in both stores (row ids in SQLite, byte offsets in EventStoreDB),
    // so position/head is the share read; an empty log (head -1) is trivially complete.
    const ratio = progress.head <= 0 ? 1 : Math.min(progress.position / progress.head, 1);
    const filled = Math.round(ratio * BAR_WIDTH);
    const rate = Math.round(progress.events / Math.max((now - started) / 1000, 1e-3));
    const line =
      `${progress.projection} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ` +
      `${(ratio * 100).toFixed(1).padStart(5)}%  ${progress.events.toLocaleString('en-US')} events  ` +
      `${rate.toLocaleString('en-US')} events/s`;
    process.stderr.write(`\r${line.padEnd(width)}`);
    width = line.length;
  }

  function finishLine(): void {
    if (!last) return;
    draw(last);
    process.stderr.write('\n');
    width = 0;
  }

  return {
    update(progress: Progress): void {
      if (last && last.projection !== progress.projection) finishLine();
      const first = last?.projection !== progress.projection;
      last = progress;
      if (first || performance.now() - drawnAt >= REFRESH_MS) draw(progress);
    },
    end: finishLine,
  };
}

async function main(): Promise<void> {
  const projections = chooseProjections(process.argv.slice(2));
  const config = loadConfig();
  const stores = await openStores(config);
  try {
    const bar = progressBar(performance.now());
    const { events, seconds } = await rebuildProjections({
      eventStore: stores.eventStore,
      readStore: stores.readStore,
      projections,
      onProgress: bar.update,
    });
    bar.end();
    const rate = Math.round(events / Math.max(seconds, 1e-3));
    console.log(
      `Rebuilt ${projections.length} projection(s): ${events.toLocaleString('en-US')} events in ${seconds.toFixed(2)} s ` +
        `(${rate.toLocaleString('en-US')} events/s)`,
    );
  } finally {
    await stores.close();
  }
}

try {
  await main();
  process.exit(0);
} catch (error) {
  process.stderr.write(`${error instanceof UsageError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
}
