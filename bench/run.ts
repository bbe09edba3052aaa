import { benchAppends } from './appends.js';
import { benchConversation } from './conversation.js';
import { benchHttp } from './http.js';
import { benchKnowledge } from './knowledge.js';
import { benchLists } from './lists.js';
import { printSections, type Section } from './lib.js';
import { benchReplay } from './replay.js';
import { benchSearch } from './search.js';
import { benchSse } from './sse.js';
import { benchWebhooks } from './webhooks.js';

/** `npm run bench`: every benchmark in sequence, then one table per benchmark on stdout. */
const sections: Section[] = [];
for (const bench of [benchHttp, benchLists, benchAppends, benchReplay, benchConversation, benchSse, benchKnowledge, benchWebhooks, benchSearch]) sections.push(...[await bench()].flat());
printSections(sections);
// agenda leaves a 5-minute timer behind its stopped scheduler; every server here is closed by now.
process.exit(0);
