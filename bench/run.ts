import { benchAppends } from './appends.js';
import { benchHttp } from './http.js';
import { printSections, type Section } from './lib.js';
import { benchReplay } from './replay.js';

/** `npm run bench`: every benchmark in sequence, then one table per benchmark on stdout. */
const sections: Section[] = [];
for (const bench of [benchHttp, benchAppends, benchReplay]) sections.push(await bench());
printSections(sections);
