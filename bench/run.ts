import { benchAppends } from './appends.js';
import { benchConversation } from './conversation.js';
import { benchHttp } from './http.js';
import { printSections, type Section } from './lib.js';
import { benchReplay } from './replay.js';

/** `npm run bench`: every benchmark in sequence, then one table per benchmark on stdout. */
const sections: Section[] = [];
for (const bench of [benchHttp, benchAppends, benchReplay, benchConversation]) sections.push(...[await bench()].flat());
printSections(sections);
