// Transpiles src/**/*.ts to dist/ (one .js per file, ESM, no bundling), so that `npm start` runs
// JavaScript instead of compiling TypeScript at every start. Type checking stays `npm run typecheck`.
// Runs at install (`prepare`) and again from scripts/start.mjs when src/ changed since the last build.
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const root = fileURLToPath(new URL('..', import.meta.url));
export const srcDir = join(root, 'src');
export const distDir = join(root, 'dist');
/** Written last: its time is when dist/ was complete. */
export const stampFile = join(distDir, '.built');

export function sourceFiles(dir = srcDir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Whether dist/ is missing or older than a file of src/ (a new, changed or deleted source). */
export function isStale() {
  let built;
  try {
    built = statSync(stampFile).mtimeMs;
  } catch {
    return true;
  }
  const dirs = [srcDir];
  for (const dir of dirs) {
    if (statSync(dir).mtimeMs > built) return true;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) dirs.push(path);
      else if (statSync(path).mtimeMs > built) return true;
    }
  }
  return false;
}

export async function buildDist() {
  rmSync(distDir, { recursive: true, force: true });
  const entryPoints = sourceFiles();
  await build({ entryPoints, outdir: distDir, outbase: srcDir, platform: 'node', format: 'esm', target: 'node20', sourcemap: 'linked', logLevel: 'warning' });
  writeFileSync(stampFile, new Date().toISOString() + '\n');
  return entryPoints.length;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = performance.now();
  const count = await buildDist();
  console.log(`built ${count} files into ${relative(process.cwd(), distDir) || '.'} in ${Math.round(performance.now() - started)} ms`);
}
