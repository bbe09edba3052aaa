// `npm start`: runs the compiled server (dist/), rebuilding it first when src/ changed since the
// last build (a pull without `npm install`, an edit), so what runs is always what is checked out.
import { buildDist, isStale } from './build.mjs';

if (isStale()) await buildDist();
await import('../dist/main.js');
